// The review's fixes, beyond the reviewer's own tests: ids of both eras (R2), a recording never
// shared (meta checked on every append), record()'s answer (R9), the message size cap and paged
// reads (R4), the per-principal bound (R6), the memory byte bound (R7), session id lookup, who is an
// auditor, where a sign-in may return to, and the page telling store errors from others.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { safeNext } from '../../../gateway/approvals/web.ts';
import { MemoryRecordingStore, Recorder, RedisRecordingStore, recordingIdFor, recordingWeb, type PendingEntry, type RecordedMessage, type RecordingStore } from '../../../gateway/recordings/index.ts';
import { isAuditor } from '../../../gateway/recordings/api.ts';
import { connectRedis, type RedisClient } from '../../../gateway/state/index.ts';
import type { Subject } from '../../../gateway/policy/input.ts';
import { startRedis, startRedisCluster, type TestRedis, type TestRedisCluster } from '../../helpers/redis.ts';
import { recorded } from './messages.ts';

let redis: TestRedis;
let cluster: TestRedisCluster;
let client: RedisClient;
let clusterClient: RedisClient;
beforeAll(async () => {
  [redis, cluster] = await Promise.all([startRedis(), startRedisCluster()]);
  client = await connectRedis({ url: redis.url, commandTimeoutMs: 5000, connectTimeoutMs: 2000, log: () => {} });
  clusterClient = await connectRedis({ cluster: cluster.urls, commandTimeoutMs: 5000, connectTimeoutMs: 5000, log: () => {} });
}, 60_000);
afterAll(async () => {
  client?.disconnect();
  clusterClient?.disconnect();
  await Promise.all([redis?.close(), cluster?.close()]);
});

const alice = '["user","https://idp.example","alice"]';
const mallory = '["user","https://idp.example","mallory"]';
type Limits = ConstructorParameters<typeof MemoryRecordingStore>[0];
const LIMITS: Limits = { retentionMs: 3600_000, maxMessages: 10_000, maxRecordings: 1000 };
const stores: { name: string; make: (limits?: Limits) => RecordingStore }[] = [
  { name: 'memory', make: (limits = LIMITS) => new MemoryRecordingStore(limits) },
  { name: 'redis', make: (limits = LIMITS) => new RedisRecordingStore(client, `fix:${randomUUID()}:`, limits) },
  { name: 'redis cluster', make: (limits = LIMITS) => new RedisRecordingStore(clusterClient, `fix:${randomUUID()}:`, limits) },
];
const logs: string[] = [];
const recorder = (store: RecordingStore, extra: Partial<ConstructorParameters<typeof Recorder>[0]> = {}) => new Recorder({ store, whenFull: 'fail_closed', bufferMessages: 10_000, bufferBytes: 64 << 20, flushIntervalMs: 5, flushBatch: 500, closeTimeoutMs: 5000, log: (m) => logs.push(m), ...extra });
let uid = 0;
const pending = (m: RecordedMessage, json = JSON.stringify(m)): PendingEntry => ({ uid: `f:${uid++}`, recording: m.recording, time: m.time, json, target: m.target, era: m.era, sessionId: m.sessionId, principal: m.principal });
const modern = (id: string, n: number, principal = alice) => recorded(id, n, { era: 'stateless', sessionId: '', protocolVersion: '2026-07-28', principal });

