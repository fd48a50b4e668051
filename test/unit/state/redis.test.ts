// What only the Redis store must show: TTLs on every key, one Cluster slot per session, one
// round trip per operation, fail closed (503 -32090) while Redis is away and recovery without a
// restart, sessions that survive a Redis restart with AOF, and a clear refusal at start.
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectRedis, RedisSessionStore, RedisTokenCache, StateError, StateKeys, type RedisClient } from '../../../gateway/state/index.ts';
import { startRedis, type TestRedis } from '../../helpers/redis.ts';

const record = { target: 't', protocolVersion: '2025-11-25', principal: 'alice', createdAt: 1 };
const pending = { method: 'tools/call', name: 'echo', inspectResponse: false, mask: { instructions: [{ key: 'email' } as never], mode: 'strict' as const } };
const connect = (url: string, log: (m: string) => void = () => {}) => connectRedis({ url, commandTimeoutMs: 500, connectTimeoutMs: 2000, log });

/**
 * Commands clients sent while `work` ran, as MONITOR reports them, leaving out the commands
 * scripts run inside Redis (source "lua"): what is left is what crossed the network.
 */
async function commandsDuring(url: string, work: () => Promise<unknown>): Promise<string[]> {
  const watcher = new Redis(url);
  const monitor = await watcher.monitor();
  const seen: string[] = [];
  monitor.on('monitor', (_time: string, args: string[], source: string) => {
    if (source !== 'lua') seen.push(String(args[0]).toLowerCase());
  });
  // MONITOR starts reporting once its own reply is in; a marker proves the stream is live.
  const marker = new Redis(url);
  await marker.echo('start');
  await new Promise((r) => setTimeout(r, 50));
  seen.length = 0;
  await work();
  await marker.echo('end');
  for (let i = 0; i < 50 && !seen.includes('echo'); i++) await new Promise((r) => setTimeout(r, 20));
  monitor.disconnect();
  watcher.disconnect();
  marker.disconnect();
  return seen.filter((c) => c !== 'echo');
}

describe('Redis session store', () => {
  let redis: TestRedis;
  let client: RedisClient;
  let admin: Redis;
  beforeAll(async () => {
    redis = await startRedis();
    client = await connect(redis.url);
    admin = new Redis(redis.url);
  });
  afterAll(async () => {
    admin?.disconnect();
    await client?.quit();
    await redis?.close();
  });

  it('puts a TTL no longer than the idle time on every key it writes', async () => {
    const prefix = `ttl:${randomUUID()}:`;
    const store = new RedisSessionStore(client, new StateKeys(prefix), 60_000, () => {});
    for (const s of ['a', 'b{c}']) {
      await store.create('t', s, record);
      await store.rememberClientRequest('t', s, 1, pending);
      await store.rememberServerRequest('t', s, 2, 'roots/list');
      await store.rememberStreamEvent('t', s, 'g', 'u');
      await store.get('t', s);
    }
    const keys = await admin.keys(`${prefix}*`);
    expect(keys.length).toBe(2 * 8);
    for (const key of keys) {
      const ttl = await admin.pttl(key);
      expect(ttl, key).toBeGreaterThan(0);
      expect(ttl, key).toBeLessThanOrEqual(60_000);
    }
  });

  it('builds every key of a session on one Cluster slot, whatever the session id holds', async () => {
    const node = await startRedis({ cluster: true });
    const admin = new Redis(node.url);
    const keys = new StateKeys('portcullis:');
    for (const id of ['plain', '{', '}', '{x}y', 'a}{b', '%7B', 'x'.repeat(300)]) {
      const slots = new Set(await Promise.all(keys.session('crm', id).map((k) => admin.call('CLUSTER', 'KEYSLOT', k) as Promise<number>)));
      expect(slots.size, id).toBe(1);
    }
    // Different sessions spread over the slots.
    const spread = new Set(await Promise.all(Array.from({ length: 20 }, (_, i) => admin.call('CLUSTER', 'KEYSLOT', keys.session('crm', `s${i}`)[0]) as Promise<number>)));
    expect(spread.size).toBeGreaterThan(10);
    admin.disconnect();
    await node.close();
  });

  it('costs one round trip per operation, a script for each change', async () => {
    const store = new RedisSessionStore(client, new StateKeys(`rt:${randomUUID()}:`), 60_000, () => {});
    // Warm up: the first call of each script loads it (NOSCRIPT, then EVAL).
    await store.create('t', 'warm', record);
    await store.get('t', 'warm');
    await store.rememberClientRequest('t', 'warm', 1, pending);
    await store.takeClientRequest('t', 'warm', 1);
    await store.rememberServerRequest('t', 'warm', 1, 'roots/list');
    await store.takeServerRequest('t', 'warm', 1);
    await store.rememberStreamEvent('t', 'warm', 'g', 'u');
    await store.create('t', 's', record);
    expect(await commandsDuring(redis.url, () => store.get('t', 's'))).toEqual(['evalsha']);
    expect(await commandsDuring(redis.url, () => store.rememberClientRequest('t', 's', 1, pending))).toEqual(['evalsha']);
    expect(await commandsDuring(redis.url, () => store.takeClientRequest('t', 's', 1))).toEqual(['evalsha']);
    expect(await commandsDuring(redis.url, () => store.rememberServerRequest('t', 's', 1, 'roots/list'))).toEqual(['evalsha']);
    expect(await commandsDuring(redis.url, () => store.takeServerRequest('t', 's', 1))).toEqual(['evalsha']);
    expect(await commandsDuring(redis.url, () => store.rememberStreamEvent('t', 's', 'g', 'u'))).toEqual(['evalsha']);
    expect(await commandsDuring(redis.url, () => store.upstreamEventId('t', 's', 'g'))).toEqual(['hget']);
    expect(await commandsDuring(redis.url, () => store.delete('t', 's'))).toEqual(['del']);
  });
});

