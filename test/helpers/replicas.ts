// Real gateway processes (`bin/portcullis.mjs`, as an operator runs it) and a client-side
// balancer that sends every HTTP request to the next live replica in turn.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface GatewayProcess {
  /** Base URL, e.g. http://127.0.0.1:40123 */
  url: string;
  pid: number;
  /** Everything it wrote to stdout and stderr. */
  output(): string;
  /** SIGKILL: the replica dies with its connections, as in a crash. */
  kill(): Promise<void>;
  /** SIGTERM and wait. */
  stop(): Promise<void>;
}

/** Starts `portcullis --config <doc as file> [args]` and waits until it listens. */
export async function startGatewayProcess(doc: Record<string, unknown>, args: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<GatewayProcess> {
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-replica-'));
  const file = join(dir, 'gateway.yaml');
  await writeFile(file, JSON.stringify(doc)); // JSON is YAML
  const child: ChildProcess = spawn(process.execPath, ['bin/portcullis.mjs', '--config', file, ...args], {
    env: { ...process.env, PORT: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // Never outlive the test run, even when a test times out before its cleanup.
  const orphanGuard = () => child.kill('SIGKILL');
  process.once('exit', orphanGuard);
  child.once('exit', () => process.off('exit', orphanGuard));
  let output = '';
  const url = await new Promise<string>((resolve, reject) => {
    const onData = (d: Buffer) => {
      output += d.toString();
      const match = /listening on (\S+)/.exec(output);
      if (match?.[1]) resolve(match[1]);
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`gateway exited (${code}) before listening:\n${output}`)));
  });
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
  const signal = async (name: NodeJS.Signals) => {
    if (child.exitCode === null && child.signalCode === null) child.kill(name);
    await exited;
  };
  return { url, pid: child.pid!, output: () => output, kill: () => signal('SIGKILL'), stop: () => signal('SIGTERM') };
}

export interface Served {
  replica: number;
  method: string;
  /** JSON-RPC method of a POSTed request or notification, 'response' for an answer, '' otherwise. */
  message: string;
  session: string;
}

/** What a message body is, for the record. */
function describe(body: unknown): string {
  if (typeof body !== 'string') return '';
  try {
    const m = JSON.parse(body) as { method?: string };
    return m.method ?? 'response';
  } catch {
    return '';
  }
}

/**
 * A fetch for SDK transports: every request goes to the next replica in turn, whatever URL the
 * transport holds. A replica that refuses the connection is marked down and the request goes to
 * the next (what a load balancer's health check does, sooner); other connection failures are
 * retried once on the next replica.
 */
export function alternatingFetch(replicas: string[], served: Served[]): typeof fetch {
  let next = 0;
  const down = new Set<number>();
  const failures: string[] = [];
  return async (input, init) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    for (let attempt = 0; attempt < replicas.length; attempt++) {
      const replica = next;
      next = (next + 1) % replicas.length;
      if (down.has(replica)) continue;
      const target = new URL(url.pathname + url.search, replicas[replica]);
      const headers = new Headers(init?.headers);
      // Recorded as it is sent: its answer may arrive after what it caused (a tool result).
      const record: Served = { replica, method: init?.method ?? 'GET', message: describe(init?.body), session: headers.get('mcp-session-id') ?? '' };
      served.push(record);
      try {
        return await fetch(target, init);
      } catch (err) {
        served.splice(served.indexOf(record), 1);
        if (init?.signal?.aborted) throw err;
        // Refused: the replica is gone. Anything else (a reset keep-alive socket, say): try the
        // next replica this once, as a balancer retries a request its backend dropped.
        const code = ((err as Error).cause as NodeJS.ErrnoException | undefined)?.code;
        if (code === 'ECONNREFUSED') down.add(replica);
        failures.push(`${replicas[replica]}: ${code ?? (err as Error).message}`);
      }
    }
    throw new TypeError(`fetch failed on every replica: ${failures.slice(-replicas.length).join('; ')}`);
  };
}
