// `npm run bench`: gateway performance, measured side by side in one run. Not a test: a MISS is
// reported, not fatal; the exit code is non-zero only when something broke.
//
// Prints a table (section, metric, value, target, PASS/MISS) and then one line
//   BENCH_JSON {...}
// with every number, for scripts (`npm run bench | grep '^BENCH_JSON ' | cut -c12-`).
//
// Options (after `npm run bench --`):
//   --only <section>        run one section (repeatable; default all): policy, identity, masking,
//                           startup, proxy, state (memory vs Redis state), scale (1 vs 2 workers),
//                           approvals, tracing (telemetry off vs tracing on, side by side)
//   --iterations <n>        policy: measured calls per path (default 20000)
//   --seconds <s>           proxy, state, scale, tracing: measured seconds per side (default 5)
//   --rounds <n>            proxy, state, scale, tracing: alternating rounds the seconds are split into (default 4)
//   --warmup <s>            proxy: warm-up seconds per side (default 5: the gateway needs a few
//                           thousand calls before V8 has optimized its path; 1.5 s left it
//                           ~30% slower in the first measured rounds)
//   --concurrency <n>       proxy, state, scale: requests in flight (default 16)
//   --serial-seconds <s>    proxy: seconds per side of the unloaded c=1 phase (default 2; 0 skips)
//   --starts <n>            startup: gateway starts per execution mode (default 7)
//   --runtimes <a,b>        run the whole bench under each of these node binaries (one child
//                           process each, one after the other) and compare them side by side
//   --variants <a,b>        tracing: only these variants (first = baseline; default all: off,
//                           tracing, sampled, recordings, both)
//   --against <dir>         tracing: also run each variant but the baseline from the gateway source
//                           tree in <dir> (e.g. main, unpacked with node_modules linked), side by side
//   --profile               proxy, tracing (the `both` gateway, one extra round): V8-profile the gateway during the loaded phase (slows it down);
//                           summarize with `node bench/profile.ts <file>` (path is in the JSON)
//
// To add a section: write bench/<name>.ts exporting `run…(opts): Promise<{ rows, data }>` and list
// it in SECTIONS below.
import os from 'node:os';
import { parseArgs } from 'node:util';
import { runApprovalsBench } from './approvals.ts';
import { runIdentityBench } from './identity.ts';
import { runMaskingBench } from './masking.ts';
import { runPolicyBench } from './policy.ts';
import { profileDir, runProxyBench } from './proxy.ts';
import { runRuntimesBench } from './runtimes.ts';
import { runStartupBench } from './startup.ts';
import { runScaleBench, runStateBench } from './state.ts';
import { runTracingBench } from './tracing.ts';
import { formatTable, rounded, type Row } from './stats.ts';

const { values } = parseArgs({
  options: {
    only: { type: 'string', multiple: true },
    iterations: { type: 'string', default: '20000' },
    seconds: { type: 'string', default: '5' },
    rounds: { type: 'string', default: '4' },
    warmup: { type: 'string', default: '5' },
    concurrency: { type: 'string', default: '16' },
    'serial-seconds': { type: 'string', default: '2' },
    profile: { type: 'boolean', default: false },
    runtimes: { type: 'string' },
    variants: { type: 'string' },
    against: { type: 'string' },
    starts: { type: 'string', default: '7' },
  },
});

