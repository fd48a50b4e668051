// Shared state and scale-out, measured side by side in one run.
//
// state: the legacy (2025-11-25 session) tools/call round trip through a gateway with memory state
// and through one with Redis state, same upstream, same client, rounds A,B,B,A; the Redis side's
// added p50/p99 and throughput ratio; then, on their own, the Redis commands the gateway sends per
// legacy call and per 2026-07-28 stateless call (MONITOR, leaving out what scripts run inside
// Redis: what is left crossed the network) and Redis's own CPU per call.
//
// scale: `portcullis --workers 1` vs `--workers 2` (the real CLI, node:cluster), Redis state, the
// same legacy load with `concurrency` connections; CPU time of all gateway processes (primary and
// workers, from /proc) per 1000 calls, and throughput, each as a ratio 2 workers / 1 worker. On a
// 2-core machine shared with the load generator, the upstream and Redis, two workers cannot
// double throughput; the CPU ratio shows what scaling out costs per call.
//
// Processes: the client here; upstream and gateways in child processes (bench/server.ts, or
// bin/portcullis.mjs for scale); redis-server as the tests start it (no persistence).
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { Agent, request } from 'undici';
import { ALLOW_ALL_POLICY, bundleFor } from '../test/helpers/gateway.ts';
import { startRedis, type TestRedis } from '../test/helpers/redis.ts';
import { startGatewayProcess, type GatewayProcess } from '../test/helpers/replicas.ts';
import { ServerProcess } from './proxy.ts';
import { row, Samples, summarize, type Row, type Summary } from './stats.ts';

export interface StateBenchOptions {
  /** Measured seconds per side, split over `rounds`. */
  seconds: number;
  rounds: number;
  warmupSeconds: number;
  concurrency: number;
  log: (line: string) => void;
}

const TEXT = 'hello portcullis';
const JSON_HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
const META = JSON.stringify({
  'io.modelcontextprotocol/protocolVersion': '2026-07-28',
  'io.modelcontextprotocol/clientInfo': { name: 'portcullis-bench', version: '1' },
  'io.modelcontextprotocol/clientCapabilities': {},
});
const STATELESS_HEADERS = { ...JSON_HEADERS, 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/call', 'mcp-name': 'echo' };

/** A legacy client: its own sessions (one per concurrent caller) on one gateway URL. */
class LegacyLoad {
  #nextId = 1;
  readonly sessions: Record<string, string>[] = [];
  readonly url: string;
  readonly agent: Agent;
  constructor(url: string, agent: Agent) {
    this.url = url;
    this.agent = agent;
  }

  async open(count: number): Promise<void> {
    for (let i = 0; i < count; i++) {
      const init = await request(this.url, {
        method: 'POST', dispatcher: this.agent, headers: JSON_HEADERS,
        body: JSON.stringify({ jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'bench', version: '1' } } }),
      });
      await init.body.text();
      const id = init.headers['mcp-session-id'];
      if (init.statusCode !== 200 || typeof id !== 'string') throw new Error(`initialize: HTTP ${init.statusCode}`);
      const headers = { ...JSON_HEADERS, 'mcp-session-id': id, 'mcp-protocol-version': '2025-11-25' };
      const ack = await request(this.url, { method: 'POST', dispatcher: this.agent, headers, body: '{"jsonrpc":"2.0","method":"notifications/initialized"}' });
      await ack.body.dump();
      this.sessions.push(headers);
    }
  }

  async call(slot: number): Promise<void> {
    const id = this.#nextId++;
    const res = await request(this.url, {
      method: 'POST', dispatcher: this.agent, headers: this.sessions[slot % this.sessions.length]!,
      body: `{"jsonrpc":"2.0","id":${id},"method":"tools/call","params":{"name":"echo","arguments":{"text":"${TEXT}"}}}`,
    });
    const text = await res.body.text();
    if (res.statusCode !== 200) throw new Error(`HTTP ${res.statusCode}: ${text.slice(0, 300)}`);
    const msg = JSON.parse(text) as { id?: unknown; result?: { content?: Array<{ text?: unknown }> } };
    if (msg.id !== id || msg.result?.content?.[0]?.text !== TEXT) throw new Error(`unexpected answer: ${text.slice(0, 300)}`);
  }

  async stateless(): Promise<void> {
    const id = this.#nextId++;
    const res = await request(this.url, {
      method: 'POST', dispatcher: this.agent, headers: STATELESS_HEADERS,
      body: `{"jsonrpc":"2.0","id":${id},"method":"tools/call","params":{"name":"echo","arguments":{"text":"${TEXT}"},"_meta":${META}}}`,
    });
    const text = await res.body.text();
    if (res.statusCode !== 200 || !text.includes(TEXT)) throw new Error(`stateless: HTTP ${res.statusCode}: ${text.slice(0, 300)}`);
  }
}