describe('recordingIdFor, both eras (R2, R6)', () => {
  it('legacy: ses_ and a hash of target, session id and principal; never a raw session id, never a rec_ id', () => {
    const id = recordingIdFor({ era: 'legacy', target: 'crm', sessionId: 's-1', principal: alice });
    expect(id).toMatch(/^ses_[0-9a-f]{32}$/);
    expect(recordingIdFor({ era: 'legacy', target: 'crm', sessionId: 's-1', principal: alice })).toBe(id);
    expect(recordingIdFor({ era: 'legacy', target: 'billing', sessionId: 's-1', principal: alice })).not.toBe(id);
    expect(recordingIdFor({ era: 'legacy', target: 'crm', sessionId: 's-1', principal: mallory })).not.toBe(id);
    expect(recordingIdFor({ era: 'legacy', target: 'crm', sessionId: 's-2', principal: alice })).not.toBe(id);
    const modernId = recordingIdFor({ era: 'stateless', target: 'crm', principal: alice, subject: { client_id: '' } });
    // An upstream answering with a 2026-07-28 id as its session id gets a recording of its own.
    expect(recordingIdFor({ era: 'legacy', target: 'crm', sessionId: modernId, principal: alice })).not.toBe(modernId);
    // Unambiguous: a session id carrying the separators of another principal does not meet it.
    expect(recordingIdFor({ era: 'legacy', target: 'crm', sessionId: `s","${alice}`, principal: mallory })).not.toBe(recordingIdFor({ era: 'legacy', target: 'crm', sessionId: 's', principal: `${alice}","${mallory}` }));
    // No session (a legacy server without sessions): the principal's session-less legacy recording on that target.
    const none = recordingIdFor({ era: 'legacy', target: 'crm', sessionId: '', principal: alice });
    expect(none).toMatch(/^ses_[0-9a-f]{32}$/);
    expect(recordingIdFor({ era: 'legacy', target: 'crm', principal: alice })).toBe(none);
    expect(new Set([none, id, recordingIdFor({ era: 'legacy', target: 'crm', sessionId: '', principal: mallory }), recordingIdFor({ era: 'legacy', target: 'billing', sessionId: '', principal: alice })]).size).toBe(4);
  });

  it('2026-07-28 without a token client: one recording per target and principal, whatever clientInfo.name says', () => {
    const ids = ['a', 'b', undefined].map((clientName) => recordingIdFor({ target: 'crm', principal: alice, subject: { client_id: '' }, clientName }));
    expect(new Set(ids).size).toBe(1);
    expect(ids[0]).toBe(recordingIdFor({ era: 'stateless', target: 'crm', principal: alice }));
  });
});

describe('a recording is never shared (R2)', () => {
  it('a message claiming the other era\'s namespace is refused and counted: false under fail_closed, true under drop', async () => {
    const store = new MemoryRecordingStore(LIMITS);
    const rec = recordingIdFor({ target: 'crm', principal: alice, subject: { client_id: '' } });
    const closed = recorder(store);
    expect(closed.record(recorded(rec, 1, { principal: mallory, sessionId: rec }))).toBe(false);
    const open = recorder(store, { whenFull: 'drop' });
    const ses = recordingIdFor({ era: 'legacy', target: 'crm', sessionId: 's', principal: alice });
    expect(open.record(modern(ses, 1))).toBe(true);
    await Promise.all([closed.close(), open.close()]);
    expect(closed.stats()).toMatchObject({ mismatched: 1, written: 0, dropped: 0 });
    expect(open.stats()).toMatchObject({ mismatched: 1, written: 0, dropped: 0 });
    expect(await store.read(rec)).toBeUndefined();
    expect(await store.read(ses)).toBeUndefined();
  });

  it.each(stores)('$name: a message for another target, session or principal than the recording\'s is refused, counted, not written', async ({ make }) => {
    const store = make();
    const w = recorder(store);
    w.record(recorded('shared', 1, { sessionId: 'shared' }));
    await w.flush();
    w.record(recorded('shared', 3, { sessionId: 'shared', principal: mallory }));
    w.record(recorded('shared', 5, { sessionId: 'shared', target: 'billing' }));
    w.record(recorded('shared', 7, { sessionId: 'other' }));
    w.record(recorded('shared', 9, { sessionId: 'shared' }));
    await w.close();
    expect(w.stats()).toMatchObject({ written: 2, mismatched: 3, dropped: 0, buffered: 0 });
    const page = (await store.read('shared'))!;
    expect(page.session).toMatchObject({ target: 'crm', principal: alice, sessionId: 'shared', messages: 2 });
    expect(page.messages.map((m) => m.decision?.id)).toEqual(['dec_1', 'dec_9']);
  });
});

