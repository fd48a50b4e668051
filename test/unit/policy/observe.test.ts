// The observe-only candidate never changes what is enforced; it counts and records every
// disagreement with both decisions.
import { readFile } from 'node:fs/promises';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Decision } from '../../../gateway/policy/decision.ts';
import { PolicyHolder } from '../../../gateway/policy/holder.ts';
import type { PolicyQuery } from '../../../gateway/policy/input.ts';
import { candidateObserver, differences, recordedPrincipal } from '../../../gateway/policy/observe.ts';
import type { DecisionRecord } from '../../../gateway/telemetry/audit.ts';
import { ALLOW_ALL_POLICY, bundleFor, FIXTURE_POLICY } from '../../helpers/gateway.ts';

const LIMITS = { maxInputBytes: 16384, maxResultBytes: 65536 };
const ALICE = { authenticated: true, type: 'user', sub: 'alice', issuer: 'https://idp.example', client_id: 'c', email: '', groups: [], scopes: [], claims: {} } as const;
const ALICE_JSON = JSON.stringify(ALICE);
/** What the identity layer names alice (gateway/identity principalOf), as the enforced record does. */
const ALICE_PRINCIPAL = JSON.stringify(['user', 'https://idp.example', 'alice']);
const query = (name: string, extra: Partial<PolicyQuery> = {}): PolicyQuery => ({
  era: 'stateless', protocolVersion: '2026-07-28', direction: 'client_to_server', kind: 'request', method: 'tools/call',
  name, arguments: {}, target: 'fixture', sessionId: '', subjectJson: ALICE_JSON, ...extra,
});

let fixture: PolicyHolder;
let allowAll: PolicyHolder;
beforeAll(async () => {
  fixture = new PolicyHolder({ name: 'enforced', source: 'f', limits: LIMITS, log: () => {} });
  allowAll = new PolicyHolder({ name: 'candidate', source: 'a', limits: LIMITS, log: () => {} });
  await fixture.activate(await readFile(await bundleFor(FIXTURE_POLICY)), 'fixture');
  await allowAll.activate(await readFile(await bundleFor(ALLOW_ALL_POLICY)), 'allow-all');
});

function setup() {
  const records: DecisionRecord[] = [];
  const observer = candidateObserver({ enabled: true, record: (r) => records.push(r) });
  return { records, observer };
}

describe('candidateObserver', () => {
  it('returns the enforced decision itself, and records a disagreement with both decisions', () => {
    const { records, observer } = setup();
    let enforcedDecision: Decision | undefined;
    const decide = observer.wrap((q) => (enforcedDecision = fixture.current().decide(q)), () => allowAll.current().decide);
    const got = decide(query('delete_everything'));
    expect(got).toBe(enforcedDecision);
    expect([got.allow, got.ruleIds]).toEqual([false, ['fixture.destructive']]);
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({
      observe_only: true, allow: true, rule_ids: ['allow_all'], revision: allowAll.current().info.revision, principal: ALICE_PRINCIPAL, method: 'tools/call', name: 'delete_everything',
      enforced: { decision_id: got.id, revision: fixture.current().info.revision, allow: false, outcome: 'deny', rule_ids: ['fixture.destructive'] },
      differences: ['allow', 'outcome'],
    });
    expect(records[0]!.decision_id).not.toBe(got.id);
    expect(observer.counters()).toMatchObject({ evaluations: 1, agreements: 0, disagreements: 1, by_rule: { 'fixture.destructive': 1, allow_all: 1 }, by_difference: { allow: 1, outcome: 1 } });
  });

  it('names the principal as the enforced record does: the one the query carries, else identity principalOf of the subject', () => {
    const { records, observer } = setup();
    const decide = observer.wrap((q) => fixture.current().decide(q), () => allowAll.current().decide);
    decide(query('delete_everything'));
    // A subjectless per-token identity is named by its token, which no subject shows: the query carries it.
    const perToken = JSON.stringify(['token', 'https://idp.example', 'k1']);
    decide(query('delete_everything', { principal: perToken }));
    expect(records.map((r) => r.principal)).toEqual([ALICE_PRINCIPAL, perToken]);
    // Not the sub alone (what the candidate's records named before): a service `alice` is not the user `alice`.
    expect(recordedPrincipal(query('x', { subjectJson: JSON.stringify({ ...ALICE, type: 'service' }) }))).toBe(JSON.stringify(['service', 'https://idp.example', 'alice']));
  });

  it('agreement is counted and not recorded; masks and approvals count as differences', () => {
    const { records, observer } = setup();
    const same = observer.wrap((q) => fixture.current().decide(q), () => fixture.current().decide);
    same(query('echo'));
    expect(records).toEqual([]);
    expect(observer.counters()).toMatchObject({ evaluations: 1, agreements: 1, disagreements: 0 });
    const echo = fixture.current().decide(query('echo'));
    const approval = fixture.current().decide(query('approve_me'));
    expect(differences(echo, { ...echo, mask: [] })).toEqual(['mask']);
    expect(differences(echo, { ...echo, maskMode: 'best_effort' })).toEqual(['mask']);
    expect(differences(approval, { ...approval, approval: null })).toEqual(['approval']);
    expect(differences(echo, { ...echo, missingScopes: ['x'], inspectResponse: !echo.inspectResponse })).toEqual(['missing_scopes', 'inspect_response']);
  });

  it('without an active candidate it passes through and counts nothing', () => {
    const { records, observer } = setup();
    const decide = observer.wrap((q) => fixture.current().decide(q), () => undefined);
    expect(decide(query('echo')).allow).toBe(true);
    expect(records).toEqual([]);
    expect(observer.counters().evaluations).toBe(0);
  });

  it('a candidate that throws changes nothing and is counted', () => {
    const { observer } = setup();
    const decide = observer.wrap((q) => fixture.current().decide(q), () => () => {
      throw new Error('boom');
    });
    expect(decide(query('delete_everything')).allow).toBe(false);
    expect(observer.counters()).toMatchObject({ errors: 1, evaluations: 0 });
  });

  it('rule ids are data, never object keys that could reach a prototype', () => {
    const { observer } = setup();
    const evil = (ruleIds: string[]) => () => ({ ...fixture.current().decide(query('echo')), allow: false, outcome: 'deny' as const, ruleIds });
    const decide = observer.wrap((q) => fixture.current().decide(q), () => evil(['__proto__', 'constructor']));
    decide(query('echo'));
    const counters = observer.counters();
    expect(Object.getPrototypeOf(counters.by_rule)).toBe(Object.prototype);
    expect(Object.hasOwn(counters.by_rule, '__proto__')).toBe(true);
    expect(counters.by_rule.constructor).toBe(1);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('records nothing, and builds nothing, when the audit sink keeps no records', () => {
    const observer = candidateObserver({ enabled: false, record: () => { throw new Error('must not be called'); } });
    const decide = observer.wrap((q) => fixture.current().decide(q), () => allowAll.current().decide);
    expect(decide(query('delete_everything')).allow).toBe(false);
    expect(observer.counters().disagreements).toBe(1);
  });
});
