// The one JSON parser for what crosses the gateway (client bodies, upstream answers), and small
// guards for what it returns.
//
// JSON.parse alone is not enough for a gateway: it nests as deep as the text does (and whatever
// walks the value later recurses that deep), it rounds number literals that a double cannot hold
// (a 19-digit card number would be masked, or forwarded, as a different number), and it accepts
// lone UTF-16 surrogates (`"\ud800"`), which are not Unicode text and which the policy engine
// cannot read. One pass over the text, before JSON.parse, finds all three; the slow path (a
// reviver) runs only when the text needs it.


/** Why a text was refused; `kind` says which rule, `message` is safe to show (quotes no input). */
export class JsonError extends Error {
  override name = 'JsonError';
  readonly kind: 'syntax' | 'depth' | 'surrogate';
  constructor(kind: 'syntax' | 'depth' | 'surrogate', message: string) {
    super(message);
    this.kind = kind;
  }
}

export interface ParseOptions {
  /** Deepest nesting of arrays and objects allowed; deeper is refused before JSON.parse runs. */
  maxDepth: number;
}

interface Scan {
  /** A number literal long enough that a double may not hold it exactly. */
  longNumber: boolean;
  /** A `\uD800`-`\uDFFF` escape: a surrogate that may be unpaired. */
  surrogateEscape: boolean;
}

// Character codes the scanner looks at.
const QUOTE = 0x22, BACKSLASH = 0x5c, OPEN_BRACE = 0x7b, OPEN_BRACKET = 0x5b, CLOSE_BRACE = 0x7d, CLOSE_BRACKET = 0x5d;
const ZERO = 0x30, NINE = 0x39, LOWER_E = 0x65, UPPER_E = 0x45, LOWER_U = 0x75;

/** A double holds 15 significant decimal digits exactly; longer literals need a closer look. */
const SAFE_DIGITS = 15;

/**
 * One pass over the text, hand-written because it runs on every message: depth counted outside
 * strings, strings skipped with indexOf, digit runs and exponents measured. Approximate on invalid
 * JSON (JSON.parse reports those); exact on valid JSON.
 */
function scan(text: string, maxDepth: number): Scan {
  let depth = 0;
  let longNumber = false;
  let surrogateEscape = false;
  let digits = 0;
  const n = text.length;
  // Next backslash at or after the current string; -1 once there are none (most texts).
  let slash = text.indexOf('\\');
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      digits = 0;
      // Skip the string: find its closing quote, one not escaped by an odd run of backslashes.
      let end = i;
      for (;;) {
        end = text.indexOf('"', end + 1);
        if (end < 0) return { longNumber, surrogateEscape };
        let slashes = 0;
        while (text.charCodeAt(end - 1 - slashes) === BACKSLASH) slashes++;
        if (slashes % 2 === 0) break;
      }
      if (slash >= 0 && !surrogateEscape) {
        if (slash < i) slash = text.indexOf('\\', i);
        if (slash >= 0 && slash < end) surrogateEscape = hasSurrogateEscape(text, slash, end);
      }
      i = end;
    } else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      if (++depth > maxDepth) throw new JsonError('depth', `nesting deeper than ${maxDepth} levels`);
      digits = 0;
    } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
      depth--;
      digits = 0;
    } else if (c >= ZERO && c <= NINE) {
      if (++digits > SAFE_DIGITS) longNumber = true;
    } else if (c === LOWER_E || c === UPPER_E) {
      // An exponent can move a short literal out of range (1e400) or below it (1e-400).
      if (digits > 0) longNumber = true;
    } else if (c !== 0x2e) {
      // A "." continues the number's digit count; anything else ends it.
      digits = 0;
    }
  }
  return { longNumber, surrogateEscape };
}

