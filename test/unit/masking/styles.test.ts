import { describe, expect, it } from 'vitest';
import { applyMask, compileMask, maskText } from '../../../gateway/masking/index.ts';
import { HASH_KEY, plan } from './helpers.ts';

const HASHED = /^\[MASKED:([a-z_]+) hmac:([0-9a-f]{16})\]$/;

describe('style marker', () => {
  it('is [MASKED:<class>]', () => {
    expect(applyMask({ password: 'x' }, plan([{ key: 'password' }]), 'strict').value).toEqual({ password: '[MASKED:password]' });
    expect(applyMask({ password: 'x' }, plan([{ key: 'password', class: 'credential' }]), 'strict').value).toEqual({ password: '[MASKED:credential]' });
  });
});

describe('style last', () => {
  const last = (value: string, keep = 4, key = 'token') => (applyMask({ [key]: value }, plan([{ key, style: 'last', keep }]), 'strict').value as Record<string, string>)[key];

  it('keeps the last N characters', () => {
    expect(last('tok_live_abcdefghijklmnop')).toBe('[MASKED:token ...mnop]');
    expect(last('tok_live_abcdefghijklmnop', 1)).toBe('[MASKED:token ...p]');
  });

  it('never reveals more than half of the value', () => {
    expect(last('abcdefgh')).toBe('[MASKED:token ...efgh]');
    expect(last('abcdef')).toBe('[MASKED:token ...def]');
    expect(last('ab')).toBe('[MASKED:token ...b]');
    expect(last('a')).toBe('[MASKED:token]');
    expect(last('')).toBe('[MASKED:token]');
  });

  it('does not split a surrogate pair', () => {
    expect(last('secret-value-😀', 2)).toBe('[MASKED:token ...😀]');
    expect(last('secret-value-x😀', 1)).toBe('[MASKED:token]');
  });

  it('keeps the last digits of a card found by the detector', () => {
    const p = plan([{ detector: 'credit_card', style: 'last', keep: 4 }]);
    expect(maskText('card 4242 4242 4242 4242 ok', p).text).toBe('card [MASKED:credit_card ...4242] ok');
  });

  it('shortens the tail until no detector would match it again', () => {
    // keep 32 of a 26-character address would keep 13, "ce@example.com"-like tails are addresses.
    const p = plan([{ detector: 'email', style: 'last', keep: 32 }]);
    const r = maskText('to alice.smith@example.com', p);
    expect(r.text).toMatch(/^to \[MASKED:email \.\.\.[^@]*\]$/);
    expect(maskText(r.text, p).changed).toBe(false);
  });
});

describe('style hash', () => {
  const p = plan([{ detector: 'email', style: 'hash' }, { key: '*token*', style: 'hash' }, { detector: 'credit_card', style: 'hash' }]);

  it('is an HMAC-SHA256 prefix: equal values are equal, different values differ', () => {
    const r = maskText('a@x.example, b@x.example, a@x.example', p);
    const parts = r.text.split(', ');
    expect(parts[0]).toMatch(HASHED);
    expect(parts[0]).toBe(parts[2]);
    expect(parts[0]).not.toBe(parts[1]);
    expect(r.counts).toEqual({ email: 3 });
  });

  it('is stable across calls and plans with the same key, and depends on the key', () => {
    const again = compileMask([{ detector: 'email', style: 'hash' }], { hashKey: HASH_KEY });
    const other = compileMask([{ detector: 'email', style: 'hash' }], { hashKey: new Uint8Array(32).fill(1) });
    const a = maskText('a@x.example', p).text;
    expect(maskText('a@x.example', again).text).toBe(a);
    expect(maskText('a@x.example', other).text).not.toBe(a);
  });

  it('hashes a canonical form: e-mail case and card separators do not matter', () => {
    const [a, b] = maskText('Ada@Example.COM, ada@example.com', p).text.split(', ');
    expect(a).toMatch(HASHED);
    expect(a).toBe(b);
    const [c, d] = maskText('4242 4242 4242 4242, 4242-4242-4242-4242', p).text.split(', ');
    expect(c).toMatch(/^\[MASKED:credit_card hmac:/);
    expect(c).toBe(d);
  });

  it('correlates a value found by a key rule and by a detector only if the text is identical', () => {
    const r = applyMask({ token: 'same-value', other: 'same-value' }, plan([{ key: 'token', style: 'hash' }, { key: 'other', style: 'hash' }]), 'strict');
    const v = r.value as Record<string, string>;
    expect(v.token!.replace('token', '')).toBe(v.other!.replace('other', ''));
  });

  it('never outputs a hash a detector would match again (16 hex digits can be a Luhn-valid card number)', () => {
    // With the test key, the first 16 hex digits of this address's HMAC are 2264445853819385.
    const q = plan([{ detector: 'email', style: 'hash' }, { detector: 'credit_card' }]);
    const r = maskText('user38798@example.com', q);
    expect(r.text).toMatch(HASHED);
    expect(r.text).not.toContain('2264445853819385');
    expect(maskText(r.text, q).changed).toBe(false);
    expect(maskText('user38798@example.com', q).text).toBe(r.text); // still deterministic
  });

  it('numbers and booleans under a hashed key become the marker (not hashed)', () => {
    expect(applyMask({ token: 12345 }, p, 'strict').value).toEqual({ token: '[MASKED:token]' });
  });
});

describe('idempotence of every style', () => {
  const p = plan([
    { key: '*password*' },
    { key: '*token*', style: 'last', keep: 4 },
    { key: '*secret*', style: 'hash' },
    { detector: 'email', style: 'hash' },
    { detector: 'credit_card', style: 'last', keep: 4 },
    { detector: 'secrets' },
    { detector: 'iban', style: 'last', keep: 6 },
  ]);
  const input = {
    password: 'hunter2', token: 'abcdefghijklmnop', short_token: 'ab', secret: 'xyz', secret_n: 5,
    note: 'mail ada@example.com card 4242424242424242 iban GB82WEST12345698765432 db postgres://u:pw12345@h/x',
    auth: 'Authorization: Bearer abcdef1234567890XYZ', conn: 'Server=x;Password=p4ss;', nums: [4242424242424242],
    'bob@example.com': 'key with an address',
  };

  it('masking masked output changes nothing and counts nothing', () => {
    const first = applyMask(input, p, 'strict');
    expect(first.changed).toBe(true);
    const second = applyMask(first.value, p, 'strict');
    expect(second.changed).toBe(false);
    expect(second.value).toBe(first.value);
    expect(second.counts).toEqual({});
  });
});
