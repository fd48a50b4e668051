// Where recordings are kept, behind one interface: MemoryRecordingStore (this process, bounded)
// here, RedisRecordingStore (shared by replicas) in redis-store.ts. The recorder hands batches of
// entries already serialized; readers get RecordedMessage back in the order they left the gateway.
import type { Era } from '../policy/input.ts';
import type { RecordedMessage, RecordingReader, RecordingSummary } from './entry.ts';

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
  /** Writes a batch; resolves with the entries that could not be written (to be retried), in order. */
  append(entries: PendingEntry[]): Promise<PendingEntry[]>;
  close(): Promise<void>;
}

export interface StoreLimits {
  retentionMs: number;
  maxMessages: number;
  maxRecordings: number;
}

export const DEFAULT_LIST_LIMIT = 100;
export const MAX_LIST_LIMIT = 1000;

/** Stored messages back in the order they left the gateway, each once (a retried write is read once). */
export function ordered(rows: { uid: string; time: number; json: string }[]): RecordedMessage[] {
  const seen = new Set<string>();
  const unique = rows.filter((r) => !seen.has(r.uid) && seen.add(r.uid));
  // Replicas buffer independently, so arrival order can differ from leaving order: sort by time
  // (stable: messages of one millisecond keep the order they were stored in).
  return unique.sort((a, b) => a.time - b.time).map((r) => JSON.parse(r.json) as RecordedMessage);
}

/** The first and last time among rows (a loop: a recording may hold millions). */
export function span(rows: { time: number }[]): { firstTime: number; lastTime: number } {
  let firstTime = Infinity;
  let lastTime = -Infinity;
  for (const r of rows) {
    if (r.time < firstTime) firstTime = r.time;
    if (r.time > lastTime) lastTime = r.time;
  }
  return { firstTime, lastTime };
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

interface MemoryRecording {
  summary: Omit<RecordingSummary, 'firstTime' | 'lastTime' | 'messages'>;
  rows: { uid: string; time: number; json: string }[];
}

/** `state.backend: memory`: this process only, bounded by messages per recording, recordings and age. */
export class MemoryRecordingStore implements RecordingStore {
  readonly kind = 'memory' as const;
  readonly #recordings = new Map<string, MemoryRecording>();
  readonly #limits: StoreLimits;
  readonly #now: () => number;

  constructor(limits: StoreLimits, now: () => number = Date.now) {
    this.#limits = limits;
    this.#now = now;
  }

  async append(entries: PendingEntry[]): Promise<PendingEntry[]> {
    for (const e of entries) {
      let rec = this.#recordings.get(e.recording);
      if (rec === undefined) {
        rec = { summary: { recording: e.recording, target: e.target, era: e.era, sessionId: e.sessionId, principal: e.principal }, rows: [] };
      }
      // Re-inserted: the Map's order is least recently written first.
      this.#recordings.delete(e.recording);
      this.#recordings.set(e.recording, rec);
      rec.rows.push({ uid: e.uid, time: e.time, json: e.json });
      if (rec.rows.length > this.#limits.maxMessages) rec.rows.splice(0, rec.rows.length - this.#limits.maxMessages);
    }
    while (this.#recordings.size > this.#limits.maxRecordings) this.#recordings.delete(this.#recordings.keys().next().value!);
    return [];
  }

  /** Drops what is past retention; a recording with nothing left is gone. */
  #fresh(id: string): MemoryRecording | undefined {
    const rec = this.#recordings.get(id);
    if (rec === undefined) return undefined;
    const oldest = this.#now() - this.#limits.retentionMs;
    const firstKept = rec.rows.findIndex((r) => r.time >= oldest);
    if (firstKept === -1) {
      this.#recordings.delete(id);
      return undefined;
    }
    if (firstKept > 0) rec.rows.splice(0, firstKept);
    return rec;
  }

  #summary(rec: MemoryRecording): RecordingSummary {
    return { ...rec.summary, ...span(rec.rows), messages: rec.rows.length };
  }

  async list(options: { since?: number; limit?: number } = {}): Promise<RecordingSummary[]> {
    const limit = options.limit ?? DEFAULT_LIST_LIMIT;
    const out: RecordingSummary[] = [];
    for (const id of [...this.#recordings.keys()]) {
      const rec = this.#fresh(id);
      if (rec) out.push(this.#summary(rec));
    }
    return out.filter((s) => s.lastTime >= (options.since ?? 0)).sort((a, b) => b.lastTime - a.lastTime).slice(0, limit);
  }

  async read(recording: string) {
    const rec = this.#fresh(recording);
    if (rec === undefined) return undefined;
    return { session: this.#summary(rec), messages: ordered(rec.rows) };
  }

  async close(): Promise<void> {}
}
