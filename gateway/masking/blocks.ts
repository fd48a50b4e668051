// Adjacent text blocks of one message (`content[]` items, resource `contents[]`) read as one text,
// as a client shows them together: a secret or a `name=value` split across blocks is found in
// their concatenation.
import { isObject } from '../json.ts';
import type { TextScanner } from './scan.ts';
import type { Replacements } from './styles.ts';

/** The text of a text block / text resource contents ({text: "…"}), else undefined. */
const textOf = (b: unknown): string | undefined =>
  isObject(b) && typeof b.text === 'string' && (b.type === undefined || b.type === 'text') ? b.text : undefined;

/**
 * Each block was already masked on its own; here only matches that cross a block boundary are
 * masked (the replacement goes in the first block, the rest of the match is removed from the
 * following ones). `a` itself when nothing crosses.
 */
export function acrossBlocks(a: readonly unknown[], scanner: TextScanner, styles: Replacements): readonly unknown[] {
  let out: unknown[] | null = null;
  for (let i = 0; i < a.length;) {
    let j = i;
    while (j < a.length && textOf(a[j]) !== undefined) j++;
    if (j - i < 2) {
      i = j + 1;
      continue;
    }
    const texts = a.slice(i, j).map((b) => textOf(b)!);
    const starts: number[] = [];
    let joined = '';
    for (const t of texts) {
      starts.push(joined.length);
      joined += t;
    }
    starts.push(joined.length);
    const edits = new Map<number, string>();
    const get = (k: number) => edits.get(k) ?? texts[k]!;
    // Later matches first, so earlier offsets stay valid within a block.
    const matches = [...scanner.matches(joined)].reverse();
    for (const [ms, me, rule, text, canon, recur] of matches) {
      const first = starts.findIndex((st, k) => ms >= st && ms < starts[k + 1]!);
      const last = starts.findIndex((st, k) => me > st && me <= starts[k + 1]!);
      if (first === -1 || last === -1) continue;
      // (Every match here is new: each block was masked on its own, and masked text is not matched again.)
      const rep = styles.of(rule, text, canon, recur);
      const tail = get(last).slice(me - starts[last]!);
      for (let k = last; k > first; k--) edits.set(k, k === last ? tail : '');
      edits.set(first, get(first).slice(0, ms - starts[first]!) + rep + (first === last ? tail : ''));
    }
    if (edits.size > 0) {
      out ??= [...a];
      for (const [k, t] of edits) out[i + k] = { ...(a[i + k] as Record<string, unknown>), text: t };
    }
    i = j;
  }
  return out ?? a;
}
