// Payment cards and IBANs: digit and checksum work, kept apart from the token detectors.
import type { Detector } from './detectors.ts';

const isDigit = (c: number): boolean => c >= 48 && c <= 57;
const isAlnum = (c: number): boolean => (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122);

// Payment card numbers: 13–19 digits, either one unbroken run or groups of 3–8 digits separated
// by single spaces or dashes, not touching a letter or digit on either side, whose first digit is
// 2–6 (Mastercard 2-series, Amex/Diners/JCB, Visa, Mastercard, Discover/UnionPay/Maestro: this
// leaves out millisecond timestamps, snowflake ids and the like, which start with 1), and that
// pass the Luhn check. In a longer sequence of groups, any window of whole groups that qualifies
// is taken (left to right).

export function luhn(digits: string): boolean {
  return luhnAt(digits, 0, digits.length);
}

function cardDigitsOk(digits: string): boolean {
  if (digits.length < 13 || digits.length > 19) return false;
  const first = digits.charCodeAt(0);
  return first >= 50 && first <= 54 && luhn(digits); // '2'..'6'
}

/** Is this number literal (JSON text, or String() of a number) a card number? */
const NUMBER_LITERAL = /^(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d{1,3}))?$/;

/**
 * The digits of the integer a JSON number literal denotes ("4242424242424242.0", "…42e0",
 * "4.242424242424242e15" all denote 4242424242424242), or null when it is not an integer: a
 * card number does not hide behind a fraction of zeros or an exponent.
 */
export function integerDigits(lit: string): string | null {
  const m = NUMBER_LITERAL.exec(lit);
  if (m === null) return null;
  const int = m[1]!;
  const frac = m[2] ?? '';
  const exp = m[3] === undefined ? 0 : Number(m[3]);
  if (frac === '' && exp === 0) return int;
  const all = int + frac;
  const point = int.length + exp; // where the decimal point falls in `all`
  if (point <= 0 || point > 40) return null;
  const whole = point >= all.length ? all + '0'.repeat(point - all.length) : all.slice(0, point);
  if (point < all.length && !/^0+$/.test(all.slice(point))) return null;
  return whole.replace(/^0+(?=\d)/, '');
}

export function isCardLiteral(lit: string): boolean {
  if (lit.length < 13 || !/^[0-9]+$/.test(lit)) return false;
  return cardDigitsOk(lit) || cardInRun(lit, 0, lit.length);
}

