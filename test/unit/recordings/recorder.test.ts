// The recorder's buffer: bounded by messages and bytes; full means `admit` refuses (fail_closed,
// counted as refused) or calls go through unrecorded (drop, counted as dropped). A Redis outage
// (a real redis-server stopped, AOF on) keeps messages buffered and retried; restarted, they are written.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryRecordingStore, RedisRecordingStore, Recorder, type RecorderOptions, type RecordingStore } from '../../../gateway/recordings/index.ts';
import { connectRedis, type RedisClient } from '../../../gateway/state/index.ts';
import { startRedis, type TestRedis } from '../../helpers/redis.ts';
import { recorded } from './messages.ts';

const LIMITS = { retentionMs: 3600_000, maxMessages: 10_000, maxRecordings: 1000 };

function recorder(store: RecordingStore, options: Partial<RecorderOptions> = {}, logs: string[] = []) {
  return new Recorder({ store, whenFull: 'fail_closed', bufferMessages: 5, bufferBytes: 1 << 20, flushIntervalMs: 60_000, flushBatch: 100, closeTimeoutMs: 1000, log: (m) => logs.push(m), ...options });
}

describe('Recorder buffer', () => {
  // The interval is a minute: nothing is written until the test flushes, so the buffer fills.
  it('fail_closed: a full buffer makes admit false (counted); admit is true again once written', async () => {
    const store = new MemoryRecordingStore(LIMITS);
    const r = recorder(store);
    for (let n = 1; n <= 5; n++) {
      expect(r.admit()).toBe(true);
      r.record(recorded('full', n));
    }
    expect(r.admit()).toBe(false);
    expect(r.admit()).toBe(false);
    // An exchange admitted before the buffer filled still records its answer: past the bound it is dropped.
    r.record(recorded('full', 6));
    expect(r.stats()).toMatchObject({ refused: 2, dropped: 1, buffered: 5, written: 0 });
    expect(await r.flush()).toBe(true);
    expect(r.admit()).toBe(true);
    expect(r.stats()).toMatchObject({ written: 5, buffered: 0, bufferedBytes: 0, refused: 2, dropped: 1 });
    expect((await store.read('full'))?.messages.map((m) => m.decision?.id)).toEqual(['dec_1', 'dec_2', 'dec_3', 'dec_4', 'dec_5']);
    await r.close();
  });

  it('drop: a full buffer admits every call and drops (counts) what does not fit', async () => {
    const store = new MemoryRecordingStore(LIMITS);
    const r = recorder(store, { whenFull: 'drop' });
    for (let n = 1; n <= 8; n++) {
      expect(r.admit()).toBe(true);
      r.record(recorded('dropping', n));
    }
    expect(r.stats()).toMatchObject({ dropped: 3, refused: 0, buffered: 5 });
    await r.flush();
    expect((await store.read('dropping'))?.messages).toHaveLength(5);
    await r.close();
  });

  it('a message that cannot be serialized is dropped and counted, never thrown at the caller', async () => {
    const logs: string[] = [];
    const r = recorder(new MemoryRecordingStore(LIMITS), {}, logs);
    const odd = recorded('odd', 1, { message: { jsonrpc: '2.0', method: 'x', params: { n: 1n } as unknown as Record<string, unknown> } });
    expect(() => r.record(odd)).not.toThrow();
    expect(r.stats()).toMatchObject({ dropped: 1, buffered: 0 });
    expect(logs[0]).toMatch(/^recordings: a message of odd cannot be serialized and is not recorded: /);
    await r.close();
  });

  it('the byte bound counts too (fail_closed: a client message that does not fit is refused, record answers false)', async () => {
    const r = recorder(new MemoryRecordingStore(LIMITS), { bufferMessages: 1000, bufferBytes: 4096 });
    const big = recorded('bytes', 1, { message: { jsonrpc: '2.0', method: 'notifications/message', params: { data: 'x'.repeat(3000) } } });
    expect(r.record(big)).toBe(true);
    expect(r.admit()).toBe(true);
    expect(r.record({ ...big, time: big.time + 1 })).toBe(false);
    expect(r.stats()).toMatchObject({ buffered: 1, dropped: 0, refused: 1 });
    expect(r.stats().bufferedBytes).toBe(Buffer.byteLength(JSON.stringify(big)));
    await r.close();
  });

  it('writes in the background on its interval, and in batches', async () => {
    const store = new MemoryRecordingStore(LIMITS);
    const r = recorder(store, { flushIntervalMs: 5, flushBatch: 2, bufferMessages: 100 });
    for (let n = 1; n <= 7; n++) r.record(recorded('background', n));
    while (r.stats().written < 7) await new Promise((res) => setTimeout(res, 5));
    expect((await store.read('background'))?.messages.map((m) => m.decision?.id)).toEqual(['dec_1', 'dec_2', 'dec_3', 'dec_4', 'dec_5', 'dec_6', 'dec_7']);
    await r.close();
  });

  it('close writes what is buffered; what is recorded after close is dropped and counted', async () => {
    const ok = new MemoryRecordingStore(LIMITS);
    const a = recorder(ok);
    a.record(recorded('closing', 1));
    await a.close();
    expect((await ok.read('closing'))?.messages).toHaveLength(1);
    a.record(recorded('closing', 2));
    expect(a.stats()).toMatchObject({ written: 1, dropped: 1 });
  });
});

