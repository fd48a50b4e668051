// Property-based tests (fast-check): planted secrets never survive, masking is idempotent, and
// documents with nothing to mask come back untouched.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { applyMask, maskText } from '../../../gateway/masking/index.ts';
import { luhn } from '../../../gateway/masking/detectors.ts';
import { deepFreeze, plan } from './helpers.ts';

const PLAN = plan([
  { key: '*password*' },
  { key: '*secret*', style: 'hash' },
  { key: '*token*', style: 'last', keep: 4 },
  { key_regex: 'api[-_]?key', style: 'last', keep: 4 },
  { detector: 'email', style: 'hash' },
  { detector: 'credit_card', style: 'last', keep: 4 },
  { detector: 'iban', style: 'last', keep: 4 },
  { detector: 'all' },
]);

const RUNS = { numRuns: Number(process.env.MASK_PROPERTY_RUNS ?? 300) };

// ---------------------------------------------------------------------------------------------
// Content that cannot match anything: member names and words without 'p' and 't' (so no
// password/secret/token/apikey), no '@', ':' or '/', at most 12 characters (so no 13-digit run),
// no uppercase ASCII (so no IBAN or AWS key), plus some non-ASCII.

const SAFE_CHARS = [...'abcdefghijklmnoqrsuvwxyz0123456789 .,-_', 'é', 'ß', 'ø', '中', '😀'];
const safeText = fc.string({ unit: fc.constantFrom(...SAFE_CHARS), maxLength: 12 });
const safeKey = fc.string({ unit: fc.constantFrom(...'abcdefghijklmnoqrsuvwxyz_-'), minLength: 1, maxLength: 8 });
const safeNumber = fc.oneof(fc.integer({ min: -1e9, max: 1e9 }), fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e9, max: 1e9 }));
const safeScalar = fc.oneof(safeText, safeNumber, fc.boolean(), fc.constant(null));

const { safe } = fc.letrec<{ safe: unknown; arr: unknown[]; obj: Record<string, unknown>; embedded: string }>((tie) => ({
  safe: fc.oneof({ depthSize: 'small' }, safeScalar, tie('arr'), tie('obj'), tie('embedded')),
  arr: fc.array(tie('safe'), { maxLength: 4 }),
  obj: fc.dictionary(safeKey, tie('safe'), { maxKeys: 4 }),
  // JSON documents nested inside strings (any depth), compact or indented.
  embedded: fc.tuple(fc.oneof(tie('arr'), tie('obj')), fc.constantFrom(undefined, 2, '\t')).map(([v, indent]) => JSON.stringify(v, null, indent)),
}));

// ---------------------------------------------------------------------------------------------
// Secrets. Each plant is a value to put in the document and the needles (substrings free of
// characters JSON escapes) that must not appear anywhere in the masked output.

interface Planted {
  v: unknown;
  needles: string[];
}

