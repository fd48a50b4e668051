// One contract, two stores: the in-memory store and the Redis store (against a real redis-server)
// must behave the same for everything a replica relies on.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GatewayError } from '../../../gateway/errors.ts';
import { MemorySessionStore, PENDING_LIMITS, SESSION_LIMITS, type PendingRequest, type SessionStore } from '../../../gateway/sessions/store.ts';
import { connectRedis, RedisSessionStore, StateKeys, type RedisClient } from '../../../gateway/state/index.ts';
import { startRedis, startRedisCluster, type TestRedis, type TestRedisCluster } from '../../helpers/redis.ts';

const record = (principal: string) => ({ target: 't', protocolVersion: '2025-11-25', principal, createdAt: 1 });
const pending = (name: string): PendingRequest => ({
  method: 'tools/call', name, inspectResponse: true,
  mask: { instructions: [{ path: 'content[*].text', style: 'redact' } as never], mode: 'strict' },
});
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let redis: TestRedis;
let client: RedisClient;
let cluster: TestRedisCluster;
let clusterClient: RedisClient;
beforeAll(async () => {
  [redis, cluster] = await Promise.all([startRedis(), startRedisCluster()]);
  client = await connectRedis({ url: redis.url, commandTimeoutMs: 1000, connectTimeoutMs: 2000, log: () => {} });
  clusterClient = await connectRedis({ cluster: cluster.urls, commandTimeoutMs: 1000, connectTimeoutMs: 5000, log: () => {} });
}, 60_000);
afterAll(async () => {
  await client?.quit();
  await clusterClient?.quit();
  await redis?.close();
  await cluster?.close();
});

const stores: { name: string; make: (idleMs?: number) => SessionStore }[] = [
  { name: 'MemorySessionStore', make: (idleMs = 60_000) => new MemorySessionStore({ idleMs, maxSessions: 1000 }) },
  // A fresh random prefix per store: no test sees another's keys.
  { name: 'RedisSessionStore', make: (idleMs = 60_000) => new RedisSessionStore(client, new StateKeys(`test:${randomUUID()}:`), idleMs, () => {}) },
  // The same code on a three-master Redis Cluster: the hash tags keep each script on one slot.
  { name: 'RedisSessionStore on Redis Cluster', make: (idleMs = 60_000) => new RedisSessionStore(clusterClient, new StateKeys(`test:${randomUUID()}:`), idleMs, () => {}) },
];

