import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { compileMask, MaskError, MaskPlanCache, type MaskPlan } from '../../../gateway/masking/index.ts';
import type { MaskInstruction } from '../../../gateway/policy/decision.ts';
import { HASH_KEY, plan } from './helpers.ts';

const example = JSON.parse(readFileSync(new URL('../../../rego/example/data.json', import.meta.url), 'utf8')) as {
  mcp: { masks: { customer_record: { instructions: MaskInstruction[] } } };
};

function compileError(instructions: unknown[], hashKey: Uint8Array = HASH_KEY): MaskError {
  try {
    compileMask(instructions as MaskInstruction[], { hashKey });
  } catch (err) {
    expect(err).toBeInstanceOf(MaskError);
    return err as MaskError;
  }
  throw new Error('expected a MaskError');
}

describe('compileMask: validation', () => {
  it.each([
    ['not an object', ['x'], 0, undefined, /^mask\[0\]: must be an object/],
    ['null', [null], 0, undefined, /must be an object/],
    ['no selector', [{ style: 'marker' }], 0, undefined, /needs one of "path", "key", "key_regex", "detector" or "blobs"/],
    ['two selectors', [{ key: 'a', path: 'b' }], 0, undefined, /has "path" and "key"; use exactly one selector/],
    ['unknown field', [{ key: 'a' }, { key: 'b', colour: 'red' }], 1, 'colour', /^mask\[1\]\.colour: unknown field/],
    ['empty selector', [{ key: '' }], 0, 'key', /must be a non-empty string/],
    ['non-string selector', [{ path: 3 }], 0, 'path', /must be a non-empty string, got 3/],
    ['unknown detector', [{ detector: 'emails' }], 0, 'detector', /unknown detector "emails" \(known: private_key, .*groups: secrets, pii, all\)/],
    ['prototype name as detector', [{ detector: 'constructor' }], 0, 'detector', /unknown detector/],
    ['invalid regex', [{ key: 'a' }, { key: 'b' }, { key_regex: 'api[' }], 2, 'key_regex', /^mask\[2\]\.key_regex: invalid regular expression/],
    ['bad style', [{ key: 'a', style: 'redact' }], 0, 'style', /must be "marker", "last" or "hash", got "redact"/],
    ['keep zero', [{ key: 'a', style: 'last', keep: 0 }], 0, 'keep', /integer from 1 to 64, got 0/],
    ['keep fractional', [{ key: 'a', style: 'last', keep: 2.5 }], 0, 'keep', /integer from 1 to 64/],
    ['keep too large', [{ key: 'a', style: 'last', keep: 65 }], 0, 'keep', /integer from 1 to 64/],
    ['keep as string', [{ key: 'a', style: 'last', keep: '4' }], 0, 'keep', /got "4"/],
    ['keep without last', [{ key: 'a', keep: 4 }], 0, 'keep', /only applies to style "last" \(style is "marker"\)/],
    ['bad class characters', [{ key: 'a', class: 'has space' }], 0, 'class', /must be 1-64 characters/],
    ['class not a string', [{ key: 'a', class: 7 }], 0, 'class', /must be 1-64 characters/],
    ['empty path segment', [{ path: 'a..b' }], 0, 'path', /"a\.\.b" has an empty segment at offset 2/],
    ['trailing dot', [{ path: 'a.' }], 0, 'path', /empty segment/],
    ['glob inside a path segment', [{ path: 'a.pass*' }], 0, 'path', /'\*' must be a whole segment/],
    ['unclosed bracket', [{ path: 'a[0' }], 0, 'path', /unclosed '\['/],
    ['negative index', [{ path: 'a[-1]' }], 0, 'path', /negative index/],
    ['bad bracket', [{ path: 'a[x]' }], 0, 'path', /invalid bracket/],
    ['unterminated quote', [{ path: 'a["b]' }], 0, 'path', /unterminated quoted name/],
    ['stray bracket', [{ path: 'a]b' }], 0, 'path', /unexpected '\]'/],
  ])('rejects %s', (_name, instructions, index, field, message) => {
    const err = compileError(instructions);
    expect(err.message).toMatch(message);
    expect(err.index).toBe(index);
    expect(err.field).toBe(field);
  });

  it('requires a hash key of at least 16 bytes only when style "hash" is used', () => {
    const err = compileError([{ key: 'a' }, { detector: 'email', style: 'hash' }], new Uint8Array(8));
    expect(err.message).toBe('mask[1].style: style "hash" needs options.hashKey of at least 16 bytes (got 8)');
    expect(() => compileMask([{ key: 'a' }], { hashKey: new Uint8Array(0) })).not.toThrow();
  });

  it('rejects a class whose marker a detector of the plan would match (masking would not be idempotent)', () => {
    const err = compileError([{ key: 'a', class: 'AKIAIOSFODNN7EXAMPLE' }, { detector: 'aws_access_key' }]);
    expect(err.message).toMatch(/^mask\[0\]\.class: the marker for class "AKIAIOSFODNN7EXAMPLE" would itself be detected as aws_access_key/);
  });

  it('rejects bad options', () => {
    expect(() => compileMask([], { hashKey: 'secret' as unknown as Uint8Array })).toThrow(/hashKey must be a Uint8Array/);
    expect(() => compileMask([], { hashKey: HASH_KEY, maxDepth: 0 })).toThrow(/maxDepth/);
    expect(() => compileMask({} as unknown as MaskInstruction[], { hashKey: HASH_KEY })).toThrow(/must be an array/);
  });

  it('accepts an empty list (a plan that masks nothing)', () => {
    expect(plan([]).empty).toBe(true);
  });
});

