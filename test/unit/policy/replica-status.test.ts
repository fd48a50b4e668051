// The replica status board on a real redis-server (and a real three-master Redis Cluster): every
// key it writes has a TTL, a report is listed until it expires or is withdrawn, a report that is
// not JSON is left out rather than failing /status, and the publisher coalesces refreshes and says
// once when it cannot publish.
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectRedis, ReplicaPublisher, ReplicaStatusBoard, StateKeys, type RedisClient } from '../../../gateway/state/index.ts';
import { startRedis, startRedisCluster, type TestRedis, type TestRedisCluster } from '../../helpers/redis.ts';

const connect = (options: { url?: string; cluster?: string[] }) => connectRedis({ ...options, commandTimeoutMs: 500, connectTimeoutMs: 2000, log: () => {} });
const report = (id: string, revision: string) => ({ replica: { id }, policy: { revision }, reported_at: new Date().toISOString() });

async function until<T>(probe: () => Promise<T>, done: (v: T) => boolean, what: string): Promise<T> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const v = await probe();
    if (done(v)) return v;
    if (Date.now() > deadline) throw new Error(`${what}: last ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('ReplicaStatusBoard on one Redis', () => {
  let redis: TestRedis;
  let client: RedisClient;
  let admin: Redis;
  beforeAll(async () => {
    redis = await startRedis();
    client = await connect({ url: redis.url });
    admin = new Redis(redis.url);
    // The publisher test stops this server: the admin client's reconnect attempts are expected.
    admin.on('error', () => {});
  });
  afterAll(async () => {
    client?.disconnect();
    admin?.disconnect();
    await redis?.close();
  });

  it('lists each live report once, ordered by id, under keys that all carry a TTL', async () => {
    const prefix = `rs:${randomUUID()}:`;
    const board = new ReplicaStatusBoard(client, new StateKeys(prefix));
    await board.publish('b', report('b', 'r1'), 60_000);
    await board.publish('a', report('a', 'r2'), 60_000);
    await board.publish('b', report('b', 'r3'), 60_000);
    expect((await board.list()).map(({ id, report: r }) => [id, (r.policy as { revision: string }).revision])).toEqual([['a', 'r2'], ['b', 'r3']]);
    const keys = await admin.keys(`${prefix}*`);
    expect(keys.sort()).toEqual([`${prefix}{replicas}:index`, `${prefix}{replicas}:status:a`, `${prefix}{replicas}:status:b`]);
    for (const key of keys) {
      const ttl = await admin.pttl(key);
      expect(ttl, key).toBeGreaterThan(0);
      expect(ttl, key).toBeLessThanOrEqual(120_000);
    }
  });

  it('works under the ACL docs/state.md recommends (no @transaction), and only under its prefix', async () => {
    await admin.call('ACL', 'SETUSER', 'gw-status', 'on', '>pw', 'resetkeys', '~portcullis:*', '-@all', '+@read', '+@write', '+@scripting', '-@dangerous', '+ping', '+hello', '+auth', '+time', '+info');
    const limited = await connectRedis({ url: redis.url, username: 'gw-status', password: 'pw', commandTimeoutMs: 500, connectTimeoutMs: 2000, log: () => {} });
    try {
      const board = new ReplicaStatusBoard(limited, new StateKeys(`portcullis:${randomUUID()}:`));
      await board.publish('x', report('x', 'r'), 60_000);
      expect((await board.list()).map((r) => r.id)).toEqual(['x']);
      await board.withdraw('x');
      expect(await board.list()).toEqual([]);
      await expect(new ReplicaStatusBoard(limited, new StateKeys('other:')).publish('x', report('x', 'r'), 60_000)).rejects.toThrow(/NOPERM/);
    } finally {
      limited.disconnect();
    }
  });

  it('a report leaves the listing when its key expires or it is withdrawn; one that is not JSON is left out', async () => {
    const prefix = `rs:${randomUUID()}:`;
    const keys = new StateKeys(prefix);
    const board = new ReplicaStatusBoard(client, keys);
    await board.publish('short', report('short', 'r'), 150);
    await board.publish('long', report('long', 'r'), 60_000);
    await board.publish('gone', report('gone', 'r'), 60_000);
    await admin.set(keys.replicaStatus('long'), '{not json', 'PX', 60_000);
    await board.withdraw('gone');
    expect(await admin.zscore(keys.replicaIndex(), 'gone')).toBeNull();
    const listed = await until(() => board.list(), (l) => !l.some((r) => r.id === 'short'), 'the short report to expire');
    expect(listed).toEqual([]);
  });

  it('the publisher publishes at once, coalesces refreshes, withdraws on stop, and logs a failure once', async () => {
    const prefix = `rs:${randomUUID()}:`;
    const board = new ReplicaStatusBoard(client, new StateKeys(prefix));
    let bodies = 0;
    const logs: string[] = [];
    const publisher = new ReplicaPublisher({ board, replicaId: 'p', body: () => ({ replica: { id: 'p' }, n: ++bodies }), intervalMs: 60_000, log: (l) => logs.push(l) });
    const first = await until(() => board.list(), (l) => l.length === 1, 'the first report');
    expect(first[0]!.report).toMatchObject({ replica: { id: 'p' }, reported_at: expect.any(String) });
    for (let i = 0; i < 5; i++) publisher.refresh();
    // One publish in flight plus one after it, not five.
    await until(() => board.list(), (l) => (l[0]?.report.n as number) >= 2, 'the refresh');
    await new Promise((r) => setTimeout(r, 100));
    expect(bodies).toBeLessThanOrEqual(3);
    await redis.stop();
    try {
      publisher.refresh();
      publisher.refresh();
      await until(async () => logs.length, (n) => n >= 1, 'the failure log');
      publisher.refresh();
      await new Promise((r) => setTimeout(r, 200));
      expect(logs.filter((l) => l.startsWith('portcullis: replica status: cannot publish to shared state'))).toHaveLength(1);
    } finally {
      await redis.start();
    }
    await until(async () => (await client.ping().catch(() => 'down')) === 'PONG', (ok) => ok, 'the reconnect');
    publisher.refresh();
    await until(async () => logs.length, (n) => n >= 2, 'the recovery log');
    expect(logs[1]).toBe('portcullis: replica status: publishing to shared state works again');
    await publisher.stop();
    expect(await board.list()).toEqual([]);
  });
});

describe('ReplicaStatusBoard on Redis Cluster', () => {
  let cluster: TestRedisCluster;
  let client: RedisClient;
  beforeAll(async () => {
    cluster = await startRedisCluster();
    client = await connect({ cluster: cluster.urls });
  }, 60_000);
  afterAll(async () => {
    client?.disconnect();
    await cluster?.close();
  });

  it('publishes and lists many replicas: one hash tag, one slot, one MGET', async () => {
    const board = new ReplicaStatusBoard(client, new StateKeys(`rs:${randomUUID()}:`));
    const names = Array.from({ length: 20 }, (_, i) => `replica-${String(i).padStart(2, '0')}`);
    await Promise.all(names.map((id) => board.publish(id, report(id, 'r'), 60_000)));
    expect((await board.list()).map((r) => r.id)).toEqual(names);
  });
});
