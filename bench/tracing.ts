// The audit trail's cost, side by side in one run: the same 2026-07-28 tools/call (`echo`) load
// through gateways that differ only in what they trace. Variant one is the baseline (telemetry
// off); each other variant is compared with it: added p50 and gateway CPU per call, as a ratio.
// Tracing on exports every span over OTLP/HTTP to a local receiver that accepts and discards
// (bench/server.ts otlp-sink), with /metrics instruments recording too. Recordings on write every
// message (request and answer) to a real redis-server, as production does (state.backend redis);
// every variant runs on that Redis state so they differ only in the trail (a 2026-07-28 call sends
// Redis nothing: bench state's redis_cmds_per_stateless_call).
//
// To compare another audit-trail feature, add a variant to VARIANTS: a name and the configuration
// merged into the gateway's. Rounds run A,B,…,B,A so drift hits every variant alike.
// Processes: the client here; upstream, the OTLP sink, redis-server and one gateway per variant in
// child processes.
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Agent, request } from 'undici';
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { ALLOW_ALL_POLICY, bundleFor, FIXTURE_POLICY } from '../test/helpers/gateway.ts';
import { startRedis } from '../test/helpers/redis.ts';
import { ServerProcess, type Mark } from './proxy.ts';
import { row, Samples, summarize, type Row, type Summary } from './stats.ts';

export interface TracingBenchOptions {
  seconds: number;
  rounds: number;
  warmupSeconds: number;
  concurrency: number;
  /** Only these variants (names; the first listed is the baseline); default all. */
  variants?: string[] | undefined;
  /**
   * Another checkout of the gateway (e.g. `git archive main` unpacked, node_modules linked): each
   * selected variant but the baseline runs a second time from there (`<name>@against`), side by side.
   */
  against?: string | undefined;
  /** Profile the `both` gateway (else the last variant's) for one round after the measured rounds; gateway.cpuprofile here. */
  profileDir?: string | undefined;
  log: (line: string) => void;
}

interface Variant {
  name: string;
  /** The source tree its gateway runs from (default this one). */
  tree?: string;
  label: string;
  /** Configuration merged at the top level of the gateway's (beside its Redis `state`); `sink` is the OTLP receiver's URL. */
  config: (sink: string) => Record<string, unknown>;
}

const tracing = (sink: string) => ({ telemetry: { enabled: true, traces: { protocol: 'http/protobuf', endpoint: sink } } });
const recordings = { recordings: { enabled: true } };

const ALL_VARIANTS: Variant[] = [
  { name: 'off', label: 'telemetry off', config: () => ({}) },
  // Traces off: what the trail and /metrics cost without spans.
  { name: 'metrics', label: 'metrics only (traces off)', config: () => ({ telemetry: { enabled: true, traces: { enabled: false } } }) },
  { name: 'tracing', label: 'tracing on (OTLP/HTTP, every span) + metrics', config: tracing },
  // The operator's lever: a sampled trace costs the same, an unsampled one (90% here) almost nothing.
  { name: 'sampled', label: 'tracing on, sample_ratio 0.1 + metrics', config: (sink) => ({ telemetry: { enabled: true, traces: { protocol: 'http/protobuf', endpoint: sink, sample_ratio: 0.1 } } }) },
  { name: 'recordings', label: 'recordings on (Redis)', config: () => recordings },
  { name: 'both', label: 'tracing + metrics + recordings (Redis)', config: (sink) => ({ ...tracing(sink), ...recordings }) },
];

const TEXT = 'hello portcullis';
const META = JSON.stringify({
  'io.modelcontextprotocol/protocolVersion': '2026-07-28',
  'io.modelcontextprotocol/clientInfo': { name: 'portcullis-bench', version: '1' },
  'io.modelcontextprotocol/clientCapabilities': {},
});
const HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/call', 'mcp-name': 'echo' };

interface Totals { samples: Samples; completed: number; elapsedMs: number; cpuUs: number }

