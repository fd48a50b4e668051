// The approval state machine, pure: (record, event, now) -> the next record and its audit event,
// or a refusal with a stable code. Stores persist what this returns with one compare-and-set
// (docs/approvals.md); nothing else changes a record.
//
//   pending --vote(approve, gates filled)--> approved --claim--> executing --finish--> executed | failed
//   pending --vote(deny)--> denied        pending --cancel--> cancelled
//   pending | approved --expire--> expired   approved --revoke--> revoked
//   window scope: approved --claim--> approved (one more use), until it expires
//
// `executing` is never left by a retry: a crash mid-execution stays there until the sweeper marks
// it `failed` (outcome unknown). Nothing re-runs a call automatically.
import type { ApprovalGate, ApprovalScope } from './obligation.ts';
import { allGatesPass, matchGates, qualifies, type GateProgress } from './matching.ts';

export const STATES = ['pending', 'approved', 'executing', 'executed', 'failed', 'denied', 'expired', 'cancelled', 'revoked'] as const;
export type ApprovalState = (typeof STATES)[number];
export const TERMINAL: ReadonlySet<ApprovalState> = new Set(['executed', 'failed', 'denied', 'expired', 'cancelled', 'revoked']);
/** States in which an identical call attaches to the record instead of opening another. */
export const OPEN: ReadonlySet<ApprovalState> = new Set(['pending', 'approved']);

export interface Person {
  /** `kind`+issuer+subject, as identity computes it: the one key for "the same human". */
  principal: string;
  issuer: string;
  sub: string;
  name: string;
  groups: string[];
}

export interface Vote {
  by: Person;
  decision: 'approve' | 'deny';
  comment: string;
  at: number;
  /** The policy's answer to this vote (kind "approval"). */
  policy: { allow: boolean; reasons: string[]; ruleIds: string[]; revision: string };
  channel: 'api' | 'page';
}

/** Everything an approver needs to see and the gateway needs to run the call; no secret in clear. */
export interface ApprovalRecord {
  id: string;
  /** Store partition (hash tag): a keyed fingerprint of the digest, never the digest itself. */
  bucket: string;
  digest: string;
  /** Short keyed fingerprint shown to approvers on every channel. */
  fingerprint: string;
  version: number;
  state: ApprovalState;
  target: string;
  method: string;
  name: string;
  era: 'legacy' | 'stateless';
  requester: Person & { subjectType: string; clientId: string };
  /** The arguments as approvers may see them: masked by the decision's masks. */
  maskedArguments: unknown;
  /** The call to execute, AEAD-sealed (gateway/approvals/seal.ts). */
  sealedCall: string;
  revision: string;
  decisionId: string;
  reasons: string[];
  ruleIds: string[];
  reason: string;
  /** The obligation, frozen at creation: later policy versions do not change who may approve. */
  gates: ApprovalGate[];
  scope: ApprovalScope;
  windowSeconds: number;
  createdAt: number;
  /** When the current state ends by expiry (pending: the ttl; approved: the use window). */
  deadline: number;
  votes: Vote[];
  uses: number;
  claimedBy: string;
  claimedAt: number;
  endedAt: number;
  outcome: string;
}

export type ApprovalEvent =
  | { type: 'vote'; vote: Vote }
  | { type: 'expire' }
  | { type: 'cancel'; by: Person; comment: string }
  | { type: 'revoke'; by: Person; comment: string }
  | { type: 'claim'; replica: string }
  | { type: 'finish'; ok: boolean; outcome: string }
  /** The sweeper found an execution whose claimer never reported back. */
  | { type: 'abandon' };

/** Stable refusal codes (also the API's error codes). */
export type TransitionError =
  | 'not_pending' | 'not_approved' | 'not_executing' | 'expired' | 'not_yet_expired'
  | 'self_approval' | 'already_voted' | 'not_eligible' | 'policy_refused' | 'comment_required' | 'not_allowed';

export interface AuditEvent {
  type: string;
  at: number;
  from: ApprovalState;
  to: ApprovalState;
  by?: string;
  detail?: Record<string, unknown>;
}

export type Transition = { record: ApprovalRecord; event: AuditEvent; guard: Guard } | { error: TransitionError };

/** What the store must check against its own clock when it writes: one clock for every replica. */
export type Guard = { before: number } | { after: number } | null;

/** How long an approved call-scope approval waits for its retry. */
export const USE_WINDOW_MS = 10 * 60_000;
/** How long an execution may stay unreported before the sweeper calls it failed (outcome unknown). */
export const EXECUTION_LEASE_MS = 10 * 60_000;

export function progress(record: Pick<ApprovalRecord, 'gates' | 'votes'>): GateProgress[] {
  const approvers = record.votes
    .filter((v) => v.decision === 'approve' && v.policy.allow)
    .map((v) => ({ key: v.by.principal, groups: v.by.groups }));
  return matchGates(record.gates, approvers);
}

