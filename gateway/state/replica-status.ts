// Every replica's `/status`, shared through Redis so any replica can list them all: each replica
// writes its own report under a key with a TTL (refreshed on an interval and whenever its policy
// changes or is checked) and its id into an index. A replica that dies stops refreshing and its
// key expires; one that stops cleanly removes its key at once. Reading is two read-only commands
// (ZREVRANGE, MGET) on one hash tag, so no script is needed and it works on Redis Cluster.
import type { StateKeys } from './keys.ts';
import type { RedisClient } from './redis.ts';

/** One replica's report as stored: its status body plus when it reported. */
export type ReplicaReport = Record<string, unknown> & { reported_at: string };

/** At most this many replicas are listed (a bound on one MGET). */
export const MAX_LISTED_REPLICAS = 1000;

export class ReplicaStatusBoard {
  readonly #redis: RedisClient;
  readonly #keys: StateKeys;
  constructor(redis: RedisClient, keys: StateKeys) {
    this.#redis = redis;
    this.#keys = keys;
  }

  /** Stores one replica's report for `ttlMs`; index entries whose keys are long gone are pruned. */
  async publish(replicaId: string, report: ReplicaReport, ttlMs: number): Promise<void> {
    const now = Date.now();
    const index = this.#keys.replicaIndex();
    // Scored by expiry on this replica's clock; pruned a whole TTL later, so clock skew between
    // replicas (under a TTL) never drops a live one. The key's own TTL is what decides liveness.
    // A pipeline, not MULTI: each step stands alone, and the recommended ACL (docs/state.md:
    // @read, @write, @scripting) does not grant @transaction.
    await this.#redis
      .pipeline()
      .set(this.#keys.replicaStatus(replicaId), JSON.stringify(report), 'PX', ttlMs)
      .zadd(index, now + ttlMs, replicaId)
      .zremrangebyscore(index, '-inf', String(now - ttlMs))
      .pexpire(index, 2 * ttlMs)
      .exec()
      .then(failedStep);
  }

  /** Removes one replica's report (a clean stop). */
  async withdraw(replicaId: string): Promise<void> {
    await this.#redis.pipeline().del(this.#keys.replicaStatus(replicaId)).zrem(this.#keys.replicaIndex(), replicaId).exec().then(failedStep);
  }

  /** Every live replica's report (keys not yet expired), ordered by replica id. */
  async list(): Promise<Array<{ id: string; report: ReplicaReport }>> {
    const ids = await this.#redis.zrevrange(this.#keys.replicaIndex(), 0, MAX_LISTED_REPLICAS - 1);
    if (ids.length === 0) return [];
    const values = await this.#redis.mget(ids.map((id) => this.#keys.replicaStatus(id)));
    const out: Array<{ id: string; report: ReplicaReport }> = [];
    ids.forEach((id, i) => {
      const text = values[i];
      if (text === null || text === undefined) return;
      try {
        out.push({ id, report: JSON.parse(text) as ReplicaReport });
      } catch {
        // Not ours (another version's shape, a hand edit): not listed rather than failing /status.
      }
    });
    return out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }
}

/** A pipeline answers each step's error in place rather than rejecting: surface the first. */
function failedStep(results: Array<[Error | null, unknown]> | null): void {
  if (results === null) throw new Error('the Redis pipeline was not run');
  const failed = results.find(([err]) => err !== null);
  if (failed) throw failed[0] as Error;
}

export interface ReplicaPublisherOptions {
  board: ReplicaStatusBoard;
  replicaId: string;
  /** This replica's status body now. */
  body: () => Record<string, unknown>;
  intervalMs: number;
  log: (line: string) => void;
}

/**
 * Publishes this replica's status now, then every `intervalMs` and whenever `refresh()` is called
 * (a swap, a check); the key lives three intervals. Publishes never overlap: a refresh asked for
 * during one runs once after it. A failure is logged once until publishing works again.
 */
export class ReplicaPublisher {
  readonly #o: ReplicaPublisherOptions;
  readonly #timer: NodeJS.Timeout;
  #running: Promise<void> | undefined;
  #again = false;
  #failing = false;
  #stopped = false;

  constructor(options: ReplicaPublisherOptions) {
    this.#o = options;
    this.#timer = setInterval(() => this.refresh(), options.intervalMs);
    this.#timer.unref();
    this.refresh();
  }

  get ttlMs(): number {
    return this.#o.intervalMs * 3;
  }

  /** Publishes as soon as the publish in flight (if any) is done; never throws. */
  refresh(): void {
    if (this.#stopped) return;
    if (this.#running !== undefined) {
      this.#again = true;
      return;
    }
    this.#running = (async () => {
      do {
        this.#again = false;
        await this.#publishOnce();
      } while (this.#again && !this.#stopped);
    })().finally(() => (this.#running = undefined));
  }

  async #publishOnce(): Promise<void> {
    try {
      await this.#o.board.publish(this.#o.replicaId, { ...this.#o.body(), reported_at: new Date().toISOString() }, this.ttlMs);
      if (this.#failing) this.#o.log('portcullis: replica status: publishing to shared state works again');
      this.#failing = false;
    } catch (err) {
      if (!this.#failing) this.#o.log(`portcullis: replica status: cannot publish to shared state (retried; other replicas' /status will not list this one meanwhile): ${(err as Error).message}`);
      this.#failing = true;
    }
  }

  /** Stops publishing and removes this replica's report, so it leaves every listing at once. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#timer);
    await this.#running;
    await this.#o.board.withdraw(this.#o.replicaId).catch(() => {});
  }
}
