// Ships decision records to an HTTP receiver in OPA's decision-log shape, the way OPA's decision
// log plugin uploads (POST of a gzipped JSON array of events). An AuditSink: `record` only encodes
// and queues, never waits and never throws, so a slow or broken receiver cannot change a decision.
//
// Batches go when they are full (events or bytes) or every flush interval. Network errors,
// timeouts, 408, 429 and 5xx are retried with doubling, jittered backoff, the batch kept; any other
// answer drops the batch (counted, logged), since sending it again would only be refused again.
// The buffer is bounded: when full, the oldest event not in flight is dropped (counted), as
// OPA's event buffer does: during an outage the newest decisions are the ones an operator wants.
// `close` sends what is left, retrying until its deadline.
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { gzip as gzipCallback } from 'node:zlib';
import type { DecisionRecord } from './audit.ts';
import type { DecisionLogConfig } from './decision-log-config.ts';
import { toDecisionLogEvent } from './decision-log-event.ts';
import type { ClosableAuditSink } from './sink.ts';

const gzip = promisify(gzipCallback);
const MIN_RETRY_DELAY_MS = 100;

export interface DecisionLogCounters {
  /** Events the receiver accepted, and the POSTs that carried them. */
  sent_events: number;
  sent_batches: number;
  /** Failed POSTs that were retried (network error, timeout, 408, 429, 5xx). */
  retries: number;
  /** Events dropped because the buffer was full (the oldest waiting ones). */
  dropped_buffer_full: number;
  /** Events in batches the receiver refused with another status (not retried). */
  dropped_rejected: number;
  /** Events still unsent when `close` reached its deadline, or recorded after close. */
  dropped_on_close: number;
  /** Events waiting now (in flight included). */
  buffered: number;
}

export interface DecisionLogSink extends ClosableAuditSink {
  counters(): DecisionLogCounters;
}

export interface DecisionLogOptions {
  config: DecisionLogConfig;
  /** The bearer token, already read from `token_env`. */
  token?: string;
  log: (message: string) => void;
}

interface Queued { json: string; bytes: number }

type Outcome = 'sent' | 'rejected' | 'retry';

