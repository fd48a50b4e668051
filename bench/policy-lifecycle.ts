// Policy lifecycle costs, part of the policy section of `npm run bench`:
//  - observe-only candidate: decide with and without a candidate evaluated beside it, per call;
//  - a hot swap: decision latency before, during and after `holder.activate` of a new bundle on
//    the same thread, the longest gap between decisions while it loads, and how long it takes;
//  - memory held by a second engine (what a candidate, or the previous snapshot kept for answers
//    in flight, costs), measured in a fresh child process (bench/policy-memory.ts).
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { PolicyHolder } from '../gateway/policy/holder.ts';
import type { PolicyQuery } from '../gateway/policy/input.ts';
import { candidateObserver } from '../gateway/policy/observe.ts';
import { discardAudit } from '../gateway/telemetry/audit.ts';
import { bundleFor, EXAMPLE_POLICY, FIXTURE_POLICY } from '../test/helpers/gateway.ts';
import { row, Samples, summarize, type Row } from './stats.ts';

const LIMITS = { maxInputBytes: 16 * 1024, maxResultBytes: 64 * 1024 };

const us = (ns: number) => ns / 1000;

function time(fn: () => void, samples: Samples): void {
  const t0 = process.hrtime.bigint();
  fn();
  samples.push(Number(process.hrtime.bigint() - t0));
}

