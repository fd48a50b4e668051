// The decision half of the policy contract (docs/policy-contract.md): what a policy may answer and
// how anything malformed becomes a denial. Validation is hand-written rather than zod because it
// runs once per MCP message on the hot path and the shape is small.
import { randomUUID } from 'node:crypto';
import { isObject } from '../json.ts';
// Approval obligations are parsed by the approvals module, which carries them out.
import { parseApproval, type ApprovalRequirement } from '../approvals/obligation.ts';
export type { ApprovalRequirement };

export type MaskStyle = 'marker' | 'last' | 'hash';

/** One mask instruction; interpreted by the masking engine. */
export interface MaskInstruction {
  path?: string;
  key?: string;
  key_regex?: string;
  detector?: string;
  style?: MaskStyle;
  keep?: number;
  /** Label in the replacement and the masked counts. */
  class?: string;
  [extra: string]: unknown;
}

/** `allow`/`deny` come from the policy; `error` is a deny the gateway imposed (fail closed). */
export type Outcome = 'allow' | 'deny' | 'error';

export interface Decision {
  /** Unique per decision: ties a refusal a client sees to its decision record. */
  id: string;
  outcome: Outcome;
  allow: boolean;
  reasons: string[];
  ruleIds: string[];
  mask: MaskInstruction[];
  maskMode: 'strict' | 'best_effort';
  approval: ApprovalRequirement | null;
  /** Scopes the caller lacks for this call, when the policy says so: the gateway asks for step-up. */
  missingScopes: string[];
  /** The policy wants to decide the call's result again once it has seen it. */
  inspectResponse: boolean;
  /** Which bundle decided, for audit. */
  revision: string;
}

const strings = (v: unknown): string[] | undefined =>
  v === undefined ? [] : Array.isArray(v) && v.every((s) => typeof s === 'string') ? v : undefined;

/** A denial imposed by the gateway itself; the reason says why the policy's answer was not used. */
export function failClosed(reason: string, revision: string): Decision {
  return {
    id: randomUUID(), outcome: 'error', allow: false, reasons: [reason], ruleIds: ['portcullis.fail_closed'],
    mask: [], maskMode: 'strict', approval: null, missingScopes: [], inspectResponse: false, revision,
  };
}

/** Turns the entrypoint's result set into a Decision; anything unexpected denies. */
export function toDecision(resultSet: unknown, revision: string): Decision {
  if (!Array.isArray(resultSet) || resultSet.length === 0) {
    return failClosed('policy produced no decision (portcullis/decision is undefined for this input)', revision);
  }
  const raw = (resultSet[0] as { result?: unknown }).result;
  if (!isObject(raw)) return failClosed('policy decision is not an object', revision);
  if (typeof raw.allow !== 'boolean') return failClosed('policy decision has no boolean "allow"', revision);
  const reasons = strings(raw.reasons);
  const ruleIds = strings(raw.rule_ids);
  if (reasons === undefined) return failClosed('policy decision "reasons" must be an array of strings', revision);
  if (ruleIds === undefined) return failClosed('policy decision "rule_ids" must be an array of strings', revision);
  const mask = raw.mask ?? [];
  if (!Array.isArray(mask) || !mask.every(isObject)) {
    return failClosed('policy decision "mask" must be an array of objects', revision);
  }
  const maskMode = raw.mask_mode ?? 'strict';
  if (maskMode !== 'strict' && maskMode !== 'best_effort') {
    return failClosed('policy decision "mask_mode" must be "strict" or "best_effort"', revision);
  }
  const approval = parseApproval(raw.approval);
  if (typeof approval === 'string') return failClosed(`policy decision: ${approval}`, revision);
  const missingScopes = strings(raw.missing_scopes);
  if (missingScopes === undefined) return failClosed('policy decision "missing_scopes" must be an array of strings', revision);
  const inspectResponse = raw.inspect_response ?? false;
  if (typeof inspectResponse !== 'boolean') return failClosed('policy decision "inspect_response" must be a boolean', revision);
  return {
    id: randomUUID(),
    outcome: raw.allow ? 'allow' : 'deny',
    allow: raw.allow,
    reasons,
    ruleIds,
    mask: mask as MaskInstruction[],
    maskMode,
    approval,
    missingScopes,
    inspectResponse,
    revision,
  };
}
