// How the gateway's TypeScript becomes running JavaScript, measured: start-up time (spawn to the
// "listening" line) and memory (resident set once listening, and its peak) of `portcullis` run
//   - compiled: `node dist/gateway/main.js`, the JavaScript `npm run build` emits (what
//     `npx portcullis` runs in production);
//   - strip: `node gateway/main.ts`, Node's own type stripping at load (what `npm start`, the
//     scripts and the tests run).
// Each mode starts `runs` times, in rounds (compiled, strip, strip, compiled, …) so background
// load hits both alike; medians are reported. The gateway serves the allow-all policy with an
// unreachable upstream: start-up never touches it.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { ALLOW_ALL_POLICY, bundleFor } from '../test/helpers/gateway.ts';
import { row, summarize, type Row } from './stats.ts';

const ROOT = resolve(import.meta.dirname, '..');

interface Mode {
  name: string;
  args: string[];
}

const MODES: Mode[] = [
  { name: 'compiled', args: [join(ROOT, 'dist/gateway/main.js')] },
  { name: 'strip', args: [join(ROOT, 'gateway/main.ts')] },
];

interface Sample {
  ms: number;
  rssKiB: number;
  peakKiB: number;
}

function statusKiB(pid: number, field: string): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : Number.NaN;
}

function startOnce(mode: Mode, config: string): Promise<Sample> {
  return new Promise((resolvePromise, reject) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, [...mode.args, '--config', config], { stdio: ['ignore', 'pipe', 'pipe'], cwd: ROOT });
    let out = '';
    let err = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.stderr.on('data', (c: Buffer) => (err += c.toString('utf8')));
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString('utf8');
      if (!out.includes('listening on')) return;
      const ms = performance.now() - t0;
      const sample = { ms, rssKiB: statusKiB(child.pid!, 'VmRSS'), peakKiB: statusKiB(child.pid!, 'VmHWM') };
      child.stdout.removeAllListeners('data');
      child.once('close', () => resolvePromise(sample));
      child.kill('SIGTERM');
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      if (!out.includes('listening on')) reject(new Error(`${mode.name}: gateway did not start (exit ${code}): ${err.slice(0, 500)}`));
    });
  });
}

export async function runStartupBench(opts: { runs: number; log: (line: string) => void }): Promise<{ rows: Row[]; data: Record<string, unknown> }> {
  if (!existsSync(MODES[0]!.args[0]!)) throw new Error('dist/ is missing: run `npm run build` first');
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-startup-'));
  const config = join(dir, 'gateway.yaml');
  const bundle = await bundleFor(ALLOW_ALL_POLICY);
  await writeFile(config, `listen: { host: 127.0.0.1, port: 0 }\npolicy: { bundle: ${JSON.stringify(bundle)} }\ntargets: { t: { url: "http://127.0.0.1:9/mcp" } }\n`);

  const samples = new Map<string, Sample[]>(MODES.map((m) => [m.name, []]));
  opts.log(`startup: ${opts.runs} starts per mode (${MODES.map((m) => m.name).join(', ')})…`);
  for (let i = 0; i < opts.runs; i++) {
    const order = i % 2 === 0 ? MODES : [...MODES].reverse();
    for (const mode of order) samples.get(mode.name)!.push(await startOnce(mode, config));
  }

  const S = 'startup';
  const rows: Row[] = [];
  const data: Record<string, unknown> = { runs: opts.runs, node: process.version };
  const median = (xs: number[]) => summarize(xs).p50;
  for (const mode of MODES) {
    const xs = samples.get(mode.name)!;
    const m = { ms: median(xs.map((s) => s.ms)), rss_mib: median(xs.map((s) => s.rssKiB)) / 1024, peak_mib: median(xs.map((s) => s.peakKiB)) / 1024 };
    data[mode.name] = m;
    rows.push(row(S, `${mode.name}_ms`, `start to listening, ${mode.name} (median)`, m.ms, 'ms'));
    rows.push(row(S, `${mode.name}_rss_mib`, `resident memory once listening, ${mode.name}`, m.rss_mib, 'MiB'));
    rows.push(row(S, `${mode.name}_peak_mib`, `peak resident memory, ${mode.name}`, m.peak_mib, 'MiB'));
  }
  return { rows, data };
}
