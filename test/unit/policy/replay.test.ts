// Replay's half of the data path: each recorded shape becomes the query the gateway asked about it
// (decided here by the real fixture engine, so a wrong field shows as a wrong decision); what
// cannot be asked again is skipped with the reason; decision records give a subject of kind,
// issuer and sub only; a candidate mask the gateway could not compile denies.
import { readFile } from 'node:fs/promises';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Decision } from '../../../gateway/policy/decision.ts';
import { PolicyHolder } from '../../../gateway/policy/holder.ts';
import type { PolicyQuery } from '../../../gateway/policy/input.ts';
import { queryOfDecision, queryOfRecorded, replay, type ReplayItem } from '../../../gateway/policy/replay.ts';
import { sinceOf } from '../../../gateway/policy/replay-cli.ts';
import type { RecordedMessage } from '../../../gateway/recordings/entry.ts';
import type { DecisionRecord } from '../../../gateway/telemetry/audit.ts';
import { bundleFor, FIXTURE_POLICY } from '../../helpers/gateway.ts';

const SUBJECT = '{"authenticated":false,"type":"anonymous","sub":"anonymous","issuer":"","client_id":"","email":"","groups":[],"scopes":[],"claims":{}}';
const base = {
  recording: 'r', target: 'fixture', era: 'legacy', protocolVersion: '2025-11-25', sessionId: 's', time: 1, origin: 'upstream', name: '',
  principal: '["anonymous","","anonymous"]', subjectJson: SUBJECT, traceId: '', spanId: '',
  decision: { id: 'd', outcome: 'allow', allow: true, approvalRequired: false, ruleIds: ['x'], reasons: [], revision: 'r', masked: {} },
} as const;
const msg = (m: Partial<RecordedMessage>): RecordedMessage => ({ ...base, direction: 'server_to_client', kind: 'request', method: '', message: {}, ...m } as RecordedMessage);
const query = (m: Partial<RecordedMessage>) => (queryOfRecorded(msg(m)) as ReplayItem).query;

let fixture: PolicyHolder;
beforeAll(async () => {
  fixture = new PolicyHolder({ name: 'enforced', source: 'f', limits: { maxInputBytes: 16384, maxResultBytes: 65536 }, log: () => {} });
  await fixture.activate(await readFile(await bundleFor(FIXTURE_POLICY)), 'fixture');
});
const decide = (q: PolicyQuery) => fixture.current().decide(q);

describe('queryOfRecorded', () => {
  it('a client call is decided on its arguments, other client messages on their params', () => {
    const call = query({ direction: 'client_to_server', kind: 'request', method: 'tools/call', name: 'clock', message: { params: { name: 'clock', arguments: { when: 'not a time' } } } });
    expect(call).toMatchObject({ direction: 'client_to_server', kind: 'request', method: 'tools/call', name: 'clock', arguments: { when: 'not a time' }, principal: base.principal });
    expect(call.params).toBeUndefined();
    // The fixture's clock rule fails on a bad time: only a query carrying the arguments gets there.
    expect(decide(call)).toMatchObject({ outcome: 'error', ruleIds: ['portcullis.fail_closed'] });
    const list = query({ direction: 'client_to_server', kind: 'request', method: 'resources/list', message: { params: { cursor: 'c' } } });
    expect([list.params, list.arguments]).toEqual([{ cursor: 'c' }, undefined]);
  });

  it("a client's answer to a server request is decided on the method it answers only; server messages on params, with no name", () => {
    const answer = query({ direction: 'client_to_server', kind: 'response', method: 'sampling/createMessage', name: 'ignored', message: { result: { content: 'x' } } });
    expect(answer).toMatchObject({ kind: 'response', method: 'sampling/createMessage', name: '' });
    expect([answer.result, answer.params, answer.arguments]).toEqual([undefined, undefined, undefined]);
    const sampling = query({ direction: 'server_to_client', kind: 'request', method: 'sampling/createMessage', name: 'n', message: { params: { maxTokens: 1 } } });
    expect(sampling).toMatchObject({ name: '', params: { maxTokens: 1 } });
    expect(decide(sampling)).toMatchObject({ allow: false, ruleIds: ['fixture.no_sampling'] });
  });

  it("a call's answer is decided on its result, or on its error as result.error", () => {
    const forbidden = query({ direction: 'server_to_client', kind: 'response', method: 'tools/call', name: 'echo', message: { result: { content: [{ type: 'text', text: 'forbidden-word' }] } } });
    expect(decide(forbidden).ruleIds).toEqual(['fixture.response.forbidden']);
    const error = query({ direction: 'server_to_client', kind: 'response', method: 'tools/call', name: 'echo', message: { error: { code: 1, message: 'forbidden-word' } } });
    expect(error.result).toEqual({ error: { code: 1, message: 'forbidden-word' } });
    expect(decide(error).ruleIds).toEqual(['fixture.response.forbidden']);
  });

  it('skips what cannot be asked again, saying why', () => {
    expect(queryOfRecorded(msg({ origin: 'gateway' }))).toEqual({ skip: 'written by the gateway (a refusal or an upstream failure), not decided' });
    const { decision: _, ...undecided } = msg({});
    expect(queryOfRecorded(undecided as RecordedMessage)).toEqual({ skip: 'no decision recorded' });
    expect(queryOfRecorded(msg({ kind: 'response', message: { result: { resultType: 'input_required', inputRequests: {} } } }))).toMatchObject({ skip: expect.stringContaining('input_required') });
  });
});