/** `concurrency` callers back to back for `ms`; latencies into `samples` when given. */
async function drive(load: LegacyLoad, ms: number, concurrency: number, samples: Samples | null): Promise<{ completed: number; elapsedMs: number }> {
  let completed = 0;
  const start = performance.now();
  const deadline = start + ms;
  await Promise.all(Array.from({ length: concurrency }, async (_, slot) => {
    while (performance.now() < deadline) {
      const t0 = performance.now();
      await load.call(slot);
      samples?.push(performance.now() - t0);
      completed++;
    }
  }));
  return { completed, elapsedMs: performance.now() - start };
}

/** Commands clients sent to Redis while `work` ran (MONITOR, script-internal commands left out). */
async function redisCommands(url: string, work: () => Promise<void>): Promise<Record<string, number>> {
  const watcher = new Redis(url);
  const monitor = await watcher.monitor();
  const counts: Record<string, number> = {};
  let marker = false;
  monitor.on('monitor', (_t: string, args: string[], source: string) => {
    const name = String(args[0]).toLowerCase();
    if (name === 'echo' && args[1] === 'bench-marker') marker = true;
    else if (source !== 'lua') counts[name] = (counts[name] ?? 0) + 1;
  });
  const poke = new Redis(url);
  await new Promise((r) => setTimeout(r, 100));
  for (const k of Object.keys(counts)) delete counts[k];
  await work();
  await poke.echo('bench-marker');
  for (let i = 0; i < 100 && !marker; i++) await new Promise((r) => setTimeout(r, 20));
  poke.disconnect();
  monitor.disconnect();
  watcher.disconnect();
  return counts;
}

async function redisCpuMs(admin: Redis): Promise<number> {
  const info = await admin.info('cpu');
  const get = (k: string) => Number(new RegExp(`${k}:([\\d.]+)`).exec(info)?.[1] ?? 0);
  return (get('used_cpu_user') + get('used_cpu_sys')) * 1000;
}

interface Totals { samples: Samples; completed: number; elapsedMs: number }
const fresh = (): Totals => ({ samples: new Samples(65_536), completed: 0, elapsedMs: 0 });

function sideSummary(t: Totals): { latency_ms: Summary; rps: number; completed: number } {
  return { latency_ms: summarize(t.samples.values()), rps: (t.completed / t.elapsedMs) * 1000, completed: t.completed };
}

