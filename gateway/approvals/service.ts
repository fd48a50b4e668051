// The approval workflow, independent of MCP and HTTP: open a request for a held call, record
// votes (each one a policy question too), claim the approved call for execution exactly once,
// report its outcome, expire what waited too long. Every change is machine.ts's answer, written
// by the store only if nobody changed the record first (re-read and retried on conflict).
import { randomBytes } from 'node:crypto';
import type { Identity } from '../identity/index.ts';
import { applyMask, type MaskPlanCache } from '../masking/index.ts';
import type { Decision } from '../policy/decision.ts';
import type { PolicyQuery, Subject } from '../policy/input.ts';
import { callDigest, fingerprint } from './digest.ts';
import { eligibility, progress, transition, type ApprovalEvent, type ApprovalRecord, type AuditEvent, type Person, type TransitionError, type Vote } from './machine.ts';
import type { Sealer } from './seal.ts';
import type { ApprovalStore } from './store.ts';

/** A call the policy wants approved, as the MCP stage hands it over. */
export interface HeldCall {
  target: string;
  era: 'legacy' | 'stateless';
  protocolVersion: string;
  method: string;
  name: string;
  arguments: unknown;
  /** The params to execute, without the gateway's own requestState and inputResponses. */
  params: Record<string, unknown>;
  continuation?: unknown;
  identity: Identity;
  decision: Decision;
}

export interface ApprovalsOptions {
  store: ApprovalStore;
  sealer: Sealer;
  masks: MaskPlanCache;
  /** The policy; votes are decided with `kind: "approval"`. */
  decide: (query: PolicyQuery) => Decision;
  /** This replica's name, recorded on claims. */
  replica: string;
  now?: () => number;
  log?: (message: string) => void;
  /** Told of every change written (webhooks); must not throw or block. */
  onEvent?: (record: ApprovalRecord, event: AuditEvent) => void;
}

export type Outcome<T> = { ok: true; value: T } | { ok: false; error: TransitionError | 'not_found' | 'busy' };

export function personOf(identity: Identity): Person {
  const s = identity.subject;
  return { principal: identity.principal, issuer: s.issuer, sub: s.sub, name: s.email || s.sub, groups: [...s.groups] };
}

/** What the approver sees: everything but the sealed call (and the full digest). */
export type ApprovalView = Omit<ApprovalRecord, 'sealedCall' | 'digest' | 'bucket'> & {
  progress: ReturnType<typeof progress>;
  timeLeftSeconds: number;
};

export class Approvals {
  readonly store: ApprovalStore;
  readonly sealer: Sealer;
  readonly #o: ApprovalsOptions;
  readonly #now: () => number;

  constructor(options: ApprovalsOptions) {
    this.#o = options;
    this.store = options.store;
    this.sealer = options.sealer;
    this.#now = options.now ?? Date.now;
  }

  digestOf(call: Pick<HeldCall, 'target' | 'method' | 'name' | 'arguments' | 'identity' | 'decision' | 'continuation'>): string {
    return callDigest({
      target: call.target, method: call.method, name: call.name, arguments: call.arguments,
      principal: call.identity.principal, revision: call.decision.revision,
      ...(call.continuation === undefined ? {} : { continuation: call.continuation }),
    });
  }

  /** The arguments as stored, shown and logged: masked by the decision's masks (strictly). */
  #masked(decision: Decision, args: unknown): unknown {
    if (decision.mask.length === 0) return args ?? {};
    return applyMask(args ?? {}, this.#o.masks.get(decision.mask), 'strict').value;
  }

  /** Opens a request for the call, or attaches to the open one for the identical call. */
  async open(call: HeldCall, digest: string = this.digestOf(call)): Promise<{ record: ApprovalRecord; created: boolean }> {
    const approval = call.decision.approval!;
    const now = this.#now();
    const bucket = fingerprint(this.sealer.currentKey, digest);
    const s: Subject = call.identity.subject;
    const record: ApprovalRecord = {
      id: `apv_${bucket}_${randomBytes(16).toString('base64url')}`,
      bucket, digest, fingerprint: bucket.slice(0, 16), version: 1, state: 'pending',
      target: call.target, method: call.method, name: call.name, era: call.era,
      requester: { ...personOf(call.identity), subjectType: s.type, clientId: s.client_id },
      maskedArguments: this.#masked(call.decision, call.arguments),
      sealedCall: this.sealer.seal('call', { params: call.params, digest }),
      revision: call.decision.revision, decisionId: call.decision.id,
      reasons: call.decision.reasons, ruleIds: call.decision.ruleIds, reason: approval.reason,
      gates: approval.gates, scope: approval.scope, windowSeconds: approval.windowSeconds,
      createdAt: now, deadline: now + approval.ttlSeconds * 1000,
      votes: [], uses: 0, claimedBy: '', claimedAt: 0, endedAt: 0, outcome: '',
    };
    const event = { type: 'approval.requested', at: now, from: 'pending' as const, to: 'pending' as const, by: record.requester.principal, detail: { fingerprint: record.fingerprint, gates: record.gates, revision: record.revision, rule_ids: record.ruleIds } };
    const out = await this.store.createOrAttach(record, event);
    if (out.created) this.#notify(out.record, event);
    return out;
  }

