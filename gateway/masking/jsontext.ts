// Reading JSON text by hand where JSON.parse cannot help: string and composite ends in text that is
// not a whole document, and writing a document back in the layout it came in.

/** Index just past the closing quote of the JSON string literal opening at `i`, or -1. */
export function endOfJsonString(s: string, i: number): number {
  for (let j = i + 1; j < s.length; j++) {
    const c = s.charCodeAt(j);
    if (c === 92) j++;
    else if (c === 34) return j + 1;
  }
  return -1;
}

/** Index just past the bracket closing the object/array opening at `i` (or the end of `s`). */
export function endOfJsonComposite(s: string, i: number): number {
  let depth = 0;
  for (let j = i; j < s.length; j++) {
    const c = s.charCodeAt(j);
    if (c === 34) {
      const e = endOfJsonString(s, j);
      if (e === -1) return s.length;
      j = e - 1;
    } else if (c === 123 || c === 91) depth++;
    else if (c === 125 || c === 93) {
      if (--depth === 0) return j + 1;
    }
  }
  return s.length;
}

/** JSON text of `r` in the layout of the document s[a..b]: pretty-printed with its indentation unit, or compact. */
export function serializeLike(s: string, a: number, b: number, r: unknown): string {
  const nl = s.indexOf('\n', a);
  if (nl === -1 || nl >= b) return JSON.stringify(r);
  let k = nl + 1;
  while (k < b && (s.charCodeAt(k) === 32 || s.charCodeAt(k) === 9)) k++;
  return JSON.stringify(r, null, s.slice(nl + 1, k) || undefined);
}
