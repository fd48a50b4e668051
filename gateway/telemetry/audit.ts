// One record per policy decision on a message: what was decided, by which rules and bundle, for
// whom, and how many values of each class were masked. Never values. The OpenTelemetry span per
// message (roadmap) will carry the same fields; until then records go to a sink.
import { boundedText, RECORD_METHOD_LIMIT } from './semconv.ts';
import type { Decision } from '../policy/decision.ts';
import type { PolicyQuery } from '../policy/input.ts';

export interface DecisionRecord {
  /** The decision's id, also in the `data.portcullis` of a refusal the client sees. */
  decision_id: string;
  time: string;
  target: string;
  era: PolicyQuery['era'];
  protocol_version: string;
  session_id: string;
  /** The subject's `sub` (or client id), never its token. */
  principal: string;
  direction: PolicyQuery['direction'];
  kind: PolicyQuery['kind'];
  method: string;
  /** The tool/prompt name or URI as the decision masks it (shownName in gateway/mcp/protect.ts); '' when withheld. */
  name: string;
  outcome: Decision['outcome'];
  allow: boolean;
  approval_required: boolean;
  rule_ids: string[];
  reasons: string[];
  revision: string;
  /** Replacements per class made on this message. */
  masked: Record<string, number>;
  /**
   * Only on records of an observe-only candidate's decision (never enforced): true, with the
   * enforced decision beside it and what differs (gateway/policy/observe.ts).
   */
  observe_only?: true;
  enforced?: { decision_id: string; revision: string; outcome: Decision['outcome']; allow: boolean; approval_required: boolean; rule_ids: string[] };
  differences?: string[];
}

export interface AuditSink {
  /** False when records go nowhere: callers then skip building them (hot path). */
  readonly enabled: boolean;
  record(entry: DecisionRecord): void;
}

export const discardAudit: AuditSink = { enabled: false, record: () => {} };

/** Writes each record as one JSON line (e.g. to stdout for a log shipper). */
export function jsonLinesAudit(write: (line: string) => void): AuditSink {
  return { enabled: true, record: (entry) => write(`${JSON.stringify(entry)}\n`) };
}

/** Writes the record of one decision, building it only when the sink keeps records. */
export function recordDecision(sink: AuditSink, query: PolicyQuery, principal: string, decision: Decision, masked: Record<string, number> = {}): void {
  if (sink.enabled) sink.record(decisionRecord(query, principal, decision, masked));
}

/**
 * Records an observe-only candidate's decision that differs from the enforced one: the record is
 * the candidate's (its id, revision, outcome), with the enforced decision and the differences.
 */
export function recordCandidateDecision(sink: AuditSink, query: PolicyQuery, principal: string, candidate: Decision, enforced: Decision, differences: string[]): void {
  if (!sink.enabled) return;
  // Recorded inside the decision, before any mask is applied: a name either decision (or, for an
  // answer, its request) may mask is withheld ('') rather than kept unmasked.
  const masked = query.kind === 'response' || enforced.mask.length > 0 || candidate.mask.length > 0;
  sink.record({
    ...decisionRecord(masked && query.name !== '' ? { ...query, name: '' } : query, principal, candidate, {}),
    observe_only: true,
    enforced: {
      decision_id: enforced.id, revision: enforced.revision, outcome: enforced.outcome, allow: enforced.allow,
      approval_required: enforced.approval?.required ?? false, rule_ids: enforced.ruleIds,
    },
    differences,
  });
}

function decisionRecord(query: PolicyQuery, principal: string, decision: Decision, masked: Record<string, number>): DecisionRecord {
  return {
    decision_id: decision.id,
    time: new Date().toISOString(),
    target: query.target,
    era: query.era,
    protocol_version: query.protocolVersion,
    session_id: query.sessionId,
    principal,
    direction: query.direction,
    kind: query.kind,
    method: boundedText(query.method, RECORD_METHOD_LIMIT),
    name: query.name,
    outcome: decision.outcome,
    allow: decision.allow,
    approval_required: decision.approval?.required ?? false,
    rule_ids: decision.ruleIds,
    reasons: decision.reasons,
    revision: decision.revision,
    masked,
  };
}
