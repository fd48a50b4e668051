// `npm run bench -- --runtimes <node-a>,<node-b> [options]`: the same bench under two (or more)
// Node.js binaries in one run, side by side (each must run TypeScript: Node 24 or later). Each runtime runs the whole bench in a child
// process of its own (its gateway and upstream children inherit that runtime), one after the
// other, and the table compares the measures that decide which runtime to keep: the decision
// path, the proxy ratios and CPU per call.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { row, type Row } from './stats.ts';

const RUN = fileURLToPath(new URL('./run.ts', import.meta.url));

/** The measures compared, as `section.key` of the BENCH_JSON results. */
const COMPARED: Array<[key: string, label: string, unit: string]> = [
  ['policy.decide_p50_us', 'decision path p50', 'µs'],
  ['policy.raw_p50_us', 'raw opa-wasm evaluate p50', 'µs'],
  ['proxy.rps_ratio', 'throughput gateway/direct (loaded)', 'x'],
  ['proxy.added_p50_ms', 'added latency p50 (loaded)', 'ms'],
  ['proxy.serial_added_p50_ms', 'added latency p50 (c=1)', 'ms'],
  ['proxy.gateway_cpu_ms_per_req', 'gateway CPU per call', 'ms'],
  ['proxy.upstream_cpu_ms_per_req', 'upstream CPU per call', 'ms'],
  ['proxy.gateway_rps', 'via gateway throughput (loaded)', 'req/s'],
];

interface RuntimeResult {
  node: string;
  version: string;
  results: Record<string, number>;
}

function runWith(node: string, args: string[], log: (line: string) => void): Promise<RuntimeResult> {
  return new Promise((resolve, reject) => {
    log(`bench: runtimes: ${node} …`);
    const child = spawn(node, [RUN, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
    child.on('error', reject);
    child.on('close', (code) => {
      const line = out.split('\n').find((l) => l.startsWith('BENCH_JSON '));
      if (code !== 0 || line === undefined) return reject(new Error(`bench under ${node} failed (exit ${code})`));
      const json = JSON.parse(line.slice('BENCH_JSON '.length)) as { env: { node: string }; results: Record<string, number> };
      resolve({ node, version: json.env.node, results: json.results });
    });
  });
}

/** Runs the bench under each runtime and returns one comparison row per measure and runtime. */
export async function runRuntimesBench(nodes: string[], args: string[], log: (line: string) => void): Promise<{ rows: Row[]; data: Record<string, unknown> }> {
  // The sections whose measures are compared, unless the caller chose.
  const sections = args.includes('--only') ? args : [...args, '--only', 'policy', '--only', 'proxy'];
  const runs: RuntimeResult[] = [];
  for (const node of nodes) runs.push(await runWith(node, sections, log));
  const rows: Row[] = [];
  const first = runs[0]!;
  for (const [key, label, unit] of COMPARED) {
    for (const run of runs) {
      const value = run.results[key];
      if (value === undefined) continue;
      rows.push(row('runtimes', `${run.version}.${key}`, `${label} (node ${run.version})`, value, unit));
    }
    const base = first.results[key];
    for (const run of runs.slice(1)) {
      const value = run.results[key];
      if (base === undefined || value === undefined || base === 0) continue;
      rows.push(row('runtimes', `${run.version}_over_${first.version}.${key}`, `  ${label}: node ${run.version} / node ${first.version}`, value / base, 'x'));
    }
  }
  return { rows, data: { runs } };
}
