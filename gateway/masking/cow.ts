// Copy-on-write: an unchanged subtree comes back as the very same object, so "nothing to mask"
// allocates nothing and `changed` is an identity check. A copy is made at the first member that
// differs, with every member before it as it was; member order is kept.

/** Sets an own data property, `__proto__` included (never the prototype). */
export function setProp(o: Record<string, unknown>, k: string, v: unknown): void {
  if (k === '__proto__') Object.defineProperty(o, k, { value: v, writable: true, enumerable: true, configurable: true });
  else o[k] = v;
}

/** The result of visiting object `o`'s members `keys` in order: `o` itself until one differs. */
export class ObjectCopy {
  readonly #o: Record<string, unknown>;
  readonly #keys: readonly string[];
  #out: Record<string, unknown> | null = null;
  /** Next suffix to try per renamed name (so renaming stays linear). */
  #next: Map<string, number> | null = null;

  constructor(o: Record<string, unknown>, keys: readonly string[]) {
    this.#o = o;
    this.#keys = keys;
  }

  /** Member `n` of `keys` becomes `name: value` (`name` gets `#2`, `#3`, … when already taken). */
  put(n: number, name: string, value: unknown): void {
    const k = this.#keys[n]!;
    let out = this.#out;
    if (out === null) {
      if (name === k && value === this.#o[k]) return;
      out = this.#out = {};
      for (let m = 0; m < n; m++) setProp(out, this.#keys[m]!, this.#o[this.#keys[m]!]);
    }
    setProp(out, name === k ? k : this.#unique(out, name), value);
  }

  get result(): Record<string, unknown> {
    return this.#out ?? this.#o;
  }

  /** A name used neither in the copy nor in the original ("name", "name#2", …): no member is lost. */
  #unique(out: Record<string, unknown>, k: string): string {
    const o = this.#o;
    if (!Object.hasOwn(out, k) && !Object.hasOwn(o, k)) return k;
    const next = (this.#next ??= new Map());
    for (let i = next.get(k) ?? 2; ; i++) {
      const c = `${k}#${i}`;
      if (!Object.hasOwn(out, c) && !Object.hasOwn(o, c)) {
        next.set(k, i + 1);
        return c;
      }
    }
  }
}

/** The result of visiting array `a`'s elements in order: `a` itself until one differs. */
export class ArrayCopy {
  readonly #a: readonly unknown[];
  #out: unknown[] | null = null;

  constructor(a: readonly unknown[]) {
    this.#a = a;
  }

  /** Element `i` (visited in order) becomes `value`. */
  put(i: number, value: unknown): void {
    if (this.#out === null) {
      if (value === this.#a[i]) return;
      this.#out = this.#a.slice(0, i);
    }
    this.#out.push(value);
  }

  get result(): readonly unknown[] {
    return this.#out ?? this.#a;
  }
}
