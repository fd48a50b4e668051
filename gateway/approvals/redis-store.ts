// ApprovalStore on Redis. A record's keys share the hash tag `{apv:<bucket>}` (bucket: a keyed
// fingerprint of the call's digest), so each change is one Lua script on one Cluster slot: the
// record (hash: json, version, state), its audit stream, the bucket's open pointer. Scripts are
// registered with `defineCommand` under versioned names, as gateway/state does. The deadline index
// (a sorted set, for lists and the sweeper) lives in another slot and is kept beside the scripts;
// it only says where to look: the record itself is always re-read and re-checked.
// Wake-ups are Redis pub/sub on one subscriber connection per process.
import { readFileSync } from 'node:fs';
import type { Cluster, Redis } from 'ioredis';
import { TERMINAL, type ApprovalRecord, type AuditEvent, type Guard } from './machine.ts';
import { bucketOf, holdsBucket, waitFor, type ApprovalStore, type WriteResult } from './store.ts';

/** Bump when a script changes meaning: two gateway versions sharing a Redis never run each other's. */
const SCRIPT_VERSION = 1;
const SCRIPTS = { create: 'create-approval-4', write: 'write-approval-3' } as const;

type Call = (...args: (string | number)[]) => Promise<unknown>;

function defineApprovalScripts(client: Redis | Cluster): Record<keyof typeof SCRIPTS, Call> {
  const calls = {} as Record<keyof typeof SCRIPTS, Call>;
  for (const [name, file] of Object.entries(SCRIPTS) as [keyof typeof SCRIPTS, string][]) {
    const lua = readFileSync(new URL(`./lua/${file}.lua`, import.meta.url), 'utf8');
    const command = `portcullis:${file}:v${SCRIPT_VERSION}`;
    client.defineCommand(command, { numberOfKeys: Number(file.slice(file.lastIndexOf('-') + 1)), lua });
    const method = (client as unknown as Record<string, Call>)[command]!;
    calls[name] = (...args) => method.apply(client, args);
  }
  return calls;
}

export interface RedisApprovalStoreOptions {
  prefix: string;
  /** How long records and their history are kept after their last change (a backstop, far beyond any ttl). */
  retentionMs: number;
}

export class RedisApprovalStore implements ApprovalStore {
  readonly kind = 'redis' as const;
  readonly #scripts: Record<keyof typeof SCRIPTS, Call>;
  #subscriber: Redis | Cluster | undefined;
  #subscriberReady: Promise<void> | undefined;
  readonly #listeners = new Map<string, { fns: Set<() => void>; ready: Promise<void> }>();

  private readonly redis: Redis | Cluster;
  private readonly options: RedisApprovalStoreOptions;
  constructor(redis: Redis | Cluster, options: RedisApprovalStoreOptions) {
    this.redis = redis;
    this.options = options;
    this.#scripts = defineApprovalScripts(redis);
  }