const ALNUM = [...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'];
const rand = (min: number, max: number) => fc.string({ unit: fc.constantFrom(...ALNUM), minLength: min, maxLength: max });
const upperDigits = (n: number) => fc.string({ unit: fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'), minLength: n, maxLength: n });
const digits = (n: number) => fc.string({ unit: fc.constantFrom(...'0123456789'), minLength: n, maxLength: n });
const lower = (min: number, max: number) => fc.string({ unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz'), minLength: min, maxLength: max });

function withLuhn(body: string): string {
  for (let d = 0; d <= 9; d++) if (luhn(body + d)) return body + d;
  throw new Error('unreachable');
}

function gbIban(bank: string, account: string): string {
  const bban = `${bank}${account}`;
  const n = `${bban}GB00`.replace(/[A-Z]/g, (c) => String(c.charCodeAt(0) - 55));
  let r = 0;
  for (const ch of n) r = (r * 10 + Number(ch)) % 97;
  return `GB${String(98 - r).padStart(2, '0')}${bban}`;
}

const b64url = (s: string) => Buffer.from(s).toString('base64url');

/** Free-text secrets, each with what must disappear. */
const textSecret: fc.Arbitrary<{ text: string; needles: string[] }> = fc.oneof(
  fc.tuple(lower(3, 10), digits(3), lower(3, 8)).map(([l, d, dom]) => ({ text: `${l}${d}@${dom}-mail.example`, needles: [`${l}${d}@${dom}-mail.example`] })),
  fc.tuple(digits(14), fc.boolean()).map(([body, grouped]) => {
    const card = withLuhn(`4${body}`);
    const text = grouped ? card.replace(/(\d{4})(?=\d)/g, '$1 ') : card;
    return { text, needles: [card, text] };
  }),
  fc.tuple(upperDigits(0).map(() => 'WEST'), digits(14)).map(([bank, acct]) => ({ text: gbIban(bank, acct), needles: [gbIban(bank, acct)] })),
  fc.tuple(rand(8, 20), rand(20, 40)).map(([sub, sig]) => {
    const jwt = `${b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }))}.${b64url(JSON.stringify({ sub }))}.${sig}`;
    return { text: jwt, needles: [jwt] };
  }),
  upperDigits(16).map((s) => ({ text: `AKIA${s}`, needles: [`AKIA${s}`] })),
  rand(36, 36).map((s) => ({ text: `ghp_${s}`, needles: [`ghp_${s}`] })),
  rand(20, 30).map((s) => ({ text: `glpat-${s}`, needles: [`glpat-${s}`] })),
  rand(12, 24).map((s) => ({ text: `xoxb-1234-${s}`, needles: [`xoxb-1234-${s}`] })),
  rand(10, 20).map((pw) => ({ text: `postgres://app:Pw${pw}@db.internal:5432/app`, needles: [`Pw${pw}`] })),
  rand(16, 30).map((tok) => ({ text: `Authorization: Bearer A1${tok}`, needles: [`A1${tok}`] })),
  rand(10, 20).map((pw) => ({ text: `Server=db;User Id=sa;Password=Pw${pw};`, needles: [`Pw${pw}`] })),
  rand(40, 60).map((body) => ({ text: `-----BEGIN PRIVATE KEY-----\n${body}\n-----END PRIVATE KEY-----`, needles: [body] })),
);

/** Member names key rules select (as the engine sees them, after JSON decoding). */
const secretKey = fc.constantFrom('password', 'userPassword', 'DB_PASSWORD', 'client_secret', 'Secret', 'access_token', 'refreshToken', 'api_key', 'x-api-key', 'ApiKey');
const secretValue = rand(14, 24).map((s) => `Q${s}`);

const { planted } = fc.letrec<{ planted: Planted; arr: Planted; obj: Planted; embedded: Planted; leaf: Planted }>((tie) => ({
  planted: fc.oneof({ depthSize: 'small' }, tie('leaf'), tie('arr'), tie('obj'), tie('embedded')),
  leaf: fc.oneof(
    safeScalar.map((v): Planted => ({ v, needles: [] })),
    // A detector secret inside prose.
    fc.tuple(safeText, textSecret, safeText).map(([a, s, b]): Planted => ({ v: `${a} ${s.text} ${b}`, needles: s.needles })),
  ),
  arr: fc.array(tie('planted'), { maxLength: 4 }).map((items): Planted => ({ v: items.map((i) => i.v), needles: items.flatMap((i) => i.needles) })),
  obj: fc
    .tuple(
      fc.array(fc.tuple(safeKey, tie('planted')), { maxLength: 3 }),
      // Members whose names select them: a secret string, or a whole subtree of secrets.
      fc.array(fc.tuple(secretKey, fc.oneof(secretValue.map((s) => ({ v: s, needles: [s] })), fc.array(secretValue, { minLength: 1, maxLength: 3 }).map((a) => ({ v: { list: a, n: 42 }, needles: a })))), { maxLength: 2 }),
      // A member whose *name* is an e-mail address.
      fc.option(fc.tuple(lower(4, 8), tie('planted')), { nil: undefined }),
    )
    .map(([plain, secret, emailKey]): Planted => {
      const o: Record<string, unknown> = {};
      const needles: string[] = [];
      for (const [k, p] of plain) {
        o[k] = p.v;
        needles.push(...p.needles);
      }
      for (const [k, p] of secret) {
        o[k] = p.v;
        needles.push(...p.needles);
      }
      if (emailKey !== undefined) {
        const addr = `${emailKey[0]}.key@example.org`;
        o[addr] = emailKey[1].v;
        needles.push(addr, ...emailKey[1].needles);
      }
      // (Safe names have no 'p'/'t' and no '@': they never collide with the secret names.)
      return { v: o, needles };
    }),
  // JSON inside a string, with key names written with unicode escapes ("pass\u0077ord").
  embedded: fc.tuple(fc.oneof(tie('obj'), tie('arr')), fc.boolean()).map(([p, escape]): Planted => {
    let text = JSON.stringify(p.v);
    if (escape) text = text.replace(/"([a-zA-Z_-]*)(password|secret|token)([a-zA-Z_-]*)":/gi, (_m, a: string, w: string, b: string) => `"${a}${w.slice(0, 2)}\\u00${w.charCodeAt(2).toString(16)}${w.slice(3)}${b}":`);
    return { v: text, needles: p.needles };
  }),
}));

describe('properties', () => {
  it('planted secrets never appear in the masked output (any depth, arrays, keys, JSON in strings, escaped keys)', () => {
    fc.assert(
      fc.property(planted, ({ v, needles }) => {
        const input = deepFreeze(v);
        const r = applyMask(input, PLAN, 'strict');
        const out = JSON.stringify(r.value) ?? '';
        for (const needle of needles) expect(out).not.toContain(needle);
        if (needles.length > 0) expect(r.changed).toBe(true);
      }),
      RUNS,
    );
  });

  it('masking is idempotent: masking masked output changes nothing and counts nothing', () => {
    fc.assert(
      fc.property(planted, ({ v }) => {
        const first = applyMask(v, PLAN, 'strict');
        const second = applyMask(first.value, PLAN, 'strict');
        expect(second.changed).toBe(false);
        expect(second.value).toBe(first.value);
        expect(second.counts).toEqual({});
      }),
      RUNS,
    );
  });

  it('content with nothing to mask passes through unchanged (same value, changed: false)', () => {
    fc.assert(
      fc.property(safe, (v) => {
        const input = deepFreeze(v);
        const r = applyMask(input, PLAN, 'strict');
        expect(r.changed).toBe(false);
        expect(r.value).toBe(input);
        expect(r.value).toStrictEqual(v);
        expect(r.counts).toEqual({});
      }),
      RUNS,
    );
  });

  it('any JSON value: masking never throws in best_effort mode and is idempotent', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 6 }), (v) => {
        const first = applyMask(v, PLAN, 'best_effort');
        const second = applyMask(first.value, PLAN, 'best_effort');
        expect(second.changed).toBe(false);
        expect(second.counts).toEqual({});
      }),
      RUNS,
    );
  });

  it('any text: maskText is idempotent and leaves no planted secret', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 80 }), textSecret, fc.string({ maxLength: 80 }), (a, s, b) => {
        const r = maskText(`${a} ${s.text} ${b}`, PLAN);
        for (const needle of s.needles) expect(r.text).not.toContain(needle);
        expect(maskText(r.text, PLAN)).toEqual({ text: r.text, counts: {}, changed: false });
      }),
      RUNS,
    );
  });

  it('arbitrary unicode text: maskText is idempotent', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 200 }), (t) => {
        const once = maskText(t, PLAN).text;
        expect(maskText(once, PLAN).text).toBe(once);
      }),
      RUNS,
    );
  });
});