/** May this person decide this record at all (before asking the policy)? */
export function eligibility(record: ApprovalRecord, person: Person): TransitionError | null {
  if (person.principal === record.requester.principal) return 'self_approval';
  if (!record.gates.some((g) => qualifies(person.groups, g))) return 'not_eligible';
  return null;
}

function next(record: ApprovalRecord, to: ApprovalState, patch: Partial<ApprovalRecord>, now: number, type: string, by?: string, detail?: Record<string, unknown>, guard: Guard = null): Transition {
  const out = { ...record, ...patch, state: to, version: record.version + 1 };
  if (TERMINAL.has(to)) out.endedAt = now;
  return { record: out, event: { type, at: now, from: record.state, to, ...(by ? { by } : {}), ...(detail ? { detail } : {}) }, guard };
}

export function transition(record: ApprovalRecord, event: ApprovalEvent, now: number): Transition {
  const live = now < record.deadline;
  switch (event.type) {
    case 'vote': {
      const { vote } = event;
      if (record.state !== 'pending') return { error: 'not_pending' };
      if (!live) return { error: 'expired' };
      const refused = eligibility(record, vote.by);
      if (refused) return { error: refused };
      if (record.votes.some((v) => v.by.principal === vote.by.principal)) return { error: 'already_voted' };
      if (!vote.policy.allow) return { error: 'policy_refused' };
      if (vote.decision === 'deny' && vote.comment.trim() === '') return { error: 'comment_required' };
      const votes = [...record.votes, vote];
      const detail = { decision: vote.decision, comment: vote.comment, channel: vote.channel, policy: vote.policy };
      const guard = { before: record.deadline };
      if (vote.decision === 'deny') return next(record, 'denied', { votes, outcome: 'denied' }, now, 'approval.denied', vote.by.principal, detail, guard);
      const gates = progress({ gates: record.gates, votes });
      if (!allGatesPass(gates)) return next(record, 'pending', { votes }, now, 'approval.reviewed', vote.by.principal, detail, guard);
      const window = record.scope === 'window' ? record.windowSeconds * 1000 : USE_WINDOW_MS;
      return next(record, 'approved', { votes, deadline: now + window }, now, 'approval.approved', vote.by.principal, detail, guard);
    }
    case 'expire':
      if (record.state !== 'pending' && record.state !== 'approved') return { error: 'not_pending' };
      if (live) return { error: 'not_yet_expired' };
      return next(record, 'expired', { outcome: `expired while ${record.state}` }, now, 'approval.expired', undefined, undefined, { after: record.deadline });
    case 'cancel':
      if (record.state !== 'pending') return { error: 'not_pending' };
      if (event.by.principal !== record.requester.principal) return { error: 'not_allowed' };
      return next(record, 'cancelled', { outcome: 'cancelled' }, now, 'approval.cancelled', event.by.principal, { comment: event.comment });
    case 'revoke':
      if (record.state !== 'approved') return { error: 'not_approved' };
      if (event.by.principal !== record.requester.principal && eligibility(record, event.by) !== null) return { error: 'not_allowed' };
      if (event.comment.trim() === '') return { error: 'comment_required' };
      return next(record, 'revoked', { outcome: 'revoked' }, now, 'approval.revoked', event.by.principal, { comment: event.comment });
    case 'claim':
      if (record.state !== 'approved') return { error: 'not_approved' };
      if (!live) return { error: 'expired' };
      if (record.scope === 'window') {
        return next(record, 'approved', { uses: record.uses + 1 }, now, 'approval.claimed', undefined, { replica: event.replica, use: record.uses + 1 }, { before: record.deadline });
      }
      return next(record, 'executing', { uses: 1, claimedBy: event.replica, claimedAt: now, deadline: now + EXECUTION_LEASE_MS }, now, 'approval.claimed', undefined, { replica: event.replica }, { before: record.deadline });
    case 'finish':
      if (record.state === 'approved' && record.scope === 'window') {
        // A window use reports its outcome without changing state.
        return next(record, 'approved', {}, now, event.ok ? 'approval.executed' : 'approval.failed', undefined, { outcome: event.outcome });
      }
      if (record.state !== 'executing') return { error: 'not_executing' };
      return next(record, event.ok ? 'executed' : 'failed', { outcome: event.outcome }, now, event.ok ? 'approval.executed' : 'approval.failed', undefined, { outcome: event.outcome });
    case 'abandon':
      if (record.state !== 'executing') return { error: 'not_executing' };
      if (live) return { error: 'not_yet_expired' };
      return next(record, 'failed', { outcome: 'outcome unknown: the executing replica never reported back; not re-run' }, now, 'approval.unknown', undefined, undefined, { after: record.deadline });
  }
}