export async function runPolicyLifecycleBench(opts: { iterations: number; query: PolicyQuery; log: (l: string) => void }): Promise<{ rows: Row[]; data: Record<string, unknown> }> {
  const S = 'policy';
  const [example, fixture] = await Promise.all([readFile(await bundleFor(EXAMPLE_POLICY)), readFile(await bundleFor(FIXTURE_POLICY))]);
  const quiet = () => {};

  // --- observe-only candidate -------------------------------------------------------------
  const enforced = new PolicyHolder({ name: 'enforced', source: 'bench', limits: LIMITS, log: quiet });
  const agreeing = new PolicyHolder({ name: 'candidate', source: 'bench', limits: LIMITS, log: quiet });
  const differing = new PolicyHolder({ name: 'candidate', source: 'bench', limits: LIMITS, log: quiet });
  await enforced.activate(example, 'example');
  await agreeing.activate(example, 'example');
  await differing.activate(fixture, 'fixture');
  const observer = candidateObserver(discardAudit);
  const plain = (q: PolicyQuery) => enforced.current().decide(q);
  const withAgreeing = observer.wrap(plain, () => agreeing.active?.decide);
  const withDiffering = observer.wrap(plain, () => differing.active?.decide);
  const q = opts.query;
  const paths = [
    { key: 'plain', fn: () => plain(q), s: new Samples(opts.iterations) },
    { key: 'observed_agreeing', fn: () => withAgreeing(q), s: new Samples(opts.iterations) },
    { key: 'observed_disagreeing', fn: () => withDiffering(q), s: new Samples(opts.iterations) },
  ];
  for (let i = 0; i < 2000; i++) for (const p of paths) p.fn();
  for (let done = 0; done < opts.iterations; done += 500) for (const p of paths) for (let i = 0; i < 500; i++) time(p.fn, p.s);
  const o = Object.fromEntries(paths.map((p) => [p.key, summarize(p.s.values())]));
  const observeCost = us(o.observed_agreeing!.p50 - o.plain!.p50);
  if (observer.counters().disagreements === 0) throw new Error('policy lifecycle bench: the differing candidate never disagreed');

  // --- a swap under decisions --------------------------------------------------------------
  const holder = new PolicyHolder({ name: 'enforced', source: 'bench', limits: LIMITS, log: quiet });
  await holder.activate(example, 'example');
  const phases = { before: new Samples(20_000), during: new Samples(200_000), after: new Samples(20_000) };
  const decideNow = () => holder.current().decide(q);
  for (let i = 0; i < 5000; i++) decideNow();
  for (let i = 0; i < 20_000; i++) time(decideNow, phases.before);
  // Alternate fixture and example so every swap really loads a new bundle; yield between
  // decisions so the load progresses, and record the longest gap between two decisions.
  let maxGapNs = 0;
  let swapMs = 0;
  // An even number, so the policy after the swaps is the one before them.
  const swaps = 6;
  for (let n = 0; n < swaps; n++) {
    const started = performance.now();
    let settled = false;
    const swap = holder.activate(n % 2 === 0 ? fixture : example, `swap-${n}`).then((a) => {
      settled = true;
      if (a.result !== 'activated') throw new Error(`policy lifecycle bench: swap ${n} was ${a.result}`);
    });
    let last = process.hrtime.bigint();
    while (!settled) {
      time(decideNow, phases.during);
      await new Promise((r) => setImmediate(r));
      const now = process.hrtime.bigint();
      maxGapNs = Math.max(maxGapNs, Number(now - last));
      last = now;
    }
    await swap;
    swapMs += performance.now() - started;
  }
  for (let i = 0; i < 5000; i++) decideNow();
  for (let i = 0; i < 20_000; i++) time(decideNow, phases.after);
  const ph = { before: summarize(phases.before.values()), during: summarize(phases.during.values()), after: summarize(phases.after.values()) };

  // --- memory of a second engine (in a fresh process: nothing compiled there before) ------
  const { stdout } = await promisify(execFile)(process.execPath, ['--expose-gc', fileURLToPath(new URL('./policy-memory.ts', import.meta.url)), await bundleFor(EXAMPLE_POLICY), await bundleFor(FIXTURE_POLICY)]);
  const mem = JSON.parse(stdout) as Record<'base' | 'one' | 'two' | 'three', { rss: number; heap: number; external: number }>;
  const mb = (b: number) => b / 1024 / 1024;
  const firstEngineMb = mb(mem.one.rss - mem.base.rss);
  const secondEngineMb = mb(mem.two.rss - mem.one.rss);
  const sameBytesAgainMb = mb(mem.three.rss - mem.two.rss);
  const secondEngineHeapMb = mb(mem.two.heap + mem.two.external - mem.one.heap - mem.one.external);

  const rows = [
    row(S, 'observe_plain_p50_us', 'decide via holder, no candidate, p50', us(o.plain!.p50), 'µs'),
    row(S, 'observe_agreeing_p50_us', 'decide + observe-only candidate (agrees) p50', us(o.observed_agreeing!.p50), 'µs'),
    row(S, 'observe_disagreeing_p50_us', 'decide + observe-only candidate (disagrees, counted) p50', us(o.observed_disagreeing!.p50), 'µs'),
    row(S, 'observe_cost_p50_us', 'observe-only cost per call (agreeing − plain) p50', observeCost, 'µs'),
    row(S, 'swap_before_p50_us', 'decision before a swap p50', us(ph.before.p50), 'µs'),
    row(S, 'swap_during_p50_us', 'decision while a swap loads p50', us(ph.during.p50), 'µs'),
    row(S, 'swap_during_p99_us', 'decision while a swap loads p99', us(ph.during.p99), 'µs'),
    row(S, 'swap_after_p50_us', 'decision after swaps p50', us(ph.after.p50), 'µs'),
    row(S, 'swap_max_gap_ms', 'longest stall between decisions during a swap', maxGapNs / 1e6, 'ms'),
    row(S, 'swap_ms', 'one swap: verify, load, smoke, activate (mean)', swapMs / swaps, 'ms'),
    row(S, 'engine_first_rss_mb', 'memory of the first engine (RSS, fresh process)', firstEngineMb, 'MB'),
    row(S, 'engine_second_rss_mb', 'memory added by a second, different engine (RSS)', secondEngineMb, 'MB'),
    row(S, 'engine_second_js_mb', 'of which JS heap + external', secondEngineHeapMb, 'MB'),
    row(S, 'engine_same_bytes_rss_mb', 'a third engine of the same bytes (V8 shares compiled code)', sameBytesAgainMb, 'MB'),
  ];
  opts.log(`policy lifecycle: observe-only +${observeCost.toFixed(2)} µs/call; swap ${(swapMs / swaps).toFixed(1)} ms, max stall ${(maxGapNs / 1e6).toFixed(1)} ms; second engine +${secondEngineMb.toFixed(1)} MB RSS`);
  return {
    rows,
    data: {
      observe_us: Object.fromEntries(Object.entries(o).map(([k, v]) => [k, { p50: us(v.p50), p99: us(v.p99), n: v.n }])),
      observe_cost_p50_us: observeCost,
      swap_us: Object.fromEntries(Object.entries(ph).map(([k, v]) => [k, { p50: us(v.p50), p99: us(v.p99), max: us(v.max), n: v.n }])),
      swap_max_gap_ms: maxGapNs / 1e6,
      swap_mean_ms: swapMs / swaps,
      swaps,
      memory_mb: { first_engine_rss: firstEngineMb, second_engine_rss: secondEngineMb, second_engine_js: secondEngineHeapMb, same_bytes_again_rss: sameBytesAgainMb, raw: mem },
    },
  };
}
