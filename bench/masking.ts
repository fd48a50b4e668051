// Masking engine cost on the hot path (gateway/masking):
//
//  (a) a ~1 MB MCP tool result (structuredContent plus the same JSON serialized in a text block,
//      as MCP servers send it: many keys, few matches) masked with the example policy's
//      `customer_record` instructions (rego/example/data.json), compared with plain
//      JSON.parse + JSON.stringify of the same payload (what relaying it costs without masking);
//      also the same result with a text block that is not a byte-exact copy (the slower path);
//  (b) detector throughput: 1 MB of free text (log/notes-like prose with e-mail addresses, URLs,
//      numbers, ids and a few secrets) through maskText with every detector enabled.
//
// Timing: one process.hrtime.bigint() pair per operation (each takes milliseconds, so timer
// overhead is negligible), the compared operations alternating so GC and frequency changes land
// on all of them; p50 of the samples is reported. Every run checks the masked output really is
// masked, so a fast but broken engine cannot pass.
import { readFileSync } from 'node:fs';
import { applyMask, compileMask, maskText, type MaskPlan } from '../gateway/masking/index.ts';
import type { MaskInstruction } from '../gateway/policy/decision.ts';
import { row, Samples, summarize, type Row } from './stats.ts';

export interface MaskingBenchOptions {
  /** Measured operations per variant (default 40). */
  iterations?: number;
  /** Unmeasured operations per variant first (default 10). */
  warmup?: number;
  log?: (line: string) => void;
}

export interface MaskingBenchResult {
  rows: Row[];
  data: Record<string, unknown>;
}

const HASH_KEY = new Uint8Array(32).fill(0x5a);

/** Deterministic PRNG (mulberry32), so every run measures the same payload. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WORDS = (
  'order shipped delivered customer invoice export latency region report annual seat support premium workshop ' +
  'carrier tracking refund partial cancelled processing warehouse backorder gift wrap express standard priority ' +
  'account manager renewal quarter review escalation follow-up migration dashboard analytics pipeline'
).split(' ');

function sentence(rnd: () => number, words: number): string {
  let s = '';
  for (let i = 0; i < words; i++) s += (i === 0 ? '' : ' ') + WORDS[Math.floor(rnd() * WORDS.length)]!;
  return `${s[0]!.toUpperCase()}${s.slice(1)}.`;
}

/** structuredContent of an order-history tool: ~`bytes` of JSON, ~1 secret per 100 records. */
export function structured(bytes: number): Record<string, unknown> {
  const rnd = prng(42);
  const orders: unknown[] = [];
  let size = 0;
  for (let i = 0; size < bytes; i++) {
    const id = 100000 + i;
    const o: Record<string, unknown> = {
      id: `ord_${id}`,
      customer_id: `cus_${1000 + (i % 977)}`,
      status: ['processing', 'shipped', 'delivered', 'refunded'][i % 4],
      currency: 'USD',
      total_cents: Math.floor(rnd() * 1e6),
      refunded_cents: 0,
      created_at: `2026-0${1 + (i % 9)}-1${i % 10}T10:${10 + (i % 50)}:00Z`,
      carrier: i % 3 === 0 ? 'UPS' : 'FedEx',
      tracking_number: `1Z999AA1${String(id).padStart(10, '0')}`,
      eta: '2026-12-03',
      items: [
        { sku: `SKU-${i % 313}`, name: sentence(rnd, 3), qty: 1 + (i % 7), unit_price_cents: 2900 + (i % 50) * 100 },
        { sku: `SKU-${(i * 7) % 313}`, name: sentence(rnd, 2), qty: 1, unit_price_cents: 48000 },
      ],
      shipping: { line1: `${i % 200} Market Street`, city: 'Springfield', postal_code: `${10000 + (i % 89999)}`, country: 'US' },
      notes: sentence(rnd, 8 + (i % 6)),
      flags: { gift: i % 5 === 0, priority: i % 11 === 0, fragile: false },
    };
    if (i % 100 === 7) {
      o.api_token = `tok_live_${id}abcdefghijklmnopqrstuv`;
      o.notes = `Customer asked to send the invoice to billing-${id}@example-corp.example instead.`;
    }
    if (i % 250 === 3) o.payment = { card_number: '4242424242424242', holder: 'A. Customer' };
    orders.push(o);
    size += JSON.stringify(o).length + 1;
  }
  return { orders, total: orders.length, page: 1 };
}

