// The audit trail's cost, side by side in one run: the same 2026-07-28 tools/call (`echo`) load
// through gateways that differ only in what they trace. Variant one is the baseline (telemetry
// off); each other variant is compared with it: added p50 and gateway CPU per call, as a ratio.
// Tracing on exports every span over OTLP/HTTP to a local receiver that accepts and discards
// (bench/server.ts otlp-sink), with /metrics instruments recording too.
//
// To compare another audit-trail feature (recordings, say), add a variant to VARIANTS: a name and
// the configuration merged into the gateway's. Rounds run A,B,…,B,A so drift hits every variant alike.
// Processes: the client here; upstream, the OTLP sink and one gateway per variant in child processes.
import { performance } from 'node:perf_hooks';
import { Agent, request } from 'undici';
import { ALLOW_ALL_POLICY, bundleFor, FIXTURE_POLICY } from '../test/helpers/gateway.ts';
import { ServerProcess, type Mark } from './proxy.ts';
import { row, Samples, summarize, type Row, type Summary } from './stats.ts';

export interface TracingBenchOptions {
  seconds: number;
  rounds: number;
  warmupSeconds: number;
  concurrency: number;
  log: (line: string) => void;
}

interface Variant {
  name: string;
  label: string;
  /** Configuration merged at the top level of the gateway's; `sink` is the OTLP receiver's URL. */
  config: (sink: string) => Record<string, unknown>;
}

const VARIANTS: Variant[] = [
  { name: 'off', label: 'telemetry off', config: () => ({}) },
  { name: 'tracing', label: 'tracing on (OTLP/HTTP, every span) + metrics', config: (sink) => ({ telemetry: { enabled: true, traces: { protocol: 'http/protobuf', endpoint: sink } } }) },
  // The operator's lever: a sampled trace costs the same, an unsampled one (90% here) almost nothing.
  { name: 'sampled', label: 'tracing on, sample_ratio 0.1 + metrics', config: (sink) => ({ telemetry: { enabled: true, traces: { protocol: 'http/protobuf', endpoint: sink, sample_ratio: 0.1 } } }) },
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
  let policy = ALLOW_ALL_POLICY;
  try {
    await bundleFor(ALLOW_ALL_POLICY);
  } catch {
    policy = FIXTURE_POLICY;
  }
  const servers: ServerProcess[] = [];
  const agents = VARIANTS.map(() => new Agent({ connections: opts.concurrency, keepAliveTimeout: 30_000 }));
  try {
    const upstream = new ServerProcess('upstream', ['upstream']);
    const sink = new ServerProcess('otlp-sink', ['otlp-sink']);
    servers.push(upstream, sink);
    const [{ url: upstreamUrl }, { url: sinkUrl }] = await Promise.all([upstream.next<{ url: string }>(), sink.next<{ url: string }>()]);
    const gateways = VARIANTS.map((v) => new ServerProcess(`gateway (${v.name})`, ['gateway', policy, upstreamUrl, JSON.stringify(v.config(sinkUrl))]));
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
    const exportsBefore = (await sink.mark() as Mark & { exports: number }).exports;
    const totals: Totals[] = VARIANTS.map(() => ({ samples: new Samples(65_536), completed: 0, elapsedMs: 0, cpuUs: 0 }));
    const order = VARIANTS.map((_, i) => i);
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
    const exports = (await sink.mark() as Mark & { exports: number }).exports - exportsBefore;

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
    return {
      rows,
      data: {
        policy, concurrency: opts.concurrency, seconds_per_side: opts.seconds, rounds: opts.rounds, variants: sides, otlp_exports: exports,
        layout: 'client here; upstream, OTLP sink and one gateway per variant in child processes; loopback; rounds A,B,B,A',
      },
    };
  } finally {
    await Promise.all(servers.map((s) => s.close()));
    await Promise.all(agents.map((a) => a.close()));
  }
}
