// What gateway/app.ts mounts: the configured recorder (the sink the request path calls), the
// reader behind it, the API and page routes, and close (which writes what is buffered).
import type { Context } from 'hono';
import { Hono } from 'hono';
import type { LoadedConfig } from '../config/load.ts';
import type { Authenticator } from '../identity/index.ts';
import type { Subject } from '../policy/input.ts';
import type { SharedState } from '../state/index.ts';
import { noRecordings, type RecordingReader, type RecordingSink } from './entry.ts';
import { recordingRoutes } from './api.ts';
import { recordingWeb } from './page.ts';
import { Recorder, type RecorderStats } from './recorder.ts';
import { RedisRecordingStore } from './redis-store.ts';
import { MemoryRecordingStore, type RecordingStore } from './store.ts';

export interface RecordingsDeps {
  authenticator: Authenticator;
  /** Who is signed in on the approvals page's login; without it, no /sessions page. */
  signedIn?: ((c: Context) => { subject: Subject; csrf: string } | undefined) | undefined;
  log: (message: string) => void;
}

export interface OpenedRecordings {
  sink: RecordingSink;
  /** Undefined when recordings are off. */
  reader: RecordingReader | undefined;
  /** /api/sessions and (with the approvals page's login) /sessions; undefined when off. */
  routes: Hono | undefined;
  stats(): RecorderStats;
  close(): Promise<void>;
}

const NO_STATS: RecorderStats = { written: 0, dropped: 0, failed: 0, refused: 0, oversized: 0, mismatched: 0, buffered: 0, bufferedBytes: 0 };

/** The store follows the shared state: Redis when the state is on Redis, else this process's memory. */
export function openRecordings(config: LoadedConfig, state: Pick<SharedState, 'redis' | 'keyPrefix'>, deps: RecordingsDeps): OpenedRecordings {
  const r = config.recordings;
  if (!r.enabled) return { sink: noRecordings, reader: undefined, routes: undefined, stats: () => ({ ...NO_STATS }), close: async () => {} };
  const limits = { retentionMs: r.retention_seconds * 1000, maxMessages: r.max_messages, maxRecordings: r.max_recordings, maxRecordingsPerPrincipal: r.max_recordings_per_principal, maxBytes: r.memory_max_bytes };
  const store: RecordingStore = state.redis ? new RedisRecordingStore(state.redis, state.keyPrefix, limits) : new MemoryRecordingStore(limits);
  const recorder = new Recorder({
    store, whenFull: r.when_full, bufferMessages: r.buffer_messages, bufferBytes: r.buffer_bytes,
    flushIntervalMs: r.flush_interval_ms, flushBatch: r.flush_batch, closeTimeoutMs: r.close_timeout_ms, maxMessageBytes: r.max_message_bytes, log: deps.log,
  });
  if (r.auditor_groups.length === 0) deps.log('portcullis: recordings.auditor_groups is empty: nobody can read recordings');
  const routes = new Hono();
  routes.route('/', recordingRoutes({ reader: store, authenticator: deps.authenticator, targets: Object.keys(config.targets), auditorGroups: r.auditor_groups, log: deps.log }));
  if (deps.signedIn) routes.route('/', recordingWeb({ reader: store, signedIn: deps.signedIn, auditorGroups: r.auditor_groups, traceUrl: r.trace_url, log: deps.log }));
  return {
    sink: recorder, reader: store, routes,
    stats: () => recorder.stats(),
    close: async () => {
      await recorder.close();
      await store.close();
    },
  };
}
