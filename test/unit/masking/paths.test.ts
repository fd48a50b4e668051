import { describe, expect, it } from 'vitest';
import { applyMask, MaskError } from '../../../gateway/masking/index.ts';
import { parsePath } from '../../../gateway/masking/path.ts';
import { plan } from './helpers.ts';

const doc = () => ({
  structuredContent: {
    customers: [
      { id: 'c1', password: 'p1', profile: { password: 'deep1' } },
      { id: 'c2', password: 'p2', profile: { password: 'deep2' } },
    ],
    'odd.key': { 'x y': 'odd' },
    total: 2,
  },
});

const maskedPaths = (path: string): string[] => {
  const r = applyMask(doc(), plan([{ path }]), 'best_effort');
  const out: string[] = [];
  const walk = (v: unknown, at: string) => {
    if (v === '[MASKED:' + (plan([{ path }]).describe()[0]!.class) + ']') out.push(at);
    else if (typeof v === 'object' && v !== null) for (const [k, c] of Object.entries(v)) walk(c, at === '' ? k : `${at}.${k}`);
  };
  walk(r.value, '');
  return out;
};

describe('path syntax', () => {
  it.each([
    ['a.b.c', [{ t: 'name', v: 'a' }, { t: 'name', v: 'b' }, { t: 'name', v: 'c' }]],
    ['$.a[0]', [{ t: 'name', v: 'a' }, { t: 'index', v: 0 }]],
    ['$', []],
    ['[2].x', [{ t: 'index', v: 2 }, { t: 'name', v: 'x' }]],
    ['a[*].b', [{ t: 'name', v: 'a' }, { t: 'any' }, { t: 'name', v: 'b' }]],
    ['a.*.b', [{ t: 'name', v: 'a' }, { t: 'any' }, { t: 'name', v: 'b' }]],
    ['**.password', [{ t: 'deep' }, { t: 'name', v: 'password' }]],
    ['a.**.**.b', [{ t: 'name', v: 'a' }, { t: 'deep' }, { t: 'name', v: 'b' }]],
    ['a["b.c"][\'d e\']', [{ t: 'name', v: 'a' }, { t: 'name', v: 'b.c' }, { t: 'name', v: 'd e' }]],
    ['a["q\\"uote"]', [{ t: 'name', v: 'a' }, { t: 'name', v: 'q"uote' }]],
    ['a-b.$c.@d', [{ t: 'name', v: 'a-b' }, { t: 'name', v: '$c' }, { t: 'name', v: '@d' }]],
  ])('%s', (src, segs) => {
    expect(parsePath(src)).toEqual(segs);
  });
});

describe('path matching', () => {
  it.each([
    ['structuredContent.customers[0].password', ['structuredContent.customers.0.password']],
    ['structuredContent.customers[*].password', ['structuredContent.customers.0.password', 'structuredContent.customers.1.password']],
    ['structuredContent.customers.*.password', ['structuredContent.customers.0.password', 'structuredContent.customers.1.password']],
    ['structuredContent.*.*.password', ['structuredContent.customers.0.password', 'structuredContent.customers.1.password']],
    [
      '**.password',
      ['structuredContent.customers.0.password', 'structuredContent.customers.0.profile.password', 'structuredContent.customers.1.password', 'structuredContent.customers.1.profile.password'],
    ],
    ['structuredContent.**.profile.password', ['structuredContent.customers.0.profile.password', 'structuredContent.customers.1.profile.password']],
    ['structuredContent["odd.key"]["x y"]', ['structuredContent.odd.key.x y']],
    ['structuredContent.total', ['structuredContent.total']],
    ['structuredContent.customers[5].password', []],
    ['structuredContent.missing.password', []],
    ['structuredContent.customers[*].Password', []], // names are case-sensitive
  ])('%s', (path, expected) => {
    expect(maskedPaths(path)).toEqual(expected);
  });

  it('masks a whole subtree when the path ends at an object or array; "$" is the whole document', () => {
    const r = applyMask(doc(), plan([{ path: 'structuredContent.customers[1]', class: 'c' }]), 'strict');
    expect((r.value as ReturnType<typeof doc>).structuredContent.customers[1]).toEqual({ id: '[MASKED:c]', password: '[MASKED:c]', profile: { password: '[MASKED:c]' } });
    expect(r.counts).toEqual({ c: 3 });
    expect(applyMask({ a: [1, 'x'], b: true }, plan([{ path: '$' }]), 'strict').value).toEqual({ a: ['[MASKED:path]', '[MASKED:path]'], b: '[MASKED:path]' });
  });

  it('"**" matches zero levels too', () => {
    expect(applyMask({ a: 'x', b: { a: 'y' } }, plan([{ path: '**.a' }]), 'strict').value).toEqual({ a: '[MASKED:a]', b: { a: '[MASKED:a]' } });
    expect(applyMask({ a: { b: 1 } }, plan([{ path: 'a.**', class: 'all' }]), 'strict').value).toEqual({ a: { b: '[MASKED:all]' } });
  });

  it('when a path and a key rule select the same value, the earlier instruction wins; an enclosing match wins over inner ones', () => {
    const d = { user: { password: 'abcdefgh' } };
    expect(applyMask(d, plan([{ path: 'user.password', style: 'last', keep: 2 }, { key: 'password' }]), 'strict').value).toEqual({ user: { password: '[MASKED:password ...gh]' } });
    expect(applyMask(d, plan([{ key: 'password' }, { path: 'user.password', style: 'last', keep: 2, class: 'p' }]), 'strict').value).toEqual({ user: { password: '[MASKED:password]' } });
    expect(applyMask(d, plan([{ path: 'user.password', class: 'inner' }, { path: 'user', class: 'outer' }]), 'strict').value).toEqual({ user: { password: '[MASKED:outer]' } });
  });
});

