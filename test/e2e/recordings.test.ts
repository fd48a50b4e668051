// /api/sessions and `portcullis sessions` against two real gateway replicas on one real Redis,
// with tokens from a real IdP. Recordings are written by a recorder on the same Redis and key
// prefix (as a third replica's request path would); both replicas read them as one.
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisRecordingStore, Recorder, recordingIdFor, type RecordedMessage } from '../../gateway/recordings/index.ts';
import { runSessionsCli } from '../../gateway/recordings/cli.ts';
import { connectRedis, type RedisClient } from '../../gateway/state/index.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { startTestIdp, type TestIdp } from '../helpers/idp.ts';
import { startRedis, type TestRedis } from '../helpers/redis.ts';
import { recorded } from '../unit/recordings/messages.ts';

const BASE = 'https://gw.example.test';
const PREFIX = 'rec-e2e:';
const LIMITS = { retentionMs: 3600_000, maxMessages: 1000, maxRecordings: 1000 };

let idp: TestIdp;
let redis: TestRedis;
let client: RedisClient;
let a: TestGateway;
let b: TestGateway;
const principal = '["user","https://idp.example","mallory"]';
const modernId = recordingIdFor({ target: 'crm', principal, subject: { client_id: 'agent-7' } });
// What the client saw, hostile bits included: markup, a terminal escape, a direction override.
const session: RecordedMessage[] = [
  recorded('legacy-1', 1),
  recorded('legacy-1', 2, { message: { jsonrpc: '2.0', id: 1, result: { content: [{ type: 'text', text: '<script>alert(1)</script> \u001b[31mred\u001b[0m \u202eevil [MASKED:card ...4242]' }] } }, durationMs: 12 }),
  recorded('legacy-1', 3, { decision: { id: 'dec_3', outcome: 'deny', allow: false, approvalRequired: false, ruleIds: ['crm.no_export'], reasons: ['export is not allowed'], revision: 'r1', masked: {} } }),
  recorded('legacy-1', 4, { origin: 'gateway', message: { jsonrpc: '2.0', id: 2, error: { code: -32050, message: 'denied by policy' } } }),
];
// A legacy session id is any visible ASCII (the upstream picks it): the API takes it percent-encoded.
const oddId = 'we/ird%20{id}?x#y';
const odd = [recorded(oddId, 1, { sessionId: oddId })];
const modern = [recorded(modernId, 1, { era: 'stateless', sessionId: '', protocolVersion: '2026-07-28', principal }), recorded(modernId, 2, { era: 'stateless', sessionId: '', protocolVersion: '2026-07-28', principal })];

const token = (sub: string, groups: string[], target = 'crm') => idp.sign(idp.validClaims(`${BASE}/mcp/${target}`, { sub, groups }));

async function api(gw: TestGateway, path: string, bearer?: string): Promise<{ status: number; json: any; headers: Headers }> {
  const res = await fetch(`${gw.url}${path}`, { headers: bearer ? { authorization: `Bearer ${bearer}` } : {} });
  return { status: res.status, json: await res.json(), headers: res.headers };
}

beforeAll(async () => {
  [idp, redis] = await Promise.all([startTestIdp({ tokenTtlSeconds: 600 }), startRedis()]);
  const replica = () => startTestGateway({
    targets: { crm: 'http://127.0.0.1:9/mcp', billing: 'http://127.0.0.1:9/mcp' },
    config: {
      identity: { public_base_url: BASE, http_timeout_ms: 2000, issuers: [{ issuer: idp.issuer, token_format: 'jwt', groups_claim: 'groups' }] },
      state: { backend: 'redis', redis: { url: redis.url, key_prefix: PREFIX } },
      recordings: { enabled: true, auditor_groups: ['auditors'] },
    },
  });
  [a, b] = await Promise.all([replica(), replica()]);
  client = await connectRedis({ url: redis.url, commandTimeoutMs: 1000, connectTimeoutMs: 2000, log: () => {} });
  const writer = new Recorder({ store: new RedisRecordingStore(client, PREFIX, LIMITS), whenFull: 'fail_closed', bufferMessages: 100, bufferBytes: 1 << 20, flushIntervalMs: 10, flushBatch: 100, closeTimeoutMs: 2000, log: () => {} });
  [...odd, ...session, ...modern].forEach((m) => writer.record(m));
  await writer.close();
}, 60_000);
afterAll(async () => {
  client?.disconnect();
  await a?.close();
  await b?.close();
  await Promise.all([idp?.close(), redis?.close()]);
});