describe('Redis failures', () => {
  it('refuses to start when Redis cannot be reached, saying where and why', async () => {
    const gone = await startRedis();
    await gone.close();
    const err = await connect(gone.url).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StateError);
    expect((err as Error).message).toContain(`cannot use Redis at ${gone.url}`);
    expect((err as Error).message).toMatch(/ECONNREFUSED/);
  });

  it('refuses to start when Redis refuses the credentials', async () => {
    const redis = await startRedis();
    const admin = new Redis(redis.url);
    try {
      // The ACL docs/state.md recommends: the gateway's prefix only, no dangerous commands.
      await admin.call('ACL', 'SETUSER', 'gw', 'on', '>right-password', 'resetkeys', '~portcullis:*', '-@all', '+@read', '+@write', '+@scripting', '-@dangerous', '+ping', '+hello', '+auth', '+time', '+info');
      const err = await connectRedis({ url: redis.url, username: 'gw', password: 'wrong', commandTimeoutMs: 500, connectTimeoutMs: 2000, log: () => {} }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StateError);
      expect((err as Error).message).toMatch(/WRONGPASS|invalid username-password/);
      expect((err as Error).message).not.toContain('wrong');
      const ok = await connectRedis({ url: redis.url, username: 'gw', password: 'right-password', commandTimeoutMs: 500, connectTimeoutMs: 2000, log: () => {} });
      const store = new RedisSessionStore(ok, new StateKeys('portcullis:'), 60_000, () => {});
      await store.create('t', 's', record);
      expect(await store.rememberClientRequest('t', 's', 1, pending)).toBe(true);
      expect(await store.takeClientRequest('t', 's', 1)).toEqual(pending);
      await store.rememberStreamEvent('t', 's', 'g', 'u');
      expect(await store.upstreamEventId('t', 's', 'g')).toBe('u');
      await store.delete('t', 's');
      // Outside its prefix it can do nothing: that failure is a 503 like any other.
      const foreign = new RedisSessionStore(ok, new StateKeys('other:'), 60_000, () => {});
      await expect(foreign.get('t', 's')).rejects.toMatchObject({ status: 503, code: -32090 });
      await ok.quit();
    } finally {
      admin.disconnect();
      await redis.close();
    }
  });

  it('answers 503 -32090 for every operation while Redis is down, and recovers on its own', async () => {
    const redis = await startRedis();
    const logs: string[] = [];
    const client = await connect(redis.url, (m) => logs.push(m));
    const store = new RedisSessionStore(client, new StateKeys(`down:${randomUUID()}:`), 60_000, (m) => logs.push(m));
    try {
      await store.create('t', 's', record);
      await redis.stop();
      const operations = [
        () => store.get('t', 's'),
        () => store.create('t', 's2', record),
        () => store.delete('t', 's'),
        () => store.rememberClientRequest('t', 's', 1, pending),
        () => store.takeClientRequest('t', 's', 1),
        () => store.rememberServerRequest('t', 's', 1, 'roots/list'),
        () => store.takeServerRequest('t', 's', 1),
        () => store.rememberStreamEvent('t', 's', 'g', 'u'),
        () => store.upstreamEventId('t', 's', 'g'),
      ];
      for (const op of operations) {
        const err = await op().then(() => 'served', (e: unknown) => e);
        expect(err).toMatchObject({ status: 503, code: -32090, headers: { 'retry-after': '1' } });
      }
      expect(logs.some((l) => l.includes('lost the connection'))).toBe(true);
      await redis.start();
      // Reconnects by itself (backoff is capped at 2 s); the session is gone with the data (no persistence).
      let answer: unknown = 'down';
      for (let i = 0; i < 60 && answer === 'down'; i++) {
        answer = await store.get('t', 's').catch(() => 'down');
        if (answer === 'down') await new Promise((r) => setTimeout(r, 100));
      }
      expect(answer).toBeUndefined();
      await store.create('t', 's', record);
      expect(await store.get('t', 's')).toEqual(record);
      expect(logs.some((l) => l.includes('reconnected'))).toBe(true);
    } finally {
      await client.quit().catch(() => {});
      await redis.close();
    }
  });

  it('keeps sessions and their pending requests across a Redis restart with AOF', async () => {
    const redis = await startRedis({ aof: true });
    const client = await connect(redis.url);
    const store = new RedisSessionStore(client, new StateKeys(`aof:${randomUUID()}:`), 60_000, () => {});
    try {
      await store.create('t', 's', record);
      await store.rememberClientRequest('t', 's', 'r1', pending);
      await store.rememberServerRequest('t', 's', 5, 'elicitation/create');
      await redis.stop();
      await redis.start();
      let answer: unknown = 'down';
      for (let i = 0; i < 60 && answer === 'down'; i++) {
        answer = await store.get('t', 's').catch(() => 'down');
        if (answer === 'down') await new Promise((r) => setTimeout(r, 100));
      }
      expect(answer).toEqual(record);
      expect(await store.takeClientRequest('t', 's', 'r1')).toEqual(pending);
      expect(await store.takeServerRequest('t', 's', 5)).toBe('elicitation/create');
    } finally {
      await client.quit().catch(() => {});
      await redis.close();
    }
  });
});