  #tag(bucket: string): string {
    return `${this.options.prefix}{apv:${bucket}}:`;
  }
  #keys(id: string): { rec: string; events: string; open: string } {
    const bucket = bucketOf(id);
    if (bucket === undefined) throw new Error(`not an approval id: ${id}`);
    const tag = this.#tag(bucket);
    return { rec: `${tag}rec:${id}`, events: `${tag}events:${id}`, open: `${tag}open` };
  }
  get #deadlines(): string {
    return `${this.options.prefix}approvals:deadlines`;
  }
  #channel(id: string): string {
    return `${this.options.prefix}approvals:wake:${id}`;
  }

  async createOrAttach(record: ApprovalRecord, event: AuditEvent) {
    const { rec, events, open } = this.#keys(record.id);
    for (let attempt = 0; attempt < 5; attempt++) {
      const current = await this.redis.get(open);
      if (current !== null) {
        const existing = await this.get(current);
        if (existing && holdsBucket(existing, Date.now())) return { record: existing, created: false };
      }
      const currentKey = current === null ? `${this.#tag(record.bucket)}none` : this.#keys(current).rec;
      const created = await this.#scripts.create(open, rec, events, currentKey, current ?? '', record.id, JSON.stringify(record), record.version, record.state, JSON.stringify(event), this.options.retentionMs, record.deadline);
      if (created === 1) {
        await this.redis.zadd(this.#deadlines, record.deadline, record.id);
        return { record, created: true };
      }
    }
    throw new Error('approval store: the open pointer kept changing (5 attempts)');
  }

  async get(id: string) {
    if (bucketOf(id) === undefined) return undefined;
    const json = await this.redis.hget(this.#keys(id).rec, 'json');
    return json === null ? undefined : (JSON.parse(json) as ApprovalRecord);
  }

  async write(prev: ApprovalRecord, next: ApprovalRecord, event: AuditEvent, guard: Guard): Promise<WriteResult> {
    const { rec, events, open } = this.#keys(prev.id);
    const [kind, at] = guard === null ? ['none', 0] : 'before' in guard ? ['before', guard.before] : ['after', guard.after];
    const terminal = TERMINAL.has(next.state);
    const result = await this.#scripts.write(
      rec, events, open, String(prev.version), JSON.stringify(next), String(next.version), next.state, JSON.stringify(event),
      kind, at, this.options.retentionMs, this.#channel(prev.id), prev.id, terminal ? '1' : '0', next.deadline,
    );
    if (result === 1) {
      if (terminal) await this.redis.zrem(this.#deadlines, prev.id);
      else if (next.deadline !== prev.deadline) await this.redis.zadd(this.#deadlines, next.deadline, prev.id);
      return 'ok';
    }
    return result === -1 ? 'conflict' : result === -2 ? 'missing' : 'guard';
  }

  async history(id: string) {
    if (bucketOf(id) === undefined) return [];
    const entries = await this.redis.xrange(this.#keys(id).events, '-', '+');
    return entries.map(([, fields]) => JSON.parse(fields[1] ?? '{}') as AuditEvent);
  }

  async listOpen(limit: number) {
    const ids = await this.redis.zrange(this.#deadlines, '0', String(limit - 1));
    const records = await Promise.all(ids.map((id) => this.get(id)));
    return records.filter((r): r is ApprovalRecord => r !== undefined && !TERMINAL.has(r.state));
  }

  async due(now: number, limit: number) {
    return this.redis.zrangebyscore(this.#deadlines, '-inf', now, 'LIMIT', 0, limit);
  }

  #connectSubscriber(): Redis | Cluster {
    if (this.#subscriber === undefined) {
      const sub = (this.redis as Redis).duplicate();
      this.#subscriber = sub;
      sub.on('error', () => {}); // a lost subscriber only delays wake-ups to the waiters' timeouts
      // The connection options are lazy (and queue nothing offline): connect before subscribing.
      this.#subscriberReady = sub.status === 'wait' ? sub.connect() : Promise.resolve();
      this.#subscriberReady.catch(() => {});
      sub.on('message', (channel: string) => {
        for (const fn of this.#listeners.get(channel)?.fns ?? []) fn();
      });
    }
    return this.#subscriber;
  }

  /** Resolves once the channel's subscription is active (shared by every waiter on it). */
  async #subscribe(channel: string, wake: () => void): Promise<() => void> {
    const sub = this.#connectSubscriber();
    let entry = this.#listeners.get(channel);
    if (entry === undefined) {
      entry = { fns: new Set(), ready: this.#subscriberReady!.then(() => sub.subscribe(channel)).then(() => {}) };
      this.#listeners.set(channel, entry);
      entry.ready.catch(() => { if (this.#listeners.get(channel) === entry) this.#listeners.delete(channel); });
    }
    const current = entry;
    current.fns.add(wake);
    const unsubscribe = () => {
      current.fns.delete(wake);
      if (current.fns.size === 0 && this.#listeners.get(channel) === current) {
        this.#listeners.delete(channel);
        void sub.unsubscribe(channel).catch(() => {});
      }
    };
    try {
      await current.ready;
    } catch (err) {
      unsubscribe();
      throw err;
    }
    return unsubscribe;
  }

  async waitForChange(id: string, version: number, timeoutMs: number, signal?: AbortSignal) {
    let wake!: () => void;
    const woken = new Promise<void>((resolve) => { wake = resolve; });
    let unsubscribe = () => {};
    try {
      unsubscribe = await this.#subscribe(this.#channel(id), () => wake());
    } catch {
      // No subscription (Redis away): the waiter re-reads at its timeout instead.
    }
    try {
      // Subscribed first, then re-read: a change that landed in between is seen here.
      const current = await this.get(id).catch(() => undefined);
      if (current === undefined || current.version !== version) return;
      await waitFor((done) => { void woken.then(done); return () => {}; }, timeoutMs, signal).promise;
    } finally {
      unsubscribe();
    }
  }

  async close() {
    this.#listeners.clear();
    await this.#subscriber?.quit().catch(() => this.#subscriber?.disconnect());
  }
}