  #notify(record: ApprovalRecord, event: AuditEvent): void {
    try {
      this.#o.onEvent?.(record, event);
    } catch (err) {
      this.#o.log?.(`approvals: a notification failed: ${(err as Error).message}`);
    }
  }

  /** The stored call's params: what executes, whatever a retry sent. */
  storedParams(record: ApprovalRecord): Record<string, unknown> {
    const opened = this.sealer.open('call', record.sealedCall) as { params: Record<string, unknown>; digest: string };
    if (opened.digest !== record.digest) throw new Error(`approval ${record.id}: sealed call does not match its digest`);
    return opened.params;
  }

  /** Applies one event: read, compute, compare-and-set; re-read and retry when another writer won. */
  async apply(id: string, event: ApprovalEvent | ((record: ApprovalRecord) => ApprovalEvent)): Promise<Outcome<ApprovalRecord>> {
    for (let attempt = 0; attempt < 20; attempt++) {
      const record = await this.store.get(id);
      if (record === undefined) return { ok: false, error: 'not_found' };
      const ev = typeof event === 'function' ? event(record) : event;
      const t = transition(record, ev, this.#now());
      if ('error' in t) return { ok: false, error: t.error };
      const written = await this.store.write(record, t.record, t.event, t.guard);
      if (written === 'ok') {
        this.#notify(t.record, t.event);
        return { ok: true, value: t.record };
      }
      if (written === 'missing') return { ok: false, error: 'not_found' };
      // The store's clock disagrees with ours by a hair: the record is past (or not yet at) its
      // deadline there, and its clock is the one every replica shares.
      if (written === 'guard') return { ok: false, error: ev.type === 'expire' || ev.type === 'abandon' ? 'not_yet_expired' : 'expired' };
    }
    return { ok: false, error: 'busy' };
  }

  /** The policy's answer to a vote: `kind: "approval"`, the approver as subject, the pending call as input. */
  votePolicy(record: ApprovalRecord, approver: Identity): Vote['policy'] {
    const decision = this.#o.decide({
      era: record.era, protocolVersion: '', direction: 'client_to_server', kind: 'approval',
      method: record.method, name: record.name, arguments: record.maskedArguments,
      params: { approval: { id: record.id, state: record.state, requester: record.requester, gates: record.gates, scope: record.scope, reason: record.reason, rule_ids: record.ruleIds, revision: record.revision, votes: record.votes.map((v) => ({ by: v.by, decision: v.decision })) } },
      target: record.target, sessionId: '', subjectJson: approver.subjectJson,
    });
    return { allow: decision.allow && !decision.approval?.required, reasons: decision.reasons, ruleIds: decision.ruleIds, revision: decision.revision };
  }

  async vote(id: string, approver: Identity, decision: 'approve' | 'deny', comment: string, channel: Vote['channel']): Promise<Outcome<ApprovalRecord> & { policy?: Vote['policy'] }> {
    const by = personOf(approver);
    if (!approver.subject.authenticated) return { ok: false, error: 'not_allowed' };
    let policy: Vote['policy'] | undefined;
    const out = await this.apply(id, (record) => {
      // Cheap refusals first: the policy is asked only about someone who could count.
      policy = eligibility(record, by) === null ? this.votePolicy(record, approver) : { allow: false, reasons: [], ruleIds: [], revision: record.revision };
      return { type: 'vote', vote: { by, decision, comment, at: this.#now(), policy, channel } };
    });
    return policy ? { ...out, policy } : out;
  }

  claim(id: string): Promise<Outcome<ApprovalRecord>> {
    return this.apply(id, { type: 'claim', replica: this.#o.replica });
  }

  finish(id: string, ok: boolean, outcome: string): Promise<Outcome<ApprovalRecord>> {
    return this.apply(id, { type: 'finish', ok, outcome });
  }

  /** Expires (or abandons) a record whose deadline passed; a no-op otherwise. */
  async settle(record: ApprovalRecord): Promise<ApprovalRecord> {
    if (this.#now() < record.deadline) return record;
    const type = record.state === 'executing' ? 'abandon' : 'expire';
    if (record.state !== 'pending' && record.state !== 'approved' && record.state !== 'executing') return record;
    const out = await this.apply(record.id, { type });
    return out.ok ? out.value : ((await this.store.get(record.id)) ?? record);
  }

  /** One sweep: every record past its deadline gets its expiry (or unknown-outcome) event. */
  async sweep(limit = 100): Promise<number> {
    const due = await this.store.due(this.#now(), limit);
    let settled = 0;
    for (const id of due) {
      const record = await this.store.get(id);
      if (record === undefined) continue;
      const after = await this.settle(record);
      if (after.version !== record.version) settled++;
    }
    return settled;
  }

  view(record: ApprovalRecord): ApprovalView {
    const { sealedCall: _s, digest: _d, bucket: _b, ...rest } = record;
    return { ...rest, progress: progress(record), timeLeftSeconds: Math.max(0, Math.ceil((record.deadline - this.#now()) / 1000)) };
  }

  /** Whoever may see a request: its requester, or someone in one of its gates (whatever its state). */
  maySee(record: ApprovalRecord, who: Identity): boolean {
    return record.requester.principal === who.principal || eligibility(record, personOf(who)) !== 'not_eligible';
  }

  /** Whether this identity may decide this record now (for lists), and why not. */
  mayDecide(record: ApprovalRecord, who: Identity): TransitionError | null {
    if (record.state !== 'pending') return 'not_pending';
    const person = personOf(who);
    const refused = eligibility(record, person);
    if (refused) return refused;
    if (record.votes.some((v) => v.by.principal === person.principal)) return 'already_voted';
    return this.votePolicy(record, who).allow ? null : 'policy_refused';
  }
}
