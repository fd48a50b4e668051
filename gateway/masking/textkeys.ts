// Key rules in text that is not a JSON document: wherever a person would read "this value belongs
// to that name". One scan finds every `:` and `=` and reads the name before it and the value after:
//
//   KEY=value  export KEY=value  key = "v"  key: value (YAML, header lines)  key := v  key => 'v'
//   ?a=1&password=x  password="x" (log fields)  {'password': 'x'} {password: "x"} (Python/JS)
//   body="{\"password\":\"x\"}" (escaped JSON)  --password=x  --password x (command lines)
//   CSV / Markdown tables: a header row naming a masked column masks that column below it.
//
// Names are matched as keys are (folded: case, width, invisible characters, lookalikes; the text is
// already folded by the caller). A value is a quoted string (", ', `, or \" … \" inside escaped
// JSON), or bare: to the end of the line when the name starts the line (env files, YAML, headers),
// else to the next space, `&`, `;`, `,`, quote or bracket. A YAML name with nothing after it, or a
// block scalar (`|`, `>`), takes the more-indented lines below it. Over-masking a line is the safe
// side. Linear: every separator is looked at once, names are at most 128 characters back.

/** Tag of the rule a name selects (or -1), and whether that rule accepts this value. */
export interface KeyLookup {
  tag(name: string): number;
  accept(tag: number, value: string, name: string): boolean;
  /** The tag is a detector's (not a key rule's). */
  isDetector(tag: number): boolean;
}

function overlaps(spans: readonly number[], a: number, b: number): boolean {
  for (let i = 0; i < spans.length; i += 3) if (spans[i]! < b && spans[i + 1]! > a) return true;
  return false;
}