describe('MCP structured copy', () => {
  // A text block that is exactly JSON.stringify(structuredContent) is masked by reusing the walk of
  // structuredContent; the result must be what the full walk gives (forced here by a trailing space,
  // which the full walk keeps and the shortcut does not apply to).
  const withPaths = plan([
    { path: 'structuredContent.list[*].password', class: 'p' },
    { path: 'structuredContent.*.*.*', style: 'last', keep: 2, class: 'three' },
    { path: '**.nested', class: 'nested' },
    { key: '*token*', style: 'last', keep: 4 },
    { detector: 'all' },
  ]);

  it.each([
    ['the full plan', PLAN],
    ['paths, keys and detectors', withPaths],
  ])('with %s, the shortcut gives the same text, structuredContent and counts as the full walk', (_name, p) => {
    fc.assert(
      fc.property(fc.oneof(planted, fc.record({ list: fc.array(fc.record({ password: fc.string(), x: planted.map((x) => x.v) }), { maxLength: 3 }) }).map((v) => ({ v, needles: [] }))), ({ v }) => {
        if (typeof v !== 'object' || v === null) return;
        const text = JSON.stringify(v);
        const fast = applyMask({ content: [{ type: 'text', text }], structuredContent: v }, p, 'best_effort');
        const full = applyMask({ content: [{ type: 'text', text: `${text} ` }], structuredContent: v }, p, 'best_effort');
        const f = fast.value as { content: [{ text: string }]; structuredContent: unknown };
        const g = full.value as { content: [{ text: string }]; structuredContent: unknown };
        expect(`${f.content[0].text} `).toBe(g.content[0].text);
        expect(f.structuredContent).toStrictEqual(g.structuredContent);
        expect(fast.counts).toEqual(full.counts);
        expect(fast.changed).toBe(full.changed);
      }),
      RUNS,
    );
  });

  it('the shortcut keeps the text a byte-exact copy of the masked structuredContent', () => {
    const sc = { customer: { password: 'x', mail: 'a@b.example', n: 1 } };
    const r = applyMask({ content: [{ type: 'text', text: JSON.stringify(sc) }], structuredContent: sc }, PLAN, 'strict');
    const v = r.value as { content: [{ text: string }]; structuredContent: unknown };
    expect(v.content[0].text).toBe(JSON.stringify(v.structuredContent));
    expect(r.counts).toEqual({ password: 2, email: 2 });
  });
});
