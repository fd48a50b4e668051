// Security review of session recordings (an outside reviewer's failing tests, one per finding):
// what one principal can do to another principal's recordings through the stores' bounds, the
// memory store's size, and what the CLI's escaping lets through. Real Redis.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryRecordingStore, Recorder, RedisRecordingStore, recordingIdFor, type RecordedMessage, type RecordingStore } from '../../../gateway/recordings/index.ts';
import { replayLines } from '../../../gateway/recordings/cli.ts';
import { connectRedis, type RedisClient } from '../../../gateway/state/index.ts';
import { startRedis, type TestRedis } from '../../helpers/redis.ts';
import { recorded } from './messages.ts';

let redis: TestRedis;
let client: RedisClient;
beforeAll(async () => {
  redis = await startRedis();
  client = await connectRedis({ url: redis.url, commandTimeoutMs: 5000, connectTimeoutMs: 2000, log: () => {} });
}, 60_000);
afterAll(async () => {
  client?.disconnect();
  await redis?.close();
});

const recorderOn = (store: RecordingStore, bufferBytes = 64 << 20) => new Recorder({ store, whenFull: 'fail_closed', bufferMessages: 10_000, bufferBytes, flushIntervalMs: 5, flushBatch: 500, closeTimeoutMs: 10_000, log: () => {} });

const alice = '["user","https://idp.example","alice"]';
const mallory = '["user","https://idp.example","mallory"]';

/**
 * Finding R6: max_recordings is one global least-recently-written bound. In 2026-07-28 a token
 * without client_id/azp gets one recording per `clientInfo.name` it sends, so one principal can
 * mint as many recordings as it likes and push everyone else's out: out of the listing on Redis
 * (still stored, but /api/sessions, the CLI and the page no longer show it), deleted outright
 * on memory. A caller erasing the evidence of another caller's (or its own earlier) session.
 */
describe('R6: one principal pushes another principal\'s recording out', () => {
  const MAX = 5;
  const limits = { retentionMs: 3600_000, maxMessages: 100, maxRecordings: MAX };
  const aliceId = recordingIdFor({ target: 'crm', principal: alice, subject: { client_id: 'agent-7' } });
  // Mallory's token has no client_id: every clientInfo.name is a new recording of hers.
  const malloryIds = Array.from({ length: MAX }, (_, i) => recordingIdFor({ target: 'crm', principal: mallory, subject: { client_id: '' }, clientName: `noise-${i}` }));
  const modern = (id: string, principal: string) => recorded(id, 1, { era: 'stateless', sessionId: '', protocolVersion: '2026-07-28', principal });

  // Fixed (R6): without a token client, the client name is not part of the id, so mallory's
  // names all land in her one recording (the per-principal bound covers many token clients).
  it('mallory\'s client names do not mint recordings', () => {
    expect(new Set(malloryIds).size).toBe(1);
  });

  it.each([
    ['memory', () => new MemoryRecordingStore(limits)],
    ['redis', () => new RedisRecordingStore(client, `review:${randomUUID()}:`, limits)],
  ] as const)('%s: alice\'s recording stays readable and listed after mallory writes max_recordings recordings', async (_name, make) => {
    const store = make();
    const writer = recorderOn(store);
    writer.record(modern(aliceId, alice));
    await writer.flush();
    for (const id of malloryIds) {
      writer.record(modern(id, mallory));
      await writer.flush();
    }
    await writer.close();
    expect((await store.read(aliceId))?.messages.map((m) => m.principal)).toEqual([alice]);
    expect((await store.list({ limit: 1000 })).map((s) => s.recording)).toContain(aliceId);
  });
});

/**
 * Finding R7: the memory store (state.backend: memory) is bounded by counts only: up to
 * max_recordings (100,000) x max_messages (10,000) messages of up to limits.max_response_bytes
 * (32 MiB) each. buffer_bytes bounds only the buffer in front of it, which drains into the store
 * within flush_interval_ms, so a caller sending big messages grows the gateway's heap without
 * limit. The only byte bound the configuration has is buffer_bytes: this test holds the store to
 * it (the fix may add its own bound, e.g. a `max_bytes`, and this test should use that).
 */
