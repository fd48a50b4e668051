// A decision record in OPA's decision-log event shape (OPA's `EventV1`, v1/plugins/logs/plugin.go),
// so pipelines that consume OPA decision logs consume ours. The field names are OPA's; what goes in
// `input` is ours to choose, and it is the record's fields only: no argument, params or result
// value and no subject beyond the principal ever reaches an event. `erased` names what was left
// out, as OPA's mask policy would list it. docs/decision-logs.md describes each field.
import { ENTRYPOINT } from '../policy/engine.ts';
import { CONTRACT_VERSION } from '../policy/input.ts';
import type { DecisionRecord } from './audit.ts';

/** The bundle name under `bundles`: the gateway serves one bundle. */
export const BUNDLE_NAME = 'portcullis';

/** Policy-input fields never copied into an event (JSON pointers, as OPA writes `erased`). */
export const ERASED = ['/input/arguments', '/input/params', '/input/result', '/input/subject'] as const;

export interface DecisionLogInput {
  contract: string;
  protocol: { era: DecisionRecord['era']; version: string };
  direction: DecisionRecord['direction'];
  kind: DecisionRecord['kind'];
  method: string;
  name: string;
  target: string;
  session_id: string;
  /** Not a policy-input field: the subject's `sub` (or client id) in place of the erased subject. */
  principal: string;
}

export interface DecisionLogResult {
  allow: boolean;
  outcome: DecisionRecord['outcome'];
  rule_ids: string[];
  reasons: string[];
  approval_required: boolean;
  /** Replacements per class the gateway made on the message (counts, never values). */
  masked: Record<string, number>;
  observe_only?: true;
  enforced?: DecisionRecord['enforced'];
  differences?: string[];
}

export interface DecisionLogEvent {
  labels: Record<string, string>;
  decision_id: string;
  bundles: Record<string, { revision?: string }>;
  path: string;
  input: DecisionLogInput;
  result: DecisionLogResult;
  erased: string[];
  timestamp: string;
  metrics: Record<string, number>;
}

/** Converts one record; `labels` is the sink's (id, version and the configured ones). */
export function toDecisionLogEvent(record: DecisionRecord, labels: Record<string, string>): DecisionLogEvent {
  const result: DecisionLogResult = {
    allow: record.allow, outcome: record.outcome, rule_ids: record.rule_ids, reasons: record.reasons,
    approval_required: record.approval_required, masked: record.masked,
  };
  if (record.observe_only) {
    result.observe_only = true;
    if (record.enforced) result.enforced = record.enforced;
    if (record.differences) result.differences = record.differences;
  }
  let maskedValues = 0;
  for (const n of Object.values(record.masked)) maskedValues += n;
  return {
    labels,
    decision_id: record.decision_id,
    // OPA leaves an empty revision out (`omitempty`).
    bundles: { [BUNDLE_NAME]: record.revision === '' ? {} : { revision: record.revision } },
    path: ENTRYPOINT,
    input: {
      contract: CONTRACT_VERSION,
      protocol: { era: record.era, version: record.protocol_version },
      direction: record.direction, kind: record.kind, method: record.method, name: record.name,
      target: record.target, session_id: record.session_id, principal: record.principal,
    },
    result,
    erased: [...ERASED],
    timestamp: record.time,
    metrics: { counter_portcullis_masked_values: maskedValues },
  };
}
