// Entry point: `portcullis --config <file>` (or PORTCULLIS_CONFIG); `portcullis policy …` for the policy CLI. Refuses to start, and says
// why, when the configuration or the policy bundle cannot be used.
import { serve, type ServerType } from '@hono/node-server';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { createGateway, type GatewayOptions } from './app.ts';
import { ConfigError, loadConfig, type LoadedConfig } from './config/load.ts';
import { BundleError } from './policy/bundle.ts';
import type { PolicyInfo } from './policy/engine.ts';
import type { PolicyRuntime } from './policy/index.ts';

export interface RunningGateway {
  /** Base URL, e.g. http://127.0.0.1:8080 */
  url: string;
  port: number;
  /** The policy that served at start. */
  policy: PolicyInfo;
  /** The live policy (it may have been swapped since). */
  policies: PolicyRuntime;
  close(): Promise<void>;
}

/** Starts a gateway from a loaded configuration; `port: 0` picks a free port. */
export async function startGateway(config: LoadedConfig, options: GatewayOptions = {}): Promise<RunningGateway> {
  const gateway = await createGateway(config, options);
  const server: ServerType = await new Promise((resolve) => {
    const s = serve({ fetch: gateway.app.fetch, hostname: config.listen.host, port: config.listen.port }, () => resolve(s));
  });
  const { port } = server.address() as AddressInfo;
  const host = config.listen.host.includes(':') ? `[${config.listen.host}]` : config.listen.host;
  return {
    url: `http://${host}:${port}`,
    port,
    policy: gateway.policy.info,
    policies: gateway.policies,
    close: async () => {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        (server as { closeAllConnections?: () => void }).closeAllConnections?.();
      });
      await gateway.close();
    },
  };
}

async function serveFromArgs(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: { config: { type: 'string', short: 'c' } } });
  const file = values.config ?? process.env.PORTCULLIS_CONFIG;
  if (!file) throw new ConfigError('(none)', ['no configuration file: pass --config <file> or set PORTCULLIS_CONFIG']);
  const config = await loadConfig(file);
  if (process.env.PORT) config.listen.port = Number(process.env.PORT);
  const gw = await startGateway(config);
  console.log(`portcullis: listening on ${gw.url} (policy revision ${gw.policy.revision}, sha256 ${gw.policy.sha256.slice(0, 12)}…)`);
  for (const name of Object.keys(config.targets)) console.log(`portcullis: target '${name}' at ${gw.url}/mcp/${name}`);
  const stop = () => void gw.close().then(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

/** The `portcullis` command: exits 1 with the reason when it cannot start. */
export async function runCli(argv: string[]): Promise<void> {
  // Subcommands: `portcullis policy verify …` (gateway/policy/cli.ts).
  if (argv[0] === 'policy') {
    const { policyCli } = await import('./policy/cli.ts');
    process.exit(await policyCli(argv.slice(1)));
  }
  await serveFromArgs(argv).catch((err: unknown) => {
    if (err instanceof ConfigError || err instanceof BundleError) {
      console.error(`portcullis: refusing to start: ${err.message}`);
    } else {
      console.error('portcullis: refusing to start:', err);
    }
    process.exit(1);
  });
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) void runCli(process.argv.slice(2));
