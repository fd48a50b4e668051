// Percentiles, result rows and the table `npm run bench` prints. Kept tiny and dependency-free so
// later benches (token verification, masking) only have to return rows.

/** Nearest-rank percentile of an ascending-sorted sample; `p` in [0, 100]. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

export interface Summary {
  n: number;
  p50: number;
  p90: number;
  p99: number;
  min: number;
  max: number;
  mean: number;
}

/** Summarizes samples (any unit); sorts a copy. */
export function summarize(samples: ArrayLike<number>): Summary {
  const sorted = Float64Array.from(samples).sort();
  let sum = 0;
  for (let i = 0; i < sorted.length; i++) sum += sorted[i]!;
  return {
    n: sorted.length,
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p99: percentile(sorted, 99),
    min: sorted.length > 0 ? sorted[0]! : Number.NaN,
    max: sorted.length > 0 ? sorted[sorted.length - 1]! : Number.NaN,
    mean: sorted.length > 0 ? sum / sorted.length : Number.NaN,
  };
}

/** A growable Float64 sample buffer (no per-sample allocation while measuring). */
export class Samples {
  #data: Float64Array;
  #n = 0;
  constructor(capacity = 1024) {
    this.#data = new Float64Array(capacity);
  }
  push(value: number): void {
    if (this.#n === this.#data.length) {
      const bigger = new Float64Array(this.#data.length * 2);
      bigger.set(this.#data);
      this.#data = bigger;
    }
    this.#data[this.#n++] = value;
  }
  get length(): number {
    return this.#n;
  }
  values(): Float64Array {
    return this.#data.subarray(0, this.#n);
  }
}

export interface Target {
  /** `max`: the value must be at most `value`; `min`: at least `value`. */
  kind: 'max' | 'min';
  value: number;
}

export type Status = 'PASS' | 'MISS' | 'INFO';

/** One line of the result table. `key` is stable and used in the JSON line. */
export interface Row {
  section: string;
  key: string;
  label: string;
  value: number;
  unit: string;
  target?: Target;
  status: Status;
}

export function row(section: string, key: string, label: string, value: number, unit: string, target?: Target): Row {
  let status: Status = 'INFO';
  if (target !== undefined) {
    const ok = target.kind === 'max' ? value <= target.value : value >= target.value;
    status = ok ? 'PASS' : 'MISS';
  }
  return target === undefined ? { section, key, label, value, unit, status } : { section, key, label, value, unit, target, status };
}

function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  const abs = Math.abs(value);
  if (abs >= 1000) return value.toFixed(0);
  if (abs >= 100) return value.toFixed(1);
  if (abs >= 10) return value.toFixed(2);
  return value.toFixed(3);
}

function formatValue(value: number, unit: string): string {
  return unit === 'x' ? `${formatNumber(value)}x` : `${formatNumber(value)} ${unit}`;
}

function formatTarget(target: Target | undefined, unit: string): string {
  if (target === undefined) return '';
  return `${target.kind === 'max' ? '<=' : '>='} ${formatValue(target.value, unit)}`;
}

/** Renders rows as a fixed-width text table. */
export function formatTable(rows: Row[]): string {
  const header = ['section', 'metric', 'value', 'target', 'status'];
  const cells = rows.map((r) => [r.section, r.label, formatValue(r.value, r.unit), formatTarget(r.target, r.unit), r.status === 'INFO' ? '' : r.status]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const align = (c: string[]) =>
    c.map((cell, i) => (i === 2 || i === 3 ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!))).join('  ').trimEnd();
  const rule = widths.map((w) => '-'.repeat(w)).join('  ');
  return [align(header), rule, ...cells.map(align)].join('\n');
}

/** Rounds every number in a JSON-able value to `digits` significant decimals, for a compact line. */
export function rounded<T>(value: T, digits = 4): T {
  return JSON.parse(JSON.stringify(value, (_k, v: unknown) => (typeof v === 'number' && !Number.isInteger(v) ? Number(v.toPrecision(digits + 2)) : v))) as T;
}
