// RecordingStore on Redis, shared by every replica. A recording is a stream and a small meta hash
// under the hash tag `{rec:<id>}` (one Cluster slot, so one script appends and trims atomically);
// Redis enforces retention (XADD MAXLEN ~, XTRIM MINID ~, EXPIRE). `list` reads one sorted set
// (member: recording id, score: last time), itself trimmed by age and size: it only says where to
// look, so a recording that expired is dropped from it when a listing finds it gone. Each principal
// has its own bounded set too: past max_recordings_per_principal its oldest recordings are deleted
// (only its own). Bytes per recording are bounded by max_message_bytes x max_messages.
import { defineLuaScripts, type RedisClient, type ScriptCall } from '../state/index.ts';
import type { Era } from '../policy/input.ts';
import type { RecordingSummary } from './entry.ts';
import { createHash } from 'node:crypto';
import type { ListOptions, ReadOptions, RecordingPage } from './entry.ts';
import { DEFAULT_LIST_LIMIT, DEFAULT_PER_PRINCIPAL, DEFAULT_READ_LIMIT, MAX_LIST_LIMIT, ordered, pageOf, READ_PAGE_BYTES, type PendingEntry, type RecordingStore, type StoreLimits } from './store.ts';

/** Bump when a script changes meaning: two gateway versions sharing a Redis never run each other's. */
const SCRIPT_VERSION = 2;
const SCRIPTS = { append: 'append-recording-2', summarize: 'summarize-recording-2', index: 'index-recordings-1' } as const;
/** Entries per XRANGE while reading a page: bounds what one call brings back (x max_message_bytes). */
const READ_CHUNK = 16;

type Row = { uid: string; time: number; json: string; bytes: number };

export class RedisRecordingStore implements RecordingStore {
  readonly kind = 'redis' as const;
  readonly #redis: RedisClient;
  readonly #prefix: string;
  readonly #limits: StoreLimits & { maxRecordingsPerPrincipal: number };
  readonly #scripts: Record<keyof typeof SCRIPTS, ScriptCall>;
  /** Recordings written whose index update failed: retried with the next write (with their principal). */
  readonly #unindexed = new Map<string, { time: number; principal: string }>();

  constructor(redis: RedisClient, prefix: string, limits: StoreLimits) {
    this.#redis = redis;
    this.#prefix = prefix;
    this.#limits = { maxRecordingsPerPrincipal: DEFAULT_PER_PRINCIPAL, ...limits };
    this.#scripts = defineLuaScripts(redis, new URL('./lua/', import.meta.url), SCRIPTS, SCRIPT_VERSION);
  }

  /** The recording id may be anything visible: encoded, it keeps braces out of the tag. */
  keys(recording: string): { stream: string; meta: string } {
    const tag = `${this.#prefix}{rec:${encodeURIComponent(recording)}}:`;
    return { stream: `${tag}stream`, meta: `${tag}meta` };
  }

  get indexKey(): string {
    return `${this.#prefix}recordings:index`;
  }

  principalKey(principal: string): string {
    return `${this.#prefix}recordings:principal:${createHash('sha256').update(principal).digest('hex').slice(0, 32)}`;
  }

