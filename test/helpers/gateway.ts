// Starts a real gateway for a test: real bundle, real upstreams, free port, closed afterwards.
import { randomUUID } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { validateConfig } from '../../gateway/config/load.ts';
import { startGateway, type RunningGateway } from '../../gateway/main.ts';
import type { DecisionRecord } from '../../gateway/telemetry/audit.ts';
import type { GatewayOptions } from '../../gateway/app.ts';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace';
import { buildBundle } from '../../scripts/bundle.ts';

const built = new Map<string, Promise<string>>();

/** Builds a policy directory into a bundle once per test file; returns the tarball path. */
export function bundleFor(source: string): Promise<string> {
  const dir = resolve(source);
  let bundle = built.get(dir);
  if (bundle === undefined) {
    bundle = mkdtemp(join(tmpdir(), 'portcullis-bundle-')).then(async (out) => {
      const result = await buildBundle({ source: dir, outFile: join(out, 'bundle.tar.gz') });
      return result.file;
    });
    built.set(dir, bundle);
  }
  return bundle;
}

export const FIXTURE_POLICY = 'test/fixtures/rego/fixture';
export const ALLOW_ALL_POLICY = 'rego/allow-all';
export const EXAMPLE_POLICY = 'rego/example';

export interface TestGateway extends RunningGateway {
  /** MCP endpoint of a target. */
  endpoint(target?: string): string;
  logs: string[];
  /** Every decision record, in order. */
  audit: DecisionRecord[];
}

export interface TestGatewayOptions {
  policy?: string;
  /** Target name -> upstream MCP URL. */
  targets: Record<string, string | Record<string, unknown>>;
  /** Extra configuration merged at the top level. */
  config?: Record<string, unknown>;
  env?: NodeJS.ProcessEnv;
  /** Gateway options beside the configuration (an in-memory span exporter, a recording sink). */
  gateway?: Pick<GatewayOptions, 'spanExporter' | 'recordings'>;
}

export async function startTestGateway(options: TestGatewayOptions): Promise<TestGateway> {
  const bundle = await bundleFor(options.policy ?? FIXTURE_POLICY);
  const targets = Object.fromEntries(
    Object.entries(options.targets).map(([name, t]) => [name, typeof t === 'string' ? { url: t } : t]),
  );
  // PORTCULLIS_TEST_REDIS_URL runs every test gateway on Redis state (fresh key prefix each), so
  // the whole suite can be run against the shared store: see docs/state.md.
  const redisUrl = process.env.PORTCULLIS_TEST_REDIS_URL;
  const state = redisUrl ? { state: { backend: 'redis', redis: { url: redisUrl, key_prefix: `test:${randomUUID()}:` } } } : {};
  // PORTCULLIS_TEST_TRAIL=1 runs every test gateway with the whole audit trail on (tracing into an
  // in-memory exporter, metrics, a recording sink that keeps nothing), so the suite shows the trail
  // changes no answer: see docs/telemetry.md.
  const trailOn = process.env.PORTCULLIS_TEST_TRAIL === '1' && options.gateway === undefined && options.config?.telemetry === undefined;
  const doc = {
    listen: { host: '127.0.0.1', port: 0 },
    policy: { bundle },
    targets,
    ...state,
    ...(trailOn ? { telemetry: { enabled: true } } : {}),
    ...options.config,
  };
  const config = validateConfig(doc, join(tmpdir(), 'portcullis-test.yaml'), options.env ?? {});
  const logs: string[] = [];
  const audit: DecisionRecord[] = [];
  const trail = trailOn ? { spanExporter: new InMemorySpanExporter(), recordings: { enabled: true, admit: () => true, record: () => true } } : {};
  const gw = await startGateway(config, { ...trail, ...options.gateway, log: (line) => logs.push(line), audit: { enabled: true, record: (r) => audit.push(r) } });
  const first = Object.keys(targets)[0];
  return { ...gw, logs, audit, endpoint: (target = first ?? '') => `${gw.url}/mcp/${target}` };
}
