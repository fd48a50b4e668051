import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { applyMask, DEPTH_LIMIT_MARKER, MaskError, maskText } from '../../../gateway/masking/index.ts';
import type { MaskInstruction } from '../../../gateway/policy/decision.ts';
import { seedCustomers } from '../../../demo/data.ts';
import { deepFreeze, plan } from './helpers.ts';

describe('applyMask basics', () => {
  const p = plan([{ key: '*password*' }, { detector: 'email' }]);

  it('never mutates its input and copies only what changed', () => {
    const input = deepFreeze({ a: { password: 'x', keep: { deep: [1, 2] } }, b: ['ada@example.com', { n: 1 }], c: { untouched: true } });
    const r = applyMask(input, p, 'strict');
    expect(r.value).toEqual({ a: { password: '[MASKED:password]', keep: { deep: [1, 2] } }, b: ['[MASKED:email]', { n: 1 }], c: { untouched: true } });
    const v = r.value as typeof input;
    expect(v).not.toBe(input);
    expect(v.c).toBe(input.c);
    expect(v.a.keep).toBe(input.a.keep);
    expect(v.b[1]).toBe(input.b[1]);
  });

  it('returns the input itself with changed: false when there is nothing to mask', () => {
    const input = deepFreeze({ a: [1, 'two', { three: null }], text: '{"json": ["inside"]}' });
    const r = applyMask(input, p, 'strict');
    expect(r).toEqual({ value: input, counts: {}, changed: false, skipped: [] });
    expect(r.value).toBe(input);
  });

  it('masks scalars at the root and in top-level arrays', () => {
    expect(applyMask('mail ada@example.com', p, 'strict').value).toBe('mail [MASKED:email]');
    expect(applyMask(['ada@example.com', 3], p, 'strict').value).toEqual(['[MASKED:email]', 3]);
    expect(applyMask(null, p, 'strict').value).toBe(null);
  });

  it('counts replacements per class, never values', () => {
    const r = applyMask({ password: 'a', list: [{ password: 'b' }], note: 'x@y.example and z@y.example' }, p, 'strict');
    expect(r.counts).toEqual({ password: 2, email: 2 });
  });

  it('handles a "__proto__" member as data', () => {
    const input = JSON.parse('{"__proto__": {"password": "x"}, "a": 1}') as Record<string, unknown>;
    const r = applyMask(input, p, 'strict');
    expect(JSON.stringify(r.value)).toBe('{"__proto__":{"password":"[MASKED:password]"},"a":1}');
    expect(Object.getPrototypeOf(r.value)).toBe(Object.prototype);
  });

  it('an empty plan returns everything as is', () => {
    const input = { password: 'x' };
    expect(applyMask(input, plan([]), 'strict')).toEqual({ value: input, counts: {}, changed: false, skipped: [] });
  });

  it('rejects an unknown mode', () => {
    expect(() => applyMask({}, p, 'lenient' as 'strict')).toThrow(MaskError);
  });
});

describe('depth limit', () => {
  const nest = (n: number): unknown => (n === 0 ? 'leaf@example.com' : { d: nest(n - 1) });
  const p = plan([{ detector: 'email' }], 8);

  it('masks documents up to maxDepth', () => {
    expect(JSON.stringify(applyMask(nest(8), p, 'strict').value)).toContain('[MASKED:email]');
  });

  it('strict: deeper documents throw', () => {
    expect(() => applyMask(nest(9), p, 'strict')).toThrow('document nesting exceeds the maximum depth of 8');
  });

  it('best_effort: the too-deep subtree is withheld, not passed through, and reported', () => {
    const r = applyMask(nest(9), p, 'best_effort');
    // The leaf sits inside 9 objects: the 9th level is cut.
    expect(JSON.stringify(r.value)).toBe(`${'{"d":'.repeat(9)}"${DEPTH_LIMIT_MARKER}"${'}'.repeat(9)}`);
    expect(r.skipped).toEqual(['document nesting exceeds the maximum depth of 8']);
  });

  it('levels inside embedded JSON count', () => {
    const embedded = { d: { d: JSON.stringify(nest(7)) } };
    expect(() => applyMask(embedded, p, 'strict')).toThrow(/maximum depth of 8/);
  });

  it('the default limit (64) survives a deep but legal document, and a pathological one fails cleanly', () => {
    const q = plan([{ detector: 'email' }]);
    expect(() => applyMask(nest(60), q, 'strict')).not.toThrow();
    let deep: unknown = 'x';
    for (let i = 0; i < 100_000; i++) deep = [deep];
    expect(() => applyMask(deep, q, 'strict')).toThrow(MaskError);
    expect(applyMask(deep, q, 'best_effort').skipped).toHaveLength(1);
  });
});

