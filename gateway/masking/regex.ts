// Regex sources built from text: literals escaped, key globs, and literal sets as tries.

/** `s` as a regex source matching exactly `s`. */
export const escapeRegExp = (s: string): string => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

/** Case-insensitive glob: '*' any run (also empty), '?' one character, '\' escapes; whole name. */
export function globToRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*') {
      re += '[\\s\\S]*';
      while (glob[i + 1] === '*') i++;
    } else if (c === '?') re += '[\\s\\S]';
    else if (c === '\\' && i + 1 < glob.length) re += escapeRegExp(glob[++i]!);
    else re += escapeRegExp(c);
  }
  return new RegExp(`^${re}$`, 'i');
}

/**
 * A regex source matching wherever any of `words` starts, as a trie grouped by first character
 * (irregexp then dispatches on one character instead of trying every alternative at every
 * position). A word that is a prefix of another stands for both: this is a necessary-condition test.
 */
export function prefixTrie(words: readonly string[], exact = false): string {
  if (words.length === 0) return '';
  const groups = new Map<string, string[]>();
  for (const w of words) {
    if (w === '') {
      if (!exact) return '';
      continue;
    }
    const rest = groups.get(w[0]!);
    if (rest === undefined) groups.set(w[0]!, [w.slice(1)]);
    else rest.push(w.slice(1));
  }
  const alts = [...groups].map(([c, rest]) => {
    const longer = rest.filter((r) => r !== '');
    const sub = longer.length === 0 ? '' : longer.length === 1 && rest.length === 1 ? escapeRegExp(longer[0]!) : `(?:${prefixTrie(longer, exact)})`;
    // exact: a word that ends here still matches when no longer one does (the match is a whole word).
    const tail = !exact && rest.includes('') ? '' : exact && rest.includes('') && sub !== '' ? `${sub.startsWith('(?:') ? sub : `(?:${sub})`}?` : sub;
    return escapeRegExp(c) + tail;
  });
  return alts.length === 1 ? alts[0]! : alts.join('|');
}
