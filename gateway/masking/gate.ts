// The plan's gate: can anything in the plan change this string at all? Most strings of a document
// (ids, statuses, dates, prose) cannot, and for them the gate is the whole cost of masking.
//
// Written by hand: the same conditions joined as one regex alternation (~45 alternatives, some
// with classes and case-insensitive words) cost ~2.5x this loop on short strings, since irregexp
// tries every alternative at every position. Here each condition is attached to one character
// every text meeting it contains (for a literal, its rarest character), a 128-entry table says
// which characters are worth a look, and the check there is a few comparisons. One pass, no
// allocation. (For long texts the detectors' own passes are regexes: plan.ts findSpans.)
//
// Every check is a necessary condition: it may say "maybe" for text nothing matches, never "no"
// for text something matches. The gate reads the original text, so any non-ASCII character or an
// escape folding would decode (`\uXXXX`, `%XX`) answers "maybe" before anything else: a literal
// written only in fullwidth or lookalike characters still reaches the detectors, which read the
// folded text.

/**
 * A detector's necessary condition the gate checks by hand (for hints that are not literals): a
 * run of `digitRun` digits (single ` . -` between them), a two-letter code of `codes` followed by
 * two digits, or `at` each occurrence of one of `chars`.
 */
export type Trigger =
  | { readonly digitRun: number }
  | { readonly codesThenDigits: readonly string[] }
  | { readonly chars: string; at(s: string, i: number): boolean };

/** Commonness of an ASCII character in text (higher: more common): a literal is looked for by its rarest. */
const BY_FREQUENCY = 'zqjxkvbpgwyfmculdhrsnioate';
function commonness(c: number): number {
  if (c >= 97 && c <= 122) return 40 + BY_FREQUENCY.indexOf(String.fromCharCode(c));
  if (c >= 65 && c <= 90) return 20 + BY_FREQUENCY.indexOf(String.fromCharCode(c + 32)) / 2;
  if (c === 32 || c === 46 || c === 44) return 100; // space . ,
  if (c >= 48 && c <= 57) return 30;
  if (c === 45 || c === 58 || c === 47) return 35; // - : /
  return 10;
}

const isHex = (c: number): boolean => (c >= 48 && c <= 57) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102);
const isDigit = (c: number): boolean => c >= 48 && c <= 57;
const isUpper = (c: number): boolean => c >= 65 && c <= 90;
const isSep = (c: number): boolean => c === 32 || c === 46 || c === 45;

// What to look at, per character (bit flags in a 128-entry table).
const ALWAYS = 1; // the character alone says "maybe" (a one-character literal, a separator for names)
const BACKSLASH = 2; // `\uXXXX` (folding decodes it)
const PERCENT = 4; // `%XX`
const QUOTE = 8; // `"` [blanks] `:` (a JSON member in text)
const DASH = 16; // `--` or ` -` (a command-line flag)
const LITERAL = 32; // a detector literal is looked for by this character
const DIGIT = 64; // digit runs, country code + digits
const CHECK = 128; // a detector's own check
const LITERAL_FIRST = 256; // … a detector literal starts with this character
/** Keys of literals starting with their trigger character (looked up by the next character). */
const LEADING = 128 * 128;

export interface GateParts {
  /** Detector literals (hints and anchors): the text may match when it contains one. */
  readonly literals: readonly string[];
  /** Detector shapes that are not literals. */
  readonly triggers: readonly Trigger[];
  /** Key rules exist: JSON member openers in text matter. */
  readonly fragments: boolean;
  /** Names in text matter (key rules or keyed detectors): `:`, `=`, a line break, a flag. */
  readonly keyed: boolean;
}

export class Gate {
  readonly #flags = new Uint16Array(128);
  /**
   * The literals looked for by a character, by that character and its neighbour in the literal
   * (the one before it, or after it when it is the first): `c * 128 + neighbour` → [literal,
   * offset of c in it]. A hit costs one lookup, not a comparison per literal sharing `c`.
   */
  readonly #lits = new Map<number, [string, number][]>();
  /** Per character: detector checks. */
  readonly #checks: (((s: string, i: number) => boolean)[] | undefined)[] = new Array(128).fill(undefined);
  /** Shortest digit run a detector needs (Infinity: none). */
  readonly #digitRun: number;
  /** Two-letter codes (26 × 26) that, followed by two digits, may start a match; null: none. */
  readonly #codes: Uint8Array | null;

