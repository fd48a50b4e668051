// The recording stores against one contract (memory; Redis; Redis Cluster), then what only Redis
// does: retention enforced by Redis itself (MAXLEN ~, EXPIRE), two replicas writing one
// recording, an AOF restart, a write retried after a lost answer read back once.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryRecordingStore, RedisRecordingStore, Recorder, type PendingEntry, type RecordedMessage, type RecordingStore } from '../../../gateway/recordings/index.ts';
import { connectRedis, type RedisClient } from '../../../gateway/state/index.ts';
import { startRedis, startRedisCluster, type TestRedis, type TestRedisCluster } from '../../helpers/redis.ts';
import { recorded } from './messages.ts';

const LIMITS = { retentionMs: 3600_000, maxMessages: 1000, maxRecordings: 1000 };

let redis: TestRedis;
let cluster: TestRedisCluster;
let client: RedisClient;
let clusterClient: RedisClient;
beforeAll(async () => {
  [redis, cluster] = await Promise.all([startRedis(), startRedisCluster()]);
  client = await connectRedis({ url: redis.url, commandTimeoutMs: 1000, connectTimeoutMs: 2000, log: () => {} });
  clusterClient = await connectRedis({ cluster: cluster.urls, commandTimeoutMs: 1000, connectTimeoutMs: 5000, log: () => {} });
}, 60_000);
afterAll(async () => {
  client?.disconnect();
  clusterClient?.disconnect();
  await Promise.all([redis?.close(), cluster?.close()]);
});

let uid = 0;
function pending(m: RecordedMessage): PendingEntry {
  return { uid: `t:${uid++}`, recording: m.recording, time: m.time, json: JSON.stringify(m), target: m.target, era: m.era, sessionId: m.sessionId, principal: m.principal };
}

const stores: { name: string; make: (limits?: typeof LIMITS) => RecordingStore }[] = [
  { name: 'MemoryRecordingStore', make: (limits = LIMITS) => new MemoryRecordingStore(limits) },
  { name: 'RedisRecordingStore', make: (limits = LIMITS) => new RedisRecordingStore(client, `test:${randomUUID()}:`, limits) },
  { name: 'RedisRecordingStore on Redis Cluster', make: (limits = LIMITS) => new RedisRecordingStore(clusterClient, `test:${randomUUID()}:`, limits) },
];

describe.each(stores)('$name', ({ make }) => {
  it('reads back every message of a recording in the order they left the gateway, exactly', async () => {
    const store = make();
    const messages = [1, 2, 3, 4].map((n) => recorded('sess-a', n));
    // Stored out of order (two replicas flush independently): read back by time.
    expect(await store.append([messages[1]!, messages[0]!, messages[3]!, messages[2]!].map(pending))).toEqual([]);
    const got = await store.read('sess-a');
    expect(got?.messages).toEqual(messages);
    expect(got?.session).toEqual({ recording: 'sess-a', target: 'crm', era: 'legacy', sessionId: 'sess-a', principal: messages[0]!.principal, firstTime: messages[0]!.time, lastTime: messages[3]!.time, messages: 4 });
  });

  it('lists recordings newest first, with since and limit', async () => {
    const store = make();
    const a = recorded('list-a', 1);
    const b = recorded('list-b', 1);
    const c = recorded('list-c', 1);
    await store.append([a, b, c].map(pending));
    expect((await store.list()).map((s) => s.recording)).toEqual(['list-c', 'list-b', 'list-a']);
    expect((await store.list({ limit: 2 })).map((s) => s.recording)).toEqual(['list-c', 'list-b']);
    expect((await store.list({ since: b.time })).map((s) => s.recording)).toEqual(['list-c', 'list-b']);
    expect((await store.list())[0]).toMatchObject({ recording: 'list-c', messages: 1, firstTime: c.time, lastTime: c.time, target: 'crm', era: 'legacy' });
  });

  it('an unknown recording is undefined, and ids with braces and slashes stay their own', async () => {
    const store = make();
    await store.append([pending(recorded('a{b}/c', 1)), pending(recorded('a', 1))]);
    expect(await store.read('nope')).toBeUndefined();
    expect((await store.read('a{b}/c'))?.messages).toHaveLength(1);
    expect((await store.read('a'))?.messages).toHaveLength(1);
  });

  it('a message written twice (a retry after a lost answer) is read once', async () => {
    const store = make();
    const entry = pending(recorded('retried', 1));
    await store.append([entry]);
    await store.append([entry]);
    expect((await store.read('retried'))?.messages).toHaveLength(1);
  });

  it('keeps at most max_recordings in the listing, the least recently written going first', async () => {
    const store = make({ ...LIMITS, maxRecordings: 3 });
    for (const id of ['r1', 'r2', 'r3', 'r4', 'r5']) await store.append([pending(recorded(id, 1))]);
    expect((await store.list()).map((s) => s.recording)).toEqual(['r5', 'r4', 'r3']);
  });
});

