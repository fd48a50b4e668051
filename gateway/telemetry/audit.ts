// One record per policy decision on a message: what was decided, by which rules and bundle, for
// whom, and how many values of each class were masked. Never values. The OpenTelemetry span per
// message (roadmap) will carry the same fields; until then records go to a sink.
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
  name: string;
  outcome: Decision['outcome'];
  allow: boolean;
  approval_required: boolean;
  rule_ids: string[];
  reasons: string[];
  revision: string;
  /** Replacements per class made on this message. */
  masked: Record<string, number>;
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
    method: query.method,
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