describe('strings that hold JSON', () => {
  const p = plan([{ key: '*password*' }, { detector: 'email' }]);

  it('are parsed, masked and re-serialized (compact stays compact)', () => {
    const r = applyMask({ text: '{"user":"ada","password":"x","mail":"a@b.example"}' }, p, 'strict');
    expect(r.value).toEqual({ text: '{"user":"ada","password":"[MASKED:password]","mail":"[MASKED:email]"}' });
  });

  it('keep their indentation and surrounding whitespace', () => {
    const text = `\n${JSON.stringify({ a: { password: 'x' }, b: [1] }, null, 2)}\n`;
    const r = applyMask({ text }, p, 'strict');
    expect((r.value as { text: string }).text).toBe(`\n${JSON.stringify({ a: { password: '[MASKED:password]' }, b: [1] }, null, 2)}\n`);
    const tabs = JSON.stringify({ password: 'x' }, null, '\t');
    expect((applyMask({ tabs }, p, 'strict').value as { tabs: string }).tabs).toBe(JSON.stringify({ password: '[MASKED:password]' }, null, '\t'));
  });

  it('are left byte-for-byte as they were when nothing inside is masked', () => {
    const text = '{ "a" : 1.0, "b": "\\u0041" }';
    expect(applyMask({ text }, p, 'strict').value).toEqual({ text });
  });

  it('nest to any depth (JSON in a string in JSON in a string …)', () => {
    let v: unknown = { password: 'deep-secret', mail: 'x@y.example' };
    for (let i = 0; i < 5; i++) v = { level: i, payload: JSON.stringify(v) };
    const out = JSON.stringify(applyMask(v, p, 'strict').value);
    expect(out).not.toContain('deep-secret');
    expect(out).not.toContain('x@y.example');
    expect(applyMask(v, p, 'strict').counts).toEqual({ password: 1, email: 1 });
  });

  it('JSON-encoded strings ("\\"…\\"") are decoded, masked and encoded again', () => {
    const inner = JSON.stringify(JSON.stringify({ password: 'x' }));
    const r = applyMask({ text: inner }, p, 'strict');
    expect(JSON.parse(JSON.parse((r.value as { text: string }).text) as string)).toEqual({ password: '[MASKED:password]' });
    expect(applyMask({ text: JSON.stringify('mail a@b.example') }, p, 'strict').value).toEqual({ text: JSON.stringify('mail [MASKED:email]') });
  });

  it('strings that only look like JSON are scanned as text', () => {
    expect(applyMask({ t: '[1] see a@b.example [2]' }, p, 'strict').value).toEqual({ t: '[1] see [MASKED:email] [2]' });
    expect(applyMask({ t: '{not json} a@b.example {x}' }, p, 'strict').value).toEqual({ t: '{not json} [MASKED:email] {x}' });
  });
});

describe('maskText', () => {
  const p = plan([{ key: '*password*' }, { detector: 'email' }, { path: 'a.b.c' }]);

  it('masks free text with the detectors', () => {
    expect(maskText('upstream error: user ada@example.com not allowed', p)).toEqual({
      text: 'upstream error: user [MASKED:email] not allowed',
      counts: { email: 1 },
      changed: true,
    });
  });

  it('applies key rules when the text is JSON; paths do not apply and never fail', () => {
    expect(maskText('{"password":"x","a":{"b":"y"}}', p).text).toBe('{"password":"[MASKED:password]","a":{"b":"y"}}');
    expect(maskText('plain', p)).toEqual({ text: 'plain', counts: {}, changed: false });
  });
});

describe('the example policy on the demo upstream', () => {
  const data = JSON.parse(readFileSync(new URL('../../../rego/example/data.json', import.meta.url), 'utf8')) as {
    mcp: { masks: { customer_record: { mode: 'strict' | 'best_effort'; instructions: MaskInstruction[] } } };
  };
  const { mode, instructions } = data.mcp.masks.customer_record;
  const p = plan(instructions);

  it.each(seedCustomers().map((c) => [c.id, c] as const))('get_customer %s: structuredContent and its text block carry none of the protected values', (_id, customer) => {
    // The demo's get_customer result (demo/upstream.ts json()).
    const result = { content: [{ type: 'text', text: JSON.stringify({ customer }) }], structuredContent: { customer } };
    const r = applyMask(deepFreeze(result), p, mode);
    const out = JSON.stringify(r.value);
    const emailsInNotes = customer.notes.match(/[\w.+-]+@[\w.-]+\.example/g) ?? [];
    for (const secret of [
      customer.password, customer.api_key, customer.access_token, customer.ssn, customer.date_of_birth,
      customer.billing.card_number, `"${customer.billing.card_cvc}"`, customer.billing.iban, customer.email, ...emailsInNotes,
    ]) {
      expect(out, secret).not.toContain(secret);
    }
    // Both copies are masked the same way.
    const v = r.value as { content: [{ text: string }]; structuredContent: unknown };
    expect(JSON.parse(v.content[0].text)).toEqual(v.structuredContent);
    expect(r.counts).toMatchObject({ password: 2, apikey: 2, token: 2, ssn: 2, date_of_birth: 2, card_number: 2, card_cvc: 2, iban: 2 });
    expect(r.counts.email).toBe(2 * (1 + emailsInNotes.length));
    // What the policy chose to keep is kept.
    expect(out).toContain(customer.name);
    expect(out).toContain(`...${customer.billing.card_number.slice(-4)}]`);
  });

  it('a tool error result (no structuredContent) passes in strict mode', () => {
    const result = { content: [{ type: 'text', text: 'customer cus_9999 not found' }], isError: true };
    expect(applyMask(result, p, mode)).toEqual({ value: result, counts: {}, changed: false, skipped: [] });
  });
});
