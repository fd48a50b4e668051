// Applying a MaskPlan: the walk of the value (walk.ts), then the recurrence walk (recurwalk.ts) when
// a key or path rule masked something. Failures become MaskError; nothing else escapes.
import { MaskError } from './errors.ts';
import { NO_STATES } from './path.ts';
import type { MaskPlan } from './plan.ts';
import { maskRecurrences } from './recurwalk.ts';
import { Walker } from './walk.ts';

export { DEPTH_LIMIT_MARKER } from './walk.ts';

export type MaskMode = 'strict' | 'best_effort';

export interface MaskResult {
  /** The masked value; the input itself (same reference) when nothing was masked. */
  value: unknown;
  /** Replacements per class (never the values). */
  counts: Record<string, number>;
  /** Whether `value` differs from the input. */
  changed: boolean;
  /** best_effort only: what could not be done as instructed (empty in strict mode). */
  skipped: string[];
}

export interface MaskTextResult {
  text: string;
  counts: Record<string, number>;
  changed: boolean;
}

function run<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof MaskError) throw err;
    // Never echo the underlying message: it may quote document content.
    const what = err instanceof RangeError ? 'document too large or too deeply nested' : `internal error (${(err as Error)?.name ?? typeof err})`;
    throw new MaskError(`masking failed: ${what}`);
  }
}

/** The walk, then every recurrence of a value a key or path rule masked. */
function walk(w: Walker, first: () => unknown): unknown {
  const walked = first();
  return maskRecurrences(walked, w.plan, w.recur, w.styles, w.counts, w.copied);
}

/**
 * Masks `value` (a JSON value, typically the `result` of a JSON-RPC response) as `plan` says.
 * Never mutates `value`. Strict mode throws MaskError when anything cannot be masked as
 * instructed; best_effort does what it can and lists the rest in `skipped`.
 */
export function applyMask(value: unknown, plan: MaskPlan, mode: MaskMode = 'strict'): MaskResult {
  if (mode !== 'strict' && mode !== 'best_effort') throw new MaskError(`mask_mode must be "strict" or "best_effort", got ${JSON.stringify(mode)}`);
  if (plan.empty) return { value, counts: {}, changed: false, skipped: [] };
  const w = new Walker(plan, mode === 'strict');
  const out = run(() => walk(w, () => w.node(value, plan.root, null, 0)));
  return { value: out, counts: w.counts.toRecord(), changed: out !== value, skipped: w.skipped };
}

/**
 * Masks free text (an error message, a log line) with the plan's detectors; when the text is
 * itself JSON, key rules and detectors apply inside it as for any string in a document. Path rules
 * do not apply. Never throws for the text's shape (it is masked best-effort).
 */
export function maskText(text: string, plan: MaskPlan): MaskTextResult {
  if (plan.empty) return { text, counts: {}, changed: false };
  const w = new Walker(plan, false);
  const out = run(() => walk(w, () => w.str(text, NO_STATES, 0))) as string;
  return { text: out, counts: w.counts.toRecord(), changed: out !== text };
}
