// Replay: recorded traffic decided again by a candidate bundle, compared with the decision each
// message met. A recorded message becomes the PolicyQuery the data path asked about it (as
// gateway/mcp/route.ts `clientQuery` and screen.ts build theirs); the engine builds the input
// from it (input.ts), so replay asks exactly what the gateway asks. What replay sees is what the
// recording holds: masked arguments and results, so a rule keyed on a masked value may decide
// otherwise than it would live. Decision records carry no content at all (see queryOfDecision).
import { randomBytes } from 'node:crypto';
import { principalOf } from '../identity/index.ts';
import { GatewayError } from '../errors.ts';
import { MaskPlanCache } from '../masking/index.ts';
import { checkedDecision, maskMessage } from '../mcp/protect.ts';
import type { RecordedMessage } from '../recordings/entry.ts';
import type { DecisionRecord } from '../telemetry/audit.ts';
import type { Decision, MaskInstruction } from './decision.ts';
import type { PolicyQuery, Subject } from './input.ts';

/** What a message met, as recordings and decision records both hold it. */
export interface RecordedOutcome {
  allow: boolean;
  outcome: Decision['outcome'];
  approvalRequired: boolean;
  ruleIds: string[];
  revision: string;
  /** Replacements per class made on the message. */
  masked: Record<string, number>;
}

/** One message to decide again. */
export interface ReplayItem {
  /** The recording (or session) it belongs to, for the report. */
  where: string;
  time: number;
  query: PolicyQuery;
  recorded: RecordedOutcome;
  /** The masked message as recorded: what a candidate's masks are tried on (absent for decision records). */
  message?: Record<string, unknown>;
  /** The JSON-RPC id, so an answer carries its request's masks as the gateway carries them. */
  rpcId?: string | number | null;
  /**
   * A decision record of a server message: its recorded masks include its request's, which the
   * record does not link, so masks the candidate would no longer apply cannot be told apart.
   */
  requestMasksUnknown?: true;
}

export type Skipped = { skip: string };

/** Calls and prompts are decided on their arguments, everything else on its params (route.ts). */
const DECIDED_ON_ARGUMENTS = new Set(['tools/call', 'prompts/get']);

/** The query the data path asked about a recorded message, or why it cannot be asked again. */
export function queryOfRecorded(m: RecordedMessage): ReplayItem | Skipped {
  if (m.origin === 'gateway') return { skip: 'written by the gateway (a refusal or an upstream failure), not decided' };
  if (m.decision === undefined) return { skip: 'no decision recorded' };
  const base = { era: m.era, protocolVersion: m.protocolVersion, target: m.target, sessionId: m.sessionId, subjectJson: m.subjectJson, principal: m.principal };
  const params = m.message.params as Record<string, unknown> | undefined;
  let query: PolicyQuery;
  if (m.direction === 'client_to_server') {
    if (m.kind === 'response') {
      // An answer to a server request is decided knowing what it answers, on nothing else.
      query = { ...base, direction: m.direction, kind: 'response', method: m.method, name: '' };
    } else if (DECIDED_ON_ARGUMENTS.has(m.method)) {
      query = { ...base, direction: m.direction, kind: m.kind, method: m.method, name: m.name, arguments: params?.arguments };
    } else {
      query = { ...base, direction: m.direction, kind: m.kind, method: m.method, name: m.name, params };
    }
  } else if (m.kind === 'response') {
    const result = m.message.result as Record<string, unknown> | undefined;
    // Its embedded requests are decided one by one, as server requests: not one decision to replay.
    if (result?.resultType === 'input_required') return { skip: 'an input_required result (its embedded requests are decided one by one)' };
    query = { ...base, direction: m.direction, kind: 'response', method: m.method, name: m.name, result: result ?? { error: m.message.error ?? {} } };
  } else {
    query = { ...base, direction: m.direction, kind: m.kind, method: m.method, name: '', params };
  }
  const d = m.decision;
  return {
    where: m.recording, time: m.time, query, message: m.message, rpcId: m.rpcId,
    recorded: { allow: d.allow, outcome: d.outcome, approvalRequired: d.approvalRequired, ruleIds: d.ruleIds, revision: d.revision, masked: d.masked },
  };
}

/** What a subject was, as far as a principal tells: kind, issuer and sub (identity principalOf). */
function subjectOfPrincipal(principal: string): Subject | undefined {
  let parts: unknown;
  try {
    parts = JSON.parse(principal);
  } catch {
    return undefined;
  }
  if (!Array.isArray(parts) || parts.length !== 3 || !parts.every((p) => typeof p === 'string')) return undefined;
  const [kind, issuer, sub] = parts as [string, string, string];
  const type = kind === 'user' || kind === 'anonymous' ? kind : 'service';
  const subject: Subject = { authenticated: type !== 'anonymous', type, sub: kind === 'token' ? '' : sub, issuer, client_id: '', email: '', groups: [], scopes: [], claims: {} };
  return kind === 'token' || principalOf(subject) === principal ? subject : undefined;
}

/**
 * The query a decision record stands for. Records hold no arguments, params, results or subject
 * claims: the query has none, and its subject only what the principal names (kind, issuer, sub;
 * no groups, scopes, e-mail or claims). So only rules on the method, the name, the target, the
 * era and who the caller is decide as they did live.
 */