export async function runTracingBench(opts: TracingBenchOptions): Promise<{ rows: Row[]; data: Record<string, unknown> }> {
  const VARIANTS = opts.variants === undefined ? ALL_VARIANTS : opts.variants.map((name) => {
    const v = ALL_VARIANTS.find((x) => x.name === name);
    if (v === undefined) throw new Error(`tracing bench: unknown variant '${name}' (have: ${ALL_VARIANTS.map((x) => x.name).join(', ')})`);
    return v;
  });
  if (opts.against !== undefined) {
    const tree = opts.against;
    VARIANTS.push(...VARIANTS.slice(1).map((v) => ({ ...v, name: `${v.name}@against`, label: `${v.label} [${tree}]`, tree })));
  }
  let policy = ALLOW_ALL_POLICY;
  try {
    await bundleFor(ALLOW_ALL_POLICY);
  } catch {
    policy = FIXTURE_POLICY;
  }
  const servers: ServerProcess[] = [];
  const agents = VARIANTS.map(() => new Agent({ connections: opts.concurrency, keepAliveTimeout: 30_000 }));
  const redis = await startRedis();
  const admin = new Redis(redis.url);
  try {
    const upstream = new ServerProcess('upstream', ['upstream']);
    const sink = new ServerProcess('otlp-sink', ['otlp-sink']);
    servers.push(upstream, sink);
    const [{ url: upstreamUrl }, { url: sinkUrl }] = await Promise.all([upstream.next<{ url: string }>(), sink.next<{ url: string }>()]);
    const state = (name: string) => ({ state: { backend: 'redis', redis: { url: redis.url, key_prefix: `bench:${name}:${randomUUID()}:` } } });
    const gateways = VARIANTS.map((v) => new ServerProcess(`gateway (${v.name})`, ['gateway', policy, upstreamUrl, JSON.stringify({ ...state(v.name), ...v.config(sinkUrl) }), ...(v.tree ? [v.tree] : [])]));
    servers.push(...gateways);
    const urls = (await Promise.all(gateways.map((g) => g.next<{ url: string }>()))).map((r) => r.url);

    let nextId = 1;
    async function call(i: number): Promise<void> {
      const id = nextId++;
      const body = `{"jsonrpc":"2.0","id":${id},"method":"tools/call","params":{"name":"echo","arguments":{"text":"${TEXT}"},"_meta":${META}}}`;
      const res = await request(urls[i]!, { method: 'POST', headers: HEADERS, body, dispatcher: agents[i]! });
      const text = await res.body.text();
      if (res.statusCode !== 200) throw new Error(`${VARIANTS[i]!.name}: HTTP ${res.statusCode}: ${text.slice(0, 300)}`);
      const msg = JSON.parse(text) as { id?: unknown; result?: { content?: Array<{ text?: unknown }> } };
      if (msg.id !== id || msg.result?.content?.[0]?.text !== TEXT) throw new Error(`${VARIANTS[i]!.name}: unexpected answer: ${text.slice(0, 300)}`);
    }
    async function segment(i: number, ms: number, samples: Samples | null): Promise<{ completed: number; elapsedMs: number; cpuUs: number }> {
      const before = await gateways[i]!.mark();
      let completed = 0;
      const start = performance.now();
      const deadline = start + ms;
      await Promise.all(Array.from({ length: opts.concurrency }, async () => {
        while (performance.now() < deadline) {
          const t0 = performance.now();
          await call(i);
          samples?.push(performance.now() - t0);
          completed++;
        }
      }));
      const elapsedMs = performance.now() - start;
      const after = await gateways[i]!.mark();
      for (const line of after.logs) opts.log(`gateway (${VARIANTS[i]!.name}) log: ${line}`);
      return { completed, elapsedMs, cpuUs: after.cpu.user + after.cpu.system - before.cpu.user - before.cpu.system };
    }

    for (let i = 0; i < VARIANTS.length; i++) await segment(i, opts.warmupSeconds * 1000, null);
    const sinkBefore = await sink.mark() as Mark & { exports: number; exportedBytes: number };
    const totals: Totals[] = VARIANTS.map(() => ({ samples: new Samples(65_536), completed: 0, elapsedMs: 0, cpuUs: 0 }));
    const order = VARIANTS.map((_, i) => i);
    const redisCpuBefore = await redisCpuMs(admin);
    const roundMs = (opts.seconds * 1000) / opts.rounds;
    for (let r = 0; r < opts.rounds; r++) {
      for (const i of r % 2 === 0 ? order : [...order].reverse()) {
        const seg = await segment(i, roundMs, totals[i]!.samples);
        totals[i]!.completed += seg.completed;
        totals[i]!.elapsedMs += seg.elapsedMs;
        totals[i]!.cpuUs += seg.cpuUs;
      }
      opts.log(`tracing bench: round ${r + 1}/${opts.rounds}: ${VARIANTS.map((v, i) => `${v.name} ${((totals[i]!.completed / totals[i]!.elapsedMs) * 1000).toFixed(0)} req/s`).join(', ')}`);
    }
    const sinkAfter = await sink.mark() as Mark & { exports: number; exportedBytes: number };
    const exports = sinkAfter.exports - sinkBefore.exports;
    const exportedBytes = sinkAfter.exportedBytes - sinkBefore.exportedBytes;
    const tracedCalls = VARIANTS.reduce((n, v, i) => n + (/^(tracing|both)(@|$)/.test(v.name) ? totals[i]!.completed : 0), 0);
    const redisCpu = (await redisCpuMs(admin)) - redisCpuBefore;
    let profileFile: string | undefined;
    if (opts.profileDir) {
      // Apart from the measured rounds: the profiler slows the gateway down.
      const p = Math.max(0, VARIANTS.findIndex((v) => v.name === 'both')) || VARIANTS.length - 1;
      profileFile = join(opts.profileDir, 'gateway.cpuprofile');
      await gateways[p]!.ask({ type: 'profile-start' });
      const profiled = await segment(p, roundMs, null);
      await gateways[p]!.ask({ type: 'profile-stop', file: profileFile });
      opts.log(`tracing bench: profile of gateway (${VARIANTS[p]!.name}), ${profiled.completed} calls, ${(profiled.cpuUs / 1000 / profiled.completed).toFixed(3)} ms CPU per call under the profiler: ${profileFile} (node bench/profile.ts ${profileFile})`);
    }
    const recordedCalls = VARIANTS.reduce((n, v, i) => n + (/^(recordings|both)(@|$)/.test(v.name) ? totals[i]!.completed : 0), 0);

    const sides = VARIANTS.map((v, i) => {
      const t = totals[i]!;
      const latency: Summary = summarize(t.samples.values());
      return { name: v.name, label: v.label, latency_ms: latency, rps: (t.completed / t.elapsedMs) * 1000, completed: t.completed, cpu_ms_per_call: t.cpuUs / 1000 / t.completed };
    });
    const base = sides[0]!;
    const S = 'tracing';
    const c = `c=${opts.concurrency}`;
    const rows: Row[] = [
      row(S, `${base.name}_p50_ms`, `tools/call p50, ${base.label} (${c})`, base.latency_ms.p50, 'ms'),
      row(S, `${base.name}_cpu_ms_per_call`, `gateway CPU per call, ${base.label}`, base.cpu_ms_per_call, 'ms'),
    ];
    for (const side of sides.slice(1)) {
      rows.push(
        row(S, `${side.name}_p50_ms`, `tools/call p50, ${side.label} (${c})`, side.latency_ms.p50, 'ms'),
        row(S, `${side.name}_added_p50_ms`, `${side.label}: added p50 vs ${base.label}`, side.latency_ms.p50 - base.latency_ms.p50, 'ms'),
        row(S, `${side.name}_cpu_ms_per_call`, `gateway CPU per call, ${side.label}`, side.cpu_ms_per_call, 'ms'),
        row(S, `${side.name}_cpu_ratio`, `gateway CPU per call, ${side.label} / ${base.label}`, side.cpu_ms_per_call / base.cpu_ms_per_call, 'x', { kind: 'max', value: 1.15 }),
        row(S, `${side.name}_rps_ratio`, `throughput, ${side.label} / ${base.label}`, side.rps / base.rps, 'x'),
      );
    }
    rows.push(row(S, 'otlp_exports', 'OTLP export requests the sink received (measured rounds)', exports, 'req'));
    // Every span of the fully traced variants (sampled adds ~10% of its calls' worth): bytes on the wire per call.
    if (tracedCalls > 0) rows.push(row(S, 'otlp_bytes_per_traced_call', 'OTLP/HTTP protobuf bytes exported per fully traced call', exportedBytes / tracedCalls, 'B'));
    // Redis does the recordings' writes (the other variants send it nothing): its CPU per recorded call.
    rows.push(row(S, 'redis_cpu_ms_per_recorded_call', 'redis-server CPU per recorded call (both recording variants)', recordedCalls > 0 ? redisCpu / recordedCalls : 0, 'ms'));
    return {
      rows,
      data: {
        policy, concurrency: opts.concurrency, seconds_per_side: opts.seconds, rounds: opts.rounds, variants: sides, otlp_exports: exports, otlp_bytes: exportedBytes, redis_cpu_ms: redisCpu, ...(profileFile ? { gateway_cpu_profile: profileFile } : {}),
        layout: 'client here; upstream, OTLP sink, redis-server and one gateway per variant (Redis state) in child processes; loopback; rounds A,B,…,B,A',
      },
    };
  } finally {
    admin.disconnect();
    await Promise.all(servers.map((s) => s.close()));
    await Promise.all(agents.map((a) => a.close()));
    await redis.close();
  }
}

async function redisCpuMs(admin: Redis): Promise<number> {
  const info = await admin.info('cpu');
  const get = (k: string) => Number(new RegExp(`${k}:([\\d.]+)`).exec(info)?.[1] ?? 0);
  return (get('used_cpu_user') + get('used_cpu_sys')) * 1000;
}
