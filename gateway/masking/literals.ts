// JSON numbers as their literal text. The gateway's parser hands over numbers that do not
// round-trip through a double as JSON.rawJSON(literal) objects (Node 24+), so a 19-digit card is
// still its 19 digits; the engine reads, detects and masks the literal. Embedded JSON in strings is
// parsed the same way here when it holds long digit runs (the reviver is slow; the test is cheap).

interface RawJSON {
  readonly rawJSON: string;
}
const J = JSON as unknown as {
  isRawJSON?(v: unknown): boolean;
  rawJSON?(text: string): RawJSON;
  parse(text: string, reviver?: (this: unknown, key: string, value: unknown, context?: { source?: string }) => unknown): unknown;
};

export const isRawNumber = (v: unknown): v is RawJSON => typeof v === 'object' && v !== null && J.isRawJSON?.(v) === true;

const LONG_DIGITS = /[0-9]{16}/;

/** JSON.parse, keeping every number whose text String(value) would not reproduce as its literal. */
export function parseJson(text: string): unknown {
  if (J.rawJSON === undefined || !LONG_DIGITS.test(text)) return JSON.parse(text);
  const raw = J.rawJSON;
  return J.parse(text, (_k, value, context) => {
    if (typeof value === 'number' && context?.source !== undefined && String(value) !== context.source) return raw(context.source);
    return value;
  });
}

/** The text of a number as the document wrote it (a raw literal) or as JSON writes it. */
export const numberText = (v: number | RawJSON): string => (typeof v === 'number' ? String(v) : v.rawJSON);

/**
 * Members in a JSON text: every unescaped '"' followed by ':' ends a member name (in valid JSON a
 * string followed by ':' is always a name). Compared with the members JSON.parse kept, it tells
 * whether the text has duplicate names (JSON.parse keeps only the last of each).
 */
const MEMBER_END = /(?<!\\)(?:\\\\)*"[ \t\r\n]*:/g;
export function memberCount(text: string): number {
  MEMBER_END.lastIndex = 0;
  let n = 0;
  while (MEMBER_END.exec(text) !== null) n++;
  return n;
}
