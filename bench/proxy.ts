// A 2026-07-28 tools/call round trip (`echo`, small argument) straight to the upstream vs through
// the gateway, at fixed concurrency, over loopback.
//
// Process layout, and why. The machine has 2 cores shared by client, gateway and upstream. If all
// three ran in this process, one event loop would serialize them: latency would be the sum of
// everyone's CPU time plus queueing behind 16 in-flight requests, and "gateway added latency"
// would mostly measure the load generator and the upstream waiting for each other. Instead the
// upstream and the gateway each run in their own child process (bench/server.ts), as they would
// in a deployment, and the load generator stays here in the parent: one undici Agent, one request
// function, used for both sides, so the client's cost is identical on both. The price is honest
// contention: direct = client + upstream on 2 cores, via gateway = client + gateway + upstream on
// the same 2 cores, so the throughput ratio includes the gateway's CPU cost, which is what a
// co-located sidecar deployment would see. CPU time per request of every process is reported so
// the split is visible.
//
// Noise: after a warm-up of both sides, measurement runs in rounds ordered A,B,B,A,A,B,… (direct,
// gateway), each round a fixed duration per side, so drift and background noise hit both sides
// equally. Every response is checked (HTTP 200, JSON-RPC result echoing the text), and the
// upstream's tool-call count must match the requests completed; any failure aborts the bench.
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { Agent, request } from 'undici';
import { ALLOW_ALL_POLICY, bundleFor, FIXTURE_POLICY } from '../test/helpers/gateway.ts';
import { row, Samples, summarize, type Row, type Summary } from './stats.ts';

export interface ProxyBenchOptions {
  /** Measured seconds per side, split over `rounds`. */
  seconds: number;
  rounds: number;
  /** Warm-up seconds per side before measuring. */
  warmupSeconds: number;
  concurrency: number;
  /** Start the gateway child with --cpu-prof, writing the profile into this directory. */
  profileDir?: string;
  log: (line: string) => void;
}

export interface ProxyBenchResult {
  rows: Row[];
  data: Record<string, unknown>;
}

const SERVER = fileURLToPath(new URL('./server.ts', import.meta.url));
const TEXT = 'hello portcullis';
const META = JSON.stringify({
  'io.modelcontextprotocol/protocolVersion': '2026-07-28',
  'io.modelcontextprotocol/clientInfo': { name: 'portcullis-bench', version: '1' },
  'io.modelcontextprotocol/clientCapabilities': {},
});
const HEADERS = {
  'content-type': 'application/json',
  accept: 'application/json, text/event-stream',
  'mcp-protocol-version': '2026-07-28',
  'mcp-method': 'tools/call',
  'mcp-name': 'echo',
};

interface Mark {
  type: 'mark';
  cpuUs: number;
  toolCalls: number;
  logs: string[];
}

/** One child server process and its IPC request/answer. */
class ServerProcess {
  readonly child: ChildProcess;
  #waiting: Array<(m: unknown) => void> = [];
  #exited: Promise<number | null>;

  constructor(readonly name: string, args: string[], execArgv: string[]) {
    this.child = fork(SERVER, args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: [...process.execArgv, ...execArgv] });
    this.child.on('message', (m) => this.#waiting.shift()?.(m));
    this.#exited = new Promise((resolve) => this.child.once('exit', (code) => {
      resolve(code);
      for (const w of this.#waiting.splice(0)) w({ type: 'exited', code });
    }));
  }

  /** The next message from the child; rejects when it exits first. */
  async next<T>(): Promise<T> {
    const m = await new Promise<unknown>((resolve) => this.#waiting.push(resolve));
    if ((m as { type?: string }).type === 'exited') throw new Error(`${this.name} process exited (code ${String((m as { code: unknown }).code)})`);
    return m as T;
  }

  async mark(): Promise<Mark> {
    const answer = this.next<Mark>();
    this.child.send({ type: 'mark' });
    return answer;
  }

  async close(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.send({ type: 'close' });
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    await this.#exited;
    clearTimeout(timer);
  }
}

interface SegmentResult {
  completed: number;
  elapsedMs: number;
  /** Child CPU microseconds spent during the segment. */
  cpuUs: { client: number; gateway: number; upstream: number };
}

