// Values, not just places: a value a key or path rule masked is masked wherever else it appears in
// the message (a prose copy, another member, a number), by the rule that masked it first. A second
// walk over the masked message, run only when a key or path rule masked something.
import type { Counts } from './counts.ts';
import { ArrayCopy, ObjectCopy } from './cow.ts';
import { isObject, isRawNumber } from '../json.ts';
import { serializeLike } from './jsontext.ts';
import { numberText, parseJson } from './literals.ts';
import type { MaskPlan, Rule } from './plan.ts';
import type { RecurrenceMatcher, Recurrences } from './recur.ts';
import type { Replacements } from './styles.ts';

const isWs = (c: number): boolean => c === 32 || c === 10 || c === 13 || c === 9;

/** A masked value and its JSON text, both in the message (structuredContent and its text copy). */
export interface JsonPair {
  readonly masked: unknown;
  readonly json: string;
}

/**
 * `v` with every recurrence of `recur`'s values masked. `pair`, when given, is left unwalked if its
 * JSON text shows that neither it nor the text holds a recurrence (most of an MCP tool result).
 */
export function maskRecurrences(v: unknown, plan: MaskPlan, recur: Recurrences, styles: Replacements, counts: Counts, pair: JsonPair | null): unknown {
  if (recur.size === 0) return v;
  const m = recur.matcher();
  return new RecurrenceWalk(plan.maxDepth, m, styles, counts, pair !== null && m.absentFrom(pair.json) ? pair : null).walk(v, 0);
}

class RecurrenceWalk {
  readonly #maxDepth: number;
  readonly #m: RecurrenceMatcher;
  readonly #styles: Replacements;
  readonly #counts: Counts;
  readonly #skip: JsonPair | null;
  /** Short strings the search found nothing in, during this call. */
  readonly #clean = new Set<string>();

  constructor(maxDepth: number, m: RecurrenceMatcher, styles: Replacements, counts: Counts, skip: JsonPair | null) {
    this.#maxDepth = maxDepth;
    this.#m = m;
    this.#styles = styles;
    this.#counts = counts;
    this.#skip = skip;
  }

  walk(v: unknown, depth: number): unknown {
    if (depth > this.#maxDepth + 2) return v;
    const skip = this.#skip;
    if (skip !== null && (v === skip.masked || v === skip.json)) return v;
    if (typeof v === 'string') return this.#string(v, depth);
    if (typeof v === 'number' || isRawNumber(v)) {
      const rule = this.#m.exact(numberText(v as number));
      if (rule === undefined) return v;
      this.#counts.add(rule);
      return rule.marker;
    }
    if (Array.isArray(v)) {
      const out = new ArrayCopy(v);
      for (let i = 0; i < v.length; i++) out.put(i, this.walk(v[i], depth + 1));
      return out.result;
    }
    if (!isObject(v)) return v;
    const keys = Object.keys(v);
    const out = new ObjectCopy(v, keys);
    for (let n = 0; n < keys.length; n++) {
      const k = keys[n]!;
      out.put(n, this.walk(k, depth) as string, this.walk(v[k], depth + 1));
    }
    return out.result;
  }

  #string(v: string, depth: number): string {
    const m = this.#m;
    // Member names and short values repeat: each is searched once per call.
    const short = v.length <= 64;
    if (short && this.#clean.has(v)) return v;
    const edits = m.find(v);
    if (edits.length === 0) {
      // A value JSON escapes (a quote, a backslash, a line break) is not in JSON text as written:
      // such text is read as the document it is.
      const doc = m.verbatim ? undefined : this.#json(v, depth);
      if (doc !== undefined && doc !== v) return doc;
      if (short && this.#clean.size < 16384) this.#clean.add(v);
      return v;
    }
    const doc = this.#json(v, depth);
    if (doc !== undefined) return doc;
    let out = '';
    let pos = 0;
    for (const [a, b, rule] of edits) {
      out += v.slice(pos, a) + this.#replacement(rule, v.slice(a, b));
      pos = b;
    }
    return out + v.slice(pos);
  }

  /** A string holding a JSON document is searched as the document (a value in it may be a number). */
  #json(s: string, depth: number): string | undefined {
    let a = 0;
    while (a < s.length && isWs(s.charCodeAt(a))) a++;
    const c = s.charCodeAt(a);
    if (c !== 123 && c !== 91) return undefined;
    let parsed: unknown;
    try {
      parsed = parseJson(s);
    } catch {
      return undefined;
    }
    const r = this.walk(parsed, depth + 1);
    if (r === parsed) return s;
    let b = s.length - 1;
    while (b > a && isWs(s.charCodeAt(b))) b--;
    return s.slice(0, a) + serializeLike(s, a, b, r) + s.slice(b + 1);
  }

  /** A recurrence's replacement: safe inside any text (inside JSON text too: no quote or backslash). */
  #replacement(rule: Rule, text: string): string {
    const r = this.#styles.of(rule, text, text);
    return /["\\]/.test(r) ? rule.marker : r;
  }
}
