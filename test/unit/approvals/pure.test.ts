// The pure parts of approvals: the obligation parser, gate matching, digest, sealing, the machine.
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { callDigest, canonicalJson, DigestError } from '../../../gateway/approvals/digest.ts';
import { matchGates, allGatesPass } from '../../../gateway/approvals/matching.ts';
import { parseApproval } from '../../../gateway/approvals/obligation.ts';
import { parseSealingKeys, SealError, Sealer } from '../../../gateway/approvals/seal.ts';
import { toDecision } from '../../../gateway/policy/decision.ts';

describe('parseApproval', () => {
  it('defaults: one gate from approvers, ttl 900, scope call', () => {
    expect(parseApproval({ required: true, approvers: { groups: ['sre'], count: 2 } })).toEqual({
      required: true, approvers: { groups: ['sre'], count: 2 }, gates: [{ name: 'approvers', groups: ['sre'], count: 2 }],
      reason: '', ttlSeconds: 900, scope: 'call', windowSeconds: 0,
    });
  });
  it('gates, window scope', () => {
    const a = parseApproval({ required: true, gates: [{ name: 'sre', groups: ['sre'] }, { name: 'owner', groups: ['data'], count: 2 }], scope: 'window', window_seconds: 60, ttl_seconds: 86_400 });
    expect(a).toMatchObject({ gates: [{ name: 'sre', count: 1 }, { name: 'owner', count: 2 }], scope: 'window', windowSeconds: 60, ttlSeconds: 86_400 });
  });
  it('not required: null', () => {
    expect(parseApproval(undefined)).toBeNull();
    expect(parseApproval({ required: false, approvers: 'junk' })).toBeNull();
  });
  it.each([
    [{ required: 'yes' }, /required must be a boolean/],
    [{ required: true }, /who may approve/],
    [{ required: true, approvers: { groups: [] } }, /non-empty array/],
    [{ required: true, approvers: { groups: ['sre'], count: 0 } }, /count must be/],
    [{ required: true, approvers: { groups: ['sre'], count: 1.5 } }, /count must be/],
    [{ required: true, approvers: { groups: ['sre'] }, gates: [{ groups: ['x'] }] }, /not both/],
    [{ required: true, gates: [] }, /gates must be/],
    [{ required: true, gates: [{ name: 'a', groups: ['x'] }, { name: 'a', groups: ['y'] }] }, /used twice/],
    [{ required: true, approvers: { groups: ['sre'] }, ttl_seconds: 86_401 }, /ttl_seconds/],
    [{ required: true, approvers: { groups: ['sre'] }, ttl_seconds: 0 }, /ttl_seconds/],
    [{ required: true, approvers: { groups: ['sre'] }, scope: 'forever' }, /scope/],
    [{ required: true, approvers: { groups: ['sre'] }, scope: 'window' }, /window_seconds/],
    [{ required: true, approvers: { groups: ['sre'] }, window_seconds: 5 }, /only to scope "window"/],
    [{ required: true, approvers: { groups: ['sre'] }, reason: 7 }, /reason/],
    ['approve', /must be an object/],
  ])('malformed %j is refused', (raw, why) => {
    const out = parseApproval(raw);
    expect(typeof out).toBe('string');
    expect(out).toMatch(why);
  });
  it('a malformed approval makes the whole decision fail closed', () => {
    const d = toDecision([{ result: { allow: true, approval: { required: true, approvers: { groups: ['sre'] }, ttl_seconds: 999_999 } } }], 'r');
    expect(d.allow).toBe(false);
    expect(d.outcome).toBe('error');
    expect(d.reasons[0]).toMatch(/ttl_seconds/);
  });
});

