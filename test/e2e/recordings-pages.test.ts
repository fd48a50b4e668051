// Reading a long recording in pages (review R4), finding a legacy session by its Mcp-Session-Id,
// and the CLI following the pages, in every output mode with one cleaning rule (R3). A real gateway
// on a real Redis, tokens from a real IdP; the recording is written by a recorder on the same Redis
// and prefix, as a replica's request path would.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Recorder, RedisRecordingStore, recordingIdFor, type RecordedMessage } from '../../gateway/recordings/index.ts';
import { runSessionsCli } from '../../gateway/recordings/cli.ts';
import { connectRedis, type RedisClient } from '../../gateway/state/index.ts';
import { policyCli } from '../../gateway/policy/cli.ts';
import { ALLOW_ALL_POLICY, bundleFor, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { startTestIdp, type TestIdp } from '../helpers/idp.ts';
import { startRedis, type TestRedis } from '../helpers/redis.ts';
import { recorded } from '../unit/recordings/messages.ts';

const BASE = 'https://gw.example.test';
const PREFIX = 'rec-pages:';
const principal = '["user","https://idp.example","alice"]';
const longId = recordingIdFor({ era: 'legacy', target: 'crm', sessionId: 'mcp-session-42', principal });
// Hostile characters in every kind of field: a bidi mark in the name, C1 and an override in the message.
const long: RecordedMessage[] = Array.from({ length: 130 }, (_, i) => recorded(longId, i + 1, {
  sessionId: 'mcp-session-42', ...(i === 0 ? { name: 'look\u200fup', message: { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'x', arguments: { t: '\u009b2J\u202eevil\ufeff' } } } } : {}),
}));

let idp: TestIdp;
let redis: TestRedis;
let client: RedisClient;
let gw: TestGateway;
const token = (sub: string, groups: string[]) => idp.sign(idp.validClaims(`${BASE}/mcp/crm`, { sub, groups }));
async function api(path: string, bearer: string): Promise<{ status: number; json: any }> {
  const res = await fetch(`${gw.url}${path}`, { headers: { authorization: `Bearer ${bearer}` } });
  return { status: res.status, json: await res.json() };
}

beforeAll(async () => {
  [idp, redis] = await Promise.all([startTestIdp({ tokenTtlSeconds: 600 }), startRedis()]);
  gw = await startTestGateway({
    targets: { crm: 'http://127.0.0.1:9/mcp' },
    config: {
      identity: { public_base_url: BASE, http_timeout_ms: 2000, issuers: [{ issuer: idp.issuer, token_format: 'jwt', groups_claim: 'groups' }] },
      state: { backend: 'redis', redis: { url: redis.url, key_prefix: PREFIX } },
      recordings: { enabled: true, auditor_groups: ['auditors'] },
    },
  });
  client = await connectRedis({ url: redis.url, commandTimeoutMs: 2000, connectTimeoutMs: 2000, log: () => {} });
  const writer = new Recorder({ store: new RedisRecordingStore(client, PREFIX, { retentionMs: 3600_000, maxMessages: 1000, maxRecordings: 1000 }), whenFull: 'fail_closed', bufferMessages: 1000, bufferBytes: 1 << 20, flushIntervalMs: 10, flushBatch: 100, closeTimeoutMs: 2000, log: () => {} });
  long.forEach((m) => expect(writer.record(m)).toBe(true));
  await writer.close();
}, 60_000);
afterAll(async () => {
  client?.disconnect();
  await gw?.close();
  await Promise.all([idp?.close(), redis?.close()]);
});

describe('GET /api/sessions/<id> in pages', () => {
  it('100 messages by default, `limit` on request, and `next` until every message has come once, in order', async () => {
    const t = await token('audra', ['auditors']);
    const first = await api(`/api/sessions/${longId}`, t);
    expect(first.status).toBe(200);
    expect(first.json.messages).toHaveLength(100);
    expect(first.json.session.messages).toBe(130);
    const seen: RecordedMessage[] = [];
    let path = `/api/sessions/${longId}?limit=50`;
    for (let i = 0; i < 5; i++) {
      const page = await api(path, t);
      seen.push(...page.json.messages);
      if (page.json.next === undefined) break;
      path = `/api/sessions/${longId}?limit=50&after=${encodeURIComponent(page.json.next)}`;
    }
    expect(seen).toEqual(long);
  });

  it('a bad cursor or page size: 400 bad_request', async () => {
    const t = await token('audra', ['auditors']);
    expect(await api(`/api/sessions/${longId}?after=x`, t)).toMatchObject({ status: 400, json: { error: { code: 'bad_request', message: 'after must be the `next` cursor of a previous page' } } });
    expect(await api(`/api/sessions/${longId}?limit=1001`, t)).toMatchObject({ status: 400, json: { error: { code: 'bad_request', message: 'limit must be 1 to 1000' } } });
  });

  it('a legacy session is found by its Mcp-Session-Id: ?session_id=', async () => {
    const t = await token('audra', ['auditors']);
    expect((await api('/api/sessions?session_id=mcp-session-42', t)).json.sessions.map((s: any) => s.recording)).toEqual([longId]);
    expect((await api('/api/sessions?session_id=nope', t)).json.sessions).toEqual([]);
  });
});

describe('portcullis sessions follows the pages', () => {
  const cli = async (args: string[]) => {
    const out: string[] = [];
    const code = await runSessionsCli([...args, '--url', gw.url, '--token', await token('audra', ['auditors'])], { out: (t) => out.push(t), err: (t) => out.push(t), env: {} });
    return { code, out: out.join('\n') };
  };

  it('show prints every message of every page, with no raw bidi, C1 or invisible characters', async () => {
    const show = await cli(['show', longId]);
    expect(show.code).toBe(0);
    const steps = show.out.split('\n').filter((l) => l.startsWith('step '));
    expect(steps).toHaveLength(130);
    expect(steps[129]).toMatch(/^step 130\/130 /);
    expect(steps[0]).toContain('look\\u200fup');
    expect(show.out).not.toMatch(/[\u0080-\u009f\u061c\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]/);
  });

  it('--json: one valid JSON document of every message, cleaned the same way, reading back exactly', async () => {
    const shown = await cli(['show', longId, '--json']);
    expect(shown.code).toBe(0);
    expect(shown.out).not.toMatch(/[\u0080-\u009f\u061c\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]/);
    expect(shown.out).toContain('\\u202eevil');
    const body = JSON.parse(shown.out);
    expect(body.messages).toEqual(long);
    expect(body.session).toMatchObject({ recording: longId, messages: 130, sessionId: 'mcp-session-42' });
  });

  it('list --session-id', async () => {
    const listed = await cli(['list', '--session-id', 'mcp-session-42']);
    expect(listed.code).toBe(0);
    expect(listed.out.split('\n')[0]).toBe('1 recording(s):');
    expect(listed.out).toContain(longId);
  });
});

describe('portcullis policy replay --gateway follows the pages', () => {
  it('replays all 130 messages of a recording longer than one page', async () => {
    const lines: string[] = [];
    const code = await policyCli(['replay', '--bundle', await bundleFor(ALLOW_ALL_POLICY), '--gateway', gw.url, '--session', longId], (l) => lines.push(l), { PORTCULLIS_TOKEN: await token('audra', ['auditors']) });
    const out = lines.join('\n');
    // One page is 100: only following `next` gives all 130 (each is decided again; the mask differs from the recorded decision's).
    expect(out).toMatch(/replayed 130 message\(s\): 130 would change/);
    expect(code).toBe(1);
  }, 60_000);
});
