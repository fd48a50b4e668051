// Hostile upstream content must not turn masking into a denial of service: every detector and the
// walk stay linear. Each case is ~1 MB; a quadratic scan of any of them takes tens of seconds, a
// linear one well under a second, so the (generous) limit separates the two even on a loaded CI.
import { describe, expect, it } from 'vitest';
import { applyMask, maskText } from '../../../gateway/masking/index.ts';
import { plan } from './helpers.ts';

const p = plan([{ key: '*password*' }, { detector: 'all' }]);
const MB = 1024 * 1024;
const fill = (unit: string) => unit.repeat(Math.ceil(MB / unit.length));
const LIMIT_MS = 3000;

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
    const t0 = performance.now();
    maskText(text, p);
    expect(performance.now() - t0).toBeLessThan(LIMIT_MS);
  });

  it('many member names that mask to the same text', () => {
    const o: Record<string, number> = {};
    for (let i = 0; i < 50_000; i++) o[`user${i}@example.com`] = i;
    const t0 = performance.now();
    const r = applyMask(o, p, 'strict');
    expect(performance.now() - t0).toBeLessThan(LIMIT_MS);
    expect(Object.keys(r.value as object)).toHaveLength(50_000);
    expect(r.counts).toEqual({ email: 50_000 });
  });

  it('a long JSON-looking string that does not parse, nested in many members', () => {
    const bad = `{${'"a":1,'.repeat(20_000)}`;
    const doc = Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`k${i}`, `${bad}}x}`]));
    const t0 = performance.now();
    applyMask(doc, p, 'strict');
    expect(performance.now() - t0).toBeLessThan(LIMIT_MS);
  });
});
