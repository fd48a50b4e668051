// The audit trail's public face: decision records (audit.ts), OpenTelemetry traces and metrics
// (otel.ts, metrics.ts), and the per-exchange trail the request path calls (trail.ts).
export { discardAudit, jsonLinesAudit, recordCandidateDecision, recordDecision, type AuditSink, type DecisionRecord } from './audit.ts';
export { resolveTelemetry, telemetryConfigSchema, type ResolvedTelemetry, type TelemetryConfig } from './config.ts';
export { startTelemetry, type Telemetry, type TelemetryOptions } from './otel.ts';
export { noTrail, trails, type Crossing, type Trail, type TrailBegin, type TrailDeps, type TrailRequest, type UpstreamCall } from './trail.ts';
export { WITHHELD } from './record.ts';
export type { MessageFacts } from './attributes.ts';
export * as semconv from './semconv.ts';
export { observeCounts, policyEventReporter, type CountSources } from './observers.ts';
