// Replacements per class, for MaskResult.counts (classes and numbers only, never values).
import type { Rule } from './plan.ts';

export class Counts {
  readonly #m = new Map<string, number>();

  add(rule: Rule): void {
    this.#m.set(rule.cls, (this.#m.get(rule.cls) ?? 0) + 1);
  }

  /** What was counted so far, to compute what a part of the walk added (`since`). */
  snapshot(): ReadonlyMap<string, number> {
    return new Map(this.#m);
  }

  since(before: ReadonlyMap<string, number>): ReadonlyMap<string, number> {
    const delta = new Map<string, number>();
    for (const [cls, n] of this.#m) if (n !== (before.get(cls) ?? 0)) delta.set(cls, n - (before.get(cls) ?? 0));
    return delta;
  }

  /** Counts a part of the walk again (a copy of a part already walked). */
  addAll(delta: ReadonlyMap<string, number>): void {
    for (const [cls, n] of delta) this.#m.set(cls, (this.#m.get(cls) ?? 0) + n);
  }

  toRecord(): Record<string, number> {
    return Object.fromEntries(this.#m);
  }
}