/** ~`bytes` of free text: prose lines with e-mails, URLs, numbers, ids and a few secrets. */
export function freeText(bytes: number): string {
  const rnd = prng(7);
  const lines: string[] = [];
  let size = 0;
  for (let i = 0; size < bytes; i++) {
    let line = `${String(i).padStart(6, '0')} 2026-11-${10 + (i % 20)}T08:${10 + (i % 50)}:00Z INFO ${sentence(rnd, 10 + (i % 8))}`;
    if (i % 9 === 0) line += ` Contact ops-${i % 37}@acme-analytics.example or the on-call phone +1 202 555 0${100 + (i % 899)}.`;
    if (i % 13 === 0) line += ` See https://status.acme-analytics.example/incidents/${i}?ref=log&page=2 for details.`;
    if (i % 17 === 0) line += ` Order total 1234.56 USD, 3 items, ticket #${40000 + i}, build 2026.11.${i % 30}.`;
    if (i % 211 === 0) line += ` Leaked Authorization: Bearer sk_live_${i}AbCdEfGhIjKlMnOpQrStUv in a paste; rotated.`;
    if (i % 307 === 0) line += ` DATABASE_URL=postgres://app:Sup3r-Secret-${i}@db.internal:5432/app`;
    if (i % 401 === 0) line += ' Card 4111 1111 1111 1111 on file; IBAN DE89 3704 0044 0532 0130 00.';
    lines.push(line);
    size += line.length + 1;
  }
  return lines.join('\n');
}

export function loadExampleInstructions(): MaskInstruction[] {
  const data = JSON.parse(readFileSync(new URL('../rego/example/data.json', import.meta.url), 'utf8')) as {
    mcp: { masks: { customer_record: { instructions: MaskInstruction[] } } };
  };
  return data.mcp.masks.customer_record.instructions;
}

function time(samples: Samples, fn: () => unknown): unknown {
  const t0 = process.hrtime.bigint();
  const r = fn();
  samples.push(Number(process.hrtime.bigint() - t0) / 1e6);
  return r;
}

