// What replaces a masked value or span, per the rule's style (README "Styles"), and how the engine
// recognizes its own outputs (idempotence). Every replacement is counted here, and a value a key or
// path rule masked is remembered to be masked wherever else it recurs.
import { createHmac } from 'node:crypto';
import type { Counts } from './counts.ts';
import type { MaskPlan, Rule } from './plan.ts';
import type { Recurrences } from './recur.ts';

const HEX16 = /^[0-9a-f]{16}\]$/;

/** Is `s` one of the outputs `rule` produces (so masking it again must leave it alone)? */
export function isOutputOf(rule: Rule, s: string): boolean {
  if (s.length < rule.marker.length || s.charCodeAt(0) !== 91) return false;
  if (s === rule.marker) return true;
  if (rule.style === 'last') {
    return s.startsWith(rule.lastPrefix) && s.endsWith(']') && s.length - rule.lastPrefix.length - 1 <= rule.keep;
  }
  if (rule.style === 'hash') {
    return s.length === rule.hashPrefix.length + 17 && s.startsWith(rule.hashPrefix) && HEX16.test(s.slice(rule.hashPrefix.length));
  }
  return false;
}

/** Replacements during one call (hashes memoized for the call). */
export class Replacements {
  readonly #plan: MaskPlan;
  readonly #counts: Counts;
  readonly #recur: Recurrences;
  #hashMemo: Map<string, string> | null = null;

  constructor(plan: MaskPlan, counts: Counts, recur: Recurrences) {
    this.#plan = plan;
    this.#counts = counts;
    this.#recur = recur;
  }

  /**
   * The replacement of one value or span (`canon`: what the keyed hash is computed over); with
   * `recur`, the value is masked wherever else it appears in the message.
   */
  of(rule: Rule, text: string, canon: string, recur = false): string {
    this.#counts.add(rule);
    if (recur) this.#recur.add(text, rule);
    switch (rule.style) {
      case 'marker':
        return rule.marker;
      case 'last':
        return this.#last(rule, text);
      case 'hash':
        return this.#hash(rule, canon);
    }
  }

  /** A masked value as a whole (`isOutputOf` it already: left as it is, uncounted). */
  whole(rule: Rule, v: string): string {
    return isOutputOf(rule, v) ? v : this.of(rule, v, v, true);
  }

  /**
   * `[MASKED:<class> ...<tail>]`: the tail is the last `keep` characters, but never more than half
   * of the value (short secrets are not given away), never half of a surrogate pair, and shortened
   * until no detector of the plan matches the output (so masking it again finds nothing).
   */
  #last(rule: Rule, text: string): string {
    const n = text.length;
    for (let k = Math.min(rule.keep, n >> 1); k > 0; k--) {
      const from = n - k;
      const c = text.charCodeAt(from);
      if (c >= 0xdc00 && c <= 0xdfff) continue;
      const out = `${rule.lastPrefix}${text.slice(from)}]`;
      if (!this.#plan.detectsIn(out)) return out;
    }
    return rule.marker;
  }

  /**
   * `[MASKED:<class> hmac:<16 hex digits of HMAC-SHA256(hashKey, value)>]`: the first 16, unless a
   * detector would match the output (16 hex digits can be all decimal digits, and 1 in 10 of
   * those pass Luhn): then the next 16, and so on, deterministically; the marker if all 4 would.
   */
  #hash(rule: Rule, canon: string): string {
    const memo = (this.#hashMemo ??= new Map());
    const key = `${rule.cls}\u0000${canon}`;
    let out = memo.get(key);
    if (out === undefined) {
      const hex = createHmac('sha256', this.#plan.hashKey!).update(canon, 'utf8').digest('hex');
      out = rule.marker;
      for (let i = 0; i < 64; i += 16) {
        const candidate = `${rule.hashPrefix}${hex.slice(i, i + 16)}]`;
        if (!this.#plan.detectsIn(candidate)) {
          out = candidate;
          break;
        }
      }
      memo.set(key, out);
    }
    return out;
  }
}
