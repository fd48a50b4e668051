// Decides every message an upstream sends towards the client, and carries out what the decisions
// require: list results are filtered to what the caller may use; call results get a response-time
// decision that sees the content; server-initiated requests, notifications and 2026-07-28
// `input_required` requests are decided; and whatever is let through is masked as required.
import type { MaskPlanCache } from '../masking/index.ts';
import type { Decision } from '../policy/decision.ts';
import type { PolicyQuery } from '../policy/input.ts';
import type { PendingRequest } from '../sessions/store.ts';
import { recordDecision, type AuditSink } from '../telemetry/audit.ts';
import type { Trail } from '../telemetry/index.ts';
import { ErrorCode, GatewayError, jsonRpcError } from '../errors.ts';
import type { JsonRpcMessage } from './jsonrpc.ts';
import { maskMessage, shownName, withMask, type MaskDirective } from './protect.ts';

/** Everything about one HTTP exchange that policy input and audit need. */
export interface Exchange {
  target: string;
  era: PolicyQuery['era'];
  protocolVersion: string;
  sessionId: string;
  subjectJson: string;
  principal: string;
  /**
   * The client request whose answer this stream carries (absent on a GET stream until an answer
   * names a request the session remembers), with what its decision requires of that answer.
   */
  request: AnsweredRequest | undefined;
  /**
   * On a GET stream, which carries no request of its own: the masks of every request the session
   * forwarded, answered or not, since a message there may belong to any of them.
   */
  streamMask?: MaskDirective | undefined;
  /**
   * How this exchange's messages are decided: one policy snapshot for a call's request and its
   * answer (a bundle swap mid-call never mixes revisions); the live policy on a GET stream.
   */
  decide: Decide;
  /** The exchange's audit trail (spans, metrics, recording); noTrail when all are off. */
  trail: Trail;
}

/** A request being answered: its id, and what the session remembers about it. */
export type AnsweredRequest = PendingRequest & { id: string | number };

export type Decide = (query: PolicyQuery) => Decision;

/** The gateway's policy machinery, as screening uses it. */
export interface Screening {
  /** The live policy, whatever snapshot serves now. */
  decide: Decide;
  /** A decide bound to the snapshot serving now, for the whole of one exchange. */
  pin(): Decide;
  masks: MaskPlanCache;
  audit: AuditSink;
}

/** How the gateway acts on a decision: go ahead (possibly masking), or the error to answer. */
export function refusal(decision: Decision): GatewayError | undefined {
  if (decision.allow && !decision.approval?.required) return undefined;
  const data = { portcullis: { decision_id: decision.id, reasons: decision.reasons, rule_ids: decision.ruleIds, revision: decision.revision } };
  const why = decision.reasons.length > 0 ? `: ${decision.reasons.join('; ')}` : '';
  if (decision.outcome === 'error') {
    return new GatewayError(200, ErrorCode.PolicyError, `Denied: the policy could not be evaluated (fail closed)${why}`, { data });
  }
  if (!decision.allow) return new GatewayError(200, ErrorCode.PolicyDenied, `Denied by policy${why}`, { data });
  return new GatewayError(200, ErrorCode.ApprovalRequired, `Approval required${why}; this gateway holds only tools/call for approval, with approvals enabled, so the call is refused (fail closed)`, { data });
}

export function queryFor(ex: Exchange, fields: Pick<PolicyQuery, 'direction' | 'kind' | 'method' | 'name'> & Partial<Pick<PolicyQuery, 'arguments' | 'params' | 'result' | 'resultBytesAtMost'>>): PolicyQuery {
  return {
    era: ex.era, protocolVersion: ex.protocolVersion, target: ex.target, sessionId: ex.sessionId,
    subjectJson: ex.subjectJson, principal: ex.principal, ...fields,
  };
}

/**
 * One decision on one message, carried out: the refusal to answer instead, or the message with
 * what the decision (plus `inherited`, e.g. the request's mask) requires masked. Writes the
 * decision record, masked counts included. A strict mask that cannot be applied refuses.
 */