export async function runMaskingBench(opts: MaskingBenchOptions = {}): Promise<MaskingBenchResult> {
  const iterations = opts.iterations ?? 40;
  const warmup = opts.warmup ?? 10;
  const log = opts.log ?? (() => {});

  const instructions = loadExampleInstructions();
  const compileSamples = new Samples(1000);
  let plan: MaskPlan | undefined;
  for (let i = 0; i < 1000; i++) plan = time(compileSamples, () => compileMask(instructions, { hashKey: HASH_KEY })) as MaskPlan;
  const examplePlan = plan!;
  const allPlan = compileMask([{ detector: 'all' }], { hashKey: HASH_KEY });

  // (a) the 1 MB tool result
  const sc = structured(512 * 1024);
  const payloadText = JSON.stringify({ content: [{ type: 'text', text: JSON.stringify(sc) }], structuredContent: sc });
  const payloadBytes = Buffer.byteLength(payloadText);
  log(`masking bench: tool result ${(payloadBytes / 1024).toFixed(0)} KiB, ${iterations} iterations`);

  const parsed = JSON.parse(payloadText) as unknown;
  const check = applyMask(parsed, examplePlan, 'strict');
  const maskedText = JSON.stringify(check.value);
  if (!check.changed || maskedText.includes('4242424242424242') || maskedText.includes('@example-corp.example') || maskedText.includes('abcdefghijklmnopqrstuv')) {
    throw new Error('masking bench: the example plan did not mask the planted secrets');
  }

  // The same result whose text block is not a byte-exact copy (one trailing newline): the engine
  // then parses, walks and re-serializes the copy instead of reusing structuredContent's walk.
  const inexact = JSON.parse(payloadText) as { content: [{ text: string }] };
  inexact.content[0].text += '\n';

  let sink = 0;
  const base = new Samples(iterations);
  const maskOnly = new Samples(iterations);
  const endToEnd = new Samples(iterations);
  const maskInexact = new Samples(iterations);
  const variants: [Samples, () => unknown][] = [
    [base, () => (sink += JSON.stringify(JSON.parse(payloadText)).length)],
    [maskOnly, () => (sink += applyMask(parsed, examplePlan, 'strict').changed ? 1 : 0)],
    [endToEnd, () => (sink += JSON.stringify(applyMask(JSON.parse(payloadText), examplePlan, 'strict').value).length)],
    [maskInexact, () => (sink += applyMask(inexact, examplePlan, 'strict').changed ? 1 : 0)],
  ];
  for (let i = 0; i < warmup; i++) for (const [, fn] of variants) fn();
  for (let i = 0; i < iterations; i++) for (const [s, fn] of variants) time(s, fn);

  // (b) detector throughput over 1 MB of text
  const text = freeText(1024 * 1024);
  const textBytes = Buffer.byteLength(text);
  const t = maskText(text, allPlan);
  for (const leak of ['Sup3r-Secret-', 'sk_live_', '4111 1111 1111 1111', 'DE89 3704', 'ops-1@acme-analytics.example']) {
    if (t.text.includes(leak)) throw new Error(`masking bench: maskText left "${leak}" in the text`);
  }
  const scanAll = new Samples(iterations);
  const scanExample = new Samples(iterations);
  const scans: [Samples, () => unknown][] = [
    [scanAll, () => (sink += maskText(text, allPlan).text.length)],
    [scanExample, () => (sink += maskText(text, examplePlan).text.length)],
  ];
  for (let i = 0; i < warmup; i++) for (const [, fn] of scans) fn();
  for (let i = 0; i < iterations; i++) for (const [s, fn] of scans) time(s, fn);
  if (sink === 0) throw new Error('masking bench: no results');

  const ms = (s: Samples) => summarize(s.values());
  const b = ms(base);
  const m = ms(maskOnly);
  const e = ms(endToEnd);
  const sa = ms(scanAll);
  const se = ms(scanExample);
  const mbps = (msP50: number) => textBytes / 1e6 / (msP50 / 1000);
  const S = 'masking';
  const rows = [
    row(S, 'payload_bytes', 'tool result size (structuredContent + text block)', payloadBytes, 'B'),
    row(S, 'baseline_p50_ms', '(a) JSON.parse + JSON.stringify p50', b.p50, 'ms'),
    row(S, 'mask_p50_ms', '(b) applyMask, example customer_record p50', m.p50, 'ms'),
    row(S, 'mask_over_baseline', 'ratio b/a at p50', m.p50 / b.p50, 'x', { kind: 'max', value: 2 }),
    row(S, 'pipeline_p50_ms', '(c) parse + applyMask + stringify p50', e.p50, 'ms'),
    row(S, 'pipeline_over_baseline', 'ratio c/a at p50', e.p50 / b.p50, 'x'),
    row(S, 'mask_inexact_copy_p50_ms', '(d) applyMask, text block not a byte-exact copy p50', ms(maskInexact).p50, 'ms'),
    row(S, 'scan_all_mb_s', 'maskText, all detectors, 1 MB text', mbps(sa.p50), 'MB/s', { kind: 'min', value: 50 }),
    row(S, 'scan_example_mb_s', 'maskText, example plan, 1 MB text', mbps(se.p50), 'MB/s'),
    row(S, 'compile_p50_us', 'compileMask(example) p50', compileSamples.length ? summarize(compileSamples.values()).p50 * 1000 : NaN, 'µs'),
  ];
  return {
    rows,
    data: {
      payload_bytes: payloadBytes,
      text_bytes: textBytes,
      iterations,
      warmup,
      counts_example: check.counts,
      counts_text_all: t.counts,
      ms: { baseline: b, mask: m, pipeline: e, mask_inexact_copy: ms(maskInexact), scan_all: sa, scan_example: se },
    },
  };
}

// `node bench/masking.ts` runs this section alone.
if (import.meta.url === `file://${process.argv[1]}`) {
  const { formatTable } = await import('./stats.ts');
  const r = await runMaskingBench({ log: (l) => console.error(l) });
  console.log(formatTable(r.rows));
}