describe('matchGates', () => {
  const gates = [{ name: 'sre', groups: ['sre'], count: 1 }, { name: 'dba', groups: ['dba'], count: 1 }];
  it('a human counts once across gates', () => {
    const p = matchGates(gates, [{ key: 'ann', groups: ['sre', 'dba'] }]);
    expect(allGatesPass(p)).toBe(false);
    expect(p.reduce((n, g) => n + g.filledBy.length, 0)).toBe(1);
  });
  it('finds the seating greedy would miss', () => {
    // Ann first in sre would leave dba empty; the matching moves her to dba.
    const p = matchGates(gates, [{ key: 'ann', groups: ['sre', 'dba'] }, { key: 'bob', groups: ['sre'] }]);
    expect(allGatesPass(p)).toBe(true);
    expect(p.find((g) => g.name === 'dba')!.filledBy).toEqual(['ann']);
  });
  it('N distinct approvers per gate; "*" takes anyone', () => {
    expect(allGatesPass(matchGates([{ name: 'two', groups: ['sre'], count: 2 }], [{ key: 'a', groups: ['sre'] }]))).toBe(false);
    expect(allGatesPass(matchGates([{ name: 'any', groups: ['*'], count: 2 }], [{ key: 'a', groups: [] }, { key: 'b', groups: ['x'] }]))).toBe(true);
  });
  it('agrees with brute force on random cases', () => {
    const groups = ['a', 'b', 'c'];
    fc.assert(fc.property(
      fc.array(fc.record({ groups: fc.subarray(groups, { minLength: 1 }), count: fc.integer({ min: 1, max: 2 }) }), { minLength: 1, maxLength: 3 }),
      fc.array(fc.subarray(groups), { maxLength: 5 }),
      (gs, voters) => {
        const gateList = gs.map((g, i) => ({ name: `g${i}`, ...g }));
        const seats = gateList.flatMap((g, i) => Array.from({ length: g.count }, () => i));
        // Brute force: try every assignment of voters to a seat or none.
        const best = (v: number, used: Set<number>): number => {
          if (v === voters.length) return used.size;
          let top = best(v + 1, used);
          seats.forEach((gi, s) => {
            if (used.has(s) || !gateList[gi]!.groups.some((g) => voters[v]!.includes(g))) return;
            top = Math.max(top, best(v + 1, new Set([...used, s])));
          });
          return top;
        };
        const p = matchGates(gateList, voters.map((g, i) => ({ key: `v${i}`, groups: g })));
        expect(p.reduce((n, g) => n + g.filledBy.length, 0)).toBe(best(0, new Set()));
      },
    ), { numRuns: 300 });
  });
});

describe('digest', () => {
  const base = { target: 't', method: 'tools/call', name: 'run_sql', arguments: { b: 1, a: [1, 2] }, principal: 'p', revision: 'r' };
  it('key order does not matter; every bound field does', () => {
    expect(callDigest(base)).toBe(callDigest({ ...base, arguments: { a: [1, 2], b: 1 } }));
    for (const change of [{ target: 'u' }, { method: 'prompts/get' }, { name: 'run_shell' }, { arguments: { b: 1, a: [2, 1] } }, { principal: 'q' }, { revision: 's' }, { continuation: 'x' }]) {
      expect(callDigest({ ...base, ...change })).not.toBe(callDigest(base));
    }
  });
  it('RFC 8785 numbers and strings', () => {
    expect(canonicalJson({ z: 1e21, a: 1.0, m: '\u20ac', s: -0 })).toBe('{"a":1,"m":"€","s":0,"z":1e+21}');
  });
  it('a lone surrogate cannot be bound', () => {
    expect(() => callDigest({ ...base, arguments: { q: '\ud800' } })).toThrow(DigestError);
  });
});

describe('Sealer', () => {
  const [k1, k2] = [randomBytes(32), randomBytes(32)];
  const sealer = new Sealer([{ kid: 'new', key: k1 }, { kid: 'old', key: k2 }]);
  const oldOnly = new Sealer([{ kid: 'old', key: k2 }]);
  it('round trips; the first key seals, every key opens', () => {
    expect(sealer.open('state', sealer.seal('state', { a: 1 }))).toEqual({ a: 1 });
    expect(sealer.open('state', oldOnly.seal('state', { a: 2 }))).toEqual({ a: 2 });
    expect(sealer.seal('state', {})).toMatch(/^portcullis\.state\.new\./);
  });
  it('refuses tampering, another purpose, unknown keys, garbage', () => {
    const sealed = sealer.seal('state', { a: 1 });
    const parts = sealed.split('.');
    const body = Buffer.from(parts[4]!, 'base64url');
    body[0]! ^= 1;
    const flipped = [...parts.slice(0, 4), body.toString('base64url')].join('.');
    expect(() => sealer.open('state', flipped)).toThrow(SealError);
    expect(() => sealer.open('call', sealed)).toThrow(SealError);
    expect(() => sealer.open('state', sealed.replace('.new.', '.old.'))).toThrow(SealError);
    expect(() => oldOnly.open('state', sealed)).toThrow(SealError);
    for (const junk of ['', 'portcullis.state', 'portcullis.state.new.x.y', `${sealed}.x`, sealed.replace('portcullis.', 'other.')]) {
      expect(() => sealer.open('state', junk)).toThrow(SealError);
    }
  });
  it('parses configured keys and refuses bad ones', () => {
    const text = `a:${k1.toString('base64')}, b:${k2.toString('base64')}`;
    expect(parseSealingKeys(text).map((k) => k.kid)).toEqual(['a', 'b']);
    expect(() => parseSealingKeys('a:c2hvcnQ=')).toThrow(/32 bytes/);
    expect(() => parseSealingKeys(`a:${k1.toString('base64')},a:${k2.toString('base64')}`)).toThrow(/unique/);
    expect(() => parseSealingKeys('')).toThrow(/no sealing key/);
    expect(() => parseSealingKeys(`bad kid:${k1.toString('base64')}`)).toThrow(/kid/);
  });
});