function decideAndMask(
  ex: Exchange, s: Screening, query: PolicyQuery, message: Record<string, unknown>, inherited?: MaskDirective,
): { refused: GatewayError } | { message: Record<string, unknown> } {
  const decision = ex.trail.decide(query, ex.decide);
  let refused = refusal(decision);
  let out = message;
  let counts: Record<string, number> = {};
  const directive = refused ? undefined : withMask(inherited, decision);
  if (directive) {
    try {
      ({ value: out, counts } = ex.trail.mask(() => maskMessage(message, directive, s.masks)));
    } catch (err) {
      if (!(err instanceof GatewayError)) throw err;
      refused = err;
    }
  }
  // A response is named as its request was shown: masked by the request's masks (`inherited`).
  const name = query.name === '' || !s.audit.enabled ? query.name : shownName(query.method, query.name, inherited, s.masks);
  recordDecision(s.audit, name === query.name ? query : { ...query, name }, ex.principal, decision, counts);
  return refused ? { refused } : { message: out };
}

/** For each list method: the result array, the call it stands for, and the entry field naming it. */
const LISTS: Record<string, { field: string; call: string; key: string }> = {
  'tools/list': { field: 'tools', call: 'tools/call', key: 'name' },
  'prompts/list': { field: 'prompts', call: 'prompts/get', key: 'name' },
  'resources/list': { field: 'resources', call: 'resources/read', key: 'uri' },
  'resources/templates/list': { field: 'resourceTemplates', call: 'resources/read', key: 'uriTemplate' },
};

/** Results a response-time decision may see: the ones that carry content from a named thing. */
const CALLS = new Set(['tools/call', 'resources/read', 'prompts/get']);

/** What to do with one upstream message. */
export type Screened =
  /** `remember`: a server request the client will answer; its method is needed to decide that answer. */
  | { action: 'pass'; remember?: { id: string | number; method: string } }
  /** `origin: 'gateway'`: the message is the gateway's refusal, not the upstream's message. */
  | { action: 'replace'; message: unknown; remember?: { id: string | number; method: string }; origin?: 'gateway' }
  | { action: 'drop'; answerUpstream?: unknown };

function filterList(ex: Exchange, method: string, result: Record<string, unknown>): Record<string, unknown> | undefined {
  const list = LISTS[method];
  const items = list ? result[list.field] : undefined;
  if (!list || !Array.isArray(items)) return undefined;
  const visible = items.filter((item) => {
    const name = (item as Record<string, unknown> | null)?.[list.key];
    if (typeof name !== 'string') return false;
    // Shown when the caller could use it: allowed outright or allowed once approved. Not audited
    // one by one: a list is one question, and its items are hypothetical calls.
    return ex.decide(queryFor(ex, { direction: 'client_to_server', kind: 'list_item', method: list.call, name })).allow;
  });
  return visible.length === items.length ? undefined : { ...result, [list.field]: visible };
}

/** Each embedded request of an `input_required` result is decided and masked like a legacy server request. */
function screenInputRequests(ex: Exchange, s: Screening, result: Record<string, unknown>): GatewayError | Record<string, unknown> {
  const requests = result.inputRequests;
  if (requests === undefined) return result;
  if (typeof requests !== 'object' || requests === null || Array.isArray(requests)) {
    return new GatewayError(502, ErrorCode.UpstreamBadResponse, `Upstream '${ex.target}' answered input_required with inputRequests that are not an object; withheld`);
  }
  const screened: Record<string, unknown> = {};
  let changed = false;
  for (const [key, embedded] of Object.entries(requests as Record<string, unknown>)) {
    const { method, params } = (embedded ?? {}) as { method?: unknown; params?: unknown };
    const query = queryFor(ex, { direction: 'server_to_client', kind: 'request', method: typeof method === 'string' ? method : '', name: '', params });
    // Carries the call's masks too: it is part of the call's exchange.
    const out = decideAndMask(ex, s, query, { params }, ex.request?.mask ?? ex.streamMask);
    if ('refused' in out) return out.refused;
    screened[key] = out.message.params === params ? embedded : { ...(embedded as object), params: out.message.params };
    changed ||= out.message.params !== params;
  }
  return changed ? { ...result, inputRequests: screened } : result;
}