describe('compileMask: defaults and classes', () => {
  it('compiles the example policy instructions (rego/example/data.json) with the documented classes', () => {
    const p = plan(example.mcp.masks.customer_record.instructions);
    expect(p.describe().map((n) => [n.kind, n.class, n.style, n.keep])).toEqual([
      ['key', 'password', 'marker', undefined],
      ['key', 'secret', 'marker', undefined],
      ['key', 'token', 'last', 4],
      ['key_regex', 'apikey', 'last', 4],
      ['path', 'ssn', 'marker', undefined],
      ['path', 'date_of_birth', 'marker', undefined],
      ['path', 'card_number', 'last', 4],
      ['path', 'card_cvc', 'marker', undefined],
      ['path', 'iban', 'last', 4],
      ['key', 'ssn', 'marker', undefined],
      ['key', 'date_of_birth', 'marker', undefined],
      ['key', 'cvc', 'marker', undefined],
      ['key', 'iban', 'last', 4],
      ['detector', 'iban', 'last', 4],
      ['detector', 'email', 'hash', undefined],
      ['detector', 'credit_card', 'last', 4],
      ['detector', 'secrets', 'marker', undefined],
    ]);
  });

  it.each([
    [{ key: '*password*' }, 'password'],
    [{ key: 'x-api-*' }, 'x-api-'],
    [{ key: '*' }, 'key'],
    [{ key: 'user name' }, 'user_name'],
    [{ key_regex: 'api[-_]?key' }, 'apikey'],
    [{ key_regex: '(?i)^client_secret$' }, 'client_secret'],
    [{ key_regex: '.*' }, 'key_regex'],
    [{ path: 'structuredContent.customers[*].password' }, 'password'],
    [{ path: 'a["odd key"]' }, 'odd_key'],
    [{ path: 'rows[*][3]' }, 'rows'],
    [{ path: '$' }, 'path'],
    [{ detector: 'email' }, 'email'],
    [{ detector: 'pii' }, 'pii'],
    [{ key: '*token*', class: 'credential' }, 'credential'],
  ] as [MaskInstruction, string][])('%j has class %s', (ins, cls) => {
    expect(plan([ins]).describe()[0]!.class).toBe(cls);
  });

  it('defaults style to marker and keep to 4 for style last', () => {
    expect(plan([{ key: 'a' }, { key: 'b', style: 'last' }]).describe().map((n) => [n.style, n.keep])).toEqual([
      ['marker', undefined],
      ['last', 4],
    ]);
  });

  it('expands detector groups; a detector named twice belongs to the first instruction', () => {
    const d = plan([{ detector: 'email', style: 'hash' }, { detector: 'pii' }, { detector: 'all' }]).describe();
    expect(d[0]!.detectors).toEqual(['email']);
    expect(d[1]!.detectors).toEqual(['credit_card', 'iban']);
    expect(d[2]!.detectors).toEqual([
      'private_key', 'jwt', 'aws_access_key', 'github_token', 'gitlab_token', 'slack_token',
      'bearer_token', 'url_password', 'connection_string_password', 'stripe_key', 'google_api_key',
      'twilio_key', 'sendgrid_key', 'npm_token', 'pypi_token', 'azure_secret', 'gcp_service_account',
      'llm_api_key', 'basic_auth', 'generic_secret',
    ]);
  });
});

describe('MaskPlanCache', () => {
  const list: MaskInstruction[] = [{ key: '*password*' }, { detector: 'email' }];

  it('returns the same plan for the same instruction list', () => {
    const cache = new MaskPlanCache({ hashKey: HASH_KEY });
    const a = cache.get(list);
    const b = cache.get(JSON.parse(JSON.stringify(list)) as MaskInstruction[]);
    const c = cache.get(list, JSON.stringify(list));
    expect(b).toBe(a);
    expect(c).toBe(a);
    expect(cache.size).toBe(1);
  });

  it('caches a bad list and rethrows the same error', () => {
    const cache = new MaskPlanCache({ hashKey: HASH_KEY });
    let first: unknown;
    try {
      cache.get([{ detector: 'nope' }]);
    } catch (err) {
      first = err;
    }
    expect(first).toBeInstanceOf(MaskError);
    expect(() => cache.get([{ detector: 'nope' }])).toThrow(first as Error);
    expect(cache.size).toBe(1);
  });

  it('evicts the least recently used entry beyond maxEntries', () => {
    const cache = new MaskPlanCache({ hashKey: HASH_KEY, maxEntries: 2 });
    const a = cache.get([{ key: 'a' }]);
    cache.get([{ key: 'b' }]);
    expect(cache.get([{ key: 'a' }])).toBe(a); // a is now the most recent
    cache.get([{ key: 'c' }]); // evicts b
    expect(cache.size).toBe(2);
    expect(cache.get([{ key: 'a' }])).toBe(a);
    const plans: MaskPlan[] = [cache.get([{ key: 'b' }])];
    expect(plans[0]).not.toBe(a);
  });

  it('rejects a bad maxEntries', () => {
    expect(() => new MaskPlanCache({ hashKey: HASH_KEY, maxEntries: 0 })).toThrow(MaskError);
  });
});
