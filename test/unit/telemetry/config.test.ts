// The telemetry section and its fallbacks to the standard OTEL_* environment variables.
import { describe, expect, it } from 'vitest';
import { validateConfig } from '../../../gateway/config/load.ts';
import { ConfigError } from '../../../gateway/config/load.ts';
import { resolveTelemetry, telemetryConfigSchema } from '../../../gateway/telemetry/index.ts';

const parse = (doc: unknown) => telemetryConfigSchema.parse(doc);

describe('telemetry configuration', () => {
  it('is off by default, and one switch turns traces and metrics on with the SDK defaults', () => {
    expect(resolveTelemetry(parse(undefined), {})).toBeUndefined();
    expect(resolveTelemetry(parse({ enabled: true }), {})).toEqual({
      serviceName: 'portcullis', metrics: true,
      traces: { protocol: 'http/protobuf', endpoint: 'http://localhost:4318/v1/traces', sampleRatio: 1, captureContent: false, trustIncomingSampling: false },
    });
  });

  it.each([
    ['OTEL_EXPORTER_OTLP_ENDPOINT (http: + /v1/traces)', { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/' }, { protocol: 'http/protobuf', endpoint: 'http://collector:4318/v1/traces' }],
    ['OTEL_EXPORTER_OTLP_ENDPOINT with grpc', { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4317', OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' }, { protocol: 'grpc', endpoint: 'http://collector:4317' }],
    ['the traces-specific variables win over the general ones', { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://a:4318', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://b:4318/v1/traces', OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc', OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/protobuf' }, { protocol: 'http/protobuf', endpoint: 'http://b:4318/v1/traces' }],
    ['grpc default endpoint', { OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' }, { protocol: 'grpc', endpoint: 'http://localhost:4317' }],
    ['an unknown protocol (http/json) falls back to http/protobuf', { OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' }, { protocol: 'http/protobuf', endpoint: 'http://localhost:4318/v1/traces' }],
    ['OTEL_TRACES_SAMPLER_ARG', { OTEL_TRACES_SAMPLER_ARG: '0.25' }, { sampleRatio: 0.25 }],
    ['an out-of-range sampler argument is ignored', { OTEL_TRACES_SAMPLER_ARG: '7' }, { sampleRatio: 1 }],
  ])('falls back to %s', (_name, env, expected) => {
    expect(resolveTelemetry(parse({ enabled: true }), env)?.traces).toMatchObject(expected);
  });

  it('lets the file win over the environment', () => {
    const r = resolveTelemetry(parse({ enabled: true, service_name: 'gw', traces: { protocol: 'grpc', endpoint: 'http://file:4317', sample_ratio: 0.5 } }), {
      OTEL_SERVICE_NAME: 'env', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://env:4318', OTEL_TRACES_SAMPLER_ARG: '0.1',
    });
    expect(r).toMatchObject({ serviceName: 'gw', traces: { protocol: 'grpc', endpoint: 'http://file:4317', sampleRatio: 0.5 } });
    expect(resolveTelemetry(parse({ enabled: true }), { OTEL_SERVICE_NAME: 'env' })?.serviceName).toBe('env');
  });

  it('is turned off by OTEL_SDK_DISABLED=true, and traces alone by OTEL_TRACES_EXPORTER=none', () => {
    expect(resolveTelemetry(parse({ enabled: true }), { OTEL_SDK_DISABLED: 'TRUE' })).toBeUndefined();
    const r = resolveTelemetry(parse({ enabled: true }), { OTEL_TRACES_EXPORTER: 'none' });
    expect(r).toMatchObject({ metrics: true, traces: undefined });
    expect(resolveTelemetry(parse({ enabled: true, traces: { enabled: false }, metrics: { enabled: false } }), {})).toMatchObject({ metrics: false, traces: undefined });
  });

  it.each([
    [{ enabled: 'yes' }, 'telemetry.enabled'],
    [{ enabled: true, traces: { protocol: 'http/json' } }, 'telemetry.traces.protocol'],
    [{ enabled: true, traces: { endpoint: 'ftp://x' } }, 'telemetry.traces.endpoint'],
    [{ enabled: true, traces: { sample_ratio: 2 } }, 'telemetry.traces.sample_ratio'],
    [{ enabled: true, exporter: 'jaeger' }, 'telemetry'],
  ])('refuses %j naming the key', (telemetry, key) => {
    let error: unknown;
    try {
      validateConfig({ policy: { bundle: 'b.tar.gz' }, targets: { t: { url: 'http://127.0.0.1:1/mcp' } }, telemetry }, '/tmp/x.yaml', {});
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems.some((p) => p.startsWith(`${key}:`) || p.startsWith(`${key}`))).toBe(true);
  });
});