const isNameChar = (c: number): boolean =>
  (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95 || c === 45 || c === 46 || c === 36 || c === 64;
const isLetter = (c: number): boolean => (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
const isBlank = (c: number): boolean => c === 32 || c === 9;
const MAX_NAME = 128;
const MAX_VALUE = 8192;
const HEADER_NAME = /^[A-Za-z_$@][A-Za-z0-9_.$@ -]*$/;
const FLAG = /(?<![A-Za-z0-9_-])--?([A-Za-z][A-Za-z0-9_-]{1,64})[ \t]+(?=[^\s-])/g;

/**
 * Line starts for increasing offsets, found by scanning back only to the previous query (the
 * separators of one text are visited in order), so the whole scan stays linear.
 */
class Lines {
  #pos = 0;
  #start = 0;
  readonly #t: string;
  constructor(t: string) {
    this.#t = t;
  }

  /** Indentation of the line holding `from`, and whether only blanks, `export `/`set `/`- ` precede `from` on it. */
  head(from: number): { indent: number; first: boolean } {
    const t = this.#t;
    if (from < this.#pos) {
      this.#pos = 0;
      this.#start = 0;
    }
    let k = from;
    while (k > this.#pos && t.charCodeAt(k - 1) !== 10 && t.charCodeAt(k - 1) !== 13) k--;
    const start = k > this.#pos || k === 0 || t.charCodeAt(k - 1) === 10 || t.charCodeAt(k - 1) === 13 ? k : this.#start;
    this.#pos = from;
    this.#start = start;
    if (from - start > 256) return { indent: 0, first: false };
    let i = start;
    while (i < from && isBlank(t.charCodeAt(i))) i++;
    const rest = t.slice(i, from);
    const first = rest === '' || /^(?:export|set|declare|env|- )[ \t]*$/.test(rest) || /^(?:export|set)[ \t]+-[a-z][ \t]+$/.test(rest);
    return { indent: i - start, first };
  }
}

const endOfLine = (t: string, i: number): number => {
  let e = i;
  while (e < t.length && t.charCodeAt(e) !== 10 && t.charCodeAt(e) !== 13 && e - i < MAX_VALUE) e++;
  return e;
};

/** End of the block of lines after `eol` indented more than `indent` (YAML nested value). */
function indentedBlock(t: string, eol: number, indent: number): number {
  let end = eol;
  let i = eol;
  while (i < t.length) {
    if (t.charCodeAt(i) === 13 && t.charCodeAt(i + 1) === 10) i += 2;
    else if (t.charCodeAt(i) === 10 || t.charCodeAt(i) === 13) i++;
    else break;
    let k = i;
    while (k < t.length && isBlank(t.charCodeAt(k))) k++;
    const e = endOfLine(t, k);
    if (k === e) {
      i = e;
      continue; // blank line inside a block
    }
    if (k - i <= indent) break;
    end = e;
    i = e;
  }
  return end;
}

/** [start, end) of the value starting at `v` (after the separator and blanks), or null. */
function valueAt(t: string, v: number, sep: number, first: boolean, indent: number): [number, number] | null {
  const n = t.length;
  if (v >= n) return null;
  let c = t.charCodeAt(v);
  // Escaped quotes (\" inside a JSON string holding JSON) count as quotes.
  let esc = 0;
  while (c === 92 && esc < 8 && v + esc + 1 < n) {
    esc++;
    c = t.charCodeAt(v + esc);
  }
  if (c === 34 || c === 39 || c === 96) {
    const open = v + esc + 1;
    const quote = t.slice(v, open);
    if (esc === 0) {
      for (let j = open; j < n && j - open < MAX_VALUE; j++) {
        const d = t.charCodeAt(j);
        if (d === 92) j++;
        else if (d === c) return [open, j];
        else if (d === 10 && c !== 96) return [open, j];
      }
      return [open, Math.min(n, open + MAX_VALUE)];
    }
    const close = t.indexOf(quote, open);
    return [open, close === -1 ? Math.min(n, open + MAX_VALUE) : close];
  }
  if (esc > 0) return null;
  if (c === 10 || c === 13) {
    // "name:" alone on its line: the nested block below it is its value (YAML).
    if (sep !== 58 || !first) return null;
    const end = indentedBlock(t, v, indent);
    return end > v ? [v, end] : null;
  }
  if (first) {
    let e = endOfLine(t, v);
    while (e > v && isBlank(t.charCodeAt(e - 1))) e--;
    if (sep === 58 && /^[|>][+-]?[0-9]?$/.test(t.slice(v, e))) e = indentedBlock(t, e, indent);
    return e > v ? [v, e] : null;
  }
  let e = v;
  while (e < n && e - v < MAX_VALUE) {
    const d = t.charCodeAt(e);
    if (d <= 32 || d === 38 || d === 59 || d === 44 || d === 34 || d === 39 || d === 96 || d === 60 || d === 62 || d === 41 || d === 125 || d === 93) break;
    if (d === 92 && t.charCodeAt(e + 1) === 110) break; // a literal "\n" in escaped text
    e++;
  }
  return e > v ? [v, e] : null;
}

/** Appends [start, end, tag] for every value of a selected name in `t`. */
export function findKeyedValues(t: string, keys: KeyLookup, out: number[]): void {
  const n = t.length;
  let resume = 0;
  const lines = new Lines(t);
  // The separators in order, by two indexOf scans kept one step ahead (no match object per
  // separator: a log line has several, "08:10:00").
  let pos = 0;
  let colon = t.indexOf(':');
  let equals = t.indexOf('=');
  for (;;) {
    if (colon !== -1 && colon < pos) colon = t.indexOf(':', pos);
    if (equals !== -1 && equals < pos) equals = t.indexOf('=', pos);
    const i = colon === -1 ? equals : equals === -1 ? colon : Math.min(colon, equals);
    if (i === -1) break;
    pos = i + 1;
    if (i < resume) {
      pos = resume; // inside a value already taken
      continue;
    }
    const c = t.charCodeAt(i);
    if (c === 58 && i >= 7 && t.startsWith('[MASKED', i - 7)) {
      // The engine's own output: its class and tail are not "name: value".
      const close = t.slice(i, i + 160).indexOf(']');
      if (close !== -1) resume = i + close + 1;
      continue;
    }
    const next = t.charCodeAt(i + 1);
    let after = i + 1;
    if (c === 58) {
      if (next === 47 && t.charCodeAt(i + 2) === 47) continue; // scheme://
      if (next === 58) {
        pos = i + 2;
        continue; // a::b
      }
      if (next === 61) after = i + 2; // :=
    } else {
      if (next === 61 || (i > 0 && /[=!<>]/.test(t[i - 1]!))) {
        pos = i + 2;
        continue; // ==, !=, <=, >=
      }
      if (next === 62) after = i + 2; // =>
    }
    // The name before the separator: blanks, a closing quote (maybe escaped), the name itself.
    let j = i;
    while (j > 0 && i - j < 8 && isBlank(t.charCodeAt(j - 1))) j--;
    let q = 0;
    const qc = t.charCodeAt(j - 1);
    if (qc === 34 || qc === 39 || qc === 96) {
      q = qc;
      j--;
      while (j > 0 && t.charCodeAt(j - 1) === 92) j--;
    }
    const nameEnd = j;
    while (j > 0 && nameEnd - j < MAX_NAME && isNameChar(t.charCodeAt(j - 1))) j--;
    if (j === nameEnd) continue;
    let nameStart = j;
    if (q !== 0) {
      let k = j;
      while (k > 0 && t.charCodeAt(k - 1) === 92) k--;
      if (t.charCodeAt(k - 1) !== q) continue;
      nameStart = k - 1;
    } else if (j > 0 && (isNameChar(t.charCodeAt(j - 1)) || t.charCodeAt(j - 1) >= 0x80)) {
      continue;
    }
    // Leading dashes are not part of the name; a name starts with a letter, `_`, `$` or `@` (checked
    // before slicing: most separators in logs follow digits, "08:10:00").
    let from = j;
    while (from < nameEnd && t.charCodeAt(from) === 45) from++;
    const first = t.charCodeAt(from);
    if (from === nameEnd || (!isLetter(first) && first !== 95 && first !== 36 && first !== 64)) continue;
    const name = t.slice(from, nameEnd);
    const tag = keys.tag(name);
    if (tag === -1) continue;
    let v = after;
    while (v < n && isBlank(t.charCodeAt(v))) v++;
    const head = lines.head(nameStart);
    const span = valueAt(t, v, c, head.first && q === 0, head.indent);
    if (span === null || span[1] <= span[0]) continue;
    if (!keys.accept(tag, t.slice(span[0], span[1]), name)) continue;
    // A detector that matched here on its own (it knows this text form) already has the better span.
    if (keys.isDetector(tag) && overlaps(out, span[0], span[1])) continue;
    out.push(span[0], span[1], tag);
    resume = span[1];
  }
  if (t.includes('--') || t.includes(' -')) flags(t, keys, out);
  if (t.includes('\n') && /[,;\t|]/.test(t)) tables(t, keys, out);
}

/** `--password hunter2`: a command-line flag naming a selected key, its value after a space. */
function flags(t: string, keys: KeyLookup, out: number[]): void {
  FLAG.lastIndex = 0;
  let m: RegExpExecArray | null;
  while ((m = FLAG.exec(t)) !== null) {
    const tag = keys.tag(m[1]!);
    if (tag === -1) continue;
    const v = m.index + m[0].length;
    const span = valueAt(t, v, 61, false, 0);
    if (span === null || !keys.accept(tag, t.slice(span[0], span[1]), m[1]!)) continue;
    out.push(span[0], span[1], tag);
    FLAG.lastIndex = span[1];
  }
}

/** Fields of one delimited line: [start, end) pairs, quotes respected, surrounding blanks excluded. */
function fields(t: string, a: number, b: number, d: number): number[] {
  const f: number[] = [];
  let i = a;
  if (d === 124) {
    while (i < b && isBlank(t.charCodeAt(i))) i++;
    if (t.charCodeAt(i) === 124) i++;
  }
  while (i <= b) {
    let s = i;
    while (s < b && isBlank(t.charCodeAt(s))) s++;
    let e: number;
    let next: number;
    if (t.charCodeAt(s) === 34) {
      e = s + 1;
      while (e < b && !(t.charCodeAt(e) === 34 && t.charCodeAt(e + 1) !== 34)) e += t.charCodeAt(e) === 34 ? 2 : 1;
      next = t.indexOf(String.fromCharCode(d), e);
      s++;
    } else {
      next = t.indexOf(String.fromCharCode(d), s);
      e = next === -1 || next > b ? b : next;
      while (e > s && isBlank(t.charCodeAt(e - 1))) e--;
    }
    if (next === -1 || next > b) next = b;
    f.push(s, Math.min(e, b));
    if (f.length > 512) break;
    i = next + 1;
    if (next === b) break;
  }
  if (d === 124 && f.length >= 2 && f[f.length - 1] === f[f.length - 2]) f.length -= 2; // trailing "|"
  return f;
}

/**
 * CSV, TSV, semicolon and Markdown tables: a line whose fields include a selected name makes that
 * column masked in the following lines with the same delimiter, until a blank line.
 */
function tables(t: string, keys: KeyLookup, out: number[]): void {
  const n = t.length;
  let cols: { col: number; tag: number; name: string }[] | null = null;
  let delim = '';
  // Next occurrence of each delimiter, searched forward only (an indexOf per line would be quadratic).
  const next = new Map<string, number>();
  const nextOf = (d: string, a: number): number => {
    let at = next.get(d);
    if (at === undefined || (at !== -1 && at < a)) next.set(d, (at = t.indexOf(d, a)));
    return at;
  };
  for (let a = 0; a < n;) {
    let b = t.indexOf('\n', a);
    if (b === -1) b = n;
    const e = b > a && t.charCodeAt(b - 1) === 13 ? b - 1 : b;
    if (e === a) {
      cols = null;
    } else if (e - a <= 65536) {
      const at = cols === null ? -1 : nextOf(delim, a);
      if (cols !== null && at !== -1 && at < e) {
        const f = fields(t, a, e, delim.charCodeAt(0));
        for (const { col, tag, name } of cols) {
          const s = f[2 * col];
          const en = f[2 * col + 1];
          if (s === undefined || en === undefined || en <= s) continue;
          if (/^:?-{3,}:?$/.test(t.slice(s, en))) continue; // Markdown separator row
          if (keys.accept(tag, t.slice(s, en), name)) out.push(s, en, tag);
        }
      } else {
        cols = null;
        for (const d of [',', '\t', ';', '|']) {
          const at2 = nextOf(d, a);
          if (at2 === -1 || at2 >= e) continue;
          const f = fields(t, a, e, d.charCodeAt(0));
          // A header row: 2+ fields, every one of them name-like (prose with commas is not one).
          const found: { col: number; tag: number; name: string }[] = [];
          let header = f.length >= 4;
          for (let k = 0; header && k < f.length; k += 2) {
            const name = t.slice(f[k]!, f[k + 1]!);
            if (name.length === 0 && d === '|') continue;
            if (name.length === 0 || name.length > 64 || !HEADER_NAME.test(name)) header = false;
            else {
              const tag = keys.tag(name);
              if (tag !== -1) found.push({ col: k / 2, tag, name });
            }
          }
          if (!header) found.length = 0;
          if (found.length > 0) {
            cols = found;
            delim = d;
            break;
          }
        }
      }
    }
    a = b + 1;
  }
}