describe('shared introspection cache', () => {
  it('keeps a result no longer than its TTL, under the token hash only, and fails open when Redis is down', async () => {
    const redis = await startRedis();
    const client = await connect(redis.url);
    const admin = new Redis(redis.url);
    const prefix = `intro:${randomUUID()}:`;
    const cache = new RedisTokenCache(client, new StateKeys(prefix));
    try {
      const result = { active: true as const, claims: { sub: 'alice', scope: 'mcp:tools' } };
      await cache.set('hash-1', result, 30);
      await cache.set('hash-0', { active: false }, 0.0001); // under a millisecond: not kept
      expect(await cache.get('hash-1')).toEqual(result);
      expect(await cache.get('hash-0')).toBeUndefined();
      expect(await cache.get('unknown')).toBeUndefined();
      expect(await admin.keys(`${prefix}*`)).toEqual([`${prefix}introspection:hash-1`]);
      const ttl = await admin.pttl(`${prefix}introspection:hash-1`);
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(30_000);
      await redis.stop();
      // A cache miss, never an error: the token is introspected again.
      expect(await cache.get('hash-1')).toBeUndefined();
      await expect(cache.set('hash-2', result, 30)).resolves.toBeUndefined();
    } finally {
      admin.disconnect();
      await client.quit().catch(() => {});
      await redis.close();
    }
  });
});
