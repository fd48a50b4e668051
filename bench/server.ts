// Child process for the proxy bench: runs ONE server (the upstream fixture or a gateway) in its own
// process so it gets its own event loop, as in a deployment. Driven over the fork IPC channel:
//
//   node bench/server.ts upstream                      -> { type: 'ready', url }
//   node bench/server.ts upstream-both                 -> { type: 'ready', url }   (both eras)
//   node bench/server.ts gateway <policyDir> <url> [configJson] [sourceTree] -> { type: 'ready', url, revision }
//                                                      (sourceTree: run that checkout's gateway, e.g. main's, to compare code side by side)
//   node bench/server.ts otlp-sink                     -> { type: 'ready', url }   (OTLP/HTTP traces receiver that discards)
//   { type: 'mark' }  -> { type: 'mark', cpu: {user,system} µs cumulative, toolCalls since last mark, logs,
//                         exports, exportedBytes (otlp-sink: requests and body bytes received, cumulative) }
//   { type: 'profile-start' } -> { type: 'profile-started' }   V8 CPU profile of this process, from now
//   { type: 'profile-stop', file } -> { type: 'profile-stopped', file }   ... written to `file`
//   { type: 'close' } -> closes the server and exits 0
//
// The process exits when the parent goes away (IPC disconnect), so a crashed bench leaves nothing.
import { writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Session } from 'node:inspector/promises';
import { startModernUpstream, type UpstreamFixture } from '../test/fixtures/upstreams/index.ts';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { TestGateway } from '../test/helpers/gateway.ts';

type Message = { type: 'mark' } | { type: 'close' } | { type: 'profile-start' } | { type: 'profile-stop'; file: string };

function send(message: unknown): void {
  process.send?.(message);
}

let profiler: Session | undefined;

async function profile(m: Message): Promise<void> {
  // The inspector profiles only the window asked for (not startup), unlike --cpu-prof.
  if (m.type === 'profile-start') {
    profiler = new Session();
    profiler.connect();
    await profiler.post('Profiler.enable');
    await profiler.post('Profiler.setSamplingInterval', { interval: 100 });
    await profiler.post('Profiler.start');
    send({ type: 'profile-started' });
  } else if (m.type === 'profile-stop' && profiler) {
    const { profile: result } = await profiler.post('Profiler.stop');
    profiler.disconnect();
    profiler = undefined;
    await writeFile(m.file, JSON.stringify(result));
    send({ type: 'profile-stopped', file: m.file });
  }
}

async function main(): Promise<void> {
  const [role, ...args] = process.argv.slice(2);
  let upstream: UpstreamFixture | undefined;
  let gateway: TestGateway | undefined;
  let sink: Server | undefined;
  let exports = 0;
  let exportedBytes = 0;
  if (role === 'otlp-sink') {
    // Accepts OTLP/HTTP protobuf exports and discards them: an empty ExportTraceServiceResponse.
    sink = createServer((req, res) => {
      req.on('data', (chunk: Buffer) => {
        exportedBytes += chunk.length;
      });
      req.on('end', () => {
        exports++;
        res.writeHead(200, { 'content-type': 'application/x-protobuf', 'content-length': '0' }).end();
      });
    });
    await new Promise<void>((r) => sink!.listen(0, '127.0.0.1', () => r()));
    send({ type: 'ready', url: `http://127.0.0.1:${(sink.address() as AddressInfo).port}/v1/traces` });
  } else if (role === 'upstream') {
    // 2026-07-28 only (no legacy routing check), JSON answers: the echo call never streams.
    upstream = await startModernUpstream({ eras: 'modern', modernResponse: 'json' });
    send({ type: 'ready', url: upstream.url });
  } else if (role === 'upstream-both') {
    // Both eras (legacy sessions too), JSON answers in both: for the state bench.
    upstream = await startModernUpstream({ modernResponse: 'json', legacyResponse: 'json' });
    send({ type: 'ready', url: upstream.url });
  } else if (role === 'gateway') {
    // Optional third argument: configuration merged at the top level, as JSON (e.g. `state`).
    const [policy, url, extra, tree] = args;
    if (policy === undefined || url === undefined) throw new Error('usage: server.ts gateway <policyDir> <upstreamUrl> [configJson] [sourceTree]');
    const helper = tree ? pathToFileURL(join(tree, 'test/helpers/gateway.ts')).href : '../test/helpers/gateway.ts';
    const { startTestGateway } = (await import(helper)) as typeof import('../test/helpers/gateway.ts');
    gateway = await startTestGateway({ policy, targets: { bench: url }, ...(extra ? { config: JSON.parse(extra) as Record<string, unknown> } : {}) });
    send({ type: 'ready', url: gateway.endpoint('bench'), revision: gateway.policy.revision });
  } else {
    throw new Error(`unknown role ${String(role)}`);
  }

  const close = async (code: number) => {
    await gateway?.close().catch(() => {});
    await upstream?.close().catch(() => {});
    sink?.close();
    process.exit(code);
  };
  process.on('message', (m: Message) => {
    if (m.type === 'mark') {
      const toolCalls = upstream?.toolCalls.length ?? 0;
      // The fixture records every request and the test gateway every decision record; drop them
      // so memory (and GC work) stays flat, as with a real audit sink.
      if (upstream) {
        upstream.toolCalls.length = 0;
        upstream.received.length = 0;
      }
      (gateway as { audit?: unknown[] } | undefined)?.audit?.splice(0);
      send({ type: 'mark', cpu: process.cpuUsage(), toolCalls, logs: gateway?.logs.splice(0) ?? [], exports, exportedBytes });
    } else if (m.type === 'close') {
      void close(0);
    } else {
      profile(m).catch((err: unknown) => {
        console.error('bench server: profiling failed:', err);
        process.exit(1);
      });
    }
  });
  process.on('disconnect', () => void close(0));
}

main().catch((err: unknown) => {
  console.error(`bench server (${process.argv[2]}):`, err);
  process.exit(1);
});