function positive(name: string, text: string | undefined): number {
  const n = Number(text);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} must be a positive number, got ${String(text)}`);
  return n;
}

const log = (line: string) => console.error(line);

type Section = () => Promise<{ rows: Row[]; data: Record<string, unknown> }>;

const SECTIONS: Record<string, Section> = {
  policy: () => {
    const iterations = Math.round(positive('iterations', values.iterations));
    return runPolicyBench({ iterations, warmup: Math.max(5000, Math.round(iterations / 4)), log });
  },
  identity: () => runIdentityBench({ iterations: Math.round(positive('iterations', values.iterations)), warmup: 5000, log }),
  masking: () => runMaskingBench({ log }),
  approvals: () => runApprovalsBench({ iterations: Math.min(500, Math.max(50, Math.round(positive('iterations', values.iterations) / 100))), log }),
  startup: () => runStartupBench({ runs: Math.max(3, Math.round(positive('starts', values.starts))), log }),
  proxy: async () =>
    runProxyBench({
      seconds: positive('seconds', values.seconds),
      rounds: Math.round(positive('rounds', values.rounds)),
      warmupSeconds: positive('warmup', values.warmup),
      concurrency: Math.round(positive('concurrency', values.concurrency)),
      serialSeconds: values['serial-seconds'] === '0' ? 0 : positive('serial-seconds', values['serial-seconds']),
      ...(values.profile ? { profileDir: await profileDir() } : {}),
      log,
    }),
  // Legacy calls with memory vs Redis state, Redis round trips per call; then 1 vs 2 workers.
  state: () => runStateBench({ seconds: positive('seconds', values.seconds), rounds: Math.round(positive('rounds', values.rounds)), warmupSeconds: Math.min(3, positive('warmup', values.warmup)), concurrency: Math.round(positive('concurrency', values.concurrency)), log }),
  // Telemetry off vs tracing on (spans exported to a local OTLP receiver that discards them) vs recordings (Redis) vs both.
  tracing: async () => runTracingBench({
    seconds: positive('seconds', values.seconds), rounds: Math.round(positive('rounds', values.rounds)), warmupSeconds: Math.min(3, positive('warmup', values.warmup)), concurrency: Math.round(positive('concurrency', values.concurrency)),
    variants: values.variants?.split(',').filter(Boolean), against: values.against, ...(values.profile ? { profileDir: await profileDir() } : {}), log,
  }),
  scale: () => runScaleBench({ seconds: positive('seconds', values.seconds), rounds: Math.round(positive('rounds', values.rounds)), warmupSeconds: Math.min(3, positive('warmup', values.warmup)), concurrency: Math.round(positive('concurrency', values.concurrency)), log }),
};

/** The arguments a child bench gets: everything but --runtimes. */
function childArgs(): string[] {
  const args = process.argv.slice(2);
  const i = args.findIndex((a) => a === '--runtimes' || a.startsWith('--runtimes='));
  if (i >= 0) args.splice(i, args[i]!.includes('=') ? 1 : 2);
  return args;
}

async function main(): Promise<void> {
  if (values.runtimes !== undefined) {
    const nodes = values.runtimes.split(',').filter(Boolean);
    if (nodes.length < 2) throw new Error('--runtimes needs two or more node binaries, comma-separated');
    const { rows } = await runRuntimesBench(nodes, childArgs(), log);
    console.log(`Portcullis bench — runtimes side by side: ${nodes.join(' vs ')}`);
    console.log(formatTable(rows));
    return;
  }
  const selected = values.only ?? Object.keys(SECTIONS);
  for (const name of selected) if (!Object.hasOwn(SECTIONS, name)) throw new Error(`unknown section '${name}' (have: ${Object.keys(SECTIONS).join(', ')})`);

  const rows: Row[] = [];
  const data: Record<string, unknown> = {};
  for (const name of selected) {
    log(`bench: ${name}…`);
    const result = await SECTIONS[name]!();
    rows.push(...result.rows);
    data[name] = result.data;
  }

  const cpus = os.cpus();
  const env = { node: process.version, platform: `${os.platform()} ${os.arch()}`, cpus: cpus.length, cpu_model: cpus[0]?.model ?? '', loadavg: os.loadavg() };
  console.log(`Portcullis bench — node ${env.node}, ${env.cpus} × ${env.cpu_model}`);
  console.log(formatTable(rows));
  const misses = rows.filter((r) => r.status === 'MISS').map((r) => r.key);
  console.log(misses.length === 0 ? 'All targets met.' : `Targets missed: ${misses.join(', ')} (a measurement, not a failure).`);
  const json = {
    at: new Date().toISOString(),
    env,
    sections: data,
    results: Object.fromEntries(rows.map((r) => [`${r.section}.${r.key}`, r.value])),
    targets: Object.fromEntries(rows.filter((r) => r.target).map((r) => [`${r.section}.${r.key}`, { ...r.target, status: r.status }])),
    misses,
  };
  console.log(`BENCH_JSON ${JSON.stringify(rounded(json))}`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error('bench: FAILED:', err instanceof Error ? (err.stack ?? err.message) : err);
    process.exit(1);
  },
);
