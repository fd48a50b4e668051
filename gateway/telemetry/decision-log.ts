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
import { EventQueue, type QueuedEvent } from './decision-log-queue.ts';
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

type Outcome = 'sent' | 'rejected' | 'retry';

export function httpDecisionLog(options: DecisionLogOptions): DecisionLogSink {
  const { config, log } = options;
  const labels = { ...config.labels, id: randomUUID(), version: GATEWAY_VERSION };
  const headers: Record<string, string> = {
    'content-type': 'application/json', 'content-encoding': 'gzip', 'user-agent': `portcullis/${GATEWAY_VERSION}`,
    ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
  };
  const counts = { sent_events: 0, sent_batches: 0, retries: 0, dropped_buffer_full: 0, dropped_rejected: 0, dropped_on_close: 0 };
  const queue = new EventQueue();
  let pumping: Promise<void> | undefined;
  let closing = false;
  let closeDeadline = Infinity;
  let failing = false; // logs a streak of failures once, and the recovery once
  let wake: (() => void) | undefined;

  // Whether the events waiting behind the batch in flight make a batch of their own.
  const full = () => queue.waiting >= config.batch_max_events || queue.waitingBytes >= config.batch_max_bytes;
  const start = (all: boolean) => {
    if (pumping === undefined) pumping = pump(all).finally(() => { pumping = undefined; });
    return pumping;
  };
  const pastDeadline = () => closing && Date.now() >= closeDeadline;

  async function pump(all: boolean): Promise<void> {
    let attempt = 0;
    while (queue.length > 0 && (all || closing || full()) && !pastDeadline()) {
      // Synchronous up to the POST, so the batch is in flight before `record` runs again.
      const batch = queue.takeBatch(config.batch_max_events, config.batch_max_bytes);
      const outcome = await post(batch);
      queue.settle(outcome !== 'retry');
      if (outcome === 'sent') {
        counts.sent_events += batch.length;
        counts.sent_batches++;
        attempt = 0;
        if (failing) log(`decision log: ${config.url} accepts events again`);
        failing = false;
        continue;
      }
      if (outcome === 'rejected') {
        counts.dropped_rejected += batch.length;
        attempt = 0;
        continue;
      }
      counts.retries++;
      const delay = Math.min(config.retry_max_delay_ms, Math.min(MIN_RETRY_DELAY_MS, config.retry_max_delay_ms) * 2 ** attempt++);
      const wait = delay / 2 + Math.random() * (delay / 2);
      if (closing && Date.now() + wait > closeDeadline) return;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, wait);
        wake = () => { clearTimeout(timer); resolve(); };
      });
      wake = undefined;
    }
  }

  async function post(batch: QueuedEvent[]): Promise<Outcome> {
    // While closing, no POST outlives close's deadline.
    const timeout = closing ? Math.max(1, Math.min(config.timeout_ms, closeDeadline - Date.now())) : config.timeout_ms;
    let status: number;
    try {
      const body = await gzip(`[${batch.map((q) => q.json).join(',')}]`);
      const res = await fetch(config.url, { method: 'POST', headers, body, redirect: 'manual', signal: AbortSignal.timeout(timeout) });
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
      if (queue.length > config.buffer_max_events) {
        // The oldest waiting event; when everything else is in flight, that is the new one.
        queue.dropOldestWaiting();
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
      if (!pastDeadline()) await start(true);
      const lost = queue.clear();
      if (lost > 0) {
        counts.dropped_on_close += lost;
        log(`decision log: ${lost} events not delivered to ${config.url} before close; dropped`);
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
