// The `telemetry` configuration section (docs/configuration.md, docs/telemetry.md): traces over
// OTLP and metrics on the gateway's own /metrics. Off by default; `enabled: true` is the switch.
// Keys left out fall back to the standard OTEL_* environment variables (resolveTelemetry).
import { z } from 'zod';

export const telemetryConfigSchema = z
  .object({
    /** The one switch: traces and metrics on. OTEL_SDK_DISABLED=true still turns everything off. */
    enabled: z.boolean().default(false),
    /** `service.name` of the resource; default OTEL_SERVICE_NAME, else `portcullis`. */
    service_name: z.string().min(1).optional(),
    traces: z
      .object({
        enabled: z.boolean().default(true),
        /** OTLP transport; default OTEL_EXPORTER_OTLP_TRACES_PROTOCOL / OTEL_EXPORTER_OTLP_PROTOCOL, else http/protobuf. */
        protocol: z.enum(['http/protobuf', 'grpc']).optional(),
        /**
         * Where spans go. http/protobuf: the full URL (…/v1/traces); grpc: the collector's URL.
         * Default OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, else OTEL_EXPORTER_OTLP_ENDPOINT (+ /v1/traces
         * for http), else http://localhost:4318/v1/traces (grpc: http://localhost:4317).
         */
        endpoint: z.url({ protocol: /^https?$/ }).optional(),
        /** Fraction of new traces sampled (parent-based); default OTEL_TRACES_SAMPLER_ARG, else 1. */
        sample_ratio: z.number().min(0).max(1).optional(),
        /**
         * Put call arguments and results on spans (gen_ai.tool.call.arguments / .result), always
         * after masking, capped at 4096 characters. Off: never.
         */
        capture_content: z.boolean().default(false),
        /**
         * Let a client's traceparent decide whether its calls are traced (its sampled flag). Off:
         * the client's trace id is kept as the parent, and sample_ratio decides, so a client can
         * neither opt its calls out of the audit trail nor force every call into it.
         */
        trust_incoming_sampling: z.boolean().default(false),
      })
      .strict()
      .default({ enabled: true, capture_content: false, trust_incoming_sampling: false }),
    metrics: z
      .object({
        /** Serve OpenTelemetry metrics in the Prometheus text format on GET /metrics. */
        enabled: z.boolean().default(true),
      })
      .strict()
      .default({ enabled: true }),
  })
  .strict()
  .default({ enabled: false, traces: { enabled: true, capture_content: false, trust_incoming_sampling: false }, metrics: { enabled: true } });

export type TelemetryConfig = z.infer<typeof telemetryConfigSchema>;

/** The configuration with the environment's fallbacks applied: what the SDK is built from. */
export interface ResolvedTelemetry {
  serviceName: string;
  traces: { protocol: 'http/protobuf' | 'grpc'; endpoint: string; sampleRatio: number; captureContent: boolean; trustIncomingSampling: boolean } | undefined;
  metrics: boolean;
}

const PROTOCOLS = new Set(['http/protobuf', 'grpc']);

/** Undefined when telemetry is off (not enabled, or OTEL_SDK_DISABLED=true). */
export function resolveTelemetry(config: TelemetryConfig, env: NodeJS.ProcessEnv): ResolvedTelemetry | undefined {
  if (!config.enabled || env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true') return undefined;
  const t = config.traces;
  let traces: ResolvedTelemetry['traces'];
  if (t.enabled && env.OTEL_TRACES_EXPORTER?.trim() !== 'none') {
    const envProtocol = (env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL ?? env.OTEL_EXPORTER_OTLP_PROTOCOL)?.trim();
    const protocol = t.protocol ?? (envProtocol !== undefined && PROTOCOLS.has(envProtocol) ? (envProtocol as 'grpc') : 'http/protobuf');
    const base = env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim().replace(/\/+$/, '');
    const endpoint = t.endpoint ?? env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim()
      ?? (base ? (protocol === 'grpc' ? base : `${base}/v1/traces`) : protocol === 'grpc' ? 'http://localhost:4317' : 'http://localhost:4318/v1/traces');
    const envRatio = Number(env.OTEL_TRACES_SAMPLER_ARG);
    const sampleRatio = t.sample_ratio ?? (env.OTEL_TRACES_SAMPLER_ARG !== undefined && envRatio >= 0 && envRatio <= 1 ? envRatio : 1);
    traces = { protocol, endpoint, sampleRatio, captureContent: t.capture_content, trustIncomingSampling: t.trust_incoming_sampling };
  }
  return { serviceName: config.service_name ?? (env.OTEL_SERVICE_NAME?.trim() || 'portcullis'), traces, metrics: config.metrics.enabled };
}
