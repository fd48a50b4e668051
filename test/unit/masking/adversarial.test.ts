// Hostile upstream content must not turn masking into a denial of service: every detector and the
// walk stay linear. Each case is ~4 MB: a linear scan takes a second or so, a quadratic one many
// minutes, far past the test's own timeout, which is what fails it. No elapsed time is asserted
// (speed is the bench's business, bench/masking.ts).
import { describe, expect, it } from 'vitest';
import { applyMask, maskText } from '../../../gateway/masking/index.ts';
import { plan } from './helpers.ts';

const p = plan([{ key: '*password*' }, { detector: 'all' }]);
const SIZE = 4 * 1024 * 1024;
const fill = (unit: string) => unit.repeat(Math.ceil(SIZE / unit.length));

describe('linear time on hostile input', () => {
  it.each([
    ['PEM headers without END lines', '-----BEGIN PRIVATE KEY-----!'],
    ['digits separated by spaces', '1 '],
    ['one long digit run', '4'],
    ['at signs', 'a@'],
    ['JSON-ish member openers', '"a":'],
    ['bearer words', 'Bearer '],
    ['authorization words', 'authorization: '],
    ['JWT header starts', 'eyJ'],
    ['URL scheme separators', 'a://'],
    ['unterminated connection-string quotes', "password='"],
    ['GitLab prefixes', 'glpat-'],
    ['truncated JSON fragments', '{"password": {'],
    ['IBAN-like prefixes', 'GB82 '],
    ['brackets that look like JSON', '[{'],
  ])('%s', (_name, unit) => {
    const text = fill(unit);
    expect(maskText(text, p).text.length).toBeGreaterThan(0);
  });

  it('many member names that mask to the same text', () => {
    const o: Record<string, number> = {};
    for (let i = 0; i < 50_000; i++) o[`user${i}@example.com`] = i;
    const r = applyMask(o, p, 'strict');
    expect(Object.keys(r.value as object)).toHaveLength(50_000);
    expect(r.counts).toEqual({ email: 50_000 });
  });

  it('a long JSON-looking string that does not parse, nested in many members', () => {
    const bad = `{${'"a":1,'.repeat(80_000)}`;
    const doc = Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`k${i}`, `${bad}}x}`]));
    expect(applyMask(doc, p, 'strict').value).toBeDefined();
  });
});