describe('R7: the memory store is bounded in bytes', () => {
  // The fix adds the memory store's own bound (recordings.memory_max_bytes, `maxBytes` here): held to it.
  it('after 16 MiB of recorded messages with memory_max_bytes 1 MiB, the memory store holds at most 1 MiB', async () => {
    const bufferBytes = 1 << 20;
    const store = new MemoryRecordingStore({ retentionMs: 3600_000, maxMessages: 10_000, maxRecordings: 100_000, maxBytes: bufferBytes });
    const writer = recorderOn(store, bufferBytes);
    const blob = 'B'.repeat(512 << 10);
    for (let i = 0; i < 32; i++) {
      writer.record(recorded(`big-${i % 4}`, 2, { sessionId: `big-${i % 4}`, message: { jsonrpc: '2.0', id: i, result: { content: [{ type: 'text', text: blob }] } } }));
      await writer.flush();
    }
    await writer.close();
    expect(writer.stats().dropped).toBe(0);
    let held = 0;
    for (const s of await store.list({ limit: 1000 })) {
      for (const m of (await store.read(s.recording))!.messages) held += Buffer.byteLength(JSON.stringify(m));
    }
    expect(held).toBeLessThanOrEqual(bufferBytes);
  });
});

/**
 * Finding R8 (low): the CLI's `clean` escapes C0, C1, the embeddings/overrides U+202A..U+202E and
 * the isolates U+2066..U+2069, but not the bidi marks U+200E (LRM), U+200F (RLM) and U+061C
 * (ALM), which bidi-aware terminals (VTE, Konsole, mlterm) use to reorder what is shown; nor
 * U+FEFF / U+200B..U+200D, invisible characters that make two ids look equal.
 */
describe('R8: replay escapes bidi marks and invisible characters', () => {
  it('no U+200E, U+200F, U+061C, U+200B..U+200D or U+FEFF reaches the terminal', () => {
    const m: RecordedMessage = recorded('sess-marks', 1, { name: 'look\u200fup\u061c', message: { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'x', arguments: { text: 'a\u200eb\u200bc\u200dd\ufeffe' } } } });
    const out = replayLines({ recording: 'sess-marks', target: 'crm', era: 'legacy', sessionId: 'sess-marks', principal: alice, firstTime: m.time, lastTime: m.time, messages: 1 }, [m]).join('\n');
    expect(out).toContain('look');
    expect(out).not.toMatch(/[\u200b-\u200f\u061c\ufeff]/);
  });
});

/**
 * Finding R9: under `when_full: fail_closed`, `admit()` asks only "is the buffer full now?", not
 * "does this exchange's message fit?". With the buffer short of full by less than the request's
 * size (a slow store, or the caller's own earlier big messages), the call is admitted, its
 * request does not fit and is dropped, and the request path forwards a call that was never
 * recorded: the caller pads the tools/call it wants unrecorded (max_body_bytes is 4 MiB).
 */
describe('R9: fail_closed admits a call whose request is then not recorded', () => {
  it('a call admit() lets through has its request message recorded', async () => {
    const store = new MemoryRecordingStore({ retentionMs: 3600_000, maxMessages: 100, maxRecordings: 100 });
    // A flush interval that does not fire within the test: the buffer holds what it holds.
    const writer = new Recorder({ store, whenFull: 'fail_closed', bufferMessages: 10_000, bufferBytes: 1 << 20, flushIntervalMs: 60_000, flushBatch: 500, closeTimeoutMs: 10_000, log: () => {} });
    const pad = 'P'.repeat(600 << 10);
    writer.record(recorded('padding', 1, { sessionId: 'padding', message: { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'lookup', arguments: { pad } } } }));
    expect(writer.admit()).toBe(true);
    // The admitted call's request, padded past the room left.
    writer.record(recorded('padding', 3, { sessionId: 'padding', name: 'delete_records', message: { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'delete_records', arguments: { pad } } } }));
    expect(writer.stats().dropped).toBe(0);
    await writer.close();
  });
});
