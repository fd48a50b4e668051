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
// co-located sidecar deployment would see. CPU time per request (user and system) of every
// process is reported so the split is visible.
//
// Two phases, each after a warm-up of both sides:
// - loaded: `concurrency` requests in flight (default 16) for a fixed time per side. With 16 in
//   flight the slowest process saturates and latency is mostly queueing, so "added latency" here
//   is the gateway's effect on a busy system.
// - serial (c=1): one request at a time, nobody queues; "added latency" is the gateway's own
//   per-request latency (two extra loopback hops plus its work).
// Noise: each phase runs in rounds ordered A,B,B,A,… (direct, gateway), a fixed duration per side
// per round, so drift and background load hit both sides equally; per-round numbers are in the
// JSON. Every response is checked (HTTP 200, JSON-RPC result echoing the text, matching id), and
// the upstream's tool-call count must match the calls completed; any failure aborts the bench.
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
  /** Unloaded phase (concurrency 1): measured seconds per side; 0 skips it. */
  serialSeconds: number;
  /** Profile the gateway (V8 CPU profile) during the loaded phase, writing gateway.cpuprofile here. */
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

export interface Cpu {
  user: number;
  system: number;
}

export interface Mark {
  type: 'mark';
  cpu: Cpu;
  toolCalls: number;
  logs: string[];
}

/** One child server process and its IPC request/answer (messages queue until read). */
export class ServerProcess {
  readonly child: ChildProcess;
  #inbox: unknown[] = [];
  #waiting: Array<(m: unknown) => void> = [];
  #exited: Promise<number | null>;

  readonly name: string;

  constructor(name: string, args: string[]) {
    this.name = name;
    this.child = fork(SERVER, args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.child.on('message', (m) => this.#deliver(m));
    this.#exited = new Promise((resolve) => this.child.once('exit', (code) => {
      resolve(code);
      this.#deliver({ type: 'exited', code });
    }));
  }

  #deliver(m: unknown): void {
    const waiter = this.#waiting.shift();
    if (waiter) waiter(m);
    else this.#inbox.push(m);
  }

  /** The next message from the child; rejects when it exited instead. */
  async next<T>(): Promise<T> {
    const m = this.#inbox.length > 0 ? this.#inbox.shift() : await new Promise<unknown>((resolve) => this.#waiting.push(resolve));
    if ((m as { type?: string }).type === 'exited') {
      this.#inbox.unshift(m);
      throw new Error(`${this.name} process exited (code ${String((m as { code: unknown }).code)})`);
    }
    return m as T;
  }

  async ask<T>(message: unknown): Promise<T> {
    const answer = this.next<T>();
    this.child.send(message as object);
    return answer;
  }

  mark(): Promise<Mark> {
    return this.ask<Mark>({ type: 'mark' });
  }

  async close(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.send({ type: 'close' });
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    await this.#exited;
    clearTimeout(timer);
  }
}

type Side = 'direct' | 'gateway';
type Proc = 'client' | 'gateway' | 'upstream';
const SIDES: Side[] = ['direct', 'gateway'];
const PROCS: Proc[] = ['client', 'gateway', 'upstream'];

interface SegmentResult {
  completed: number;
  elapsedMs: number;
  /** CPU microseconds each process spent during the segment. */
  cpu: Record<Proc, Cpu>;
}

interface SideTotals {
  latencies: Samples;
  completed: number;
  elapsedMs: number;
  cpu: Record<Proc, Cpu>;
  rounds: Array<{ rps: number; p50_ms: number }>;
}

interface PhaseResult {
  concurrency: number;
  sides: Record<Side, { latency_ms: Summary; rps: number; completed: number; cpu_ms_per_req: Record<Proc, { user: number; system: number }>; rounds: SideTotals['rounds'] }>;
  added_p50_ms: number;
  added_p99_ms: number;
  rps_ratio: number;
}

const zeroCpu = (): Record<Proc, Cpu> => ({ client: { user: 0, system: 0 }, gateway: { user: 0, system: 0 }, upstream: { user: 0, system: 0 } });

