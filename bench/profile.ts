// Summarizes a V8 .cpuprofile (from `npm run bench -- --only proxy --profile`): top functions by
// self time, and by inclusive time for frames from this project and its direct dependencies.
//   node bench/profile.ts <file.cpuprofile> [--top N] [--filter substring] [--callers substring]
// --callers: for frames whose name contains the substring, the call paths (5 frames up) that
// reach them, by time spent in them.
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

function frameName(node: ProfileNode): string {
  const { functionName, url, lineNumber } = node.callFrame;
  const file = url.replace(/^file:\/\//, '').replace(/^.*\/node_modules\//, '~/').replace(/^.*\/work\/main\//, '');
  return `${functionName || '(anonymous)'} ${file ? `${file}:${lineNumber + 1}` : ''}`.trim();
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { top: { type: 'string', default: '30' }, filter: { type: 'string' }, callers: { type: 'string' } },
  });
  const file = positionals[0];
  if (!file) throw new Error('usage: node bench/profile.ts <file.cpuprofile> [--top N] [--filter substring]');
  const profile = JSON.parse(await readFile(file, 'utf8')) as CpuProfile;
  const top = Number(values.top);

  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

  // Sample weights: each sample's time delta is attributed to the node it hit.
  // Samples inside the bench harness itself (bench/server.ts stopping the profiler) are dropped.
  const harness = (id: number): boolean => {
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      if (byId.get(cur)!.callFrame.url.endsWith('/bench/server.ts')) return true;
    }
    return false;
  };
  const selfUs = new Map<number, number>();
  let total = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const dt = profile.timeDeltas[i] ?? 0;
    if (harness(profile.samples[i]!)) continue;
    selfUs.set(profile.samples[i]!, (selfUs.get(profile.samples[i]!) ?? 0) + dt);
    total += dt;
  }
  const idle = [...selfUs].filter(([id]) => ['(idle)', '(program)'].includes(byId.get(id)!.callFrame.functionName)).reduce((s, [, v]) => s + v, 0);

  const selfByName = new Map<string, number>();
  const inclByName = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const node = byId.get(id)!;
    selfByName.set(frameName(node), (selfByName.get(frameName(node)) ?? 0) + us);
    // Inclusive: every distinct frame name on the stack, once per sample.
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const name = frameName(byId.get(cur)!);
      if (seen.has(name)) continue;
      seen.add(name);
      inclByName.set(name, (inclByName.get(name) ?? 0) + us);
    }
  }
  const busy = total - idle;
  const pct = (us: number) => `${((100 * us) / busy).toFixed(1).padStart(5)}%`;
  const filter = values.filter;
  const show = (title: string, m: Map<string, number>) => {
    console.log(`\n${title} (% of ${(busy / 1000).toFixed(0)} ms busy; ${(idle / 1000).toFixed(0)} ms idle/program excluded)`);
    [...m]
      .filter(([name]) => !['(idle)', '(program)', '(root)'].some((s) => name.startsWith(s)) && (filter === undefined || name.includes(filter)))
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .forEach(([name, us]) => console.log(`${pct(us)}  ${name}`));
  };
  if (values.callers !== undefined) {
    const needle = values.callers;
    // Time under each matching frame, keyed by the path of its callers.
    const paths = new Map<string, number>();
    for (const [id, us] of selfUs) {
      const stack: string[] = [];
      for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) stack.push(frameName(byId.get(cur)!));
      const at = stack.findIndex((name) => name.includes(needle));
      if (at === -1) continue;
      const key = stack.slice(at, at + 6).join('\n        <- ');
      paths.set(key, (paths.get(key) ?? 0) + us);
    }
    show(`call paths into '${needle}'`, paths);
    return;
  }
  show('self time', selfByName);
  show('inclusive time', inclByName);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