function hasSurrogateEscape(text: string, from: number, end: number): boolean {
  for (let at = from; at >= 0 && at < end; at = text.indexOf('\\', at + 2)) {
    if (text.charCodeAt(at + 1) !== LOWER_U) continue;
    const first = text.charCodeAt(at + 2) | 0x20;
    const second = text.charCodeAt(at + 3) | 0x20;
    // \uD800-\uDFFF: "d" then 8, 9, a-f.
    if (first === 0x64 && ((second >= 0x38 && second <= 0x39) || (second >= 0x61 && second <= 0x66))) return true;
  }
  return false;
}

/** Sign, significant digits and decimal exponent of a number literal, or of a double's shortest text. */
function normalForm(literal: string): string {
  let text = literal;
  const negative = text.startsWith('-');
  if (negative) text = text.slice(1);
  let exponent = 0;
  const e = text.search(/[eE]/);
  if (e >= 0) {
    exponent = Number(text.slice(e + 1));
    text = text.slice(0, e);
  }
  const dot = text.indexOf('.');
  const intPart = dot < 0 ? text : text.slice(0, dot);
  const digits = (intPart + (dot < 0 ? '' : text.slice(dot + 1))).replace(/^0+/, '');
  const leadingZeros = intPart.length + (dot < 0 ? 0 : text.length - dot - 1) - digits.length;
  const significant = digits.replace(/0+$/, '');
  if (significant === '') return '0';
  // Position of the first significant digit relative to the decimal point.
  const magnitude = intPart.length - leadingZeros + exponent;
  return `${negative ? '-' : ''}${significant}e${magnitude}`;
}

/** Whether a number literal comes back the same (up to formatting) through a double. */
export function roundTrips(literal: string): boolean {
  const value = Number(literal);
  return Number.isFinite(value) && normalForm(literal) === normalForm(String(value));
}

type RawJSONApi = { rawJSON(text: string): unknown; isRawJSON(value: unknown): boolean };
const RawJSON = JSON as unknown as Partial<RawJSONApi>;
/** Node 24+ (V8 JSON.parse source text access); older runtimes keep the rounded number. */
const hasRawJSON = typeof RawJSON.rawJSON === 'function';

/** Whether a parsed value is a number literal kept as written (see parseJson). */
export const isRawNumber = (value: unknown): value is { rawJSON: string } =>
  hasRawJSON && RawJSON.isRawJSON!(value);

/** A JSON object (not an array, not null, not a number literal kept as written). */
export const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && !isRawNumber(v);

/** `String.prototype.isWellFormed` (ES2024; Node 20+), typed here since the lib target predates it. */
const isWellFormed = (s: string): boolean => (s as unknown as { isWellFormed(): boolean }).isWellFormed();

function checkKey(key: string): void {
  if (!isWellFormed(key)) throw new JsonError('surrogate', 'a member name contains a lone UTF-16 surrogate, which is not Unicode text');
}

/**
 * Parses JSON text the gateway will act on. Refuses (JsonError) nesting deeper than `maxDepth`
 * and lone surrogates anywhere; number literals that a double would change are returned as
 * `JSON.rawJSON(literal)`, so `JSON.stringify` writes them back exactly.
 */
export function parseJson(text: string, options: ParseOptions): unknown {
  const { longNumber, surrogateEscape } = scan(text, options.maxDepth);
  try {
    if (!longNumber && !surrogateEscape) return JSON.parse(text);
    return JSON.parse(text, function (this: unknown, key: string, value: unknown, context?: { source?: string }) {
      if (surrogateEscape) {
        checkKey(key);
        if (typeof value === 'string' && !isWellFormed(value)) {
          throw new JsonError('surrogate', 'a string contains a lone UTF-16 surrogate, which is not Unicode text');
        }
      }
      if (longNumber && hasRawJSON && typeof value === 'number' && context?.source !== undefined && !roundTrips(context.source)) {
        return RawJSON.rawJSON!(context.source);
      }
      return value;
    });
  } catch (err) {
    if (err instanceof JsonError) throw err;
    // JSON.parse's message quotes a snippet of the text: input, never shown.
    throw new JsonError('syntax', 'not valid JSON');
  }
}
