// Entry point: `portcullis --config <file> [--workers N]` (or PORTCULLIS_CONFIG); `portcullis policy …`
// for the policy CLI. Refuses to start, and says
// why, when the configuration or the policy bundle cannot be used.
import { getRequestListener } from '@hono/node-server';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { createGateway, type GatewayOptions } from './app.ts';
import { answerClientError, malformedRequest } from './edge.ts';
import { ConfigError, loadConfig, type LoadedConfig } from './config/load.ts';
import { BundleError } from './policy/bundle.ts';
import type { PolicyInfo } from './policy/engine.ts';
import { StateError } from './state/index.ts';
import { checkWorkers, isWorker, parseWorkers, runWorkers, WorkersError } from './workers.ts';
import cluster from 'node:cluster';
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
  // node:http with node-server's listener (rather than `serve`) so that requests the adapter or
  // Node's parser cannot read are answered by the gateway too.
  const listener = getRequestListener(gateway.app.fetch, { hostname: config.listen.host, errorHandler: malformedRequest });
  const server: Server = createServer(listener);
  server.on('clientError', answerClientError);
  try {
    await new Promise<void>((resolve, reject) => {
      // A port already in use ends the start with its error instead of leaving it hanging.
      server.once('error', reject);
      server.listen(config.listen.port, config.listen.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    await gateway.close();
    throw err;
  }
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
  const { values } = parseArgs({ args: argv, options: { config: { type: 'string', short: 'c' }, workers: { type: 'string', short: 'w' } } });
  const file = values.config ?? process.env.PORTCULLIS_CONFIG;
  if (!file) throw new ConfigError('(none)', ['no configuration file: pass --config <file> or set PORTCULLIS_CONFIG']);
  const workers = parseWorkers(values.workers);
  const config = await loadConfig(file);
  if (process.env.PORT) config.listen.port = Number(process.env.PORT);
  checkWorkers(config, workers);
  const stopOnSignal = (stop: () => Promise<void>) => {
    const once = () => void stop().then(() => process.exit(0));
    process.once('SIGINT', once);
    process.once('SIGTERM', once);
  };
  if (workers > 1 && !isWorker()) {
    // The primary only supervises: each worker loads the policy and connects to Redis itself.
    const running = await runWorkers(workers, (line) => console.error(line));
    console.log(`portcullis: listening on ${running.url} with ${workers} workers (pids ${Object.values(cluster.workers ?? {}).map((w) => w?.process.pid).join(', ')})`);
    for (const name of Object.keys(config.targets)) console.log(`portcullis: target '${name}' at ${running.url}/mcp/${name}`);
    stopOnSignal(running.stop);
    return;
  }
  const gw = await startGateway(config);
  if (!isWorker()) {
    console.log(`portcullis: listening on ${gw.url} (policy revision ${gw.policy.revision}, sha256 ${gw.policy.sha256.slice(0, 12)}…)`);
    for (const name of Object.keys(config.targets)) console.log(`portcullis: target '${name}' at ${gw.url}/mcp/${name}`);
  }
  stopOnSignal(gw.close);
}

/** The `portcullis` command: exits 1 with the reason when it cannot start. */
export async function runCli(argv: string[]): Promise<void> {
  // Subcommands: `portcullis policy verify …` (gateway/policy/cli.ts).
  if (argv[0] === 'policy') {
    const { policyCli } = await import('./policy/cli.ts');
    process.exit(await policyCli(argv.slice(1)));
  }
  if (argv[0] === 'sessions') {
    // The auditors' commands on recordings talk to a running gateway's API (gateway/recordings/cli.ts).
    const { runSessionsCli } = await import('./recordings/cli.ts');
    process.exitCode = await runSessionsCli(argv.slice(1), { out: (t) => console.log(t), err: (t) => console.error(t), env: process.env });
    return;
  }
  if (argv[0] === 'approvals') {
    // The approvers' commands talk to a running gateway's API (gateway/approvals/cli.ts).
    const { runApprovalsCli } = await import('./approvals/cli.ts');
    process.exitCode = await runApprovalsCli(argv.slice(1), { out: (t) => console.log(t), err: (t) => console.error(t), env: process.env });
    return;
  }
  await serveFromArgs(argv).catch((err: unknown) => {
    const usage = (err as NodeJS.ErrnoException | undefined)?.code?.startsWith('ERR_PARSE_ARGS') === true;
    if (usage || err instanceof ConfigError || err instanceof BundleError || err instanceof StateError || err instanceof WorkersError) {
      console.error(`portcullis: refusing to start: ${(err as Error).message}`);
    } else {
      console.error('portcullis: refusing to start:', err);
    }
    process.exit(1);
  });
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) void runCli(process.argv.slice(2));