describe.each(stores)('$name (session store contract)', ({ make }) => {
  it('knows only sessions it was told of, per target', async () => {
    const store = make();
    expect(await store.get('t', 'nope')).toBeUndefined();
    await store.create('t', 's1', record('alice'));
    expect(await store.get('t', 's1')).toEqual(record('alice'));
    expect(await store.get('other', 's1')).toBeUndefined();
  });

  it('keeps hostile session ids apart (braces, separators, encodings)', async () => {
    const store = make();
    const ids = ['a/b', 'a%2Fb', '{a}', '}{', 'a}b{c', '%7Ba%7D', 'x'.repeat(512)];
    for (const [i, id] of ids.entries()) await store.create('t', id, record(`p${i}`));
    for (const [i, id] of ids.entries()) expect((await store.get('t', id))?.principal).toBe(`p${i}`);
    await store.create('t/a', 'b', record('other-target'));
    expect((await store.get('t', 'a/b'))?.principal).toBe('p0');
  });

  it('forgets a deleted session and everything it held', async () => {
    const store = make();
    await store.create('t', 's', record('alice'));
    await store.rememberClientRequest('t', 's', 1, pending('echo'));
    await store.rememberServerRequest('t', 's', 9, 'elicitation/create');
    await store.rememberStreamEvent('t', 's', 'g1', 'u1');
    await store.delete('t', 's');
    expect(await store.get('t', 's')).toBeUndefined();
    expect(await store.takeClientRequest('t', 's', 1)).toBeUndefined();
    expect(await store.takeServerRequest('t', 's', 9)).toBeUndefined();
    expect(await store.upstreamEventId('t', 's', 'g1')).toBeUndefined();
    // Created again with the same id: nothing from before carries over.
    await store.create('t', 's', record('bob'));
    expect(await store.takeClientRequest('t', 's', 1)).toBeUndefined();
    expect(await store.upstreamEventId('t', 's', 'g1')).toBeUndefined();
  });

  it('a session id issued again starts afresh', async () => {
    const store = make();
    await store.create('t', 's', record('alice'));
    await store.rememberClientRequest('t', 's', 1, pending('echo'));
    await store.rememberServerRequest('t', 's', 2, 'sampling/createMessage');
    await store.create('t', 's', record('bob'));
    expect((await store.get('t', 's'))?.principal).toBe('bob');
    expect(await store.takeClientRequest('t', 's', 1)).toBeUndefined();
    expect(await store.takeServerRequest('t', 's', 2)).toBeUndefined();
  });

  it('refuses a client request id still unanswered, tells 7 from "7", frees the id once answered', async () => {
    const store = make();
    await store.create('t', 's', record('alice'));
    expect(await store.rememberClientRequest('t', 's', 7, pending('a'))).toBe(true);
    expect(await store.rememberClientRequest('t', 's', 7, pending('b'))).toBe(false);
    expect(await store.rememberClientRequest('t', 's', '7', pending('c'))).toBe(true);
    expect(await store.takeClientRequest('t', 's', 7)).toEqual(pending('a'));
    expect(await store.takeClientRequest('t', 's', 7)).toBeUndefined();
    expect(await store.takeClientRequest('t', 's', '7')).toEqual(pending('c'));
    expect(await store.rememberClientRequest('t', 's', 7, pending('d'))).toBe(true);
    expect(await store.takeClientRequest('t', 's', 7)).toEqual(pending('d'));
  });

  it('keeps what an answer requires exactly (mask, mode, inspect_response)', async () => {
    const store = make();
    await store.create('t', 's', record('alice'));
    await store.rememberClientRequest('t', 's', 'req-1', pending('echo'));
    await store.rememberClientRequest('t', 's', 'req-2', { method: 'prompts/get', name: 'greet', inspectResponse: false, mask: undefined });
    expect(await store.takeClientRequest('t', 's', 'req-1')).toEqual(pending('echo'));
    const plain = await store.takeClientRequest('t', 's', 'req-2');
    expect(plain).toMatchObject({ method: 'prompts/get', name: 'greet', inspectResponse: false });
    expect(plain?.mask).toBeUndefined();
  });

  it('keeps the distinct masks of every request of a session, answered or not, and only that session', async () => {
    const store = make();
    await store.create('t', 's', record('alice'));
    await store.create('t', 'other', record('alice'));
    expect(await store.sessionMasks('t', 's')).toEqual([]);
    const other: PendingRequest = { method: 'tools/call', name: 'x', inspectResponse: false, mask: { instructions: [{ key: 'email' } as never], mode: 'best_effort' } };
    await store.rememberClientRequest('t', 's', 1, pending('echo'));
    await store.rememberClientRequest('t', 's', 2, pending('get_customer')); // same mask: kept once
    await store.rememberClientRequest('t', 's', 3, { method: 'tools/list', name: '', inspectResponse: false, mask: undefined });
    await store.rememberClientRequest('t', 'other', 4, other);
    expect(await store.sessionMasks('t', 's')).toEqual([pending('echo').mask]);
    // Answered calls keep their mask on the session: a late message on the GET stream carries it.
    await store.takeClientRequest('t', 's', 1);
    await store.takeClientRequest('t', 's', 2);
    expect(await store.sessionMasks('t', 's')).toEqual([pending('echo').mask]);
    await store.rememberClientRequest('t', 's', 5, other);
    expect((await store.sessionMasks('t', 's')).map((m) => m.mode).sort()).toEqual(['best_effort', 'strict']);
    expect(await store.sessionMasks('t', 'unknown')).toEqual([]);
    // A session started afresh under the same id carries no masks over.
    await store.create('t', 's', record('alice'));
    expect(await store.sessionMasks('t', 's')).toEqual([]);
  });

  it(`refuses a call that would add a mask past ${SESSION_LIMITS.masks} distinct ones on a session: 400 -32600, nothing remembered`, async () => {
    const store = make();
    await store.create('t', 's', record('alice'));
    const masked = (n: number): PendingRequest => ({ method: 'tools/call', name: 'x', inspectResponse: false, mask: { instructions: [{ key: `k${n}` } as never], mode: 'strict' } });
    for (let n = 0; n < SESSION_LIMITS.masks; n++) expect(await store.rememberClientRequest('t', 's', n, masked(n))).toBe(true);
    const err = await store.rememberClientRequest('t', 's', 'one-more', masked(SESSION_LIMITS.masks)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GatewayError);
    expect(err).toMatchObject({ status: 400, code: -32600 });
    expect(await store.takeClientRequest('t', 's', 'one-more')).toBeUndefined();
    // A mask the session already holds, and a call without one, still go.
    expect(await store.rememberClientRequest('t', 's', 'again', masked(3))).toBe(true);
    expect(await store.rememberClientRequest('t', 's', 'plain', { method: 'tools/list', name: '', inspectResponse: false })).toBe(true);
    expect((await store.sessionMasks('t', 's')).length).toBe(SESSION_LIMITS.masks);
  });

  it('refuses to remember a client request for a session that is gone: 404 -32001', async () => {
    const store = make();
    const err = await store.rememberClientRequest('t', 'gone', 1, pending('echo')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GatewayError);
    expect(err).toMatchObject({ status: 404, code: -32001 });
    expect(await store.takeClientRequest('t', 'gone', 1)).toBeUndefined();
  });

  it('refuses to keep a request id or name too long to store (400 -32600), keeping the limit itself', async () => {
    const store = make();
    await store.create('t', 's', record('alice'));
    const longId = 'x'.repeat(PENDING_LIMITS.idBytes);
    for (const [id, name] of [[longId, 'echo'], ['ok', 'n'.repeat(PENDING_LIMITS.nameBytes + 1)], ['é'.repeat(PENDING_LIMITS.idBytes / 2), 'echo']] as const) {
      const err = await store.rememberClientRequest('t', 's', id, pending(name)).catch((e: unknown) => e);
      expect(err).toMatchObject({ status: 400, code: -32600 });
    }
    // At the limit is fine: 254 characters and two quotes.
    const atLimit = 'y'.repeat(PENDING_LIMITS.idBytes - 2);
    expect(await store.rememberClientRequest('t', 's', atLimit, pending('n'.repeat(PENDING_LIMITS.nameBytes)))).toBe(true);
    expect(await store.takeClientRequest('t', 's', atLimit)).toEqual(pending('n'.repeat(PENDING_LIMITS.nameBytes)));
  });

  it('answers each server request once, and only in its own session', async () => {
    const store = make();
    await store.create('t', 's', record('alice'));
    await store.create('t', 'other', record('alice'));
    await store.rememberServerRequest('t', 's', 1, 'elicitation/create');
    await store.rememberServerRequest('t', 's', '1', 'roots/list');
    expect(await store.takeServerRequest('t', 'other', 1)).toBeUndefined();
    expect(await store.takeServerRequest('t', 's', 1)).toBe('elicitation/create');
    expect(await store.takeServerRequest('t', 's', 1)).toBeUndefined();
    expect(await store.takeServerRequest('t', 's', '1')).toBe('roots/list');
    // Nothing is remembered for a session that does not exist.
    await store.rememberServerRequest('t', 'nope', 1, 'elicitation/create');
    expect(await store.takeServerRequest('t', 'nope', 1)).toBeUndefined();
  });

  it('maps gateway event ids to upstream event ids per session', async () => {
    const store = make();
    await store.create('t', 's', record('alice'));
    await store.create('t', 'other', record('alice'));
    await store.rememberStreamEvent('t', 's', 'g-1', 'upstream-17');
    await store.rememberStreamEvent('t', 's', 'g-2', 'upstream-18');
    expect(await store.upstreamEventId('t', 's', 'g-1')).toBe('upstream-17');
    expect(await store.upstreamEventId('t', 's', 'g-2')).toBe('upstream-18');
    expect(await store.upstreamEventId('t', 's', 'g-3')).toBeUndefined();
    expect(await store.upstreamEventId('t', 'other', 'g-1')).toBeUndefined();
    // Looking up resumes as often as the client asks: it is not taken.
    expect(await store.upstreamEventId('t', 's', 'g-1')).toBe('upstream-17');
    await store.rememberStreamEvent('t', 'nope', 'g-1', 'u');
    expect(await store.upstreamEventId('t', 'nope', 'g-1')).toBeUndefined();
  });

  it('bounds every per-session map, forgetting the oldest first', async () => {
    const store = make();
    await store.create('t', 's', record('alice'));
    const extra = 3;
    for (let i = 0; i < SESSION_LIMITS.clientRequests + extra; i++) await store.rememberClientRequest('t', 's', i, pending(`n${i}`));
    for (let i = 0; i < SESSION_LIMITS.serverRequests + extra; i++) await store.rememberServerRequest('t', 's', i, `m${i}`);
    for (let i = 0; i < SESSION_LIMITS.streamEvents + extra; i++) await store.rememberStreamEvent('t', 's', `g${i}`, `u${i}`);
    for (let i = 0; i < extra; i++) {
      expect(await store.takeClientRequest('t', 's', i)).toBeUndefined();
      expect(await store.takeServerRequest('t', 's', i)).toBeUndefined();
      expect(await store.upstreamEventId('t', 's', `g${i}`)).toBeUndefined();
    }
    expect(await store.takeClientRequest('t', 's', extra)).toEqual(pending(`n${extra}`));
    expect(await store.takeServerRequest('t', 's', extra)).toBe(`m${extra}`);
    expect(await store.upstreamEventId('t', 's', `g${extra}`)).toBe(`u${extra}`);
    const last = SESSION_LIMITS.clientRequests + extra - 1;
    expect(await store.takeClientRequest('t', 's', last)).toEqual(pending(`n${last}`));
  });

  it('forgets idle sessions with all they hold, and keeps used ones alive', async () => {
    const store = make(1000);
    await store.create('t', 'busy', record('alice'));
    await store.create('t', 'idle', record('bob'));
    await store.rememberClientRequest('t', 'idle', 1, pending('echo'));
    await store.rememberStreamEvent('t', 'idle', 'g', 'u');
    for (let i = 0; i < 4; i++) {
      await sleep(350);
      expect(await store.get('t', 'busy')).toBeDefined();
    }
    expect(await store.get('t', 'idle')).toBeUndefined();
    expect(await store.takeClientRequest('t', 'idle', 1)).toBeUndefined();
    expect(await store.upstreamEventId('t', 'idle', 'g')).toBeUndefined();
  });
});
