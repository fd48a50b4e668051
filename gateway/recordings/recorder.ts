// The recorder: what the request path calls (RecordingSink). `record` serializes the message and
// queues it in a bounded buffer, never waiting on the store; batches are written in the
// background. When the store is slow or down, entries stay buffered (bounded) and the write is
// retried with backoff; past the bound, `when_full` decides: fail_closed makes `record` answer
// false for a client's message (the caller refuses the call, -32092) and `admit` refuse new calls;
// drop lets them through unrecorded. Either way what does not fit is counted. A message larger
// than max_message_bytes is recorded with its content replaced by a marker (counted).
import { randomBytes } from 'node:crypto';
import type { RecordedMessage, RecordingSink } from './entry.ts';
import { foreignNamespace } from './ids.ts';
import type { PendingEntry, RecordingStore } from './store.ts';

export const DEFAULT_MAX_MESSAGE_BYTES = 5 * 1024 * 1024;

export interface RecorderOptions {
  store: RecordingStore;
  whenFull: 'fail_closed' | 'drop';
  bufferMessages: number;
  bufferBytes: number;
  flushIntervalMs: number;
  flushBatch: number;
  closeTimeoutMs: number;
  /** Serialized bytes one recorded message may take; larger: recorded as a marker. Default 1 MiB. */
  maxMessageBytes?: number;
  log: (message: string) => void;
}

/** Counters for telemetry to turn into metrics (a copy each time). */
export interface RecorderStats {
  /** Messages the store has accepted. */
  written: number;
  /** Messages never stored: recorded while the buffer was full, or still buffered when close gave up. */
  dropped: number;
  /** Writes that failed (their messages stayed buffered and were retried). */
  failed: number;
  /** Calls refused (fail_closed, buffer full): by `admit`, or a client's message `record` could not queue. */
  refused: number;
  /** Messages recorded with their content replaced by the too-large marker (max_message_bytes). */
  oversized: number;
  /** Messages refused because they claim a recording that is not theirs: the other era's namespace, or another target, session or principal than the recording's (never merged). */
  mismatched: number;
  /** Messages and bytes held now (queued and being written). */
  buffered: number;
  bufferedBytes: number;
}

type Queued = PendingEntry & { bytes: number };

const RETRY_MIN_MS = 100;
const RETRY_MAX_MS = 5000;

export class Recorder implements RecordingSink {
  readonly enabled = true;
  readonly #o: RecorderOptions;
  readonly #replica = randomBytes(8).toString('hex');
  #seq = 0;
  #queue: Queued[] = [];
  #inFlight: Queued[] = [];
  #bytes = 0;
  #timer: NodeJS.Timeout | undefined;
  #writing: Promise<void> | undefined;
  #retryMs = 0;
  #closed = false;
  readonly #stats = { written: 0, dropped: 0, failed: 0, refused: 0, oversized: 0, mismatched: 0 };
  readonly #maxMessageBytes: number;

  constructor(options: RecorderOptions) {
    this.#o = options;
    this.#maxMessageBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  }

  get #held(): number {
    return this.#queue.length + this.#inFlight.length;
  }