describe('RedisRecordingStore: what Redis enforces', () => {
  it('trims each recording with MAXLEN ~ and sets EXPIRE to the retention on both keys', async () => {
    const prefix = `test:${randomUUID()}:`;
    const store = new RedisRecordingStore(client, prefix, { retentionMs: 600_000, maxMessages: 10, maxRecordings: 100 });
    const messages = Array.from({ length: 1000 }, (_, i) => recorded('long', i + 1));
    for (let i = 0; i < messages.length; i += 100) await store.append(messages.slice(i, i + 100).map(pending));
    const { stream, meta } = store.keys('long');
    const length = await client.xlen(stream);
    // `~` trims whole stream nodes (stream-node-max-entries, 100 by default): at least 10 kept, far fewer than 1000.
    expect(length).toBeGreaterThanOrEqual(10);
    expect(length).toBeLessThanOrEqual(10 + 100);
    const kept = (await store.read('long'))!.messages;
    expect(kept.at(-1)).toEqual(messages.at(-1));
    expect(kept[0]).toEqual(messages[messages.length - length]);
    for (const key of [stream, meta, store.indexKey]) {
      const ttl = await client.ttl(key);
      expect(ttl).toBeGreaterThan(590);
      expect(ttl).toBeLessThanOrEqual(600);
    }
  });

  it('a recording Redis expired is gone, and leaves the listing', async () => {
    const store = new RedisRecordingStore(client, `test:${randomUUID()}:`, LIMITS);
    await store.append([pending(recorded('expiring', 1)), pending(recorded('staying', 1))]);
    const { stream, meta } = store.keys('expiring');
    await client.del(stream, meta); // what EXPIRE does when its time comes
    expect(await store.read('expiring')).toBeUndefined();
    expect((await store.list()).map((s) => s.recording)).toEqual(['staying']);
    expect(await client.zrange(store.indexKey, '0', '-1')).toEqual(['staying']);
  });

  it('two replicas (two recorders, two connections) writing one session make one recording, in order', async () => {
    const prefix = `test:${randomUUID()}:`;
    const other = await connectRedis({ url: redis.url, commandTimeoutMs: 1000, connectTimeoutMs: 2000, log: () => {} });
    try {
      const replica = (c: RedisClient) => new Recorder({ store: new RedisRecordingStore(c, prefix, LIMITS), whenFull: 'fail_closed', bufferMessages: 100, bufferBytes: 1 << 20, flushIntervalMs: 1000, flushBatch: 100, closeTimeoutMs: 2000, log: () => {} });
      const [a, b] = [replica(client), replica(other)];
      const messages = Array.from({ length: 10 }, (_, i) => recorded('shared', i + 1));
      // The session's requests alternate between replicas; B writes its part first.
      messages.forEach((m, i) => (i % 4 < 2 ? a : b).record(m));
      expect(await b.flush()).toBe(true);
      expect(await a.flush()).toBe(true);
      const reader = new RedisRecordingStore(client, prefix, LIMITS);
      expect((await reader.read('shared'))?.messages).toEqual(messages);
      expect((await reader.list()).map((s) => [s.recording, s.messages])).toEqual([['shared', 10]]);
      await Promise.all([a.close(), b.close()]);
    } finally {
      other.disconnect();
    }
  });
});

describe('RedisRecordingStore: Redis restarted with AOF', () => {
  it('loses no recorded message', async () => {
    const aof = await startRedis({ aof: true });
    const c = await connectRedis({ url: aof.url, commandTimeoutMs: 1000, connectTimeoutMs: 2000, log: () => {} });
    try {
      const store = new RedisRecordingStore(c, 'aof:', LIMITS);
      const messages = Array.from({ length: 50 }, (_, i) => recorded('durable', i + 1));
      expect(await store.append(messages.map(pending))).toEqual([]);
      await aof.stop();
      await aof.start();
      // The client reconnects on its own (state/redis.ts); wait for it rather than for a time.
      while (c.status !== 'ready') await new Promise((r) => setTimeout(r, 20));
      expect((await store.read('durable'))?.messages).toEqual(messages);
      expect((await store.list()).map((s) => [s.recording, s.messages])).toEqual([['durable', 50]]);
    } finally {
      c.disconnect();
      await aof.close();
    }
  }, 30_000);
});