export async function runProxyBench(opts: ProxyBenchOptions): Promise<ProxyBenchResult> {
  let policy = ALLOW_ALL_POLICY;
  try {
    await bundleFor(ALLOW_ALL_POLICY);
  } catch (err) {
    opts.log(`proxy bench: ${ALLOW_ALL_POLICY} does not build (${(err as Error).message.split('\n')[0]}); using ${FIXTURE_POLICY}`);
    policy = FIXTURE_POLICY;
  }

  const servers: ServerProcess[] = [];
  // One client for both sides: same Agent (a keep-alive pool per origin), same request code.
  const agent = new Agent({ connections: opts.concurrency, pipelining: 1, keepAliveTimeout: 30_000 });
  try {
    const upstream = new ServerProcess('upstream', ['upstream']);
    servers.push(upstream);
    const { url: upstreamUrl } = await upstream.next<{ url: string }>();
    const gateway = new ServerProcess('gateway', ['gateway', policy, upstreamUrl]);
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

    /** `concurrency` workers call back to back until `ms` has passed, then the in-flight calls drain. */
    async function segment(side: Side, ms: number, concurrency: number, latencies: Samples | null): Promise<SegmentResult> {
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
          latencies?.push(performance.now() - t0);
          completed++;
        }
      };
      try {
        await Promise.all(Array.from({ length: concurrency }, worker));
      } catch (err) {
        // Say why: the gateway logs internal errors (with stacks) that its answers leave out.
        const logs = await gateway.mark().then((m) => m.logs, () => []);
        throw new Error(`${side} call failed: ${(err as Error).message}${logs.length > 0 ? `\ngateway log:\n${logs.slice(0, 3).join('\n')}` : ''}`);
      }
      const elapsedMs = performance.now() - start;
      const client = process.cpuUsage(clientBefore);
      const after = await Promise.all([upstream.mark(), gateway.mark()]);
      for (const line of after[1].logs) opts.log(`gateway log: ${line}`);
      if (after[0].toolCalls !== completed) {
        throw new Error(`${side}: ${completed} calls completed but the upstream ran echo ${after[0].toolCalls} times`);
      }
      const delta = (i: 0 | 1): Cpu => ({ user: after[i].cpu.user - before[i].cpu.user, system: after[i].cpu.system - before[i].cpu.system });
      return { completed, elapsedMs, cpu: { client, upstream: delta(0), gateway: delta(1) } };
    }

    /** Measured rounds ordered A,B,B,A,A,B,…; `seconds` per side in total. */
    async function phase(name: string, concurrency: number, seconds: number): Promise<PhaseResult> {
      const fresh = (): SideTotals => ({ latencies: new Samples(65_536), completed: 0, elapsedMs: 0, cpu: zeroCpu(), rounds: [] });
      const totals: Record<Side, SideTotals> = { direct: fresh(), gateway: fresh() };
      const roundMs = (seconds * 1000) / opts.rounds;
      for (let r = 0; r < opts.rounds; r++) {
        for (const side of r % 2 === 0 ? SIDES : [...SIDES].reverse()) {
          const own = new Samples(8192);
          const seg = await segment(side, roundMs, concurrency, own);
          const t = totals[side];
          for (const v of own.values()) t.latencies.push(v);
          t.completed += seg.completed;
          t.elapsedMs += seg.elapsedMs;
          for (const p of PROCS) {
            t.cpu[p].user += seg.cpu[p].user;
            t.cpu[p].system += seg.cpu[p].system;
          }
          t.rounds.push({ rps: (seg.completed / seg.elapsedMs) * 1000, p50_ms: summarize(own.values()).p50 });
        }
        opts.log(`proxy bench: ${name} round ${r + 1}/${opts.rounds}: ${SIDES.map((s) => {
          const last = totals[s].rounds.at(-1)!;
          return `${s} ${last.rps.toFixed(0)} req/s p50 ${last.p50_ms.toFixed(3)} ms`;
        }).join(', ')}`);
      }
      const sides = Object.fromEntries(SIDES.map((s) => {
        const t = totals[s];
        const perReq = Object.fromEntries(PROCS.map((p) => [p, { user: t.cpu[p].user / t.completed / 1000, system: t.cpu[p].system / t.completed / 1000 }]));
        return [s, { latency_ms: summarize(t.latencies.values()), rps: (t.completed / t.elapsedMs) * 1000, completed: t.completed, cpu_ms_per_req: perReq, rounds: t.rounds }];
      })) as PhaseResult['sides'];
      return {
        concurrency, sides,
        added_p50_ms: sides.gateway.latency_ms.p50 - sides.direct.latency_ms.p50,
        added_p99_ms: sides.gateway.latency_ms.p99 - sides.direct.latency_ms.p99,
        rps_ratio: sides.gateway.rps / sides.direct.rps,
      };
    }

    for (const side of SIDES) await segment(side, opts.warmupSeconds * 1000, opts.concurrency, null);

    let profileFile: string | undefined;
    if (opts.profileDir) {
      profileFile = join(opts.profileDir, 'gateway.cpuprofile');
      await gateway.ask({ type: 'profile-start' });
    }
    const loaded = await phase(`c=${opts.concurrency}`, opts.concurrency, opts.seconds);
    if (profileFile) await gateway.ask({ type: 'profile-stop', file: profileFile });
    const serial = opts.serialSeconds > 0 ? await phase('c=1', 1, opts.serialSeconds) : undefined;

    const L = loaded.sides;
    const perReq = (s: Side, p: Proc) => L[s].cpu_ms_per_req[p].user + L[s].cpu_ms_per_req[p].system;
    const S = 'proxy';
    const c = `c=${opts.concurrency}`;
    const rows = [
      row(S, 'direct_p50_ms', `direct tools/call p50 (${c})`, L.direct.latency_ms.p50, 'ms'),
      row(S, 'direct_p99_ms', `direct tools/call p99 (${c})`, L.direct.latency_ms.p99, 'ms'),
      row(S, 'direct_rps', `direct throughput (${c})`, L.direct.rps, 'req/s'),
      row(S, 'gateway_p50_ms', `via gateway tools/call p50 (${c})`, L.gateway.latency_ms.p50, 'ms'),
      row(S, 'gateway_p99_ms', `via gateway tools/call p99 (${c})`, L.gateway.latency_ms.p99, 'ms'),
      row(S, 'gateway_rps', `via gateway throughput (${c})`, L.gateway.rps, 'req/s'),
      row(S, 'added_p50_ms', `gateway added latency p50 (${c})`, loaded.added_p50_ms, 'ms', { kind: 'max', value: 1 }),
      row(S, 'rps_ratio', `throughput gateway/direct (${c})`, loaded.rps_ratio, 'x', { kind: 'min', value: 0.5 }),
    ];
    if (serial) {
      rows.push(
        row(S, 'serial_direct_p50_ms', 'direct tools/call p50 (c=1, unloaded)', serial.sides.direct.latency_ms.p50, 'ms'),
        row(S, 'serial_gateway_p50_ms', 'via gateway tools/call p50 (c=1, unloaded)', serial.sides.gateway.latency_ms.p50, 'ms'),
        row(S, 'serial_added_p50_ms', 'gateway added latency p50 (c=1, unloaded)', serial.added_p50_ms, 'ms', { kind: 'max', value: 1 }),
      );
    }
    rows.push(
      row(S, 'gateway_cpu_ms_per_req', 'gateway CPU per request (user+sys)', perReq('gateway', 'gateway'), 'ms'),
      row(S, 'upstream_cpu_ms_per_req', 'upstream CPU per request (user+sys)', perReq('direct', 'upstream'), 'ms'),
      row(S, 'client_cpu_ms_per_req', 'load generator CPU per request', perReq('direct', 'client'), 'ms'),
    );
    return {
      rows,
      data: {
        policy, revision, concurrency: opts.concurrency, seconds_per_side: opts.seconds, rounds: opts.rounds,
        warmup_seconds_per_side: opts.warmupSeconds, serial_seconds_per_side: opts.serialSeconds,
        layout: 'client in the bench process; upstream and gateway each in a child process; loopback; rounds A,B,B,A',
        loaded,
        ...(serial ? { serial } : {}),
        ...(profileFile ? { gateway_cpu_profile: profileFile, profiled: 'the loaded phase ran under the profiler: its numbers are slower than normal' } : {}),
      },
    };
  } finally {
    await Promise.all(servers.map((s) => s.close()));
    await agent.close();
  }
}

/** A fresh directory for profile output. */
export function profileDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'portcullis-bench-prof-'));
}