describe('record() answers whether the call may go on (R9)', () => {
  const big = (n: number) => recorded('full', n, { message: { jsonrpc: '2.0', id: n, method: 'tools/call', params: { pad: 'p'.repeat(3000) } } });
  it('fail_closed: a client message that does not fit answers false (refused); a later answer that does not fit answers false (dropped)', async () => {
    const w = recorder(new MemoryRecordingStore(LIMITS), { bufferBytes: 4096, flushIntervalMs: 60_000 });
    expect(w.record(big(1))).toBe(true);
    expect(w.record(big(3))).toBe(false);
    expect(w.record({ ...big(2), direction: 'server_to_client', kind: 'response', origin: 'upstream' })).toBe(false);
    expect(w.stats()).toMatchObject({ refused: 1, dropped: 1, buffered: 1 });
    await w.close();
  });

  it('drop: record answers true and counts the drop', async () => {
    const w = recorder(new MemoryRecordingStore(LIMITS), { whenFull: 'drop', bufferBytes: 4096, flushIntervalMs: 60_000 });
    expect(w.record(big(1))).toBe(true);
    expect(w.record(big(3))).toBe(true);
    expect(w.stats()).toMatchObject({ refused: 0, dropped: 1, buffered: 1 });
    await w.close();
  });

  it('after close: false under fail_closed', async () => {
    const w = recorder(new MemoryRecordingStore(LIMITS));
    await w.close();
    expect(w.record(recorded('late', 1))).toBe(false);
    expect(w.stats().dropped).toBe(1);
  });
});

describe.each(stores)('$name: sizes and pages (R4, R6)', ({ make }) => {
  it('a client request past max_message_bytes is refused under fail_closed (the call must not run unrecorded), counted', async () => {
    const store = make();
    const w = recorder(store, { maxMessageBytes: 4096 });
    const m = recorded('huge-req', 1, { sessionId: 'huge-req', direction: 'client_to_server', origin: 'client', message: { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { blob: 'x'.repeat(10_000) } } });
    expect(w.record(m)).toBe(false);
    await w.close();
    expect(w.stats()).toMatchObject({ oversized: 1, refused: 1, written: 0 });
    expect(await store.read('huge-req')).toBeUndefined();
  });

  it('any other message past max_message_bytes is recorded as a too-large marker, counted, never stored whole', async () => {
    const store = make();
    const w = recorder(store, { maxMessageBytes: 4096 });
    const m = recorded('huge', 1, { sessionId: 'huge', direction: 'server_to_client', origin: 'upstream', kind: 'response', message: { jsonrpc: '2.0', id: 1, result: { blob: 'x'.repeat(10_000) } } });
    expect(w.record(m)).toBe(true);
    await w.close();
    expect(w.stats()).toMatchObject({ oversized: 1, written: 1, dropped: 0 });
    const [kept] = (await store.read('huge'))!.messages;
    expect(kept).toMatchObject({ method: m.method, decision: m.decision, oversizeBytes: Buffer.byteLength(JSON.stringify(m)) });
    expect(kept!.message).toEqual({ '[NOT RECORDED]': `message too large to record: ${Buffer.byteLength(JSON.stringify(m))} bytes, max_message_bytes 4096` });
    expect(JSON.stringify(kept).length).toBeLessThan(4096);
  });

  it('reads come in pages: `limit` messages, then `next` until the last page; together, every message once', async () => {
    const store = make();
    const all = Array.from({ length: 25 }, (_, i) => recorded('paged', i + 1, { sessionId: 'paged' }));
    await store.append(all.map((m) => pending(m)));
    const seen: RecordedMessage[] = [];
    const sizes: number[] = [];
    let after: string | undefined;
    for (let i = 0; i < 10; i++) {
      const page = (await store.read('paged', { limit: 10, ...(after === undefined ? {} : { after }) }))!;
      expect(page.session.messages).toBe(25);
      sizes.push(page.messages.length);
      seen.push(...page.messages);
      after = page.next;
      if (after === undefined) break;
    }
    expect(sizes).toEqual([10, 10, 5]);
    expect(seen).toEqual(all);
  });

  it('one page stops at 8 MiB of messages', async () => {
    const store = make();
    const blob = 'B'.repeat(1 << 20);
    const all = Array.from({ length: 12 }, (_, i) => recorded('heavy', i + 1, { sessionId: 'heavy', message: { jsonrpc: '2.0', id: i, result: { text: blob } } }));
    for (const m of all) await store.append([pending(m)]);
    const first = (await store.read('heavy'))!;
    expect(first.messages.length).toBe(7);
    expect(first.next).toBeDefined();
    const second = (await store.read('heavy', { after: first.next! }))!;
    expect(second.messages.length).toBe(5);
    expect(second.next).toBeUndefined();
    expect([...first.messages, ...second.messages].map((m) => m.rpcId)).toEqual(all.map((m) => m.rpcId));
  });

  it('one principal\'s many recordings evict only its own oldest (max_recordings_per_principal)', async () => {
    const store = make({ ...LIMITS, maxRecordings: 100, maxRecordingsPerPrincipal: 3 });
    const w = recorder(store);
    const aliceId = recordingIdFor({ target: 'crm', principal: alice, subject: { client_id: 'agent-7' } });
    w.record(modern(aliceId, 1));
    await w.flush();
    const malloryIds = Array.from({ length: 6 }, (_, i) => recordingIdFor({ target: 'crm', principal: mallory, subject: { client_id: `client-${i}` } }));
    for (const id of malloryIds) {
      w.record(modern(id, 1, mallory));
      await w.flush();
    }
    await w.close();
    const listed = (await store.list({ limit: 1000 })).map((s) => s.recording);
    expect(listed).toContain(aliceId);
    expect(listed.filter((id) => malloryIds.includes(id)).sort()).toEqual(malloryIds.slice(3).sort());
    expect(await store.read(aliceId)).toBeDefined();
    for (const id of malloryIds.slice(0, 3)) expect(await store.read(id)).toBeUndefined();
  });

  it('a legacy session is found by its Mcp-Session-Id (list sessionId), on every target', async () => {
    const store = make();
    const crm = recordingIdFor({ era: 'legacy', target: 'crm', sessionId: '1', principal: alice });
    const billing = recordingIdFor({ era: 'legacy', target: 'billing', sessionId: '1', principal: mallory });
    await store.append([pending(recorded(crm, 1, { sessionId: '1' })), pending(recorded(billing, 1, { sessionId: '1', target: 'billing', principal: mallory })), pending(recorded('other', 1))]);
    expect((await store.list({ sessionId: '1' })).map((s) => s.recording).sort()).toEqual([crm, billing].sort());
  });
});

