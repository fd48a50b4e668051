// The OpenTelemetry SDK, built per gateway from its configuration: a tracer provider exporting
// over OTLP (HTTP/protobuf or gRPC) and a meter provider read by the Prometheus serializer for the
// gateway's own GET /metrics. Nothing is registered globally: several gateways in one process
// (tests, workers) each keep their own providers, passed to the trail explicitly.
import type { Tracer } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter as GrpcTraceExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { OTLPTraceExporter as HttpTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { PrometheusExporter, PrometheusSerializer } from '@opentelemetry/exporter-prometheus';
import { resourceFromAttributes, type Resource } from '@opentelemetry/resources';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import {
  BatchSpanProcessor, ParentBasedSampler, SimpleSpanProcessor, TraceIdRatioBasedSampler, TracerProvider, type SpanExporter,
} from '@opentelemetry/sdk-trace';
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from '@opentelemetry/semantic-conventions';
import type { ResolvedTelemetry } from './config.ts';
import { GatewayMetrics } from './metrics.ts';
import { ATTRIBUTE_VALUE_LIMIT } from './semconv.ts';

const VERSION = '0.1.0';

/**
 * The SDK's batch defaults (512 spans per export, queue 2048), kept on measurement: batches of
 * 2048 (queue 8192) cost no less gateway CPU per call in `npm run bench -- --only tracing` and
 * slightly more in bench/trail.ts (spans held longer; docs/telemetry.md "Cost").
 */
export const BATCH = { maxExportBatchSize: 512, maxQueueSize: 2048 };

/** One gateway's telemetry: a tracer (or none), metrics (or none), and how to stop them. */
export interface Telemetry {
  readonly tracer: Tracer | undefined;
  readonly propagator: W3CTraceContextPropagator;
  readonly metrics: GatewayMetrics | undefined;
  /** Call arguments and results on spans, after masking (telemetry.traces.capture_content). */
  readonly captureContent: boolean;
  /** The Prometheus text exposition of every instrument; undefined when metrics are off. */
  readonly scrape: (() => Promise<string>) | undefined;
  /** Flushes what is buffered and stops the exporters (gateway close). */
  shutdown(): Promise<void>;
}

export interface TelemetryOptions {
  /** Replaces the OTLP exporter, with a synchronous processor (tests: the SDK's in-memory exporter). */
  spanExporter?: SpanExporter;
  log: (message: string) => void;
}

/** `OTEL_RESOURCE_ATTRIBUTES`: `key=value,key=value`, values percent-encoded. */
function resourceAttributes(text: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of (text ?? '').split(',')) {
    const eq = pair.indexOf('=');
    if (eq <= 0) continue;
    try {
      out[decodeURIComponent(pair.slice(0, eq).trim())] = decodeURIComponent(pair.slice(eq + 1).trim());
    } catch {
      // A malformed pair is left out, as the SDK's own detector does.
    }
  }
  return out;
}

function exporterFor(traces: NonNullable<ResolvedTelemetry['traces']>): SpanExporter {
  return traces.protocol === 'grpc' ? new GrpcTraceExporter({ url: traces.endpoint }) : new HttpTraceExporter({ url: traces.endpoint });
}

export function startTelemetry(resolved: ResolvedTelemetry, env: NodeJS.ProcessEnv, options: TelemetryOptions): Telemetry {
  const resource: Resource = resourceFromAttributes({
    ...resourceAttributes(env.OTEL_RESOURCE_ATTRIBUTES),
    [ATTR_SERVICE_NAME]: resolved.serviceName,
    [ATTR_SERVICE_VERSION]: VERSION,
  });
  let provider: TracerProvider | undefined;
  if (resolved.traces) {
    const exporter = options.spanExporter ?? exporterFor(resolved.traces);
    const ratio = new TraceIdRatioBasedSampler(resolved.traces.sampleRatio);
    provider = new TracerProvider({
      resource,
      // A client's trace stays the parent (trace id continuity); whether it is sampled is the
      // ratio's call unless trust_incoming_sampling lets the client's sampled flag decide.
      sampler: resolved.traces.trustIncomingSampling
        ? new ParentBasedSampler({ root: ratio })
        : new ParentBasedSampler({ root: ratio, remoteParentSampled: ratio, remoteParentNotSampled: ratio }),
      // Attribute values callers choose (ids, names, URIs) are cut, not exported whole.
      spanLimits: { attributeValueLengthLimit: ATTRIBUTE_VALUE_LIMIT },
      // Batched off the request path; an exporter that fails drops spans, never requests.
      spanProcessors: [options.spanExporter ? new SimpleSpanProcessor({ exporter }) : new BatchSpanProcessor({ exporter, ...BATCH })],
    });
  }
  let meters: MeterProvider | undefined;
  let scrape: Telemetry['scrape'];
  let metrics: GatewayMetrics | undefined;
  if (resolved.metrics) {
    const reader = new PrometheusExporter({ preventServerStart: true });
    const serializer = new PrometheusSerializer();
    meters = new MeterProvider({ resource, readers: [reader] });
    metrics = new GatewayMetrics(meters.getMeter('portcullis', VERSION));
    scrape = async () => {
      const { resourceMetrics, errors } = await reader.collect();
      for (const err of errors) options.log(`telemetry: a metric could not be collected: ${String(err)}`);
      return serializer.serialize(resourceMetrics);
    };
  }
  return {
    tracer: provider?.getTracer('portcullis', VERSION),
    propagator: new W3CTraceContextPropagator(),
    metrics,
    captureContent: resolved.traces?.captureContent ?? false,
    scrape,
    shutdown: async () => {
      // Telemetry never fails a shutdown: what cannot be exported is lost, and said so.
      await Promise.all([provider?.shutdown(), meters?.shutdown()].map((p) => p?.catch((err: Error) => options.log(`telemetry: shutdown: ${err.message}`))));
    },
  };
}
