// Canonical JSON as OPA hashes structured bundle files (data.json, .manifest) for signatures:
// objects with keys in byte order and no whitespace, arrays in order, strings re-encoded the way
// Go's encoding/json does without HTML escaping, numbers as their original literal text. A small
// parser of our own, because JSON.parse loses number literals ("1.0", big integers) and so could
// not reproduce the digest OPA signed.
import { BundleError } from './errors.ts';

const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
const HEX = '0123456789abcdef';

/** A string as Go's encoder writes it (SetEscapeHTML(false)); lone surrogates were U+FFFD in Go. */
function goString(s: string): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x22) out += '\\"';
    else if (c === 0x5c) out += '\\\\';
    else if (c < 0x20) {
      out += c === 0x0a ? '\\n' : c === 0x0d ? '\\r' : c === 0x09 ? '\\t' : c === 0x08 ? '\\b' : c === 0x0c ? '\\f'
        : `\\u00${HEX[c >> 4]}${HEX[c & 15]}`;
    } else if (c === 0x2028 || c === 0x2029) out += c === 0x2028 ? '\\u2028' : '\\u2029';
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      out += s[i]! + s[i + 1]!;
      i++;
    } else if (c >= 0xd800 && c <= 0xdfff) out += '\ufffd';
    else out += s[i]!;
  }
  return `${out}"`;
}

/** Go's sort.Strings order: by UTF-8 bytes, which differs from UTF-16 order above the BMP. */
function byteOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

class Canonicalizer {
  #i = 0;
  private readonly text: string;
  private readonly name: string;
  constructor(text: string, name: string) {
    this.text = text;
    this.name = name;
  }

  run(): string {
    this.#ws();
    const out = this.#value(0);
    this.#ws();
    if (this.#i !== this.text.length) this.#fail('unexpected text after the JSON value');
    return out;
  }

  #fail(why: string): never {
    throw new BundleError('invalid_json', `${this.name} is not valid JSON (${why} at offset ${this.#i})`);
  }

  #ws(): void {
    const t = this.text;
    while (this.#i < t.length) {
      const c = t.charCodeAt(this.#i);
      if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) break;
      this.#i++;
    }
  }

  #value(depth: number): string {
    if (depth > 512) this.#fail('nesting deeper than 512');
    const t = this.text;
    const c = t[this.#i];
    if (c === '{') return this.#object(depth);
    if (c === '[') return this.#array(depth);
    if (c === '"') return goString(this.#string());
    for (const word of ['true', 'false', 'null']) {
      if (t.startsWith(word, this.#i)) {
        this.#i += word.length;
        return word;
      }
    }
    NUMBER.lastIndex = this.#i;
    const m = NUMBER.exec(t);
    if (m === null || m[0] === '') this.#fail('unexpected character');
    this.#i += m[0].length;
    return m[0];
  }

  #object(depth: number): string {
    this.#i++;
    const members = new Map<string, string>();
    this.#ws();
    if (this.text[this.#i] === '}') {
      this.#i++;
      return '{}';
    }
    for (;;) {
      this.#ws();
      if (this.text[this.#i] !== '"') this.#fail('expected a string key');
      const key = this.#string();
      this.#ws();
      if (this.text[this.#i] !== ':') this.#fail('expected ":"');
      this.#i++;
      this.#ws();
      // Go decodes into a map: a repeated key keeps its last value.
      members.delete(key);
      members.set(key, this.#value(depth + 1));
      this.#ws();
      const next = this.text[this.#i++];
      if (next === '}') break;
      if (next !== ',') this.#fail('expected "," or "}"');
    }
    const keys = [...members.keys()].sort(byteOrder);
    return `{${keys.map((k) => `${goString(k)}:${members.get(k)!}`).join(',')}}`;
  }

  #array(depth: number): string {
    this.#i++;
    const items: string[] = [];
    this.#ws();
    if (this.text[this.#i] === ']') {
      this.#i++;
      return '[]';
    }
    for (;;) {
      this.#ws();
      items.push(this.#value(depth + 1));
      this.#ws();
      const next = this.text[this.#i++];
      if (next === ']') break;
      if (next !== ',') this.#fail('expected "," or "]"');
    }
    return `[${items.join(',')}]`;
  }

  /** Reads a string literal at the cursor and returns its decoded value. */
  #string(): string {
    const t = this.text;
    let i = this.#i + 1;
    let out = '';
    let start = i;
    for (;;) {
      if (i >= t.length) this.#fail('unterminated string');
      const c = t.charCodeAt(i);
      if (c === 0x22) break;
      if (c < 0x20) {
        this.#i = i;
        this.#fail('control character in string');
      }
      if (c !== 0x5c) {
        i++;
        continue;
      }
      out += t.slice(start, i);
      const e = t[i + 1];
      const simple: Record<string, string> = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };
      if (e !== undefined && e in simple) {
        out += simple[e];
        i += 2;
      } else if (e === 'u' && /^[0-9a-fA-F]{4}$/.test(t.slice(i + 2, i + 6))) {
        out += String.fromCharCode(Number.parseInt(t.slice(i + 2, i + 6), 16));
        i += 6;
      } else {
        this.#i = i;
        this.#fail('invalid escape');
      }
      start = i;
    }
    out += t.slice(start, i);
    this.#i = i + 1;
    return out;
  }
}

/** The canonical text OPA hashes for a structured bundle file; throws BundleError invalid_json. */
export function canonicalJson(bytes: Uint8Array, name: string): string {
  let text: string;
  try {
    text = decoder.decode(bytes);
  } catch {
    // Go and WHATWG replace invalid UTF-8 differently; refusing is the only answer both agree on.
    throw new BundleError('invalid_json', `${name} is not valid UTF-8`);
  }
  return new Canonicalizer(text, name).run();
}