/** What an `input_required` result may carry (MRTR); content beside it would pass undecided. */
const INPUT_REQUIRED_MEMBERS = ['resultType', 'inputRequests', 'requestState', '_meta'];

function inputRequiredMembers(result: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of INPUT_REQUIRED_MEMBERS) if (result[key] !== undefined) out[key] = result[key];
  return out;
}

function screenResponse(ex: Exchange, s: Screening, value: Record<string, unknown>, message: JsonRpcMessage & { kind: 'response' }, rawBytes: number | undefined): Screened {
  const answered = ex.request;
  // Only the answer to the request this exchange decided can be screened; anything else would
  // pass unscreened, so it does not pass at all.
  if (answered === undefined || message.id !== answered.id) return { action: 'drop' };
  let current = value;
  const result = message.result;
  if (result?.resultType === 'input_required') {
    // Rebuilt from the members MRTR defines: the response-time decision below does not run on it.
    const members = inputRequiredMembers(result);
    const screened = screenInputRequests(ex, s, members);
    if (screened instanceof GatewayError) return { action: 'replace', message: screened.body(message.id), origin: 'gateway' };
    if (screened !== result) current = { ...current, result: screened };
  } else if (result !== undefined && LISTS[answered.method]) {
    const filtered = filterList(ex, answered.method, result);
    if (filtered) current = { ...current, result: filtered };
  }
  if (answered.inspectResponse && CALLS.has(answered.method) && result?.resultType !== 'input_required') {
    // The response-time decision sees the content and may refuse it or ask for more masking.
    const query = queryFor(ex, {
      direction: 'server_to_client', kind: 'response', method: answered.method, name: answered.name,
      // An error answer is decided too: the policy sees it as `result.error` (docs/policy-contract.md).
      result: result ?? { error: message.error ?? {} }, ...(rawBytes === undefined ? {} : { resultBytesAtMost: rawBytes }),
    });
    const out = decideAndMask(ex, s, query, current, answered.mask);
    if ('refused' in out) return { action: 'replace', message: out.refused.body(message.id), origin: 'gateway' };
    current = out.message;
  } else if (answered.mask) {
    const mask = answered.mask;
    try {
      current = ex.trail.mask(() => maskMessage(current, mask, s.masks)).value;
    } catch (err) {
      if (!(err instanceof GatewayError)) throw err;
      return { action: 'replace', message: err.body(message.id), origin: 'gateway' };
    }
  }
  return current === value ? { action: 'pass' } : { action: 'replace', message: current };
}

/**
 * Screens one upstream message, already read as JSON-RPC (`message`) and rebuilt for the wire
 * (`value`); `rawBytes` (its size as received) bounds the size of anything inside it.
 */
export function screen(ex: Exchange, s: Screening, message: JsonRpcMessage, value: Record<string, unknown>, rawBytes?: number): Screened {
  if (message.kind === 'response') return screenResponse(ex, s, value, message, rawBytes);
  const query = queryFor(ex, { direction: 'server_to_client', kind: message.kind, method: message.method, name: '', params: message.params });
  // A message on a call's stream (progress, logging, a server request) is part of that call's
  // exchange: the call's masks apply on top of its own decision.
  const out = decideAndMask(ex, s, query, value, ex.request?.mask ?? ex.streamMask);
  if (message.kind === 'notification') {
    if ('refused' in out) return { action: 'drop' };
    return out.message === value ? { action: 'pass' } : { action: 'replace', message: out.message };
  }
  if ('refused' in out) {
    // The server is waiting on an answer the client will never see: answer it on the client's behalf.
    const { refused } = out;
    return { action: 'drop', answerUpstream: jsonRpcError(message.id, refused.code, refused.message, refused.data) };
  }
  const remember = { id: message.id, method: message.method };
  return out.message === value ? { action: 'pass', remember } : { action: 'replace', message: out.message, remember };
}