export function queryOfDecision(r: DecisionRecord): ReplayItem | Skipped {
  if (r.observe_only) return { skip: "an observe-only candidate's decision (never enforced)" };
  const subject = subjectOfPrincipal(r.principal);
  if (subject === undefined) return { skip: 'its principal is not in the identity form ["kind", issuer, sub]' };
  const query: PolicyQuery = {
    era: r.era, protocolVersion: r.protocol_version, direction: r.direction, kind: r.kind, method: r.method, name: r.name,
    target: r.target, sessionId: r.session_id, subjectJson: JSON.stringify(subject), principal: r.principal,
  };
  return {
    where: r.session_id || '(no session)', time: Date.parse(r.time), query,
    ...(r.direction === 'server_to_client' ? { requestMasksUnknown: true as const } : {}),
    recorded: { allow: r.allow, outcome: r.outcome, approvalRequired: r.approval_required, ruleIds: r.rule_ids, revision: r.revision, masked: r.masked },
  };
}

export type ChangeKind = 'newly_denied' | 'newly_allowed' | 'approval_required' | 'approval_dropped' | 'mask';

export interface ReplayChange {
  kind: ChangeKind;
  item: ReplayItem;
  candidate: Decision;
  /** What differs, in words. */
  detail: string;
}

export interface ReplayReport {
  replayed: number;
  changes: ReplayChange[];
  /** Why messages were not replayed, with how many. */
  skipped: Map<string, number>;
}

/**
 * Decides every item with `decide` (the candidate) and compares. An answer is decided with the
 * masks the candidate put on its request (same recording, same JSON-RPC id), as the gateway
 * carries a request's masks to its answer. A mask the gateway could not compile denies, as there.
 */
export function replay(items: Array<ReplayItem | Skipped>, decide: (q: PolicyQuery) => Decision): ReplayReport {
  const plans = new MaskPlanCache({ hashKey: randomBytes(32) });
  const requests = new Map<string, Decision>();
  const report: ReplayReport = { replayed: 0, changes: [], skipped: new Map() };
  for (const item of items) {
    if ('skip' in item) {
      skip(report, item.skip);
      continue;
    }
    const key = `${item.where}\u0000${JSON.stringify(item.rpcId ?? null)}`;
    const { direction, kind } = item.query;
    const request = direction === 'server_to_client' && kind === 'response' && item.rpcId !== undefined ? requests.get(key) : undefined;
    if (request !== undefined && !request.allow) {
      // Its request would be refused: this answer would not be there to decide.
      skip(report, 'answers a request the candidate denies');
      continue;
    }
    report.replayed++;
    const candidate = checkedDecision(decide(item.query), plans);
    if (direction === 'client_to_server' && kind === 'request') requests.set(key, candidate);
    for (const [k, detail] of compare(item, candidate, [...(request?.mask ?? []), ...candidate.mask], plans)) report.changes.push({ kind: k, item, candidate, detail });
  }
  return report;
}

function skip(report: ReplayReport, why: string): void {
  report.skipped.set(why, (report.skipped.get(why) ?? 0) + 1);
}

const rules = (ids: string[]) => `[${ids.join(', ')}]`;

function compare(item: ReplayItem, candidate: Decision, mask: MaskInstruction[], plans: MaskPlanCache): Array<[ChangeKind, string]> {
  const was = item.recorded;
  const why = candidate.reasons.length > 0 ? `: ${candidate.reasons.join('; ')}` : '';
  if (was.allow && !candidate.allow) return [['newly_denied', `recorded ${was.outcome} by ${rules(was.ruleIds)}, candidate ${candidate.outcome} by ${rules(candidate.ruleIds)}${why}`]];
  if (!was.allow && candidate.allow) return [['newly_allowed', `recorded ${was.outcome} by ${rules(was.ruleIds)}, candidate allow by ${rules(candidate.ruleIds)}`]];
  // Both refuse: nothing passes either way, so approvals and masks do not matter.
  if (!was.allow) return [];
  const out: Array<[ChangeKind, string]> = [];
  const needs = candidate.approval?.required ?? false;
  if (needs && !was.approvalRequired) out.push(['approval_required', `approval now required by ${rules(candidate.ruleIds)}`]);
  if (!needs && was.approvalRequired) out.push(['approval_dropped', `approval no longer required (recorded by ${rules(was.ruleIds)})`]);
  const masks = maskDifferences(item.requestMasksUnknown ? {} : was.masked, mask, candidate.maskMode, item.message, plans);
  if (masks.length > 0) out.push(['mask', masks.join('; ')]);
  return out;
}

/**
 * Masks, compared by class: classes the candidate would mask in what the recording still shows
 * in the clear, and classes the recorded decision masked that no candidate instruction names.
 */
function maskDifferences(recorded: Record<string, number>, mask: MaskInstruction[], mode: Decision['maskMode'], message: Record<string, unknown> | undefined, plans: MaskPlanCache): string[] {
  const out: string[] = [];
  const classes = new Set(mask.length === 0 ? [] : plans.get(mask).describe().map((i) => i.class));
  if (message !== undefined && mask.length > 0) {
    try {
      const { counts } = maskMessage(message, { instructions: mask, mode }, plans);
      for (const [cls, n] of Object.entries(counts)) if (n > 0) out.push(`would also mask ${cls} (${n})`);
    } catch (err) {
      if (!(err instanceof GatewayError)) throw err;
      out.push(`a strict mask could not be applied, the message would be withheld (${err.message})`);
    }
  }
  for (const [cls, n] of Object.entries(recorded)) if (n > 0 && !classes.has(cls)) out.push(`would no longer mask ${cls} (${n} recorded)`);
  return out;
}