describe('Recorder on a real Redis that goes down', () => {
  let redis: TestRedis;
  let client: RedisClient;
  beforeAll(async () => {
    redis = await startRedis({ aof: true });
    client = await connectRedis({ url: redis.url, commandTimeoutMs: 500, connectTimeoutMs: 2000, log: () => {} });
  });
  afterAll(async () => {
    client?.disconnect();
    await redis?.close();
  });

  it('buffers during the outage, retries, and writes everything once Redis is back', async () => {
    const store = new RedisRecordingStore(client, `test:${randomUUID()}:`, LIMITS);
    const logs: string[] = [];
    const r = recorder(store, { bufferMessages: 100, flushIntervalMs: 10 }, logs);
    const before = [1, 2].map((n) => recorded('outage', n));
    before.forEach((m) => r.record(m));
    expect(await r.flush()).toBe(true);

    await redis.stop();
    const during = [3, 4, 5, 6].map((n) => recorded('outage', n));
    during.forEach((m) => r.record(m));
    expect(await r.flush()).toBe(false);
    expect(r.stats()).toMatchObject({ written: 2, buffered: 4 });
    expect(r.stats().failed).toBeGreaterThanOrEqual(1);
    expect(logs.some((l) => l.startsWith('recordings: cannot write to the redis store; 4 message(s) buffered'))).toBe(true);

    await redis.start();
    // The background retry (with backoff) writes them once the connection is back.
    while (r.stats().written < 6) await new Promise((res) => setTimeout(res, 20));
    expect(logs).toContain('recordings: the store accepts writes again');
    expect((await store.read('outage'))?.messages).toEqual([...before, ...during]);
    await r.close();
  }, 30_000);

  it('at close, what cannot be written by close_timeout_ms (Redis down) is dropped and counted', async () => {
    const logs: string[] = [];
    const r = recorder(new RedisRecordingStore(client, `test:${randomUUID()}:`, LIMITS), { closeTimeoutMs: 300 }, logs);
    await redis.stop();
    try {
      r.record(recorded('lost', 1));
      r.record(recorded('lost', 2));
      await r.close();
      expect(r.stats()).toMatchObject({ written: 0, dropped: 2, buffered: 0 });
      expect(r.stats().failed).toBeGreaterThanOrEqual(1);
      expect(logs).toContain('recordings: 2 message(s) could not be written before shutdown and are lost');
    } finally {
      await redis.start();
    }
  }, 30_000);
});