  constructor(parts: GateParts) {
    const f = this.#flags;
    f[92]! |= BACKSLASH;
    f[37]! |= PERCENT;
    if (parts.fragments) f[34]! |= QUOTE;
    if (parts.keyed) {
      for (const c of [58, 61, 10]) f[c]! |= ALWAYS;
      f[45]! |= DASH;
    }
    for (const lit of new Set(parts.literals)) {
      if (lit === '') continue;
      let j = 0;
      for (let k = 1; k < lit.length; k++) if (commonness(lit.charCodeAt(k)) < commonness(lit.charCodeAt(j))) j = k;
      const c = lit.charCodeAt(j);
      if (c >= 128) throw new Error(`detector literal ${JSON.stringify(lit)} must be ASCII`);
      if (lit.length === 1) f[c]! |= ALWAYS;
      else {
        const key = c * 128 + lit.charCodeAt(j === 0 ? 1 : j - 1) + (j === 0 ? LEADING : 0);
        const list = this.#lits.get(key);
        if (list === undefined) this.#lits.set(key, [[lit, j]]);
        else list.push([lit, j]);
        f[c]! |= j === 0 ? LITERAL_FIRST : LITERAL;
      }
    }
    let digitRun = Infinity;
    let codes: Uint8Array | null = null;
    for (const t of parts.triggers) {
      if ('digitRun' in t) digitRun = Math.min(digitRun, t.digitRun);
      else if ('codesThenDigits' in t) {
        codes ??= new Uint8Array(26 * 26);
        for (const code of t.codesThenDigits) codes[(code.charCodeAt(0) - 65) * 26 + code.charCodeAt(1) - 65] = 1;
      } else {
        for (let k = 0; k < t.chars.length; k++) {
          const c = t.chars.charCodeAt(k);
          if (c >= 128) throw new Error('trigger characters must be ASCII');
          (this.#checks[c] ??= []).push(t.at);
          f[c]! |= CHECK;
        }
      }
    }
    this.#digitRun = digitRun;
    this.#codes = codes;
    if (digitRun !== Infinity || codes !== null) for (let c = 48; c <= 57; c++) f[c]! |= DIGIT;
  }

  /** Could the plan change `s` (the original text)? */
  mayChange(s: string): boolean {
    const flags = this.#flags;
    const n = s.length;
    let run = 0;
    let lastDigit = -3;
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c >= 128) return true; // folded first (detector literals and shapes are ASCII)
      const f = flags[c]!;
      if (f === 0) continue;
      if ((f & ALWAYS) !== 0) return true;
      if ((f & DIGIT) !== 0) {
        run = i === lastDigit + 1 || (i === lastDigit + 2 && isSep(s.charCodeAt(i - 1))) ? run + 1 : 1;
        lastDigit = i;
        if (run >= this.#digitRun) return true;
        const codes = this.#codes;
        if (codes !== null && i >= 2 && isDigit(s.charCodeAt(i + 1))) {
          const a = s.charCodeAt(i - 2);
          const b = s.charCodeAt(i - 1);
          if (isUpper(a) && isUpper(b) && codes[(a - 65) * 26 + b - 65] === 1) return true;
        }
      }
      if ((f & LITERAL) !== 0 && i > 0) {
        const list = this.#lits.get(c * 128 + s.charCodeAt(i - 1));
        if (list !== undefined) for (const [lit, j] of list) if (i >= j && s.startsWith(lit, i - j)) return true;
      }
      if ((f & LITERAL_FIRST) !== 0 && i + 1 < n) {
        const list = this.#lits.get(c * 128 + s.charCodeAt(i + 1) + LEADING);
        if (list !== undefined) for (const [lit] of list) if (s.startsWith(lit, i)) return true;
      }
      if ((f & CHECK) !== 0) {
        for (const at of this.#checks[c]!) if (at(s, i)) return true;
      }
      if ((f & BACKSLASH) !== 0 && s.charCodeAt(i + 1) === 117 && isHex(s.charCodeAt(i + 2)) && isHex(s.charCodeAt(i + 3)) && isHex(s.charCodeAt(i + 4)) && isHex(s.charCodeAt(i + 5))) return true;
      if ((f & PERCENT) !== 0 && isHex(s.charCodeAt(i + 1)) && isHex(s.charCodeAt(i + 2))) return true;
      if ((f & QUOTE) !== 0 && memberOpenerAt(s, i)) return true;
      if ((f & DASH) !== 0 && (s.charCodeAt(i + 1) === 45 || (i > 0 && s.charCodeAt(i - 1) === 32))) return true;
    }
    return false;
  }
}

/** `"` then optional whitespace then `:` (a JSON member in text that is not a document). */
function memberOpenerAt(s: string, i: number): boolean {
  let j = i + 1;
  while (j < s.length && ((s.charCodeAt(j) >= 9 && s.charCodeAt(j) <= 13) || s.charCodeAt(j) === 32)) j++;
  return s.charCodeAt(j) === 58;
}

/** `s` spells `word` at `from`, ignoring ASCII case (`word` is lowercase letters). */
export function wordAt(s: string, from: number, word: string): boolean {
  if (from < 0 || from + word.length > s.length) return false;
  for (let k = 0; k < word.length; k++) if ((s.charCodeAt(from + k) | 0x20) !== word.charCodeAt(k)) return false;
  return true;
}

/** `n` hex digits at `from`. */
export function hexAt(s: string, from: number, n: number): boolean {
  for (let k = 0; k < n; k++) if (!isHex(s.charCodeAt(from + k))) return false;
  return true;
}