describe('/api/sessions', () => {
  it('no token: 401 with a bearer challenge', async () => {
    const res = await api(a, '/api/sessions');
    expect(res.status).toBe(401);
    expect(res.json.error.code).toBe('unauthorized');
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer /);
  });

  it('a token of the wrong issuer or audience: 401', async () => {
    const res = await api(a, '/api/sessions', await idp.sign(idp.validClaims('https://elsewhere.example/mcp/crm', { sub: 'audra', groups: ['auditors'] })));
    expect(res.status).toBe(401);
    expect(res.json.error.code).toBe('unauthorized');
  });

  it('a valid token outside the auditor groups: 403', async () => {
    const res = await api(a, '/api/sessions', await token('dev', ['engineering']));
    expect(res).toMatchObject({ status: 403, json: { error: { code: 'forbidden', message: 'reading recordings needs membership of one of recordings.auditor_groups' } } });
    expect((await api(a, `/api/sessions/legacy-1`, await token('dev', ['engineering']))).status).toBe(403);
  });

  it('an auditor (token for any target) lists the recordings of every replica, newest first', async () => {
    for (const gw of [a, b]) {
      const res = await api(gw, '/api/sessions', await token('audra', ['auditors'], 'billing'));
      expect(res.status).toBe(200);
      expect(res.json.sessions.map((s: any) => [s.recording, s.era, s.messages])).toEqual([[modernId, 'stateless', 2], [oddId, 'legacy', 1], ['legacy-1', 'legacy', 4]]);
    }
    expect((await api(a, '/api/sessions?limit=1', await token('audra', ['auditors']))).json.sessions).toHaveLength(1);
  });

  it('an auditor reads a recording exactly as it was recorded', async () => {
    const res = await api(b, '/api/sessions/legacy-1', await token('audra', ['auditors']));
    expect(res.status).toBe(200);
    expect(res.json.messages).toEqual(session);
    expect(res.json.session).toMatchObject({ recording: 'legacy-1', target: 'crm', messages: 4, firstTime: session[0]!.time, lastTime: session[3]!.time });
  });

  it('a session id with slashes, percent signs, braces and query characters is read by its encoded id', async () => {
    const res = await api(a, `/api/sessions/${encodeURIComponent(oddId)}`, await token('audra', ['auditors']));
    expect(res.status).toBe(200);
    expect(res.json.messages).toEqual(odd);
  });

  it('an unknown recording: 404; bad list options: 400', async () => {
    const t = await token('audra', ['auditors']);
    expect(await api(a, '/api/sessions/no-such-session', t)).toMatchObject({ status: 404, json: { error: { code: 'not_found' } } });
    expect(await api(a, '/api/sessions?limit=0', t)).toMatchObject({ status: 400, json: { error: { code: 'bad_request', message: 'limit must be 1 to 1000' } } });
    expect(await api(a, '/api/sessions?since=yesterday', t)).toMatchObject({ status: 400, json: { error: { code: 'bad_request' } } });
  });
});