describe('the memory store\'s byte bound (R7)', () => {
  it('past memory_max_bytes the least recently written recordings go first', async () => {
    const store = new MemoryRecordingStore({ ...LIMITS, maxBytes: 1 << 20 });
    const blob = 'M'.repeat(300 << 10);
    for (const id of ['a', 'b', 'c', 'a', 'd']) await store.append([pending(recorded(id, 2, { sessionId: id, message: { jsonrpc: '2.0', id: 1, result: { text: blob } } }))]);
    // Three messages fit. a's second message pushes out b (least recently written), d pushes out c.
    expect(store.bytes).toBeLessThanOrEqual(1 << 20);
    expect((await store.list()).map((s) => s.recording).sort()).toEqual(['a', 'd']);
    expect((await store.read('a'))!.messages).toHaveLength(2);
  });
});

describe('who reads recordings, and where a sign-in returns to', () => {
  const subject = (authenticated: boolean): Subject => ({ authenticated, type: authenticated ? 'user' : 'anonymous', sub: 'dev', issuer: '', client_id: '', email: '', groups: ['auditors'], scopes: [], claims: {} });
  it('an auditor group is not enough: the subject must be authenticated', () => {
    expect(isAuditor(subject(true), ['auditors'])).toBe(true);
    expect(isAuditor(subject(false), ['auditors'])).toBe(false);
  });

  it('safeNext accepts /sessions/<percent-encoded id> and nothing that leaves this origin or path', () => {
    for (const ok of ['/approvals', '/sessions', '/sessions/rec_0123abcd', '/sessions/a.b', '/sessions/we%2Fird%20%7Bid%7D%3Fx%23y', '/sessions/ses_x~y-z']) expect(safeNext(ok)).toBe(ok);
    for (const bad of ['//evil', '//evil.example/sessions', '/\\evil', '/sessions/../x', '/sessions/..', '/sessions/.', '/sessions/%2e%2E', '/sessions/a/b', '/sessions/a\\b', '/sessions/a?x=1', 'https://evil/sessions/x', '/sessions/%zz', '/sessions/%E0%A4%A', '/approvals/../x', '']) expect(safeNext(bad)).toBe('/approvals');
    expect(safeNext(undefined)).toBe('/approvals');
  });

  it('the page sends a signed-out reader to the login with the path as sent, which safeNext keeps', async () => {
    const web = recordingWeb({ reader: new MemoryRecordingStore(LIMITS), signedIn: () => undefined, auditorGroups: ['auditors'], log: () => {} });
    const res = await web.request('/sessions/we%2Fird.id%25x');
    expect(res.status).toBe(303);
    const next = new URL(res.headers.get('location')!, 'http://gw').searchParams.get('next')!;
    expect(next).toBe('/sessions/we%2Fird.id%25x');
    expect(safeNext(next)).toBe(next);
  });
});