export function httpDecisionLog(options: DecisionLogOptions): DecisionLogSink {
  const { config, log } = options;
  const labels = { ...config.labels, id: randomUUID(), version: GATEWAY_VERSION };
  const headers: Record<string, string> = {
    'content-type': 'application/json', 'content-encoding': 'gzip', 'user-agent': `portcullis/${GATEWAY_VERSION}`,
    ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
  };
  const counts = { sent_events: 0, sent_batches: 0, retries: 0, dropped_buffer_full: 0, dropped_rejected: 0, dropped_on_close: 0 };
  const queue: Queued[] = [];
  let inFlight = 0; // events at the head of `queue` being sent now: never dropped for room
  let inFlightBytes = 0;
  let queuedBytes = 0;
  let pumping: Promise<void> | undefined;
  let closing = false;
  let closeDeadline = Infinity;
  let failing = false; // logs a streak of failures once, and the recovery once
  let wake: (() => void) | undefined;

  // Whether the events waiting behind the batch in flight make a batch of their own.
  const full = () => queue.length - inFlight >= config.batch_max_events || queuedBytes - inFlightBytes >= config.batch_max_bytes;
  const start = (all: boolean) => {
    if (pumping === undefined) pumping = pump(all).finally(() => { pumping = undefined; });
    return pumping;
  };

  /** The next batch from the head: up to the event and byte limits, at least one event. */
  function take(): Queued[] {
    let bytes = 2;
    let n = 0;
    while (n < queue.length && n < config.batch_max_events) {
      const next = queue[n]!.bytes + (n > 0 ? 1 : 0);
      if (n > 0 && bytes + next > config.batch_max_bytes) break;
      bytes += next;
      n++;
    }
    return queue.slice(0, n);
  }

  function settle(n: number) {
    for (const q of queue.splice(0, n)) queuedBytes -= q.bytes;
    inFlight = 0;
    inFlightBytes = 0;
  }

  async function pump(all: boolean): Promise<void> {
    let attempt = 0;
    while (queue.length > 0 && (all || closing || full())) {
      const batch = take(); // synchronous up to here, so the batch is protected before `record` runs again
      inFlight = batch.length;
      inFlightBytes = batch.reduce((sum, q) => sum + q.bytes, 0);
      const outcome = await post(batch);
      if (outcome === 'sent') {
        settle(batch.length);
        counts.sent_events += batch.length;
        counts.sent_batches++;
        attempt = 0;
        if (failing) log(`decision log: ${config.url} accepts events again`);
        failing = false;
        continue;
      }
      if (outcome === 'rejected') {
        settle(batch.length);
        counts.dropped_rejected += batch.length;
        attempt = 0;
        continue;
      }
      inFlight = 0;
      inFlightBytes = 0;
      counts.retries++;
      const delay = Math.min(config.retry_max_delay_ms, Math.min(MIN_RETRY_DELAY_MS, config.retry_max_delay_ms) * 2 ** attempt++);
      const wait = delay / 2 + Math.random() * (delay / 2);
      if (closing && Date.now() + wait > closeDeadline) return;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, wait);
        wake = () => { clearTimeout(timer); resolve(); };
      });
      wake = undefined;
      if (closing && Date.now() > closeDeadline) return;
    }
  }

  async function post(batch: Queued[]): Promise<Outcome> {
    let status: number;
    try {
      const body = await gzip(`[${batch.map((q) => q.json).join(',')}]`);
      const res = await fetch(config.url, { method: 'POST', headers, body, redirect: 'manual', signal: AbortSignal.timeout(config.timeout_ms) });
      status = res.status;
      await res.body?.cancel();
    } catch (err) {
      if (!failing) log(`decision log: POST to ${config.url} failed (${(err as Error).message}); retrying with backoff`);
      failing = true;
      return 'retry';
    }
    if (status >= 200 && status < 300) return 'sent';
    if (status === 408 || status === 429 || status >= 500) {
      if (!failing) log(`decision log: ${config.url} answered ${status}; retrying with backoff`);
      failing = true;
      return 'retry';
    }
    log(`decision log: ${config.url} refused a batch with ${status}: ${batch.length} events dropped`);
    return 'rejected';
  }

  const timer = setInterval(() => { if (queue.length > 0) void start(true); }, config.flush_interval_ms);
  timer.unref();

  return {
    enabled: true,
    record(entry: DecisionRecord) {
      if (closing) {
        counts.dropped_on_close++;
        return;
      }
      let json: string;
      try {
        json = JSON.stringify(toDecisionLogEvent(entry, labels));
      } catch (err) {
        log(`decision log: record ${entry.decision_id} could not be encoded (${(err as Error).message}); dropped`);
        return;
      }
      const bytes = Buffer.byteLength(json);
      queue.push({ json, bytes });
      queuedBytes += bytes;
      if (queue.length > config.buffer_max_events) {
        // The oldest waiting event; when everything else is in flight, that is the new one.
        const [dropped] = queue.splice(inFlight, 1);
        queuedBytes -= dropped!.bytes;
        if (counts.dropped_buffer_full++ === 0) log(`decision log: buffer full (${config.buffer_max_events} events); dropping the oldest (counted)`);
      }
      if (full()) void start(false);
    },
    counters: () => ({ ...counts, buffered: queue.length }),
    async close() {
      if (closing) return;
      closing = true;
      clearInterval(timer);
      closeDeadline = Date.now() + config.timeout_ms;
      wake?.();
      await pumping;
      await start(true);
      if (queue.length > 0) {
        counts.dropped_on_close += queue.length;
        log(`decision log: ${queue.length} events not delivered to ${config.url} before close; dropped`);
        settle(queue.length);
      }
    },
  };
}

/** The gateway's version for `labels.version` and the user agent (package.json, found from here). */
const GATEWAY_VERSION = ((): string => {
  for (const up of ['../../package.json', '../../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(up, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'portcullis' && typeof pkg.version === 'string') return pkg.version;
    } catch {
      // not at this level (source vs dist/)
    }
  }
  return 'unknown';
})();
