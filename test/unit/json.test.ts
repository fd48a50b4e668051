// The gateway's one JSON parser: depth refused while scanning, lone surrogates refused, number
// literals a double would change kept exactly, and everything else exactly JSON.parse.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isObject, isRawNumber, JsonError, parseJson, roundTrips } from '../../gateway/json.ts';

const parse = (text: string, maxDepth = 64) => parseJson(text, { maxDepth });
const kind = (text: string, maxDepth = 64) => {
  try {
    parse(text, maxDepth);
    return 'ok';
  } catch (err) {
    return err instanceof JsonError ? err.kind : 'other';
  }
};
/** A double's shortest decimal text, expanded to the integer it names (for integral doubles). */
function shortestAsBigInt(d: number): bigint {
  const [mantissa, exponent] = String(d).split('e+');
  if (exponent === undefined) return BigInt(mantissa!);
  const [whole, fraction = ''] = mantissa!.split('.');
  return BigInt(whole! + fraction + '0'.repeat(Number(exponent) - fraction.length));
}
const RUNS = Number(process.env.PORTCULLIS_FUZZ_RUNS ?? 300);

describe('depth', () => {
  it('allows exactly the limit and refuses one more, for arrays and objects', () => {
    expect(kind('['.repeat(8) + ']'.repeat(8), 8)).toBe('ok');
    expect(kind('['.repeat(9) + ']'.repeat(9), 8)).toBe('depth');
    expect(kind('{"a":'.repeat(9) + '1' + '}'.repeat(9), 8)).toBe('depth');
  });
  it('refuses deep nesting before parsing, even when the text is cut off', () => {
    expect(kind('['.repeat(100_000), 64)).toBe('depth');
  });
  it('does not count brackets inside strings, escaped quotes included', () => {
    const inString = JSON.stringify({ s: '[[[[[[[[[[{{{{{{{{{ \\" [[[[[[' });
    expect(kind(inString, 2)).toBe('ok');
    expect(kind('{"a":"\\\\"}', 2)).toBe('ok');
    expect(kind('["\\\\\\"[[[["]', 2)).toBe('ok');
  });
});

describe('lone surrogates', () => {
  it.each(['"\\ud800"', '"\\uDFFF"', '{"\\ud83d":1}', '["ok","x\\udc00y"]', '"\\ude00\\ud83d"'])('refuses %s', (text) => {
    expect(kind(text)).toBe('surrogate');
  });
  it.each(['"\\ud83d\\ude00"', '"\\uD83D\\uDE00"', '"\\\\ud800"', '"\\u00e9"', '"😀"'])('keeps the well-formed %s', (text) => {
    expect(parse(text)).toBe(JSON.parse(text));
  });
});

describe('number literals', () => {
  it('keeps a 19-digit card number exactly', () => {
    const value = parse('{"card":4111111111111111111,"n":1}') as Record<string, unknown>;
    expect(isRawNumber(value.card)).toBe(true);
    expect(JSON.stringify(value)).toBe('{"card":4111111111111111111,"n":1}');
    expect(value.n).toBe(1);
  });
  it.each(['12345678901234567890', '-9007199254740993', '0.1000000000000000055511151231257827', '1e400', '-1e400', '1e-400', '123456789.0123456789'])('keeps %s as written', (literal) => {
    const value = parse(`[${literal}]`) as unknown[];
    expect(isRawNumber(value[0])).toBe(true);
    expect(JSON.stringify(value)).toBe(`[${literal}]`);
  });
  it.each(['9007199254740991', '1e21', '1.5e-7', '0.1', '100', '1E2', '1.10', '-0', '123456789012345'])('leaves %s a plain number', (literal) => {
    const value = parse(`[${literal}]`) as unknown[];
    expect(typeof value[0]).toBe('number');
  });
  it('keeps digits inside strings as strings', () => {
    expect(parse('{"s":"12345678901234567890"}')).toEqual({ s: '12345678901234567890' });
  });
  it('a kept literal is not an object to the guards', () => {
    expect(isObject((parse('[1e400]') as unknown[])[0])).toBe(false);
  });
  it('roundTrips agrees with the double for random literals', () => {
    fc.assert(fc.property(fc.double({ noNaN: true, noDefaultInfinity: true }), (d) => roundTrips(String(d))), { numRuns: RUNS, seed: 8 });
    fc.assert(fc.property(fc.bigInt({ min: -(10n ** 25n), max: 10n ** 25n }), (b) => roundTrips(b.toString()) === (shortestAsBigInt(Number(b)) === b)), { numRuns: RUNS, seed: 9 });
  });
});

describe('agrees with JSON.parse on everything else', () => {
  it('for random JSON values (seeded)', () => {
    fc.assert(fc.property(fc.jsonValue({ maxDepth: 6 }), (v) => {
      const text = JSON.stringify(v);
      expect(JSON.stringify(parse(text, 64))).toBe(text);
    }), { numRuns: RUNS, seed: 42 });
  });
  it('for random strings: same verdict (valid or not), never a crash', () => {
    fc.assert(fc.property(fc.string({ unit: fc.constantFrom(...'{}[]":,0123456789eE.-tfnul\\ ab') }), (text) => {
      let expected: string;
      try {
        JSON.parse(text);
        expected = 'ok';
      } catch {
        expected = 'syntax';
      }
      const got = kind(text, 10_000);
      expect(got === expected || got === 'surrogate').toBe(true);
    }), { numRuns: RUNS * 3, seed: 7 });
  });
});