describe('paths into embedded JSON', () => {
  const result = (text: string) => ({ content: [{ type: 'text', text }] });

  it('a path descends into a string that holds JSON', () => {
    const r = applyMask(result(JSON.stringify({ customer: { card: '4242', name: 'Ada' } })), plan([{ path: 'content[0].text.customer.card' }]), 'strict');
    expect(r.value).toEqual(result(JSON.stringify({ customer: { card: '[MASKED:card]', name: 'Ada' } })));
  });

  it('a path ending at a JSON string masks the whole string', () => {
    const r = applyMask(result('{"a":1}'), plan([{ path: 'content[0].text', class: 't' }]), 'strict');
    expect(r.value).toEqual(result('[MASKED:t]'));
  });

  it('a path that must descend into a string that is not JSON masks that string (never withholds the answer)', () => {
    const p = plan([{ key: 'x' }, { path: 'content[0].text.customer.card' }]);
    for (const mode of ['strict', 'best_effort'] as const) {
      const r = applyMask(result('customer not found, card 4242 on file'), p, mode);
      expect(r.value).toEqual(result('[MASKED:card]'));
      expect(r.counts).toEqual({ card: 1 });
      expect(r.skipped).toEqual([]);
    }
  });
});

describe('shape mismatches: the value the path reaches is masked', () => {
  it.each([
    [{ a: 5 }, 'a.b', { a: '[MASKED:b]' }],
    [{ a: true }, 'a.b', { a: '[MASKED:b]' }],
    [{ a: [1, 'x'] }, 'a.b', { a: ['[MASKED:b]', '[MASKED:b]'] }],
    [{ a: { b: 1 } }, 'a[0]', { a: { b: '[MASKED:a]' } }],
    [{ a: 'x' }, 'a[*]', { a: '[MASKED:a]' }],
    [{ a: 'secret text', k: 1 }, 'a.b.c', { a: '[MASKED:c]', k: 1 }],
  ])('%j with %s', (input, path, expected) => {
    const p = plan([{ path }]);
    for (const mode of ['strict', 'best_effort'] as const) {
      const r = applyMask(input, p, mode);
      expect(r.value).toEqual(expected);
      expect(r.skipped).toEqual([]);
    }
  });

  it('through a wildcard, members of another shape are not the target and are left alone', () => {
    const input = { a: [{ b: { c: 1 } }, 7, 'text'] };
    const r = applyMask(input, plan([{ path: 'a[*].b.c' }]), 'strict');
    expect(r.value).toEqual({ a: [{ b: { c: '[MASKED:c]' } }, 7, 'text'] });
  });

  it('absent members, out-of-range indexes and null are not errors', () => {
    const p = plan([{ path: 'a.b.c' }, { path: 'x[3].y' }, { path: 'n.m' }]);
    const input = { a: { other: 1 }, x: [{ y: 1 }], n: null };
    expect(applyMask(input, p, 'strict')).toEqual({ value: input, counts: {}, changed: false, skipped: [] });
  });

  it('after "**" nothing is a mismatch (it is a search)', () => {
    const p = plan([{ path: '**.password.value' }]);
    expect(applyMask({ a: 'text', password: 'not an object', b: [{ password: { value: 'x' } }] }, p, 'strict').value).toEqual({
      a: 'text', password: 'not an object', b: [{ password: { value: '[MASKED:value]' } }],
    });
  });
});

describe('structuredContent mirror', () => {
  // MCP servers send a structured result twice: as structuredContent and serialized in a text block.
  const sc = { customer: { id: 'c1', billing: { card_number: '4242424242424242', iban: 'GB82WEST12345698765432' } } };
  const toolResult = (text: string) => ({ content: [{ type: 'text', text }, { type: 'image', data: 'AAAA', mimeType: 'image/png' }], structuredContent: sc });

  it('a path rooted at structuredContent also applies inside every content[*].text that holds JSON', () => {
    const p = plan([{ path: 'structuredContent.customer.billing.card_number', style: 'last', keep: 4 }]);
    const r = applyMask(toolResult(JSON.stringify(sc)), p, 'strict');
    const masked = { customer: { id: 'c1', billing: { card_number: '[MASKED:card_number ...4242]', iban: 'GB82WEST12345698765432' } } };
    expect(r.value).toEqual({ ...toolResult(JSON.stringify(masked)), structuredContent: masked });
    expect(r.counts).toEqual({ card_number: 2 });
  });

  it('the mirror never fails: text blocks that are not JSON, or shaped differently, are left to the other rules', () => {
    const p = plan([{ path: 'structuredContent.customer.billing.card_number' }]);
    const r = applyMask(toolResult('Customer c1, card on file'), p, 'strict');
    expect(r.counts).toEqual({ card_number: 1 });
    expect((r.value as { content: { text: string }[] }).content[0]!.text).toBe('Customer c1, card on file');
    const r2 = applyMask(toolResult('[1,2,3]'), p, 'strict');
    expect((r2.value as { content: { text: string }[] }).content[0]!.text).toBe('[1,2,3]');
  });

  it('"structuredContent" itself mirrors to the whole JSON text block', () => {
    const p = plan([{ path: 'structuredContent', class: 'sc' }]);
    const r = applyMask(toolResult(JSON.stringify({ a: 1 })), p, 'strict');
    expect((r.value as { content: { text: string }[] }).content[0]!.text).toBe('{"a":"[MASKED:sc]"}');
  });
});
