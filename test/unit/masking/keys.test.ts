import { describe, expect, it } from 'vitest';
import { applyMask, maskText } from '../../../gateway/masking/index.ts';
import type { MaskInstruction } from '../../../gateway/policy/decision.ts';
import { plan } from './helpers.ts';

const masked = (ins: MaskInstruction, key: string): boolean => {
  const r = applyMask({ [key]: 'v' }, plan([ins]), 'strict');
  return r.changed;
};

describe('key globs (case-insensitive, whole member name)', () => {
  it.each([
    ['*password*', 'password', true],
    ['*password*', 'PASSWORD', true],
    ['*password*', 'userPassword', true],
    ['*password*', 'db_password_hash', true],
    // A glob is a glob: *password* selects password_policy_url too (over-masking is the safe
    // side); write "password" or a key_regex to be precise.
    ['*password*', 'password_policy_url', true],
    ['*password*', 'passwd', false],
    ['*password*', 'pass_word', false],
    ['password', 'password', true],
    ['password', 'Password', true],
    ['password', 'password_policy_url', false],
    ['password', 'old_password', false],
    ['*token*', 'access_token', true],
    ['*token*', 'tokens_used', true],
    ['*token*', 'took', false],
    ['api?key', 'api_key', true],
    ['api?key', 'api-key', true],
    ['api?key', 'apikey', false],
    ['*_secret', 'client_secret', true],
    ['*_secret', 'client_secret_expires_at', false],
    ['literal\\*star', 'literal*star', true],
    ['literal\\*star', 'literalXstar', false],
    ['a.b', 'a.b', true],
    ['a.b', 'aXb', false],
  ])('%j on %j: %s', (glob, key, expected) => {
    expect(masked({ key: glob }, key)).toBe(expected);
  });
});

describe('key_regex (case-insensitive, unanchored JavaScript regex)', () => {
  it.each([
    ['api[-_]?key', 'api_key', true],
    ['api[-_]?key', 'x-api-key', true],
    ['api[-_]?key', 'apiKey', true],
    ['api[-_]?key', 'API_KEY_ID', true],
    ['api[-_]?key', 'apricot', false],
    ['[Aa][Pp][Ii][-_]?[Kk][Ee][Yy]', 'Api-Key', true],
    ['^password$', 'password', true],
    ['^password$', 'password_policy_url', false],
    ['(^|_)secret$', 'client_secret', true],
    ['(^|_)secret$', 'secretary', false],
    ['(?i)^token$', 'TOKEN', true],
  ])('%j on %j: %s', (re, key, expected) => {
    expect(masked({ key_regex: re }, key)).toBe(expected);
  });
});

describe('what a key match masks', () => {
  const p = plan([{ key: '*secret*' }]);

  it('replaces a string, a number and a boolean with the marker; keeps null', () => {
    const r = applyMask({ secret: 's3cr3t', secret_n: 42, secret_b: true, secret_null: null, other: 'x' }, p, 'strict');
    expect(r.value).toEqual({ secret: '[MASKED:secret]', secret_n: '[MASKED:secret]', secret_b: '[MASKED:secret]', secret_null: null, other: 'x' });
    expect(r.counts).toEqual({ secret: 3 });
  });

  it('masks every scalar under a matched object or array and keeps its structure and member names', () => {
    const r = applyMask({ secrets: { a: 'x', list: [1, 'y', { deep: false, none: null }] } }, p, 'strict');
    expect(r.value).toEqual({ secrets: { a: '[MASKED:secret]', list: ['[MASKED:secret]', '[MASKED:secret]', { deep: '[MASKED:secret]', none: null }] } });
    expect(r.counts).toEqual({ secret: 4 });
  });

  it('masks a whole string under a matched key even when it holds JSON', () => {
    const r = applyMask({ secret: '{"a":1}' }, p, 'strict');
    expect(r.value).toEqual({ secret: '[MASKED:secret]' });
  });

  it('matches at any depth, in arrays, inside embedded JSON', () => {
    const doc = { a: [{ b: { my_secret: 'x' } }, { text: JSON.stringify({ c: [{ SECRET: 'y' }] }) }] };
    const r = applyMask(doc, p, 'strict');
    expect(JSON.stringify(r.value)).not.toMatch(/"x"|\\"y\\"/);
    expect(r.counts).toEqual({ secret: 2 });
  });

  it('the first matching instruction in the list wins', () => {
    const q = plan([{ key: '*token*', style: 'last', keep: 2 }, { key: '*password*' }]);
    expect(applyMask({ password_token: 'abcdefgh' }, q, 'strict').value).toEqual({ password_token: '[MASKED:token ...gh]' });
    const q2 = plan([{ key: '*password*' }, { key: '*token*', style: 'last', keep: 2 }]);
    expect(applyMask({ password_token: 'abcdefgh' }, q2, 'strict').value).toEqual({ password_token: '[MASKED:password]' });
  });

  it('a key match takes the whole value: detectors do not run inside it', () => {
    const q = plan([{ key: 'note' , style: 'last', keep: 3 }, { detector: 'email' }]);
    expect(applyMask({ note: 'mail a@b.example' }, q, 'strict').value).toEqual({ note: '[MASKED:note ...ple]' });
  });
});

