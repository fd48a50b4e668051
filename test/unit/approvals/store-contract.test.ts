// One contract, both approval stores (memory; Redis, single and Cluster): the workflow through
// the service, compare-and-set, attach, history, wake-ups, expiry by the sweeper.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisApprovalStore } from '../../../gateway/approvals/redis-store.ts';
import { MemoryApprovalStore, type ApprovalStore } from '../../../gateway/approvals/store.ts';
import { connectRedis, type RedisClient } from '../../../gateway/state/index.ts';
import { startRedis, startRedisCluster, type TestRedis, type TestRedisCluster } from '../../helpers/redis.ts';
import { decision, held, person, service } from './helpers.ts';

let redis: TestRedis;
let client: RedisClient;
let cluster: TestRedisCluster;
let clusterClient: RedisClient;
const opened: ApprovalStore[] = [];
beforeAll(async () => {
  [redis, cluster] = await Promise.all([startRedis(), startRedisCluster()]);
  client = await connectRedis({ url: redis.url, commandTimeoutMs: 2000, connectTimeoutMs: 2000, log: () => {} });
  clusterClient = await connectRedis({ cluster: cluster.urls, commandTimeoutMs: 2000, connectTimeoutMs: 5000, log: () => {} });
}, 60_000);
afterAll(async () => {
  await Promise.all(opened.map((s) => s.close()));
  await client?.quit();
  await clusterClient?.quit();
  await redis?.close();
  await cluster?.close();
});

const keep = <T extends ApprovalStore>(s: T): T => (opened.push(s), s);
const stores: { name: string; make: () => ApprovalStore }[] = [
  { name: 'memory', make: () => new MemoryApprovalStore() },
  { name: 'Redis', make: () => keep(new RedisApprovalStore(client, { prefix: `test:${randomUUID()}:`, retentionMs: 86_400_000 })) },
  { name: 'Redis Cluster', make: () => keep(new RedisApprovalStore(clusterClient, { prefix: `test:${randomUUID()}:`, retentionMs: 86_400_000 })) },
];

const rita = person('rita', ['admins']);
const sam = person('sam', ['sre']);
const sue = person('sue', ['sre']);
const dan = person('dan', ['dba', 'sre']);

