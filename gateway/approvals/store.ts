// Where approval records live: one interface, two stores (memory: one replica; Redis: every
// replica), one contract suite for both (test/unit/approvals/store-contract.test.ts). Stores know
// nothing of states' meaning beyond "open": the machine (machine.ts) computes every change and the
// store writes it only if the record is still the version it was computed from (compare-and-set),
// appending the audit event and waking waiters in the same atomic step.
import { EventEmitter } from 'node:events';
import { OPEN, TERMINAL, type ApprovalRecord, type AuditEvent, type Guard } from './machine.ts';

/** `conflict`: someone changed it first (re-read and retry); `guard`: the store's clock says too early or too late. */
export type WriteResult = 'ok' | 'conflict' | 'guard' | 'missing';

export interface ApprovalStore {
  readonly kind: 'memory' | 'redis';
  /**
   * Stores a new record, unless one holds its bucket (`holdsBucket`): then that one is returned
   * and `created` is false (an identical call attaches to it).
   */
  createOrAttach(record: ApprovalRecord, event: AuditEvent): Promise<{ record: ApprovalRecord; created: boolean }>;
  get(id: string): Promise<ApprovalRecord | undefined>;
  /** Writes `next` if the stored record is still at `prev.version` and the guard holds by the store's clock. */
  write(prev: ApprovalRecord, next: ApprovalRecord, event: AuditEvent, guard: Guard): Promise<WriteResult>;
  /** The record's audit events, oldest first. */
  history(id: string): Promise<AuditEvent[]>;
  /** Records not yet ended, soonest deadline first (what approvers may still decide). */
  listOpen(limit: number): Promise<ApprovalRecord[]>;
  /** Ids whose deadline is before `now` (pending, approved or executing): for the sweeper. */
  due(now: number, limit: number): Promise<string[]>;
  /**
   * Resolves when the record moves past `version`, after `timeoutMs`, or when `signal` aborts.
   * Subscribes before it re-reads, so a change between the caller's read and the wait is not lost.
   */
  waitForChange(id: string, version: number, timeoutMs: number, signal?: AbortSignal): Promise<void>;
  close(): Promise<void>;
}

/**
 * Whether an identical call attaches to this record: while it is open, and after a denial until
 * the deadline the request had (a call the approvers refused is not put to them again at once).
 */
export function holdsBucket(record: ApprovalRecord, now: number): boolean {
  return OPEN.has(record.state) || (record.state === 'denied' && now < record.deadline);
}

/** The record id carries its bucket, so a store finds the record's partition from the id alone. */
export function bucketOf(id: string): string | undefined {
  const m = /^apv_([0-9a-f]{32})_[A-Za-z0-9_-]{16,32}$/.exec(id);
  return m?.[1];
}

/** Resolves on `wake`, timeout or abort, whichever first; cleans up after itself. */
export function waitFor(subscribe: (wake: () => void) => () => void, timeoutMs: number, signal?: AbortSignal): { promise: Promise<void>; cancel: () => void } {
  let done!: () => void;
  const promise = new Promise<void>((resolve) => { done = resolve; });
  let finished = false;
  const finish = () => {
    if (finished) return;
    finished = true;
    clearTimeout(timer);
    unsubscribe();
    signal?.removeEventListener('abort', finish);
    done();
  };
  const unsubscribe = subscribe(finish);
  const timer = setTimeout(finish, timeoutMs);
  timer.unref?.();
  if (signal?.aborted) finish();
  else signal?.addEventListener('abort', finish, { once: true });
  return { promise, cancel: finish };
}

export class MemoryApprovalStore implements ApprovalStore {
  readonly kind = 'memory' as const;
  readonly #records = new Map<string, ApprovalRecord>();
  readonly #events = new Map<string, AuditEvent[]>();
  readonly #open = new Map<string, string>();
  readonly #wake = new EventEmitter().setMaxListeners(0);
  private readonly now: () => number;
  constructor(now: () => number = Date.now) {
    this.now = now;
  }

  async createOrAttach(record: ApprovalRecord, event: AuditEvent) {
    const current = this.#open.get(record.bucket);
    const existing = current === undefined ? undefined : this.#records.get(current);
    if (existing && holdsBucket(existing, this.now())) return { record: structuredClone(existing), created: false };
    this.#records.set(record.id, structuredClone(record));
    this.#events.set(record.id, [event]);
    this.#open.set(record.bucket, record.id);
    return { record: structuredClone(record), created: true };
  }

  async get(id: string) {
    const r = this.#records.get(id);
    return r === undefined ? undefined : structuredClone(r);
  }

  async write(prev: ApprovalRecord, next: ApprovalRecord, event: AuditEvent, guard: Guard): Promise<WriteResult> {
    const stored = this.#records.get(prev.id);
    if (stored === undefined) return 'missing';
    if (stored.version !== prev.version) return 'conflict';
    const now = this.now();
    if (guard && 'before' in guard && now >= guard.before) return 'guard';
    if (guard && 'after' in guard && now < guard.after) return 'guard';
    this.#records.set(next.id, structuredClone(next));
    this.#events.get(next.id)!.push(event);
    if (TERMINAL.has(next.state) && next.state !== 'denied' && this.#open.get(next.bucket) === next.id) this.#open.delete(next.bucket);
    this.#wake.emit(next.id);
    return 'ok';
  }

  async history(id: string) {
    return structuredClone(this.#events.get(id) ?? []);
  }

  async listOpen(limit: number) {
    return [...this.#records.values()].filter((r) => !TERMINAL.has(r.state)).sort((a, b) => a.deadline - b.deadline).slice(0, limit).map((r) => structuredClone(r));
  }

  async due(now: number, limit: number) {
    return [...this.#records.values()].filter((r) => !TERMINAL.has(r.state) && r.deadline <= now).slice(0, limit).map((r) => r.id);
  }

  async waitForChange(id: string, version: number, timeoutMs: number, signal?: AbortSignal) {
    const w = waitFor((wake) => {
      this.#wake.on(id, wake);
      return () => this.#wake.off(id, wake);
    }, timeoutMs, signal);
    const current = this.#records.get(id);
    if (current === undefined || current.version !== version) w.cancel();
    await w.promise;
  }

  async close() {}
}