  async append(entries: PendingEntry[], refused: (entry: PendingEntry) => void = () => {}): Promise<PendingEntry[]> {
    // One group per recording and owner: entries claiming another owner than the recording's are
    // refused by the script as a group, never merged.
    const groups = new Map<string, PendingEntry[]>();
    for (const e of entries) {
      const key = JSON.stringify([e.recording, e.target, e.era, e.sessionId, e.principal]);
      const group = groups.get(key);
      if (group) group.push(e);
      else groups.set(key, [e]);
    }
    const list = [...groups.values()];
    const retentionSeconds = Math.ceil(this.#limits.retentionMs / 1000);
    // One script call per group, all sent at once (ioredis writes them back to back; a Cluster
    // pipeline could not span slots).
    const results = await Promise.allSettled(list.map((group) => {
      const first = group[0]!;
      const { stream, meta } = this.keys(first.recording);
      const args: (string | number)[] = [stream, meta, this.#limits.maxMessages, retentionSeconds, first.target, first.era, first.sessionId, first.principal];
      for (const e of group) args.push(e.uid, e.time, e.json);
      return this.#scripts.append(...args);
    }));
    const failed = new Set<PendingEntry>();
    results.forEach((r, i) => {
      const group = list[i]!;
      const first = group[0]!;
      if (r.status === 'rejected') for (const e of group) failed.add(e);
      else if (Number(r.value) < 0) for (const e of group) refused(e);
      else this.#unindexed.set(first.recording, { time: Math.max(this.#unindexed.get(first.recording)?.time ?? 0, group[group.length - 1]!.time), principal: first.principal });
    });
    if (this.#unindexed.size > 0) await this.#index();
    // Failed groups go back in their original order.
    return entries.filter((e) => failed.has(e));
  }

  /** The index and each principal's own set; a principal's evicted recordings are deleted. */
  async #index(): Promise<void> {
    const pairs: (string | number)[] = [];
    const byPrincipal = new Map<string, (string | number)[]>();
    for (const [recording, { time, principal }] of this.#unindexed) {
      pairs.push(time, recording);
      const own = byPrincipal.get(principal) ?? [];
      own.push(time, recording);
      byPrincipal.set(principal, own);
    }
    const now = Date.now();
    try {
      await this.#scripts.index(this.indexKey, now, this.#limits.retentionMs, this.#limits.maxRecordings, ...pairs);
      const evicted = (await Promise.all([...byPrincipal].map(([principal, own]) =>
        this.#scripts.index(this.principalKey(principal), now, this.#limits.retentionMs, this.#limits.maxRecordingsPerPrincipal, ...own)))).flat() as unknown as string[];
      if (evicted.length > 0) {
        await this.#redis.zrem(this.indexKey, ...evicted);
        await Promise.all(evicted.map((id) => {
          const { stream, meta } = this.keys(id);
          return this.#redis.del(stream, meta);
        }));
      }
      this.#unindexed.clear();
    } catch {
      // Kept (bounded: one entry per recording) and sent again with the next write; the
      // recording is readable by its id meanwhile.
      while (this.#unindexed.size > this.#limits.maxRecordings) this.#unindexed.delete(this.#unindexed.keys().next().value!);
    }
  }

  async #summary(recording: string): Promise<(RecordingSummary & { lastId: string }) | undefined> {
    const { stream, meta } = this.keys(recording);
    const r = (await this.#scripts.summarize(stream, meta)) as unknown as (string | number)[] | null;
    if (r === null) return undefined;
    const [target, era, sessionId, principal, messages, first, last, lastId] = r;
    return { recording, target: String(target), era: String(era) as Era, sessionId: String(sessionId), principal: String(principal), firstTime: Number(first), lastTime: Number(last), messages: Number(messages), lastId: String(lastId) };
  }

  async list(options: ListOptions = {}): Promise<RecordingSummary[]> {
    const limit = options.limit ?? DEFAULT_LIST_LIMIT;
    // A session id is looked for among the newest MAX_LIST_LIMIT recordings.
    const window = options.sessionId === undefined ? limit : MAX_LIST_LIMIT;
    const ids = await this.#redis.zrevrangebyscore(this.indexKey, '+inf', options.since ?? 0, 'LIMIT', 0, window);
    const rows = await Promise.all(ids.map(async (id) => [id, await this.#summary(id)] as const));
    const gone = rows.filter(([, r]) => r === undefined).map(([id]) => id);
    if (gone.length > 0) await this.#redis.zrem(this.indexKey, ...gone);
    return rows.flatMap(([, r]) => {
      if (r === undefined || (options.sessionId !== undefined && r.sessionId !== options.sessionId)) return [];
      const { lastId: _, ...summary } = r;
      return [summary];
    }).slice(0, limit);
  }

  async read(recording: string, options: ReadOptions = {}): Promise<RecordingPage | undefined> {
    const found = await this.#summary(recording);
    if (found === undefined) return undefined;
    const { lastId, ...session } = found;
    const limit = options.limit ?? DEFAULT_READ_LIMIT;
    const { stream } = this.keys(recording);
    // Chunks until the page holds `limit` messages or READ_PAGE_BYTES: never the whole stream.
    const rows: (Row & { id: string })[] = [];
    let start = options.after === undefined ? '-' : `(${options.after}`;
    let bytes = 0;
    while (rows.length < limit && bytes < READ_PAGE_BYTES) {
      const chunk = await this.#redis.xrange(stream, start, '+', 'COUNT', Math.min(READ_CHUNK, limit - rows.length));
      for (const [id, kv] of chunk) {
        const row = { id, uid: '', time: 0, json: 'null', bytes: 0 };
        for (let i = 0; i < kv.length; i += 2) {
          if (kv[i] === 'u') row.uid = kv[i + 1]!;
          else if (kv[i] === 't') row.time = Number(kv[i + 1]);
          else if (kv[i] === 'm') row.json = kv[i + 1]!;
        }
        row.bytes = Buffer.byteLength(row.json);
        bytes += row.bytes;
        rows.push(row);
      }
      if (chunk.length < READ_CHUNK) break;
      start = `(${chunk[chunk.length - 1]![0]}`;
    }
    const page = pageOf(rows);
    const last = page[page.length - 1];
    return { session, messages: ordered(page), ...(last !== undefined && last.id !== lastId ? { next: last.id } : {}) };
  }

  /** The connection belongs to the shared state, which closes it. */
  async close(): Promise<void> {}
}