export async function runStateBench(opts: StateBenchOptions): Promise<{ rows: Row[]; data: Record<string, unknown> }> {
  const redis = await startRedis();
  const servers: ServerProcess[] = [];
  const agents = [new Agent({ connections: opts.concurrency }), new Agent({ connections: opts.concurrency })];
  const admin = new Redis(redis.url);
  try {
    const upstream = new ServerProcess('upstream', ['upstream-both']);
    servers.push(upstream);
    const { url: upstreamUrl } = await upstream.next<{ url: string }>();
    const redisState = JSON.stringify({ state: { backend: 'redis', redis: { url: redis.url, key_prefix: `bench:${randomUUID()}:` } } });
    const memory = new ServerProcess('gateway (memory)', ['gateway', ALLOW_ALL_POLICY, upstreamUrl]);
    const shared = new ServerProcess('gateway (redis)', ['gateway', ALLOW_ALL_POLICY, upstreamUrl, redisState]);
    servers.push(memory, shared);
    const [m, r] = await Promise.all([memory.next<{ url: string }>(), shared.next<{ url: string }>()]);
    const loads = { memory: new LegacyLoad(m.url, agents[0]!), redis: new LegacyLoad(r.url, agents[1]!) };
    await Promise.all([loads.memory.open(opts.concurrency), loads.redis.open(opts.concurrency)]);
    const sides = ['memory', 'redis'] as const;

    for (const side of sides) await drive(loads[side], opts.warmupSeconds * 1000, opts.concurrency, null);
    const totals = { memory: fresh(), redis: fresh() };
    const roundMs = (opts.seconds * 1000) / opts.rounds;
    let redisCpu = 0;
    for (let round = 0; round < opts.rounds; round++) {
      for (const side of round % 2 === 0 ? sides : [...sides].reverse()) {
        const cpuBefore = side === 'redis' ? await redisCpuMs(admin) : 0;
        const seg = await drive(loads[side], roundMs, opts.concurrency, totals[side].samples);
        if (side === 'redis') redisCpu += (await redisCpuMs(admin)) - cpuBefore;
        totals[side].completed += seg.completed;
        totals[side].elapsedMs += seg.elapsedMs;
      }
      opts.log(`state bench: round ${round + 1}/${opts.rounds}: ${sides.map((s) => `${s} ${((totals[s].completed / totals[s].elapsedMs) * 1000).toFixed(0)} req/s`).join(', ')}`);
    }
    for (const line of (await shared.mark()).logs) opts.log(`gateway (redis) log: ${line}`);

    // Round trips, counted apart from the timing (MONITOR slows Redis down).
    const CALLS = 200;
    const legacyCommands = await redisCommands(redis.url, async () => {
      for (let i = 0; i < CALLS; i++) await loads.redis.call(0);
    });
    const statelessCommands = await redisCommands(redis.url, async () => {
      for (let i = 0; i < CALLS; i++) await loads.redis.stateless();
    });
    const perCall = (c: Record<string, number>) => Object.values(c).reduce((a, b) => a + b, 0) / CALLS;

    const M = sideSummary(totals.memory);
    const R = sideSummary(totals.redis);
    const S = 'state';
    const c = `c=${opts.concurrency}`;
    const rows = [
      row(S, 'memory_p50_ms', `legacy tools/call p50, memory state (${c})`, M.latency_ms.p50, 'ms'),
      row(S, 'memory_p99_ms', `legacy tools/call p99, memory state (${c})`, M.latency_ms.p99, 'ms'),
      row(S, 'memory_rps', `legacy throughput, memory state (${c})`, M.rps, 'req/s'),
      row(S, 'redis_p50_ms', `legacy tools/call p50, Redis state (${c})`, R.latency_ms.p50, 'ms'),
      row(S, 'redis_p99_ms', `legacy tools/call p99, Redis state (${c})`, R.latency_ms.p99, 'ms'),
      row(S, 'redis_rps', `legacy throughput, Redis state (${c})`, R.rps, 'req/s'),
      row(S, 'added_p50_ms', `Redis state added latency p50 (${c})`, R.latency_ms.p50 - M.latency_ms.p50, 'ms'),
      row(S, 'added_p99_ms', `Redis state added latency p99 (${c})`, R.latency_ms.p99 - M.latency_ms.p99, 'ms'),
      row(S, 'rps_ratio', `throughput Redis/memory (${c})`, R.rps / M.rps, 'x'),
      row(S, 'redis_cmds_per_legacy_call', 'Redis round trips per legacy tools/call (request + answer)', perCall(legacyCommands), 'cmds', { kind: 'max', value: 2 }),
      row(S, 'redis_cmds_per_stateless_call', 'Redis round trips per 2026-07-28 tools/call', perCall(statelessCommands), 'cmds', { kind: 'max', value: 0 }),
      row(S, 'redis_cpu_ms_per_call', 'Redis server CPU per legacy call', redisCpu / totals.redis.completed, 'ms'),
    ];
    return {
      rows,
      data: {
        concurrency: opts.concurrency, seconds_per_side: opts.seconds, rounds: opts.rounds, policy: ALLOW_ALL_POLICY,
        memory: M, redis: R,
        redis_commands: { calls: CALLS, legacy: legacyCommands, stateless: statelessCommands },
        layout: 'client here; upstream and both gateways in child processes; redis-server without persistence; loopback',
      },
    };
  } finally {
    admin.disconnect();
    await Promise.all(servers.map((s) => s.close()));
    await Promise.all(agents.map((a) => a.close()));
    await redis.close();
  }
}

const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
  } catch {
    return 100;
  }
})();

/** CPU ms (user + system) a process has used, from /proc (Linux). */
function cpuMsOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) / CLK_TCK) * 1000;
}

function pidsOf(gw: GatewayProcess): number[] {
  const workers = /\(pids ([\d, ]+)\)/.exec(gw.output())?.[1]?.split(', ').map(Number) ?? [];
  return [gw.pid, ...workers];
}

