// Where recordings are kept, behind one interface: MemoryRecordingStore (this process, bounded)
// here, RedisRecordingStore (shared by replicas) in redis-store.ts. The recorder hands batches of
// entries already serialized; readers get RecordedMessage back in the order they left the gateway.
import type { Era } from '../policy/input.ts';
import type { ListOptions, ReadOptions, RecordedMessage, RecordingPage, RecordingReader, RecordingSummary } from './entry.ts';

/** One message on its way to the store: serialized once, when it was recorded. */
export interface PendingEntry {
  /** Unique per message (replica and sequence): a write retried after a lost answer is read back once. */
  uid: string;
  recording: string;
  time: number;
  /** JSON of the RecordedMessage. */
  json: string;
  target: string;
  era: Era;
  sessionId: string;
  principal: string;
}

export interface RecordingStore extends RecordingReader {
  readonly kind: 'memory' | 'redis';
  /**
   * Writes a batch; resolves with the entries that could not be written (to be retried), in order.
   * An entry whose target, era, session or principal differ from its recording's (kept from the
   * first write) is not written and not retried: `refused` hears of it.
   */
  append(entries: PendingEntry[], refused?: (entry: PendingEntry) => void): Promise<PendingEntry[]>;
  close(): Promise<void>;
}

export interface StoreLimits {
  retentionMs: number;
  maxMessages: number;
  maxRecordings: number;
  /** Recordings kept (memory) or listed (Redis) per principal: its own oldest go first. Default 100. */
  maxRecordingsPerPrincipal?: number;
  /** Memory only: serialized bytes kept in all; the least recently written recordings go first. Default 256 MiB. */
  maxBytes?: number;
}

export const DEFAULT_LIST_LIMIT = 100;
export const MAX_LIST_LIMIT = 1000;
export const DEFAULT_READ_LIMIT = 100;
export const MAX_READ_LIMIT = 1000;
/** One page stops once it holds this many bytes of messages (at least one message is always given). */
export const READ_PAGE_BYTES = 8 * 1024 * 1024;
export const DEFAULT_PER_PRINCIPAL = 100;
export const DEFAULT_MEMORY_BYTES = 256 * 1024 * 1024;

/** Whether an entry belongs to a recording with this meta (the recording's first writer's). */
export function sameOwner(meta: Pick<PendingEntry, 'target' | 'era' | 'sessionId' | 'principal'>, e: PendingEntry): boolean {
  return meta.target === e.target && meta.era === e.era && meta.sessionId === e.sessionId && meta.principal === e.principal;
}

/** Stored messages back in the order they left the gateway, each once (a retried write is read once). */
export function ordered(rows: { uid: string; time: number; json: string }[]): RecordedMessage[] {
  const seen = new Set<string>();
  const unique = rows.filter((r) => !seen.has(r.uid) && seen.add(r.uid));
  // Replicas buffer independently, so arrival order can differ from leaving order: sort by time
  // (stable: messages of one millisecond keep the order they were stored in). Within a page.
  return unique.sort((a, b) => a.time - b.time).map((r) => JSON.parse(r.json) as RecordedMessage);
}

export function groupByRecording(entries: PendingEntry[]): Map<string, PendingEntry[]> {
  const groups = new Map<string, PendingEntry[]>();
  for (const e of entries) {
    const group = groups.get(e.recording);
    if (group) group.push(e);
    else groups.set(e.recording, [e]);
  }
  return groups;
}

interface Row { seq: number; uid: string; time: number; json: string; bytes: number }

interface MemoryRecording {
  summary: Omit<RecordingSummary, 'firstTime' | 'lastTime' | 'messages'>;
  rows: Row[];
  /** Kept as rows come and go, so a listing never walks rows (R10). */
  firstTime: number;
  lastTime: number;
  bytes: number;
  nextSeq: number;
}

/**
 * `state.backend: memory`: this process only, bounded by messages per recording, recordings in all
 * and per principal, bytes in all (maxBytes), and age.
 */
export class MemoryRecordingStore implements RecordingStore {
  readonly kind = 'memory' as const;
  readonly #recordings = new Map<string, MemoryRecording>();
  /** Per principal, its recordings, least recently written first. */
  readonly #byPrincipal = new Map<string, Set<string>>();
  readonly #limits: Required<StoreLimits>;
  readonly #now: () => number;
  #bytes = 0;

  constructor(limits: StoreLimits, now: () => number = Date.now) {
    this.#limits = { maxRecordingsPerPrincipal: DEFAULT_PER_PRINCIPAL, maxBytes: DEFAULT_MEMORY_BYTES, ...limits };
    this.#now = now;
  }

  /** Bytes held now (messages' JSON). */
  get bytes(): number {
    return this.#bytes;
  }

