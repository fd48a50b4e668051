import { describe, expect, it } from 'vitest';
import { toDecision } from '../../gateway/policy/decision.ts';

const rs = (result: unknown) => [{ result }];

describe('decision normalisation', () => {
  it('reads a full decision', () => {
    const d = toDecision(rs({
      allow: true, reasons: ['r'], rule_ids: ['x.y'],
      mask: [{ key: '*token*', style: 'marker' }], mask_mode: 'best_effort',
      approval: { required: true, approvers: { groups: ['sre'], count: 2 }, reason: 'shell', ttl_seconds: 60 },
      missing_scopes: ['crm:write'],
      inspect_response: true,
    }), 'rev1');
    expect(d.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(d).toEqual({
      id: d.id,
      outcome: 'allow', allow: true, reasons: ['r'], ruleIds: ['x.y'],
      mask: [{ key: '*token*', style: 'marker' }], maskMode: 'best_effort',
      approval: {
        required: true, approvers: { groups: ['sre'], count: 2 }, gates: [{ name: 'approvers', groups: ['sre'], count: 2 }],
        reason: 'shell', ttlSeconds: 60, scope: 'call', windowSeconds: 0,
      },
      missingScopes: ['crm:write'],
      inspectResponse: true,
      revision: 'rev1',
    });
  });

  it('defaults optional fields', () => {
    expect(toDecision(rs({ allow: false }), 'r')).toMatchObject({
      outcome: 'deny', allow: false, reasons: [], ruleIds: [], mask: [], maskMode: 'strict', approval: null,
    });
  });

  it.each([
    ['an undefined decision', [], /no decision/],
    ['a non-object decision', rs(true), /not an object/],
    ['a missing allow', rs({ reasons: [] }), /no boolean "allow"/],
    ['a string allow', rs({ allow: 'true' }), /no boolean "allow"/],
    ['reasons that are not strings', rs({ allow: true, reasons: [1] }), /"reasons"/],
    ['a mask that is not a list', rs({ allow: true, mask: 'all' }), /"mask"/],
    ['an unknown mask mode', rs({ allow: true, mask_mode: 'off' }), /"mask_mode"/],
    ['an inspect_response that is not a boolean', rs({ allow: true, inspect_response: 'yes' }), /"inspect_response"/],
    ['missing scopes that are not strings', rs({ allow: false, missing_scopes: 'crm:write' }), /"missing_scopes"/],
    ['an approval with a bad count', rs({ allow: true, approval: { required: true, approvers: { count: 0 } } }), /count/],
  ])('fails closed on %s', (_, resultSet, reason) => {
    const d = toDecision(resultSet, 'r');
    expect(d.allow).toBe(false);
    expect(d.outcome).toBe('error');
    expect(d.reasons[0]).toMatch(reason);
  });
});