export async function runScaleBench(opts: StateBenchOptions): Promise<{ rows: Row[]; data: Record<string, unknown> }> {
  const redis: TestRedis = await startRedis();
  const servers: ServerProcess[] = [];
  const gateways: GatewayProcess[] = [];
  const agents = [new Agent({ connections: opts.concurrency }), new Agent({ connections: opts.concurrency })];
  try {
    const upstream = new ServerProcess('upstream', ['upstream-both']);
    servers.push(upstream);
    const { url: upstreamUrl } = await upstream.next<{ url: string }>();
    const doc = {
      listen: { host: '127.0.0.1', port: 0 },
      policy: { bundle: await bundleFor(ALLOW_ALL_POLICY) },
      state: { backend: 'redis', redis: { url: redis.url, key_prefix: `scale:${randomUUID()}:` } },
      targets: { bench: { url: upstreamUrl } },
    };
    const [one, two] = await Promise.all([startGatewayProcess(doc, ['--workers', '1']), startGatewayProcess(doc, ['--workers', '2'])]);
    gateways.push(one, two);
    const sides = { one: { gw: one, load: new LegacyLoad(`${one.url}/mcp/bench`, agents[0]!) }, two: { gw: two, load: new LegacyLoad(`${two.url}/mcp/bench`, agents[1]!) } };
    const names = ['one', 'two'] as const;
    for (const n of names) await sides[n].load.open(opts.concurrency);
    for (const n of names) await drive(sides[n].load, opts.warmupSeconds * 1000, opts.concurrency, null);
    const totals = { one: { ...fresh(), cpuMs: 0, primaryMs: 0 }, two: { ...fresh(), cpuMs: 0, primaryMs: 0 } };
    const roundMs = (opts.seconds * 1000) / opts.rounds;
    for (let round = 0; round < opts.rounds; round++) {
      for (const n of round % 2 === 0 ? names : [...names].reverse()) {
        const pids = pidsOf(sides[n].gw);
        const before = pids.reduce((sum, pid) => sum + cpuMsOf(pid), 0);
        const primaryBefore = cpuMsOf(pids[0]!);
        const seg = await drive(sides[n].load, roundMs, opts.concurrency, totals[n].samples);
        totals[n].cpuMs += pids.reduce((sum, pid) => sum + cpuMsOf(pid), 0) - before;
        totals[n].primaryMs += cpuMsOf(pids[0]!) - primaryBefore;
        totals[n].completed += seg.completed;
        totals[n].elapsedMs += seg.elapsedMs;
      }
      opts.log(`scale bench: round ${round + 1}/${opts.rounds}: ${names.map((n) => `${n === 'one' ? 1 : 2} worker(s) ${((totals[n].completed / totals[n].elapsedMs) * 1000).toFixed(0)} req/s`).join(', ')}`);
    }
    const result = Object.fromEntries(names.map((n) => [n, { ...sideSummary(totals[n]), cpu_ms_per_1000_calls: (totals[n].cpuMs / totals[n].completed) * 1000, primary_cpu_ms_per_1000_calls: n === 'two' ? (totals[n].primaryMs / totals[n].completed) * 1000 : 0, processes: pidsOf(sides[n].gw).length }]));
    const [O, T] = [result.one!, result.two!];
    const S = 'scale';
    const c = `c=${opts.concurrency}`;
    return {
      rows: [
        row(S, 'one_worker_rps', `legacy throughput, 1 worker (${c})`, O.rps, 'req/s'),
        row(S, 'two_workers_rps', `legacy throughput, 2 workers (${c})`, T.rps, 'req/s'),
        row(S, 'rps_ratio', 'throughput 2 workers / 1 worker', T.rps / O.rps, 'x'),
        row(S, 'one_worker_cpu_ms_per_1000', 'gateway CPU per 1000 calls, 1 worker', O.cpu_ms_per_1000_calls, 'ms'),
        row(S, 'two_workers_cpu_ms_per_1000', 'gateway CPU per 1000 calls, 2 workers (+ primary)', T.cpu_ms_per_1000_calls, 'ms'),
        row(S, 'primary_cpu_ms_per_1000', 'cluster primary CPU per 1000 calls (in the 2-worker total)', T.primary_cpu_ms_per_1000_calls, 'ms'),
        row(S, 'cpu_ratio', 'gateway CPU per call, 2 workers / 1 worker', T.cpu_ms_per_1000_calls / O.cpu_ms_per_1000_calls, 'x'),
      ],
      data: {
        concurrency: opts.concurrency, seconds_per_side: opts.seconds, rounds: opts.rounds, one: O, two: T,
        layout: 'client here; upstream child; bin/portcullis.mjs --workers 1 and --workers 2 (node:cluster), Redis state; CPU of every gateway process from /proc',
      },
    };
  } finally {
    await Promise.all(gateways.map((g) => g.stop()));
    await Promise.all(servers.map((s) => s.close()));
    await Promise.all(agents.map((a) => a.close()));
    await redis.close();
  }
}
