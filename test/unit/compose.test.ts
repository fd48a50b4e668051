// The docker-compose stack as files: every service is there with its image and ports, every file
// it mounts or builds from exists, the collector's pipelines use only components it defines, and
// the addresses agree across files (gateway -> collector -> Jaeger, collector -> gateway /metrics).
// The stack itself is not started here (no Docker engine on these machines).
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadConfig } from '../../gateway/config/load.ts';

const root = resolve(import.meta.dirname, '../..');
const compose = parse(readFileSync(join(root, 'docker-compose.yml'), 'utf8'));
const services = compose.services as Record<string, any>;

/** `./host/path:/container/path[:ro]` -> host path, for bind mounts (named volumes are skipped). */
function bindSource(volume: string): string | undefined {
  const source = volume.split(':')[0]!;
  return source.startsWith('.') || source.startsWith('/') ? source : undefined;
}
const collectorMount = (services['otel-collector'].volumes as string[]).find((v) => v.includes('/etc/otelcol-contrib/config.yaml'))!;
const collector = parse(readFileSync(join(root, bindSource(collectorMount)!), 'utf8'));

/** The host port a service's container port is published on (bridge networking). */
function published(service: any, containerPort: number): number | undefined {
  for (const p of (service.ports ?? []) as string[]) {
    const parts = p.split(':');
    if (Number(parts.at(-1)) === containerPort) return Number(parts.at(-2));
  }
  return undefined;
}

describe('docker-compose.yml', () => {
  it('has the gateway, Redis, an OpenTelemetry Collector and Jaeger v2', () => {
    expect(Object.keys(services).sort()).toEqual(['jaeger', 'otel-collector', 'portcullis', 'redis']);
    expect(services.portcullis.build).toEqual({ context: '.', target: 'demo' });
    expect(services.redis.image).toMatch(/^redis:7/);
    expect(services['otel-collector'].image).toMatch(/^otel\/opentelemetry-collector-contrib:\d+\.\d+\.\d+$/);
    expect(services.jaeger.image).toMatch(/^jaegertracing\/jaeger:2\.\d+\.\d+$/);
  });

  it('references only files that exist, and a build target the Dockerfile has', () => {
    for (const [name, service] of Object.entries(services)) {
      for (const v of (service.volumes ?? []) as string[]) {
        const source = bindSource(v);
        if (source !== undefined) expect(existsSync(join(root, source)), `${name}: ${source}`).toBe(true);
        else expect(Object.keys(compose.volumes ?? {}), `${name}: volume ${v}`).toContain(v.split(':')[0]);
      }
      for (const dep of (service.depends_on ?? []) as string[]) expect(Object.keys(services), `${name} depends on ${dep}`).toContain(dep);
    }
    const dockerfile = readFileSync(join(root, services.portcullis.build.context, 'Dockerfile'), 'utf8');
    expect(dockerfile).toMatch(new RegExp(`^FROM .* AS ${services.portcullis.build.target}$`, 'm'));
  });

  it('publishes Jaeger\'s UI and OTLP port on loopback only', () => {
    expect(services.jaeger.ports).toEqual(['127.0.0.1:16686:16686', '127.0.0.1:14317:4317']);
    expect(services.jaeger.environment.JAEGER_LISTEN_HOST).toBe('0.0.0.0');
  });

  it('points the gateway\'s OTLP exporter at the collector\'s OTLP/HTTP receiver and names the service', () => {
    const env = services.portcullis.environment;
    expect(env.OTEL_SERVICE_NAME).toBe('portcullis');
    expect(services.portcullis.network_mode).toBe('host');
    expect(services['otel-collector'].network_mode).toBe('host');
    const otlpHttp = collector.receivers.otlp.protocols.http.endpoint as string;
    expect(env.OTEL_EXPORTER_OTLP_ENDPOINT).toBe(`http://${otlpHttp}`);
    expect(services.portcullis.depends_on).toContain('otel-collector');
  });
});

describe('deploy/otel-collector.yaml', () => {
  it('uses in its pipelines only the receivers, processors, exporters and extensions it defines', () => {
    const pipelines = collector.service.pipelines as Record<string, { receivers: string[]; processors: string[]; exporters: string[] }>;
    expect(Object.keys(pipelines).sort()).toEqual(['metrics', 'traces']);
    for (const [name, p] of Object.entries(pipelines)) {
      for (const r of p.receivers) expect(Object.keys(collector.receivers), `${name}: receiver ${r}`).toContain(r);
      for (const x of p.processors) expect(Object.keys(collector.processors), `${name}: processor ${x}`).toContain(x);
      for (const e of p.exporters) expect(Object.keys(collector.exporters), `${name}: exporter ${e}`).toContain(e);
    }
    for (const x of collector.service.extensions as string[]) expect(Object.keys(collector.extensions)).toContain(x);
    // memory_limiter goes first, as the collector's docs require.
    for (const p of Object.values(pipelines)) expect(p.processors[0]).toBe('memory_limiter');
  });

  it('sends traces to Jaeger\'s published OTLP port', () => {
    expect(collector.service.pipelines.traces.exporters).toEqual(['otlp/jaeger']);
    const endpoint = collector.exporters['otlp/jaeger'].endpoint as string;
    expect(endpoint).toBe(`127.0.0.1:${published(services.jaeger, 4317)}`);
    expect(collector.exporters['otlp/jaeger'].tls).toEqual({ insecure: true });
  });

  it('scrapes the gateway\'s /metrics on the port the gateway listens on', () => {
    expect(collector.service.pipelines.metrics.receivers).toContain('prometheus');
    const [job] = collector.receivers.prometheus.config.scrape_configs;
    expect(job.metrics_path).toBe('/metrics');
    expect(job.static_configs[0].targets).toEqual([`127.0.0.1:${services.portcullis.environment.PORT}`]);
  });

  it('listens on loopback only', () => {
    const endpoints = [
      collector.receivers.otlp.protocols.grpc.endpoint, collector.receivers.otlp.protocols.http.endpoint,
      collector.extensions.health_check.endpoint, collector.exporters.prometheus.endpoint,
    ] as string[];
    for (const e of endpoints) expect(e).toMatch(/^127\.0\.0\.1:\d+$/);
  });

  it('runs the gateway with its configuration valid and the audit trail pointed at this stack', async () => {
    const file = services.portcullis.environment.PORTCULLIS_CONFIG as string;
    expect(existsSync(join(root, file))).toBe(true);
    const config = await loadConfig(join(root, file), {});
    expect(config.telemetry.enabled).toBe(true);
    expect(config.recordings.enabled).toBe(true);
    expect(config.state.backend).toBe('redis');
    // The state is the stack's Redis; traces go where the collector listens (OTLP/HTTP).
    const redisPort = (services.redis.command as string[])[(services.redis.command as string[]).indexOf('--port') + 1];
    expect(config.state.redis?.url).toBe(`redis://127.0.0.1:${redisPort}`);
    expect(services.portcullis.environment.OTEL_EXPORTER_OTLP_ENDPOINT).toBe(`http://${collector.receivers.otlp.protocols.http.endpoint}`);
    expect(config.recordings.trace_url).toBe(`http://127.0.0.1:${published(services.jaeger, 16686)}/trace/{trace_id}`);
  });
});
