// The approval half of the policy decision (docs/policy-contract.md, "approval"): what a policy
// may require before a call runs, parsed strictly. Anything malformed is a string (the reason),
// which the decision parser turns into a fail-closed denial. Kept beside the workflow that
// carries it out; gateway/policy/decision.ts calls `parseApproval`.
import { isObject } from '../json.ts';

/** One gate: `count` distinct approvers, each in at least one of `groups` ("*": any group). */
export interface ApprovalGate {
  name: string;
  groups: string[];
  count: number;
}

export type ApprovalScope = 'call' | 'window';

export interface ApprovalRequirement {
  required: boolean;
  /** The first gate, kept for readers of contract version 1's single-gate shape. */
  approvers: { groups: string[]; count: number };
  /** Every gate must pass (AND); a human counts once across all of them. */
  gates: ApprovalGate[];
  reason: string;
  /** How long the request waits for its approvers. */
  ttlSeconds: number;
  /** `call`: one approval runs one call. `window`: identical calls by the same principal, for `windowSeconds`. */
  scope: ApprovalScope;
  windowSeconds: number;
}

export const APPROVAL_DEFAULT_TTL_SECONDS = 900;
/** No request waits longer than a day (Teleport and hoop cap their reviews likewise). */
export const APPROVAL_MAX_TTL_SECONDS = 86_400;
/** More approvers than this per gate is a policy bug, not a process. */
export const APPROVAL_MAX_COUNT = 50;
export const APPROVAL_MAX_GATES = 10;

const positiveInt = (v: unknown, max: number): v is number => Number.isInteger(v) && (v as number) >= 1 && (v as number) <= max;

function parseGate(raw: unknown, where: string, index: number): ApprovalGate | string {
  if (!isObject(raw)) return `${where} must be an object`;
  const count = raw.count ?? 1;
  if (!positiveInt(count, APPROVAL_MAX_COUNT)) return `${where}.count must be an integer from 1 to ${APPROVAL_MAX_COUNT}`;
  const groups = raw.groups;
  if (!Array.isArray(groups) || groups.length === 0 || !groups.every((g) => typeof g === 'string' && g !== '')) {
    return `${where}.groups must be a non-empty array of group names`;
  }
  const name = raw.name ?? `gate ${index + 1}`;
  if (typeof name !== 'string' || name === '') return `${where}.name must be a non-empty string`;
  return { name, groups: [...groups] as string[], count };
}

function parseGates(raw: Record<string, unknown>): ApprovalGate[] | string {
  if (raw.gates !== undefined && raw.approvers !== undefined) return 'approval: give "approvers" (one gate) or "gates", not both';
  if (raw.gates === undefined) {
    // Nobody could approve a request without approvers: it would only ever expire.
    if (raw.approvers === undefined) return 'approval.approvers (or approval.gates) is required: who may approve?';
    const gate = parseGate(raw.approvers, 'approval.approvers', 0);
    return typeof gate === 'string' ? gate : [{ ...gate, name: isObject(raw.approvers) && typeof raw.approvers.name === 'string' ? gate.name : 'approvers' }];
  }
  if (!Array.isArray(raw.gates) || raw.gates.length === 0 || raw.gates.length > APPROVAL_MAX_GATES) {
    return `approval.gates must be an array of 1 to ${APPROVAL_MAX_GATES} gates`;
  }
  const gates: ApprovalGate[] = [];
  for (const [i, g] of raw.gates.entries()) {
    const gate = parseGate(g, `approval.gates[${i}]`, i);
    if (typeof gate === 'string') return gate;
    if (gates.some((other) => other.name === gate.name)) return `approval.gates[${i}].name "${gate.name}" is used twice`;
    gates.push(gate);
  }
  return gates;
}

/** Parses `decision.approval`: null when none is required, a reason string when malformed. */
export function parseApproval(raw: unknown): ApprovalRequirement | null | string {
  if (raw === undefined || raw === null) return null;
  if (!isObject(raw)) return 'approval must be an object';
  if (raw.required === undefined || raw.required === false) return null;
  if (raw.required !== true) return 'approval.required must be a boolean';
  const gates = parseGates(raw);
  if (typeof gates === 'string') return gates;
  const ttl = raw.ttl_seconds ?? APPROVAL_DEFAULT_TTL_SECONDS;
  if (!positiveInt(ttl, APPROVAL_MAX_TTL_SECONDS)) return `approval.ttl_seconds must be an integer from 1 to ${APPROVAL_MAX_TTL_SECONDS}`;
  const scope = raw.scope ?? 'call';
  if (scope !== 'call' && scope !== 'window') return 'approval.scope must be "call" or "window"';
  let windowSeconds = 0;
  if (scope === 'window') {
    if (!positiveInt(raw.window_seconds, APPROVAL_MAX_TTL_SECONDS)) return `approval.window_seconds must be an integer from 1 to ${APPROVAL_MAX_TTL_SECONDS} when scope is "window"`;
    windowSeconds = raw.window_seconds;
  } else if (raw.window_seconds !== undefined) {
    return 'approval.window_seconds applies only to scope "window"';
  }
  if (raw.reason !== undefined && typeof raw.reason !== 'string') return 'approval.reason must be a string';
  const first = gates[0]!;
  return {
    required: true,
    approvers: { groups: first.groups, count: first.count },
    gates,
    reason: typeof raw.reason === 'string' ? raw.reason : '',
    ttlSeconds: ttl,
    scope,
    windowSeconds,
  };
}
