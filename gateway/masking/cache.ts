import type { MaskInstruction } from '../policy/decision.ts';
import { MaskError } from './errors.ts';
import { compileMask, type CompileOptions, type MaskPlan } from './plan.ts';

/**
 * Compiled plans by instruction list. Policies return the same list for every call of a tool, so
 * the gateway keeps one cache (per hash key) and asks it for a plan per decision. Keyed by the
 * list's JSON text (pass it when you already have it, e.g. from the decision's raw JSON; otherwise
 * it is computed with JSON.stringify). Bad lists are cached too: the same MaskError is rethrown
 * without recompiling. Least-recently-used entries beyond `maxEntries` are dropped.
 */
export class MaskPlanCache {
  readonly #options: CompileOptions;
  readonly #max: number;
  readonly #entries = new Map<string, MaskPlan | MaskError>();
  /** The same list object asked for again (the gateway checks a decision's list when it is made,
   * and applies it to the answer later) costs no serialization. */
  readonly #byList = new WeakMap<readonly MaskInstruction[], MaskPlan | MaskError>();

  constructor(options: CompileOptions & { maxEntries?: number }) {
    const { maxEntries = 256, ...compile } = options;
    if (!Number.isInteger(maxEntries) || maxEntries < 1) throw new MaskError('mask: maxEntries must be a positive integer');
    this.#options = compile;
    this.#max = maxEntries;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** The plan for `instructions`; throws MaskError (cached) when they are invalid. */
  get(instructions: readonly MaskInstruction[], jsonKey?: string): MaskPlan {
    const known = this.#byList.get(instructions);
    if (known instanceof MaskError) throw known;
    if (known !== undefined) return known;
    const key = jsonKey ?? JSON.stringify(instructions);
    let hit = this.#entries.get(key);
    if (hit !== undefined) {
      // Refresh recency.
      this.#entries.delete(key);
      this.#entries.set(key, hit);
    } else {
      try {
        hit = compileMask(instructions, this.#options);
      } catch (err) {
        if (!(err instanceof MaskError)) throw err;
        hit = err;
      }
      if (this.#entries.size >= this.#max) this.#entries.delete(this.#entries.keys().next().value!);
      this.#entries.set(key, hit);
    }
    this.#byList.set(instructions, hit);
    if (hit instanceof MaskError) throw hit;
    return hit;
  }

  clear(): void {
    this.#entries.clear();
  }
}
