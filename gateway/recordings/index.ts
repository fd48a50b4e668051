// Session recordings (docs/audit.md): every message of every exchange, masked by the request path,
// kept per recording (a legacy session, or a principal and client in 2026-07-28) with its decision
// and trace ids; read back by auditors through the API, the CLI and the page. Other modules import
// only from here.
export { noRecordings, type RecordedApproval, type RecordedDecision, type RecordedMessage, type RecordingReader, type RecordingSink, type RecordingSummary, type ListOptions, type ReadOptions, type RecordingPage } from './entry.ts';
export { recordingsConfigSchema, type RecordingsConfig } from './config.ts';
export { clientOf, recordingIdFor, type RecordingOwner } from './ids.ts';
export { Recorder, type RecorderOptions, type RecorderStats } from './recorder.ts';
export { MemoryRecordingStore, type PendingEntry, type RecordingStore } from './store.ts';
export { RedisRecordingStore } from './redis-store.ts';
export { recordingRoutes } from './api.ts';
export { recordingWeb } from './page.ts';
export { openRecordings, type OpenedRecordings, type RecordingsDeps } from './open.ts';