describe('the page tells the store\'s failures from its own (real stores)', () => {
  const who = { subject: { authenticated: true, type: 'user', sub: 'audra', issuer: 'https://idp.example', client_id: '', email: '', groups: ['auditors'], scopes: [], claims: {} } as Subject, csrf: 'c' };
  it('a stored entry the page cannot render is a 500 "could not be shown", not "store cannot be reached"', async () => {
    const store = new MemoryRecordingStore(LIMITS);
    // A corrupt entry (no message), as a broken writer could leave it.
    await store.append([{ uid: 'x', recording: 'corrupt', time: Date.now(), json: '{"recording":"corrupt","time":1}', target: 'crm', era: 'legacy', sessionId: 'corrupt', principal: alice }]);
    const pageLogs: string[] = [];
    const res = await recordingWeb({ reader: store, signedIn: () => who, auditorGroups: ['auditors'], log: (m) => pageLogs.push(m) }).request('/sessions/corrupt');
    expect(res.status).toBe(500);
    const body = await res.text();
    expect(body).toContain('could not be shown');
    expect(body).not.toContain('cannot be reached');
    expect(pageLogs).toHaveLength(1);
  });

  it('the page shows one page of a recording and links the next; a bad cursor is a 400', async () => {
    const store = new MemoryRecordingStore(LIMITS);
    await store.append(Array.from({ length: 5 }, (_, i) => pending(recorded('pages', i + 1, { sessionId: 'pages', name: `tool-${i + 1}` }))));
    const web = recordingWeb({ reader: store, signedIn: () => who, auditorGroups: ['auditors'], log: () => {} });
    const names: string[] = [];
    let path: string | undefined = '/sessions/pages?limit=2';
    for (let i = 0; i < 5 && path !== undefined; i++) {
      const body = await (await web.request(path)).text();
      names.push(...[...body.matchAll(/<code>(tool-\d)<\/code>/g)].map((m) => m[1]!));
      path = /<a class="next" href="([^"]+)"/.exec(body)?.[1]?.replaceAll('&amp;', '&');
    }
    expect(names).toEqual(['tool-1', 'tool-2', 'tool-3', 'tool-4', 'tool-5']);
    const bad = await web.request('/sessions/pages?after=nope');
    expect(bad.status).toBe(400);
    expect(await bad.text()).toContain('after must be the `next` cursor of a previous page');
  });

  it('a Redis that is down is a 503 "store cannot be reached"', async () => {
    const down = await startRedis();
    const c = await connectRedis({ url: down.url, commandTimeoutMs: 500, connectTimeoutMs: 500, log: () => {} });
    await down.close();
    try {
      const res = await recordingWeb({ reader: new RedisRecordingStore(c, 'down:', LIMITS), signedIn: () => who, auditorGroups: ['auditors'], log: () => {} }).request('/sessions');
      expect(res.status).toBe(503);
      expect(await res.text()).toContain('The recordings store cannot be reached');
    } finally {
      c.disconnect();
    }
  }, 30_000);
});