describe('queryOfDecision', () => {
  const record = (extra: Partial<DecisionRecord>): DecisionRecord => ({
    decision_id: 'd', time: '2026-01-01T00:00:00.000Z', target: 'fixture', era: 'stateless', protocol_version: '2026-07-28', session_id: '',
    principal: JSON.stringify(['user', 'https://idp', 'ada']), direction: 'client_to_server', kind: 'request', method: 'tools/call', name: 'echo',
    outcome: 'allow', allow: true, approval_required: false, rule_ids: ['fixture.tool'], reasons: [], revision: 'r', masked: {}, ...extra,
  });

  it('a subject of kind, issuer and sub only, no arguments', () => {
    const item = queryOfDecision(record({})) as ReplayItem;
    expect(JSON.parse(item.query.subjectJson)).toEqual({ authenticated: true, type: 'user', sub: 'ada', issuer: 'https://idp', client_id: '', email: '', groups: [], scopes: [], claims: {} });
    expect([item.query.arguments, item.query.params, item.query.principal]).toEqual([undefined, undefined, record({}).principal]);
    const token = queryOfDecision(record({ principal: JSON.stringify(['token', 'https://idp', 'k']) })) as ReplayItem;
    expect(JSON.parse(token.query.subjectJson)).toMatchObject({ type: 'service', sub: '' });
  });

  it("skips observe-only records and principals that are not identity's", () => {
    expect(queryOfDecision(record({ observe_only: true }))).toMatchObject({ skip: expect.stringContaining('observe-only') });
    for (const principal of ['ada', '["user","x"]', '["user","https://idp","ada",1]', '["alien","i","s"]']) {
      expect(queryOfDecision(record({ principal })), principal).toMatchObject({ skip: expect.stringContaining('identity form') });
    }
  });
});

describe('replay', () => {
  it('a candidate mask the gateway could not compile denies, as it does live', () => {
    const item = queryOfRecorded(msg({ direction: 'client_to_server', kind: 'request', method: 'tools/call', name: 'echo', message: { params: { name: 'echo', arguments: {} } } }));
    const badMask = (q: PolicyQuery): Decision => ({ ...decide(q), mask: [{ detector: 'no_such_detector' }] });
    const report = replay([item], badMask);
    expect(report.changes).toHaveLength(1);
    expect(report.changes[0]).toMatchObject({ kind: 'newly_denied', candidate: { outcome: 'error' } });
    expect(report.changes[0]!.detail).toContain('policy decision "mask" is invalid');
  });
});

describe('sinceOf', () => {
  it('reads durations and ISO times; anything else is a usage error', () => {
    const now = 10 * 86_400_000;
    expect([sinceOf('24h', now), sinceOf('90m', now), sinceOf('30s', now), sinceOf('7d', now), sinceOf('1.5h', now)]).toEqual([now - 86_400_000, now - 5_400_000, now - 30_000, now - 7 * 86_400_000, now - 5_400_000]);
    expect(sinceOf('2026-12-01T00:00:00Z')).toBe(Date.parse('2026-12-01T00:00:00Z'));
    for (const bad of ['yesterday', '24', 'h', '-1h', '12/01/2026']) expect(() => sinceOf(bad, now), bad).toThrow(/--since: expected a duration/);
  });
});