type Side = 'direct' | 'gateway';

export async function runProxyBench(opts: ProxyBenchOptions): Promise<ProxyBenchResult> {
  let policy = ALLOW_ALL_POLICY;
  try {
    await bundleFor(ALLOW_ALL_POLICY);
  } catch (err) {
    opts.log(`proxy bench: ${ALLOW_ALL_POLICY} does not build (${(err as Error).message.split('\n')[0]}); using ${FIXTURE_POLICY}`);
    policy = FIXTURE_POLICY;
  }

  const servers: ServerProcess[] = [];
  // One client for both sides: same Agent (a pool per origin), same request code.
  const agent = new Agent({ connections: opts.concurrency, pipelining: 1, keepAliveTimeout: 30_000 });
  try {
    const upstream = new ServerProcess('upstream', ['upstream'], []);
    servers.push(upstream);
    const { url: upstreamUrl } = await upstream.next<{ url: string }>();
    const profileArgs = opts.profileDir ? ['--cpu-prof', '--cpu-prof-dir', opts.profileDir] : [];
    const gateway = new ServerProcess('gateway', ['gateway', policy, upstreamUrl], profileArgs);
    servers.push(gateway);
    const { url: gatewayUrl, revision } = await gateway.next<{ url: string; revision: string }>();
    const urls: Record<Side, string> = { direct: upstreamUrl, gateway: gatewayUrl };

    let nextId = 1;
    async function call(url: string): Promise<void> {
      const id = nextId++;
      const body = `{"jsonrpc":"2.0","id":${id},"method":"tools/call","params":{"name":"echo","arguments":{"text":"${TEXT}"},"_meta":${META}}}`;
      const res = await request(url, { method: 'POST', headers: HEADERS, body, dispatcher: agent });
      const text = await res.body.text();
      if (res.statusCode !== 200) throw new Error(`HTTP ${res.statusCode}: ${text.slice(0, 300)}`);
      const msg = JSON.parse(text) as { id?: unknown; result?: { content?: Array<{ text?: unknown }> } };
      if (msg.id !== id || msg.result?.content?.[0]?.text !== TEXT) throw new Error(`unexpected answer: ${text.slice(0, 300)}`);
    }

    async function segment(side: Side, ms: number, latencies: Samples | null): Promise<SegmentResult> {
      const url = urls[side];
      const before = await Promise.all([upstream.mark(), gateway.mark()]);
      const clientBefore = process.cpuUsage();
      let completed = 0;
      const start = performance.now();
      const deadline = start + ms;
      const worker = async () => {
        while (performance.now() < deadline) {
          const t0 = performance.now();
          await call(url);
          const t1 = performance.now();
          latencies?.push(t1 - t0);
          completed++;
        }
      };
      await Promise.all(Array.from({ length: opts.concurrency }, worker));
      const elapsedMs = performance.now() - start;
      const client = process.cpuUsage(clientBefore);
      const after = await Promise.all([upstream.mark(), gateway.mark()]);
      for (const line of after[1].logs) opts.log(`gateway: ${line}`);
      if (after[0].toolCalls !== completed) {
        throw new Error(`${side}: ${completed} calls completed but the upstream ran echo ${after[0].toolCalls} times`);
      }
      return {
        completed, elapsedMs,
        cpuUs: { client: client.user + client.system, upstream: after[0].cpuUs - before[0].cpuUs, gateway: after[1].cpuUs - before[1].cpuUs },
      };
    }

    const sides: Side[] = ['direct', 'gateway'];
    for (const side of sides) await segment(side, opts.warmupSeconds * 1000, null);

    const latencies: Record<Side, Samples> = { direct: new Samples(65_536), gateway: new Samples(65_536) };
    const totals: Record<Side, { completed: number; elapsedMs: number; cpuUs: SegmentResult['cpuUs']; rounds: Array<{ rps: number; p50: number }> }> = {
      direct: { completed: 0, elapsedMs: 0, cpuUs: { client: 0, gateway: 0, upstream: 0 }, rounds: [] },
      gateway: { completed: 0, elapsedMs: 0, cpuUs: { client: 0, gateway: 0, upstream: 0 }, rounds: [] },
    };
    const roundMs = (opts.seconds * 1000) / opts.rounds;
    for (let r = 0; r < opts.rounds; r++) {
      const order: Side[] = r % 2 === 0 ? ['direct', 'gateway'] : ['gateway', 'direct'];
      for (const side of order) {
        const own = new Samples(8192);
        const seg = await segment(side, roundMs, own);
        for (const v of own.values()) latencies[side].push(v);
        const t = totals[side];
        t.completed += seg.completed;
        t.elapsedMs += seg.elapsedMs;
        for (const k of ['client', 'gateway', 'upstream'] as const) t.cpuUs[k] += seg.cpuUs[k];
        t.rounds.push({ rps: (seg.completed / seg.elapsedMs) * 1000, p50: summarize(own.values()).p50 });
      }
      opts.log(`proxy bench: round ${r + 1}/${opts.rounds}: ${sides.map((s) => `${s} ${totals[s].rounds.at(-1)!.rps.toFixed(0)} req/s p50 ${totals[s].rounds.at(-1)!.p50.toFixed(3)} ms`).join(', ')}`);
    }

    const summary: Record<Side, Summary> = { direct: summarize(latencies.direct.values()), gateway: summarize(latencies.gateway.values()) };
    const rps = (s: Side) => (totals[s].completed / totals[s].elapsedMs) * 1000;
    const cpuPerReq = (s: Side) => Object.fromEntries(
      (['client', 'gateway', 'upstream'] as const).map((k) => [k, totals[s].cpuUs[k] / totals[s].completed / 1000]),
    ) as Record<'client' | 'gateway' | 'upstream', number>;
    const added = summary.gateway.p50 - summary.direct.p50;
    const ratio = rps('gateway') / rps('direct');
    const S = 'proxy';
    const rows = [
      row(S, 'direct_p50_ms', 'direct tools/call p50', summary.direct.p50, 'ms'),
      row(S, 'direct_p99_ms', 'direct tools/call p99', summary.direct.p99, 'ms'),
      row(S, 'direct_rps', 'direct throughput', rps('direct'), 'req/s'),
      row(S, 'gateway_p50_ms', 'via gateway tools/call p50', summary.gateway.p50, 'ms'),
      row(S, 'gateway_p99_ms', 'via gateway tools/call p99', summary.gateway.p99, 'ms'),
      row(S, 'gateway_rps', 'via gateway throughput', rps('gateway'), 'req/s'),
      row(S, 'added_p50_ms', 'gateway added latency p50', added, 'ms', { kind: 'max', value: 1 }),
      row(S, 'rps_ratio', 'throughput gateway/direct', ratio, 'x', { kind: 'min', value: 0.5 }),
      row(S, 'gateway_cpu_ms_per_req', 'gateway CPU per request', cpuPerReq('gateway').gateway, 'ms'),
      row(S, 'upstream_cpu_ms_per_req', 'upstream CPU per request', cpuPerReq('direct').upstream, 'ms'),
      row(S, 'client_cpu_ms_per_req', 'load generator CPU per request', cpuPerReq('direct').client, 'ms'),
    ];
    return {
      rows,
      data: {
        policy, revision, concurrency: opts.concurrency, seconds_per_side: opts.seconds, rounds: opts.rounds,
        warmup_seconds_per_side: opts.warmupSeconds,
        layout: 'client in bench process; upstream and gateway in separate child processes; loopback',
        direct: { latency_ms: summary.direct, rps: rps('direct'), completed: totals.direct.completed, cpu_ms_per_req: cpuPerReq('direct'), rounds: totals.direct.rounds },
        gateway: { latency_ms: summary.gateway, rps: rps('gateway'), completed: totals.gateway.completed, cpu_ms_per_req: cpuPerReq('gateway'), rounds: totals.gateway.rounds },
        added_latency_p50_ms: added,
        added_latency_p99_ms: summary.gateway.p99 - summary.direct.p99,
        rps_ratio_gateway_over_direct: ratio,
        ...(opts.profileDir ? { gateway_cpu_profile_dir: opts.profileDir } : {}),
      },
    };
  } finally {
    await Promise.all(servers.map((s) => s.close()));
    await agent.close();
  }
}

/** A fresh directory for --cpu-prof output. */
export function profileDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'portcullis-bench-prof-'));
}