  #full(extraBytes = 0): boolean {
    return this.#held >= this.#o.bufferMessages || this.#bytes + extraBytes > this.#o.bufferBytes;
  }

  admit(): boolean {
    if (this.#o.whenFull === 'drop' || !this.#full()) return true;
    this.#stats.refused++;
    return false;
  }

  /**
   * Queues one message, never waiting. False when it was not queued and the configuration fails
   * closed: for a client's message the caller must refuse the call (-32092) before forwarding.
   * Under `drop` always true (what is not queued is counted as dropped).
   */
  record(message: RecordedMessage): boolean {
    const failClosed = this.#o.whenFull === 'fail_closed';
    if (this.#closed) {
      this.#stats.dropped++;
      return !failClosed;
    }
    if (foreignNamespace(message.recording, message.era)) {
      this.#stats.mismatched++;
      this.#o.log(`recordings: a ${message.era} message claims recording ${message.recording} of the other era: refused`);
      return !failClosed;
    }
    let json = this.#serialize(message);
    if (json === undefined) return !failClosed;
    let bytes = Buffer.byteLength(json);
    if (bytes > this.#maxMessageBytes) {
      // A client's request too large to record is not forwarded (fail closed): a call must not
      // run while its record holds only a marker. Anything later is kept as a marker.
      if (failClosed && message.direction === 'client_to_server' && message.origin === 'client') {
        this.#stats.oversized++;
        this.#stats.refused++;
        return false;
      }
      // Never stored whole and never dropped silently: the message's place and size are kept.
      this.#stats.oversized++;
      json = this.#serialize({ ...message, message: { '[NOT RECORDED]': `message too large to record: ${bytes} bytes, max_message_bytes ${this.#maxMessageBytes}` }, oversizeBytes: bytes });
      if (json === undefined) return !failClosed;
      bytes = Buffer.byteLength(json);
    }
    if (this.#full(bytes)) {
      // A client's message can still be refused by the caller; anything later can only be counted.
      if (failClosed && message.direction === 'client_to_server') this.#stats.refused++;
      else this.#stats.dropped++;
      return !failClosed;
    }
    this.#queue.push({
      uid: `${this.#replica}:${(this.#seq++).toString(36)}`, recording: message.recording, time: message.time, json, bytes,
      target: message.target, era: message.era, sessionId: message.sessionId, principal: message.principal,
    });
    this.#bytes += bytes;
    this.#schedule();
    return true;
  }

  #serialize(message: RecordedMessage): string | undefined {
    // Serialized now: the entry is a snapshot, and its size is what the buffer bound counts.
    try {
      return JSON.stringify(message);
    } catch (err) {
      // Recording must never break the call that is being recorded.
      this.#stats.dropped++;
      this.#o.log(`recordings: a message of ${message.recording} cannot be serialized and is not recorded: ${(err as Error).message}`);
      return undefined;
    }
  }

  /** The store refused an entry: its recording belongs to another target, session or principal. */
  readonly #mismatch = (e: PendingEntry) => {
    this.#stats.mismatched++;
    this.#o.log(`recordings: a message for recording ${e.recording} (target ${e.target}, principal ${e.principal}) does not match the recording's own: refused`);
  };

  stats(): RecorderStats {
    return { ...this.#stats, buffered: this.#held, bufferedBytes: this.#bytes };
  }

  #schedule(): void {
    if (this.#timer !== undefined || this.#writing !== undefined || this.#queue.length === 0 || this.#closed) return;
    const delay = this.#retryMs > 0 ? this.#retryMs : this.#queue.length >= this.#o.flushBatch ? 0 : this.#o.flushIntervalMs;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.#write().then(() => this.#schedule());
    }, delay);
    this.#timer.unref();
  }

  /** One batch to the store; what it could not write goes back to the front of the queue. */
  #write(): Promise<void> {
    if (this.#writing) return this.#writing;
    const batch = this.#queue.splice(0, this.#o.flushBatch);
    if (batch.length === 0) return Promise.resolve();
    this.#inFlight = batch;
    this.#writing = (async () => {
      let failed: PendingEntry[];
      const mismatchedBefore = this.#stats.mismatched;
      try {
        failed = await this.#o.store.append(batch, this.#mismatch);
      } catch {
        failed = batch;
      }
      const back = new Set(failed);
      const kept = batch.filter((e) => back.has(e));
      for (const e of batch) if (!back.has(e)) this.#bytes -= e.bytes;
      this.#stats.written += batch.length - kept.length - (this.#stats.mismatched - mismatchedBefore);
      this.#inFlight = [];
      this.#queue = kept.length > 0 ? [...kept, ...this.#queue] : this.#queue;
      if (kept.length > 0) {
        this.#stats.failed++;
        if (this.#retryMs === 0) this.#o.log(`recordings: cannot write to the ${this.#o.store.kind} store; ${this.#held} message(s) buffered, retrying`);
        this.#retryMs = Math.min(Math.max(this.#retryMs * 2, RETRY_MIN_MS), RETRY_MAX_MS);
      } else if (this.#retryMs > 0) {
        this.#retryMs = 0;
        this.#o.log('recordings: the store accepts writes again');
      }
    })().finally(() => {
      this.#writing = undefined;
    });
    return this.#writing;
  }

  /** Writes everything buffered now, one attempt per batch; true when the buffer is empty. */
  async flush(): Promise<boolean> {
    if (this.#writing) await this.#writing;
    while (this.#queue.length > 0) {
      const failedBefore = this.#stats.failed;
      await this.#write();
      if (this.#stats.failed > failedBefore) return false;
    }
    return this.#held === 0;
  }

  /** Stops taking messages and writes the buffer, retrying until close_timeout_ms; what is left is dropped (counted). */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const deadline = Date.now() + this.#o.closeTimeoutMs;
    while (!(await this.flush()) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, Math.min(RETRY_MIN_MS, Math.max(0, deadline - Date.now()))));
    }
    if (this.#held > 0) {
      this.#o.log(`recordings: ${this.#held} message(s) could not be written before shutdown and are lost`);
      this.#stats.dropped += this.#held;
      this.#queue = [];
      this.#bytes = 0;
    }
  }
}
