// RecordingStore on Redis, shared by every replica. A recording is a stream and a small meta hash
// under the hash tag `{rec:<id>}` (one Cluster slot, so one script appends and trims atomically);
// Redis enforces retention (XADD MAXLEN ~, XTRIM MINID ~, EXPIRE). `list` reads one sorted set
// (member: recording id, score: last time), itself trimmed by age and size: it only says where to
// look, so a recording that expired is dropped from it when a listing finds it gone.
import { defineLuaScripts, type RedisClient, type ScriptCall } from '../state/index.ts';
import type { Era } from '../policy/input.ts';
import type { RecordingSummary } from './entry.ts';
import { DEFAULT_LIST_LIMIT, groupByRecording, ordered, span, type PendingEntry, type RecordingStore, type StoreLimits } from './store.ts';

/** Bump when a script changes meaning: two gateway versions sharing a Redis never run each other's. */
const SCRIPT_VERSION = 1;
const SCRIPTS = { append: 'append-recording-2', summarize: 'summarize-recording-2', index: 'index-recordings-1' } as const;

export class RedisRecordingStore implements RecordingStore {
  readonly kind = 'redis' as const;
  readonly #redis: RedisClient;
  readonly #prefix: string;
  readonly #limits: StoreLimits;
  readonly #scripts: Record<keyof typeof SCRIPTS, ScriptCall>;
  /** Recordings written whose index update failed: retried with the next write. */
  readonly #unindexed = new Map<string, number>();

  constructor(redis: RedisClient, prefix: string, limits: StoreLimits) {
    this.#redis = redis;
    this.#prefix = prefix;
    this.#limits = limits;
    this.#scripts = defineLuaScripts(redis, new URL('./lua/', import.meta.url), SCRIPTS, SCRIPT_VERSION);
  }

  /** The recording id comes from a session id (any visible ASCII): encoded, it keeps braces out of the tag. */
  keys(recording: string): { stream: string; meta: string } {
    const tag = `${this.#prefix}{rec:${encodeURIComponent(recording)}}:`;
    return { stream: `${tag}stream`, meta: `${tag}meta` };
  }

  get indexKey(): string {
    return `${this.#prefix}recordings:index`;
  }

  async append(entries: PendingEntry[]): Promise<PendingEntry[]> {
    const groups = [...groupByRecording(entries)];
    const retentionSeconds = Math.ceil(this.#limits.retentionMs / 1000);
    // One script call per recording, all sent at once (ioredis writes them back to back; a
    // Cluster pipeline could not span slots).
    const results = await Promise.allSettled(groups.map(([recording, group]) => {
      const { stream, meta } = this.keys(recording);
      const first = group[0]!;
      const args: (string | number)[] = [stream, meta, this.#limits.maxMessages, retentionSeconds, first.target, first.era, first.sessionId, first.principal];
      for (const e of group) args.push(e.uid, e.time, e.json);
      return this.#scripts.append(...args);
    }));
    const failed: PendingEntry[] = [];
    results.forEach((r, i) => {
      const [recording, group] = groups[i]!;
      if (r.status === 'rejected') failed.push(...group);
      else this.#unindexed.set(recording, Math.max(this.#unindexed.get(recording) ?? 0, group[group.length - 1]!.time));
    });
    if (this.#unindexed.size > 0) {
      const pairs: (string | number)[] = [];
      for (const [recording, time] of this.#unindexed) pairs.push(time, recording);
      try {
        await this.#scripts.index(this.indexKey, Date.now(), this.#limits.retentionMs, this.#limits.maxRecordings, ...pairs);
        this.#unindexed.clear();
      } catch {
        // Kept (bounded: one number per recording) and sent again with the next write; the
        // recording is readable by its id meanwhile.
        while (this.#unindexed.size > this.#limits.maxRecordings) this.#unindexed.delete(this.#unindexed.keys().next().value!);
      }
    }
    // Failed groups go back in their original order.
    const failedSet = new Set(failed);
    return entries.filter((e) => failedSet.has(e));
  }

  async list(options: { since?: number; limit?: number } = {}): Promise<RecordingSummary[]> {
    const limit = options.limit ?? DEFAULT_LIST_LIMIT;
    const ids = await this.#redis.zrevrangebyscore(this.indexKey, '+inf', options.since ?? 0, 'LIMIT', 0, limit);
    const rows = await Promise.all(ids.map(async (id) => {
      const { stream, meta } = this.keys(id);
      return [id, (await this.#scripts.summarize(stream, meta)) as unknown as (string | number)[] | null] as const;
    }));
    const gone = rows.filter(([, r]) => r === null).map(([id]) => id);
    if (gone.length > 0) await this.#redis.zrem(this.indexKey, ...gone);
    return rows.flatMap(([recording, r]) => {
      if (r === null) return [];
      const [target, era, sessionId, principal, messages, first, last] = r;
      return [{ recording, target: String(target), era: String(era) as Era, sessionId: String(sessionId), principal: String(principal), firstTime: Number(first), lastTime: Number(last), messages: Number(messages) }];
    });
  }

  async read(recording: string) {
    const { stream, meta } = this.keys(recording);
    const [fields, entries] = await Promise.all([
      this.#redis.hmget(meta, 'target', 'era', 'sessionId', 'principal'),
      this.#redis.xrange(stream, '-', '+'),
    ]);
    if (entries.length === 0) return undefined;
    const rows = entries.map(([, kv]) => {
      const row = { uid: '', time: 0, json: 'null' };
      for (let i = 0; i < kv.length; i += 2) {
        if (kv[i] === 'u') row.uid = kv[i + 1]!;
        else if (kv[i] === 't') row.time = Number(kv[i + 1]);
        else if (kv[i] === 'm') row.json = kv[i + 1]!;
      }
      return row;
    });
    const messages = ordered(rows);
    const [target, era, sessionId, principal] = fields.map((f) => f ?? '');
    const session: RecordingSummary = { recording, target: target!, era: era as Era, sessionId: sessionId!, principal: principal!, ...span(rows), messages: messages.length };
    return { session, messages };
  }

  /** The connection belongs to the shared state, which closes it. */
  async close(): Promise<void> {}
}
