// A real Jaeger v2 (all-in-one, memory storage) on free ports, for the tracing e2e test. The
// binary comes from JAEGER_BIN or the tools cache (scripts/tools.sh jaeger); without it the test
// fails and says how to install it: it never skips.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { freePort } from './identity-stack.ts';

export const JAEGER_VERSION = 'v1.76.0';
const CONFIG = resolve('test/fixtures/jaeger.yaml');

export function jaegerBinary(env: NodeJS.ProcessEnv = process.env): string {
  const candidates = [env.JAEGER_BIN, join(env.PORTCULLIS_TOOLS_DIR ?? join(homedir(), '.cache/portcullis/tools'), `jaeger-${JAEGER_VERSION}`, 'jaeger')];
  const found = candidates.find((c): c is string => c !== undefined && c !== '' && existsSync(c));
  if (found === undefined) throw new Error(`Jaeger ${JAEGER_VERSION} not found (JAEGER_BIN or ${candidates[1]}): install it with \`bash scripts/tools.sh jaeger\``);
  return found;
}

export interface TestJaeger {
  /** OTLP/HTTP traces URL (…/v1/traces). */
  otlpHttp: string;
  /** OTLP/gRPC URL. */
  otlpGrpc: string;
  /** Base URL of the query service (`/api/traces`, `/api/services`). */
  query: string;
  output(): string;
  close(): Promise<void>;
}

export async function startJaeger(): Promise<TestJaeger> {
  const bin = jaegerBinary();
  const [http, grpc, queryHttp, queryGrpc] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const child: ChildProcess = spawn(bin, ['--config', `file:${CONFIG}`], {
    env: { ...process.env, JAEGER_OTLP_HTTP_PORT: String(http), JAEGER_OTLP_GRPC_PORT: String(grpc), JAEGER_QUERY_HTTP_PORT: String(queryHttp), JAEGER_QUERY_GRPC_PORT: String(queryGrpc) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (b: Buffer) => { output += b.toString(); });
  child.stderr!.on('data', (b: Buffer) => { output += b.toString(); });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const query = `http://127.0.0.1:${queryHttp}`;
  const close = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
  };
  // Ready once the query API answers (the receivers start before it).
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`jaeger exited (code ${child.exitCode}):\n${output}`);
    try {
      const res = await fetch(`${query}/api/services`);
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    if (i > 300) {
      await close();
      throw new Error(`jaeger did not start within 30 s:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { otlpHttp: `http://127.0.0.1:${http}/v1/traces`, otlpGrpc: `http://127.0.0.1:${grpc}`, query, output: () => output, close };
}