describe.each(stores)('approval store: $name', ({ make }) => {
  it('pending -> approved -> executing -> executed, with history', async () => {
    const svc = service(make());
    const { record, created } = await svc.open(held(rita));
    expect(created).toBe(true);
    expect(record.state).toBe('pending');
    const voted = await svc.vote(record.id, sam, 'approve', 'looks fine', 'api');
    expect(voted).toMatchObject({ ok: true, value: { state: 'approved' } });
    expect((await svc.claim(record.id))).toMatchObject({ ok: true, value: { state: 'executing', claimedBy: 'r1' } });
    expect((await svc.claim(record.id))).toEqual({ ok: false, error: 'not_approved' });
    expect((await svc.finish(record.id, true, 'ok'))).toMatchObject({ ok: true, value: { state: 'executed' } });
    const history = await svc.store.history(record.id);
    expect(history.map((e) => e.type)).toEqual(['approval.requested', 'approval.approved', 'approval.claimed', 'approval.executed']);
    expect(history[1]).toMatchObject({ by: sam.principal, detail: { comment: 'looks fine', decision: 'approve', policy: { allow: true, ruleIds: ['t.vote'] } } });
    // The sealed call is what runs: its params come back out.
    expect(svc.storedParams((await svc.store.get(record.id))!)).toEqual({ name: 'run_sql', arguments: { query: 'select 1' } });
  });

  it('an identical call attaches; a denial holds until its deadline; after the record ends a new one opens', async () => {
    const svc = service(make());
    const first = await svc.open(held(rita));
    const again = await svc.open(held(rita));
    expect(again).toMatchObject({ created: false, record: { id: first.record.id } });
    // Another principal or other arguments: another request.
    expect((await svc.open(held(person('ron', ['admins'])))).created).toBe(true);
    expect((await svc.open(held(rita, undefined, { query: 'select 2' }))).created).toBe(true);
    await svc.vote(first.record.id, sam, 'deny', 'no', 'api');
    expect(await svc.open(held(rita))).toMatchObject({ created: false, record: { id: first.record.id, state: 'denied' } });
    const executed = await svc.open(held(rita, undefined, { query: 'select 3' }));
    await svc.vote(executed.record.id, sam, 'approve', '', 'api');
    await svc.claim(executed.record.id);
    await svc.finish(executed.record.id, true, 'ok');
    expect((await svc.open(held(rita, undefined, { query: 'select 3' }))).created).toBe(true);
  });

  it('concurrent identical opens attach to one record', async () => {
    const svc = service(make());
    const all = await Promise.all(Array.from({ length: 20 }, () => svc.open(held(rita))));
    expect(new Set(all.map((o) => o.record.id)).size).toBe(1);
    expect(all.filter((o) => o.created)).toHaveLength(1);
  });

  it('refuses self-approval, ineligible groups, a second vote, a vote after the end', async () => {
    const svc = service(make());
    const selfish = person('rita', ['admins', 'sre']);
    const { record } = await svc.open(held(selfish, decision({ approvers: { groups: ['sre'], count: 2 } })));
    expect(await svc.vote(record.id, selfish, 'approve', '', 'api')).toMatchObject({ ok: false, error: 'self_approval' });
    expect(await svc.vote(record.id, person('ann', ['support']), 'approve', '', 'api')).toMatchObject({ ok: false, error: 'not_eligible' });
    expect(await svc.vote(record.id, sam, 'approve', '', 'api')).toMatchObject({ ok: true, value: { state: 'pending' } });
    expect(await svc.vote(record.id, sam, 'approve', '', 'api')).toMatchObject({ ok: false, error: 'already_voted' });
    expect(await svc.vote(record.id, sue, 'deny', '', 'api')).toMatchObject({ ok: false, error: 'comment_required' });
    expect(await svc.vote(record.id, sue, 'deny', 'not on prod', 'api')).toMatchObject({ ok: true, value: { state: 'denied' } });
    expect(await svc.vote(record.id, dan, 'approve', '', 'api')).toMatchObject({ ok: false, error: 'not_pending' });
    expect(await svc.claim(record.id)).toMatchObject({ ok: false, error: 'not_approved' });
  });

  it('the vote policy can refuse a vote', async () => {
    const svc = service(make(), { refuse: (q) => q.kind === 'approval' && q.subjectJson.includes('"sub":"sam"') });
    const { record } = await svc.open(held(rita));
    expect(await svc.vote(record.id, sam, 'approve', '', 'api')).toMatchObject({ ok: false, error: 'policy_refused', policy: { allow: false } });
    expect(await svc.vote(record.id, sue, 'approve', '', 'api')).toMatchObject({ ok: true, value: { state: 'approved' } });
  });

  it('gates: a human counts once', async () => {
    const svc = service(make());
    const d = decision({ gates: [{ name: 'sre', groups: ['sre'] }, { name: 'dba', groups: ['dba'] }] });
    const { record } = await svc.open(held(rita, d));
    expect(await svc.vote(record.id, dan, 'approve', '', 'api')).toMatchObject({ ok: true, value: { state: 'pending' } });
    expect(await svc.vote(record.id, sam, 'approve', '', 'api')).toMatchObject({ ok: true, value: { state: 'approved' } });
  });

  it('expiry is an event written by the sweeper; history outlives it', async () => {
    let now = Date.now();
    const svc = service(make(), { now: () => now });
    const { record } = await svc.open(held(rita, decision({ approvers: { groups: ['sre'] }, ttl_seconds: 1 })));
    expect(await svc.sweep()).toBe(0);
    await new Promise((r) => setTimeout(r, 1100));
    now = Date.now();
    expect(await svc.vote(record.id, sam, 'approve', '', 'api')).toMatchObject({ ok: false, error: 'expired' });
    expect(await svc.sweep()).toBe(1);
    expect((await svc.store.get(record.id))!.state).toBe('expired');
    expect((await svc.store.history(record.id)).map((e) => e.type)).toEqual(['approval.requested', 'approval.expired']);
    expect(await svc.store.due(now, 10)).toEqual([]);
  });

  it('the store clock guards: a vote is not written past the deadline whatever the replica thinks', async () => {
    const svc = service(make());
    const { record } = await svc.open(held(rita, decision({ approvers: { groups: ['sre'] }, ttl_seconds: 1 })));
    await new Promise((r) => setTimeout(r, 1100));
    const late = service(svc.store, { now: () => record.createdAt }); // a replica whose clock is behind
    expect(await late.vote(record.id, sam, 'approve', '', 'api')).toMatchObject({ ok: false, error: 'expired' });
    expect((await svc.store.get(record.id))!.state).toBe('pending');
  });

  it('revoke before use; cancel by the requester only', async () => {
    const svc = service(make());
    const { record } = await svc.open(held(rita));
    expect(await svc.apply(record.id, { type: 'cancel', by: { ...sam, ...{ principal: sam.principal, issuer: '', sub: 'sam', name: 'sam', groups: [] } }, comment: '' })).toMatchObject({ ok: false, error: 'not_allowed' });
    await svc.vote(record.id, sam, 'approve', '', 'api');
    expect(await svc.apply(record.id, { type: 'revoke', by: { principal: sue.principal, issuer: '', sub: 'sue', name: 'sue', groups: ['sre'] }, comment: 'changed my mind' })).toMatchObject({ ok: true, value: { state: 'revoked' } });
    expect(await svc.claim(record.id)).toMatchObject({ ok: false, error: 'not_approved' });
  });

  it('window scope: identical calls run until the window ends', async () => {
    const svc = service(make());
    const d = decision({ approvers: { groups: ['sre'] }, scope: 'window', window_seconds: 60 });
    const { record } = await svc.open(held(rita, d));
    await svc.vote(record.id, sam, 'approve', '', 'api');
    expect(await svc.open(held(rita, d))).toMatchObject({ created: false, record: { id: record.id, state: 'approved' } });
    for (let i = 1; i <= 3; i++) expect(await svc.claim(record.id)).toMatchObject({ ok: true, value: { state: 'approved', uses: i } });
  });

  it('exactly one of many concurrent claims wins', async () => {
    const svc = service(make());
    const { record } = await svc.open(held(rita));
    await svc.vote(record.id, sam, 'approve', '', 'api');
    const claims = await Promise.all(Array.from({ length: 50 }, () => svc.claim(record.id)));
    expect(claims.filter((c) => c.ok)).toHaveLength(1);
    expect(claims.filter((c) => !c.ok).map((c) => !c.ok && c.error)).toEqual(Array(49).fill('not_approved'));
  });

  it('waitForChange wakes on a change, times out without one', async () => {
    const store = make();
    const svc = service(store);
    const { record } = await svc.open(held(rita));
    const started = Date.now();
    await store.waitForChange(record.id, record.version, 50);
    expect(Date.now() - started).toBeGreaterThanOrEqual(40);
    const woke = store.waitForChange(record.id, record.version, 600_000).then(() => 'woke');
    await new Promise((r) => setTimeout(r, 50));
    await svc.vote(record.id, sam, 'approve', '', 'api');
    expect(await woke).toBe('woke');
    // Already changed: returns at once (subscribe, then re-read). A lost wake-up would hang the
    // test past its timeout: the waits below are far longer than it.
    await store.waitForChange(record.id, record.version, 600_000);
    const aborted = new AbortController();
    const waiting = store.waitForChange(record.id, record.version + 1, 600_000, aborted.signal).then(() => 'aborted');
    aborted.abort();
    expect(await waiting).toBe('aborted');
  });

  it('unknown and malformed ids are not found', async () => {
    const svc = service(make());
    expect(await svc.store.get('nope')).toBeUndefined();
    expect(await svc.store.get(`apv_${'0'.repeat(32)}_${'A'.repeat(22)}`)).toBeUndefined();
    expect(await svc.vote('nope', sam, 'approve', '', 'api')).toMatchObject({ ok: false, error: 'not_found' });
  });
});
