// Values a key or path rule masked, found again anywhere else in the same message. One combined
// regex (irregexp scans alternations of literals well), so a message costs one pass per string.
import { MASK_PREFIX as MARKER_OPEN } from './detectors.ts';
import type { Rule } from './plan.ts';
import { escapeRegExp as escape } from './regex.ts';

/** Shorter values would mask common words; values under 8 characters must stand alone. */
const MIN_LENGTH = 4;
const SHORT = 8;
const MAX_VALUES = 4096;
const MAX_LENGTH = 4096;
const NONE: readonly [number, number, Rule][] = Object.freeze([]) as readonly [number, number, Rule][];

/** Characters JSON.stringify writes as themselves. */
const VERBATIM = /^[^"\\\x00-\x1f\ud800-\udfff]*$/;

export interface RecurrenceMatcher {
  /** Every recurrence in `s`, as [start, end, rule] (none inside a "[MASKED:…]" output). */
  find(s: string): readonly [number, number, Rule][];
  /** Every value is written by JSON.stringify as it is (no quote, backslash, control character or surrogate). */
  readonly verbatim: boolean;
  /** The rule that masked exactly `s`, if any (a number's text). */
  exact(s: string): Rule | undefined;
  /**
   * True when `json`, the JSON.stringify text of some value, proves that no string, member name
   * or number of that value holds a recurrence (so walking the value would find nothing).
   */
  absentFrom(json: string): boolean;
}

export class Recurrences {
  readonly #values = new Map<string, Rule>();

  get size(): number {
    return this.#values.size;
  }

  add(value: string, rule: Rule): void {
    const v = value.trim();
    if (v.length < MIN_LENGTH || v.length > MAX_LENGTH || v.startsWith(MARKER_OPEN) || this.#values.has(v)) return;
    if (this.#values.size >= MAX_VALUES) return;
    this.#values.set(v, rule);
  }

  matcher(): RecurrenceMatcher {
    const values = [...this.#values.keys()].sort((a, b) => b.length - a.length);
    const alts = values.map((v) => (v.length < SHORT ? `(?<![A-Za-z0-9])${escape(v)}(?![A-Za-z0-9])` : escape(v)));
    const re = new RegExp(alts.join('|'), 'g');
    const map = this.#values;
    const minLength = values.at(-1)!.length;
    const verbatim = values.every((v) => VERBATIM.test(v));
    return {
      find(s) {
        if (s.length < minLength) return NONE;
        re.lastIndex = 0;
        let out: [number, number, Rule][] | null = null;
        let m: RegExpExecArray | null;
        while ((m = re.exec(s)) !== null) {
          const a = m.index;
          const b = a + m[0].length;
          if (insideMarker(s, a)) continue;
          (out ??= []).push([a, b, map.get(m[0])!]);
        }
        return out ?? NONE;
      },
      verbatim,
      exact: (s) => map.get(s),
      absentFrom(json) {
        // A value JSON.stringify writes as it is (no quote, backslash, control character or
        // surrogate) that occurs in a string of a value, or in a member name, or is a number's
        // text, occurs in the value's JSON text as written: no value in the text, none in the value.
        if (!verbatim) return false;
        return !new RegExp(values.map(escape).join('|')).test(json);
      },
    };
  }
}

/** Is offset `i` inside a "[MASKED:…]" output (so the value is part of a class label or a tail)? */
function insideMarker(s: string, i: number): boolean {
  const from = Math.max(0, i - 160);
  const before = s.slice(from, i + 1);
  const k = before.lastIndexOf(MARKER_OPEN);
  if (k === -1) return false;
  const open = from + k;
  const close = s.slice(open, open + 200).indexOf(']');
  return close !== -1 && open + close >= i;
}
