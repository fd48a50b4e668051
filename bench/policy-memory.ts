// Child process for the policy bench's memory rows: a fresh process (no code cached by earlier
// loads) loads the enforced bundle, then a second, different one (what an observe-only
// candidate or a swap's new snapshot adds), then that one again (what V8 shares when the same
// WASM bytes are compiled twice). Prints one JSON line. Run with --expose-gc.
import { readFile } from 'node:fs/promises';
import { PolicyHolder } from '../gateway/policy/holder.ts';

const LIMITS = { maxInputBytes: 16 * 1024, maxResultBytes: 64 * 1024 };
const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error('bench/policy-memory.ts needs --expose-gc');

function measure(): { rss: number; heap: number; external: number } {
  gc!();
  gc!();
  const m = process.memoryUsage();
  return { rss: m.rss, heap: m.heapUsed, external: m.external + m.arrayBuffers };
}

const [first, second] = process.argv.slice(2) as [string, string];
const bytes = [await readFile(first), await readFile(second)];
const held: PolicyHolder[] = [];
const load = async (b: Buffer) => {
  const h = new PolicyHolder({ name: `m${held.length}`, source: 'bench', limits: LIMITS, log: () => {} });
  if ((await h.activate(b, 'bench')).result !== 'activated') throw new Error('bench/policy-memory.ts: a bundle did not load');
  held.push(h);
};
const base = measure();
await load(bytes[0]!);
const one = measure();
await load(bytes[1]!);
const two = measure();
await load(bytes[1]!);
const three = measure();
process.stdout.write(`${JSON.stringify({ base, one, two, three, engines: held.length })}\n`);