describe('unicode in member names', () => {
  const p = plan([{ key: '*password*' }]);

  it('JSON unicode escapes are decoded before matching ("pass\\u0077ord")', () => {
    const text = '{"user":"ada","pass\\u0077ord":"hunter2","nested":{"P\\u0041SSWORD":"x"}}';
    const r = maskText(text, p);
    expect(r.text).toBe('{"user":"ada","password":"[MASKED:password]","nested":{"PASSWORD":"[MASKED:password]"}}');
    expect(r.counts).toEqual({ password: 2 });
  });

  it('compatibility forms are folded (fullwidth letters)', () => {
    expect(applyMask({ 'ｐａｓｓｗｏｒｄ': 'x' }, p, 'strict').value).toEqual({ 'ｐａｓｓｗｏｒｄ': '[MASKED:password]' });
  });

  it('escaped names in JSON fragments inside text are decoded too', () => {
    const r = maskText('log line {"pass\\u0077ord": "hunter2", "n": 1', p);
    expect(r.text).toBe('log line {"pass\\u0077ord": "[MASKED:password]", "n": 1');
  });
});

describe('key rules in text that is not JSON (fragments)', () => {
  const p = plan([{ key: '*password*' }, { key: '*token*', style: 'last', keep: 4 }, { key: 'secret*' }]);

  it('masks members in truncated JSON', () => {
    const r = maskText('{"user":"ada","password":"hunter2","token":"abcdefghijkl","more":[1,2', p);
    expect(r.text).toBe('{"user":"ada","password":"[MASKED:password]","token":"[MASKED:token ...ijkl]","more":[1,2');
    expect(r.counts).toEqual({ password: 1, token: 1 });
  });

  it('masks members in JSON lines and in prose quoting JSON', () => {
    const text = '{"a":1,"password":"x1"}\n{"a":2,"password":"x2"}\nupstream said {"secret_data": {"k": "v", "l": [1]}, "secret_n": 7, "ok": true}';
    const r = maskText(text, p);
    expect(r.text).toBe('{"a":1,"password":"[MASKED:password]"}\n{"a":2,"password":"[MASKED:password]"}\nupstream said {"secret_data": "[MASKED:secret]", "secret_n": "[MASKED:secret]", "ok": true}');
  });

  it('masks to the end of the text when the value is cut off', () => {
    expect(maskText('{"password":"hunter', p).text).toBe('{"password":"[MASKED:password]"');
    expect(maskText('{"secret":{"a":"b", "c', p).text).toBe('{"secret":"[MASKED:secret]"');
  });

  it('re-escapes what it writes back', () => {
    const q = plan([{ key: '*token*', style: 'last', keep: 3 }]);
    expect(maskText('{"token":"abc\\"def\\\\"', q).text).toBe('{"token":"[MASKED:token ...ef\\\\]"');
  });

  it('leaves prose mentioning the words alone, but reads "name: value" as a person would', () => {
    const text = 'The token expires in 1 hour. "password" is a field name; passwords are rotated.';
    expect(maskText(text, p).text).toBe(text);
    expect(maskText('Reset your password: hunter2 (then log in)', p).text).toBe('Reset your password: [MASKED:password] (then log in)');
  });
});