function luhnAt(s: string, start: number, len: number): boolean {
  let sum = 0;
  let double = false;
  for (let i = start + len - 1; i >= start; i--) {
    let d = s.charCodeAt(i) - 48;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return sum % 10 === 0;
}

/** A card network prefix for a window of `len` digits at `i`: Visa, Mastercard, Discover, UnionPay, JCB (16), Amex (15). */
function networkPrefix(s: string, i: number, len: number): boolean {
  const a = s.charCodeAt(i) - 48;
  const b = s.charCodeAt(i + 1) - 48;
  if (len === 15) return a === 3 && (b === 4 || b === 7);
  if (a === 4) return true;
  if (a === 5) return b >= 1 && b <= 5;
  if (a === 2) return b >= 2 && b <= 7;
  if (a === 3) return b === 5;
  if (a === 6) return b === 2 || b === 5 || (b === 4 && s.charCodeAt(i + 2) >= 52) || s.startsWith('6011', i);
  return false;
}

/**
 * A card number hidden inside a longer digit run ("00 4242…4242 00" glued together): a 16-digit
 * window with a network prefix or a 15-digit Amex window, Luhn-valid. The whole run is masked.
 * Random digit runs of 20+ digits often contain one: over-masking long numeric ids is the cost.
 */
function cardInRun(s: string, a: number, b: number): boolean {
  if (b - a < 14) return false;
  for (const len of [16, 15]) {
    for (let o = a; o + len <= b; o++) if (networkPrefix(s, o, len) && luhnAt(s, o, len)) return true;
  }
  return false;
}

/** Group boundaries [start0, end0, start1, end1, …] of digit groups starting at `i`. */
function collectGroups(s: string, i: number, groups: number[]): number {
  const n = s.length;
  let j = i;
  for (;;) {
    const gs = j;
    while (j < n && isDigit(s.charCodeAt(j))) j++;
    groups.push(gs, j);
    if (groups.length > 64) return j; // long digit tables: give up grouping
    if (j + 1 < n) {
      const c = s.charCodeAt(j);
      if ((c === 32 || c === 45) && isDigit(s.charCodeAt(j + 1))) {
        j++;
        continue;
      }
      // "4242.4242.4242.4242": a dot between 4-digit groups (never "0.4242…", a decimal fraction).
      if (c === 46 && j - gs === 4 && j + 4 < n + 1 && /^[0-9]{4}(?![0-9])/.test(s.slice(j + 1, j + 6))) {
        j++;
        continue;
      }
    }
    return j;
  }
}

/** Cards among groups [from, to) (indexes into the [start, end] pairs of `groups`). */
function scanCards(s: string, groups: number[], from: number, to: number, out: number[], tag: number): void {
  let g = from;
  while (g < to) {
    const a0 = groups[2 * g]!;
    const b0 = groups[2 * g + 1]!;
    // A single unbroken run, or the longest window of whole 3–8 digit groups from here.
    let taken = cardDigitsOk(s.slice(a0, b0)) || cardInRun(s, a0, b0) ? g : -1;
    if (b0 - a0 >= 3 && b0 - a0 <= 8) {
      let digits = s.slice(a0, b0);
      for (let h = g + 1; h < to; h++) {
        const a = groups[2 * h]!;
        const b = groups[2 * h + 1]!;
        if (b - a < 3 || b - a > 8) break;
        digits += s.slice(a, b);
        if (digits.length > 19) break;
        if (cardDigitsOk(digits)) taken = h;
      }
    }
    if (taken !== -1) {
      out.push(a0, groups[2 * taken + 1]!, tag);
      g = taken + 1;
    } else {
      g++;
    }
  }
}

// IBAN: two uppercase letters (a country in the IBAN registry), two check digits, then the BBAN
// (uppercase letters and digits) to exactly the registry length of that country, written compact
// or in groups of four separated by single spaces, not touching a letter or digit on either side,
// and passing the ISO 13616 mod-97 check.
const IBAN_LENGTHS: Readonly<Record<string, number>> = {
  AD: 24, AE: 23, AL: 28, AT: 20, AZ: 28, BA: 20, BE: 16, BG: 22, BH: 22, BI: 27, BR: 29, BY: 28,
  CH: 21, CR: 22, CY: 28, CZ: 24, DE: 22, DJ: 27, DK: 18, DO: 28, EE: 20, EG: 29, ES: 24, FI: 18,
  FK: 18, FO: 18, FR: 27, GB: 22, GE: 22, GI: 23, GL: 18, GR: 27, GT: 28, HN: 28, HR: 21, HU: 28,
  IE: 22, IL: 23, IQ: 23, IS: 26, IT: 27, JO: 30, KW: 30, KZ: 20, LB: 28, LC: 32, LI: 21, LT: 20,
  LU: 20, LV: 21, LY: 25, MC: 27, MD: 24, ME: 22, MK: 19, MN: 20, MR: 27, MT: 31, MU: 30, NI: 28,
  NL: 18, NO: 15, OM: 23, PK: 24, PL: 28, PS: 29, PT: 25, QA: 29, RO: 24, RS: 22, RU: 33, SA: 24,
  SC: 31, SD: 18, SE: 24, SI: 19, SK: 24, SM: 27, SO: 23, ST: 25, SV: 28, TL: 23, TN: 24, TR: 26,
  UA: 29, VA: 22, VG: 24, XK: 20, YE: 30,
};

export function ibanChecksumOk(compact: string): boolean {
  const rearranged = compact.slice(4) + compact.slice(0, 4);
  let r = 0;
  for (let i = 0; i < rearranged.length; i++) {
    const c = rearranged.charCodeAt(i);
    if (c >= 48 && c <= 57) r = (r * 10 + (c - 48)) % 97;
    else r = (r * 100 + (c - 55)) % 97; // A=10 … Z=35
  }
  return r === 1;
}

/** End of an IBAN starting at `p` (the country code), or -1. */
function ibanAt(s: string, p: number): number {
  const expected = IBAN_LENGTHS[s.slice(p, p + 2)];
  if (expected === undefined) return -1;
  const n = s.length;
  let j = p;
  let count = 0;
  let compact = '';
  while (j < n && count < expected) {
    const c = s.charCodeAt(j);
    if (isDigit(c) || (c >= 65 && c <= 90)) {
      compact += s[j];
      count++;
      j++;
    } else if (c === 32 && count % 4 === 0 && count > 0 && j + 1 < n) {
      j++;
    } else {
      break;
    }
  }
  if (count !== expected) return -1;
  if (j < n && isAlnum(s.charCodeAt(j))) return -1;
  return ibanChecksumOk(compact) ? j : -1;
}

// Candidates are found by regex (irregexp scans for them far faster than a charCodeAt loop):
// 13+ digits with optional single separators for cards, a word-initial "CC99" for IBANs.
// The boundary lookbehind comes after the first character: irregexp then looks for a digit (an
// uppercase letter) first and checks the boundary only there, 3x faster than a leading lookbehind.
const CARD_CANDIDATE = /[0-9](?<![0-9][0-9])(?:[ .-]?[0-9]){12,18}/g; // bounded: collectGroups finds the extent
const IBAN_CANDIDATE = /[A-Z](?<![A-Za-z0-9][A-Z])[A-Z][0-9]{2} ?[A-Z0-9]{4}/g;
const cardGroups: number[] = [];

/**
 * Whether what follows a digit run at `p` only restates it as the same integer in JSON number
 * syntax: a fraction of zeros (".0") or a non-negative exponent of zero ("e0", "E+0"), then no
 * letter or digit. "4242424242424242.0" in a JSON text is that card number.
 */
function integerTail(s: string, p: number): boolean {
  let j = p;
  const c = s.charCodeAt(j);
  if (c === 46) {
    j++;
    const start = j;
    while (j < s.length && s.charCodeAt(j) === 48) j++;
    if (j === start) return false;
  }
  const e = s.charCodeAt(j);
  if (e === 101 || e === 69) {
    j++;
    if (s.charCodeAt(j) === 43) j++;
    const start = j;
    while (j < s.length && s.charCodeAt(j) === 48) j++;
    if (j === start) return false;
  }
  return j > p && (j === s.length || !isAlnum(s.charCodeAt(j)));
}

export const creditCard: Detector = {
  hint: '[0-9](?:[ .-]?[0-9]){12}',
  name: 'credit_card',
  minLength: 13,
  find(s, out, tag) {
    const n = s.length;
    const re = CARD_CANDIDATE;
    re.lastIndex = 0;
    let m: RegExpExecArray | null;
    while ((m = re.exec(s)) !== null) {
      const i = m.index;
      // Not touching a letter or digit, and not a decimal fraction ("0.4242…", "…4242.5").
      const boundaryBefore = i === 0 || !(isAlnum(s.charCodeAt(i - 1)) || (s.charCodeAt(i - 1) === 46 && i >= 2 && isDigit(s.charCodeAt(i - 2))));
      cardGroups.length = 0;
      const end = collectGroups(s, i, cardGroups);
      const boundaryAfter = end === n || integerTail(s, end) || !(isAlnum(s.charCodeAt(end)) || (s.charCodeAt(end) === 46 && end + 1 < n && isDigit(s.charCodeAt(end + 1))));
      // A first group glued to a word ("A0 4242…") or a last one ("…4242 5x") is not part of a
      // card, but the groups between them still may be (separators are boundaries).
      const from = boundaryBefore ? 0 : 1;
      const to = cardGroups.length / 2 - (boundaryAfter ? 0 : 1);
      if (to > from) scanCards(s, cardGroups, from, to, out, tag);
      // Continue after this run and the rest of its word ("…4242x" is never a card).
      let j = end;
      while (j < n && isAlnum(s.charCodeAt(j))) j++;
      re.lastIndex = Math.max(j, i + 1);
    }
  },
  canon: (m) => m.replace(/[ -]/g, ''),
};

export const iban: Detector = {
  hint: `(?:${Object.keys(IBAN_LENGTHS).join('|')})[0-9]{2}`,
  name: 'iban',
  minLength: 15,
  find(s, out, tag) {
    const re = IBAN_CANDIDATE;
    re.lastIndex = 0;
    let m: RegExpExecArray | null;
    while ((m = re.exec(s)) !== null) {
      const end = ibanAt(s, m.index);
      if (end !== -1) {
        out.push(m.index, end, tag);
        re.lastIndex = end;
      } else {
        re.lastIndex = m.index + 1;
      }
    }
  },
  canon: (m) => m.replace(/ /g, ''),
};