describe('portcullis sessions', () => {
  const cli = async (args: string[], env: Record<string, string> = {}) => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await runSessionsCli(args, { out: (t) => out.push(t), err: (t) => err.push(t), env: { PORTCULLIS_URL: a.url, ...env } });
    return { code, out: out.join('\n'), err: err.join('\n') };
  };

  it('list and show', async () => {
    const t = await token('audra', ['auditors']);
    const list = await cli(['list'], { PORTCULLIS_TOKEN: t });
    expect(list.code).toBe(0);
    expect(list.out.split('\n')[0]).toBe('3 recording(s):');
    expect(list.out).toContain(`${modernId}  crm (stateless)  principal ${principal}  2 message(s)`);
    const show = await cli(['show', 'legacy-1', '--token', t]);
    expect(show.code).toBe(0);
    expect(show.out.split('\n').slice(1)).toEqual([
      'step 1/4  +0.000s  client -> server  client  request tools/call lookup  id 1  allow [crm.lookup]',
      'step 2/4  +0.007s  server -> client  upstream  response (response)  id 1  took 12 ms  allow [crm.lookup]',
      'step 3/4  +0.014s  client -> server  client  request tools/call lookup  id 2  deny [crm.no_export]',
      'step 4/4  +0.021s  server -> client  gateway  response (response)  id 2  allow [crm.lookup]',
    ]);
  });

  it('replay prints each step with its decision and timing, and each message exactly as the client saw it', async () => {
    const replay = await cli(['replay', 'legacy-1', '--token', await token('audra', ['auditors'])]);
    expect(replay.code).toBe(0);
    const lines = replay.out.split('\n');
    expect(lines).toContain('  decision: deny  rules crm.no_export  masked none  id dec_3  reasons export is not allowed');
    expect(lines).toContain('  decision: allow  rules crm.lookup  masked email=1  id dec_1');
    expect(lines.filter((l) => l.startsWith('step ')).map((l) => l.split('  ').slice(0, 2).join(' '))).toEqual(['step 1/4 +0.000s', 'step 2/4 +0.007s', 'step 3/4 +0.014s', 'step 4/4 +0.021s']);
    // No raw control or direction characters reach the terminal, and the JSON still reads back whole.
    expect(replay.out).not.toMatch(/[\u001b\u202e]/);
    const printed = lines.filter((l) => l.startsWith('  message: ')).map((l) => JSON.parse(l.slice('  message: '.length)));
    expect(printed).toEqual(session.map((m) => m.message));
  });

  it('--pace waits as long as the session did between messages', async () => {
    const waits: number[] = [];
    const out: string[] = [];
    const code = await runSessionsCli(['replay', 'legacy-1', '--pace', '--url', b.url, '--token', await token('audra', ['auditors'])], { out: (t) => out.push(t), err: () => {}, env: {}, sleep: async (ms) => { waits.push(ms); } });
    expect(code).toBe(0);
    expect(waits).toEqual([7, 7, 7]);
  });

  it('refusals and usage errors: exit 1 with the API code, exit 2 with usage', async () => {
    expect(await cli(['list', '--token', await token('dev', ['engineering'])])).toMatchObject({ code: 1, err: 'portcullis sessions list: forbidden: reading recordings needs membership of one of recordings.auditor_groups' });
    expect(await cli(['show', 'nope', '--token', await token('audra', ['auditors'])])).toMatchObject({ code: 1, err: 'portcullis sessions show: not_found: no such recording (never recorded, or past retention)' });
    expect((await cli(['list'])).code).toBe(2);
    expect((await cli(['replay', '--token', 'x'])).code).toBe(2);
    expect((await cli(['erase', 'x', '--token', 'x'])).code).toBe(2);
    expect(await cli(['list', '--token', 'x'], { PORTCULLIS_URL: 'http://127.0.0.1:9' })).toMatchObject({ code: 1 });
  });

  it('the portcullis command dispatches `sessions` (compiled, as production runs it)', async () => {
    const t = await token('audra', ['auditors']);
    const child = spawn(process.execPath, ['--no-experimental-strip-types', 'bin/portcullis.mjs', 'sessions', 'replay', modernId], { env: { ...process.env, PORTCULLIS_URL: b.url, PORTCULLIS_TOKEN: t } });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const code = await new Promise<number | null>((r) => child.on('exit', r));
    expect(code).toBe(0);
    const printed = out.split('\n').filter((l) => l.startsWith('  message: ')).map((l) => JSON.parse(l.slice('  message: '.length)));
    expect(printed).toEqual(modern.map((m) => m.message));
  });
});

describe('/api/sessions with Redis down', () => {
  it('503 state_unavailable, and back once Redis is', async () => {
    const t = await token('audra', ['auditors']);
    await redis.stop();
    try {
      expect(await api(a, '/api/sessions', t)).toMatchObject({ status: 503, json: { error: { code: 'state_unavailable' } } });
    } finally {
      await redis.start();
    }
  });
});

describe('/api/sessions with the identity provider down', () => {
  it('503 identity_unavailable, never 401 or the recordings', async () => {
    const down = await startTestIdp({ tokenTtlSeconds: 600 });
    const bearer = await down.sign(down.validClaims(`${BASE}/mcp/crm`, { sub: 'audra', groups: ['auditors'] }));
    await down.stop();
    const gw = await startTestGateway({
      targets: { crm: 'http://127.0.0.1:9/mcp' },
      config: {
        identity: { public_base_url: BASE, http_timeout_ms: 500, discovery_retry_seconds: 0, issuers: [{ issuer: down.issuer, token_format: 'jwt', groups_claim: 'groups' }] },
        recordings: { enabled: true, auditor_groups: ['auditors'] },
      },
    });
    try {
      const res = await api(gw, '/api/sessions', bearer);
      expect(res.status).toBe(503);
      expect(res.json.error.code).toBe('identity_unavailable');
    } finally {
      await gw.close();
      await down.close();
    }
  }, 30_000);
});