  async append(entries: PendingEntry[], refused: (entry: PendingEntry) => void = () => {}): Promise<PendingEntry[]> {
    for (const e of entries) {
      let rec = this.#recordings.get(e.recording);
      if (rec !== undefined && !sameOwner(rec.summary, e)) {
        refused(e);
        continue;
      }
      if (rec === undefined) {
        rec = { summary: { recording: e.recording, target: e.target, era: e.era, sessionId: e.sessionId, principal: e.principal }, rows: [], firstTime: Infinity, lastTime: -Infinity, bytes: 0, nextSeq: 0 };
      }
      // Re-inserted: the Maps' order is least recently written first.
      this.#recordings.delete(e.recording);
      this.#recordings.set(e.recording, rec);
      const own = this.#byPrincipal.get(e.principal) ?? new Set<string>();
      own.delete(e.recording);
      own.add(e.recording);
      this.#byPrincipal.set(e.principal, own);
      const bytes = Buffer.byteLength(e.json);
      rec.rows.push({ seq: rec.nextSeq++, uid: e.uid, time: e.time, json: e.json, bytes });
      rec.bytes += bytes;
      this.#bytes += bytes;
      if (e.time > rec.lastTime) rec.lastTime = e.time;
      if (e.time < rec.firstTime) rec.firstTime = e.time;
      if (rec.rows.length > this.#limits.maxMessages) this.#trim(rec, rec.rows.length - this.#limits.maxMessages);
      // One principal's growth evicts only its own oldest recordings.
      while (own.size > this.#limits.maxRecordingsPerPrincipal) this.#drop(own.values().next().value!);
    }
    while (this.#recordings.size > this.#limits.maxRecordings) this.#drop(this.#recordings.keys().next().value!);
    while (this.#bytes > this.#limits.maxBytes) {
      const [oldest, rec] = this.#recordings.entries().next().value!;
      // The last recording left loses its oldest messages rather than everything.
      if (this.#recordings.size === 1 && rec.rows.length > 1) this.#trim(rec, 1);
      else this.#drop(oldest);
    }
    return [];
  }

  #trim(rec: MemoryRecording, count: number): void {
    let firstGone = false;
    for (const row of rec.rows.splice(0, count)) {
      rec.bytes -= row.bytes;
      this.#bytes -= row.bytes;
      if (row.time === rec.firstTime) firstGone = true;
    }
    // Only when the earliest message itself went: rows arrive nearly in time order, so rarely.
    if (firstGone) {
      rec.firstTime = Infinity;
      for (const row of rec.rows) if (row.time < rec.firstTime) rec.firstTime = row.time;
    }
  }

  #drop(id: string): void {
    const rec = this.#recordings.get(id);
    if (rec === undefined) return;
    this.#recordings.delete(id);
    this.#bytes -= rec.bytes;
    const own = this.#byPrincipal.get(rec.summary.principal);
    own?.delete(id);
    if (own?.size === 0) this.#byPrincipal.delete(rec.summary.principal);
  }

  /** Drops what is past retention; a recording with nothing left is gone. O(1) unless something expires. */
  #fresh(id: string): MemoryRecording | undefined {
    const rec = this.#recordings.get(id);
    if (rec === undefined) return undefined;
    const oldest = this.#now() - this.#limits.retentionMs;
    if (rec.lastTime < oldest || rec.rows.length === 0) {
      this.#drop(id);
      return undefined;
    }
    let expired = 0;
    while (expired < rec.rows.length && rec.rows[expired]!.time < oldest) expired++;
    if (expired > 0) this.#trim(rec, expired);
    return rec;
  }

  #summary(rec: MemoryRecording): RecordingSummary {
    return { ...rec.summary, firstTime: rec.firstTime, lastTime: rec.lastTime, messages: rec.rows.length };
  }

  async list(options: ListOptions = {}): Promise<RecordingSummary[]> {
    const limit = options.limit ?? DEFAULT_LIST_LIMIT;
    const out: RecordingSummary[] = [];
    for (const id of [...this.#recordings.keys()]) {
      const rec = this.#fresh(id);
      if (rec && rec.lastTime >= (options.since ?? 0) && (options.sessionId === undefined || rec.summary.sessionId === options.sessionId)) out.push(this.#summary(rec));
    }
    return out.sort((a, b) => b.lastTime - a.lastTime).slice(0, limit);
  }

  async read(recording: string, options: ReadOptions = {}): Promise<RecordingPage | undefined> {
    const rec = this.#fresh(recording);
    if (rec === undefined) return undefined;
    const after = options.after === undefined ? -1 : Number(options.after.split('-')[0]);
    // Rows are in seq order: the first after the cursor by binary search.
    let lo = 0;
    let hi = rec.rows.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (rec.rows[mid]!.seq <= after) lo = mid + 1;
      else hi = mid;
    }
    const page = pageOf(rec.rows.slice(lo, lo + (options.limit ?? DEFAULT_READ_LIMIT)));
    const last = page[page.length - 1];
    const more = last !== undefined && last.seq < rec.rows[rec.rows.length - 1]!.seq;
    return { session: this.#summary(rec), messages: ordered(page), ...(more ? { next: String(last.seq) } : {}) };
  }

  async close(): Promise<void> {}
}

/** The rows of one answer: up to READ_PAGE_BYTES, at least one. */
export function pageOf<T extends { bytes: number }>(rows: T[]): T[] {
  let bytes = 0;
  let n = 0;
  while (n < rows.length && (n === 0 || bytes + rows[n]!.bytes <= READ_PAGE_BYTES)) bytes += rows[n++]!.bytes;
  return rows.slice(0, n);
}
