// Security review of session recordings (an outside reviewer's failing tests, one per finding).
// Real parts: a real gateway on a real Redis, tokens and interactive logins from a real IdP, a
// real SDK v1 MCP upstream and client, chromium through playwright-core. Recordings that a hostile
// upstream or client shapes are written by a recorder on the same Redis and key prefix, as the
// request path would hand them (the RecordedMessage contract in gateway/recordings/entry.ts).
import { randomBytes } from 'node:crypto';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Recorder, RedisRecordingStore, recordingIdFor, type RecordedMessage } from '../../gateway/recordings/index.ts';
import { runSessionsCli } from '../../gateway/recordings/cli.ts';
import { connectRedis, type RedisClient } from '../../gateway/state/index.ts';
import { startLegacyUpstream, type UpstreamFixture } from '../fixtures/upstreams/index.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { freePort } from '../helpers/identity-stack.ts';
import { startTestIdp, type TestIdp } from '../helpers/idp.ts';
import { startRedis, type TestRedis } from '../helpers/redis.ts';
import { recorded } from '../unit/recordings/messages.ts';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const PREFIX = 'rec-review:';
const LIMITS = { retentionMs: 3600_000, maxMessages: 10_000, maxRecordings: 100_000 };

let idp: TestIdp;
let redis: TestRedis;
let client: RedisClient;
let upstream: UpstreamFixture;
let gw: TestGateway;
let base: string;
let browser: Browser | undefined;

const token = (sub: string, groups: string[], target = 'crm') => idp.sign(idp.validClaims(`${base}/mcp/${target}`, { sub, groups }));

async function api(path: string, bearer: string): Promise<{ status: number; json: any; bytes: number }> {
  const res = await fetch(`${gw.url}${path}`, { headers: { authorization: `Bearer ${bearer}` } });
  const text = await res.text();
  return { status: res.status, json: JSON.parse(text), bytes: Buffer.byteLength(text) };
}

/** Writes messages as a replica's request path would: through a recorder on the gateway's Redis and prefix. */
async function write(messages: RecordedMessage[], bufferBytes = 1 << 20): Promise<void> {
  const writer = new Recorder({ store: new RedisRecordingStore(client, PREFIX, LIMITS), whenFull: 'fail_closed', bufferMessages: 10_000, bufferBytes, flushIntervalMs: 5, flushBatch: 100, closeTimeoutMs: 10_000, log: () => {} });
  messages.forEach((m) => writer.record(m));
  await writer.close();
  expect(writer.stats()).toMatchObject({ dropped: 0, buffered: 0 });
}

beforeAll(async () => {
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  [idp, redis, upstream] = await Promise.all([
    startTestIdp({ tokenTtlSeconds: 600, interactive: { redirectUris: [`${base}/approvals/callback`], accounts: { audra: { groups: ['auditors'] } } } }),
    startRedis(),
    startLegacyUpstream(),
  ]);
  gw = await startTestGateway({
    targets: { crm: upstream.url, billing: 'http://127.0.0.1:9/mcp' },
    config: {
      listen: { host: '127.0.0.1', port },
      identity: { public_base_url: base, http_timeout_ms: 2000, issuers: [{ issuer: idp.issuer, token_format: 'jwt', groups_claim: 'groups' }] },
      state: { backend: 'redis', redis: { url: redis.url, key_prefix: PREFIX } },
      approvals: { enabled: true, sealing_keys_env: 'REV_KEYS', page: { issuer: idp.issuer, client_id: idp.clients.page.client_id, client_secret_env: 'REV_PAGE_SECRET' } },
      recordings: { enabled: true, auditor_groups: ['auditors'] },
    },
    env: { REV_KEYS: `k1:${randomBytes(32).toString('base64')}`, REV_PAGE_SECRET: idp.clients.page.client_secret },
  });
  client = await connectRedis({ url: redis.url, commandTimeoutMs: 5000, connectTimeoutMs: 2000, log: () => {} });
}, 120_000);
afterAll(async () => {
  await browser?.close();
  client?.disconnect();
  await gw?.close();
  await Promise.all([idp?.close(), redis?.close(), upstream?.close()]);
});

describe('review: recordings are fed by MCP traffic', () => {
  // Finding R1: gateway/app.ts never hands the sink to the request path (`void recordingSink`),
  // so with recordings.enabled nothing is recorded and `admit()` (fail_closed) is never asked.
  it('R1: a tool call through the gateway with recordings.enabled shows up in /api/sessions', async () => {
    const caller = await token('alice', ['engineering']);
    const mcp = new Client({ name: 'review-client', version: '1.0.0' });
    await mcp.connect(new StreamableHTTPClientTransport(new URL(gw.endpoint('crm')), { requestInit: { headers: { authorization: `Bearer ${caller}` } } }));
    try {
      const result: any = await mcp.callTool({ name: 'echo', arguments: { text: 'recorded?' } });
      expect(JSON.stringify(result)).toContain('recorded?');
    } finally {
      await mcp.close();
    }
    const auditor = await token('audra', ['auditors']);
    // The recorder writes in the background (flush_interval_ms 100): wait for it, bounded by the test timeout.
    let sessions: any[] = [];
    for (let i = 0; i < 100 && !sessions.some((s) => s.target === 'crm' && s.principal.includes('alice')); i++) {
      await new Promise((r) => setTimeout(r, 50));
      sessions = (await api('/api/sessions', auditor)).json.sessions;
    }
    expect(sessions.filter((s) => s.target === 'crm' && s.principal.includes('alice')).length).toBeGreaterThan(0);
  }, 30_000);
});

describe('review: the sign-in cookie on /mcp (check, passes)', () => {
  // The page's cookie now has Path=/ and so reaches /mcp/*: it must never be forwarded upstream.
  it('check: a Cookie header on an MCP call never reaches the upstream', async () => {
    const caller = await token('alice', ['engineering']);
    const before = upstream.received.length;
    const mcp = new Client({ name: 'review-cookie', version: '1.0.0' });
    await mcp.connect(new StreamableHTTPClientTransport(new URL(gw.endpoint('crm')), { requestInit: { headers: { authorization: `Bearer ${caller}`, cookie: 'portcullis_approver=portcullis.session.k1.secret; other=1' } } }));
    try {
      await mcp.callTool({ name: 'echo', arguments: { text: 'cookie?' } });
    } finally {
      await mcp.close();
    }
    const seen = upstream.received.slice(before);
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.filter((r) => 'cookie' in r.headers || JSON.stringify(r.headers).includes('portcullis_approver'))).toEqual([]);
  }, 30_000);
});

describe('review: recording isolation', () => {
  const alice = '["user","https://idp.example","alice"]';
  const mallory = '["user","https://idp.example","mallory"]';

  // Finding R2: a legacy recording is named by the upstream's Mcp-Session-Id, raw, in the same
  // namespace as the 2026-07-28 ids (rec_ + 32 hex, computable from target, principal and
  // client_id). A hostile upstream answering mallory's initialize with `Mcp-Session-Id:
  // rec_<alice's id>` merges mallory's messages into alice's recording; whoever writes first owns
  // the meta (target, principal) the listing and the page show.
  it('R2: an upstream-chosen session id equal to a 2026-07-28 recording id does not land in that recording', async () => {
    const aliceId = recordingIdFor({ target: 'crm', principal: alice, subject: { client_id: 'agent-7' } });
    const planted = recorded(aliceId, 1, { target: 'billing', principal: mallory, sessionId: aliceId, name: 'planted', message: { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'planted', arguments: { note: 'alice exported everything' } } } });
    const real = recorded(aliceId, 1, { target: 'crm', era: 'stateless', sessionId: '', protocolVersion: '2026-07-28', principal: alice });
    await write([planted]);
    await write([real]);
    const res = await api(`/api/sessions/${aliceId}`, await token('audra', ['auditors']));
    expect(res.status).toBe(200);
    expect(res.json.session).toMatchObject({ target: 'crm', principal: alice, era: 'stateless' });
    expect(res.json.messages.map((m: RecordedMessage) => [m.target, m.principal])).toEqual([['crm', alice]]);
  });

  // Same root cause, legacy only: two targets whose upstreams pick the same session id (counters,
  // or a hostile upstream copying a known id) share one recording and one meta hash.
  it('R2b: the same session id on two targets makes two recordings, not one', async () => {
    await write([recorded('1', 1, { target: 'crm', principal: alice })]);
    await write([recorded('1', 1, { target: 'billing', principal: mallory, name: 'planted' })]);
    const res = await api('/api/sessions/1', await token('audra', ['auditors']));
    expect(res.status).toBe(200);
    expect(new Set(res.json.messages.map((m: RecordedMessage) => m.target))).toEqual(new Set([res.json.session.target]));
  });
});

describe('review: the CLI on hostile recordings', () => {
  // Finding R3: --json prints JSON.stringify's output, which escapes C0 but not C1 (U+009B is the
  // 8-bit CSI) nor bidi overrides (U+202E): the "printed as \uXXXX escapes" guarantee of
  // docs/audit.md does not hold with --json, on list, show and replay.
  it('R3: `sessions show --json` and `list --json` print no raw C1 or direction-override characters', async () => {
    const id = 'sess-bidi';
    await write([recorded(id, 1, { sessionId: id, name: 'look\u009b2J\u202eup', message: { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'x', arguments: { text: '\u009b31mred \u202eevil \u2066iso' } } } })]);
    const t = await token('audra', ['auditors']);
    for (const args of [['show', id, '--json'], ['replay', id, '--json'], ['list', '--json']]) {
      const out: string[] = [];
      const code = await runSessionsCli([...args, '--url', gw.url, '--token', t], { out: (s) => out.push(s), err: (s) => out.push(s), env: {} });
      expect(code).toBe(0);
      expect(out.join('\n')).toContain('bidi');
      expect(out.join('\n')).not.toMatch(/[\u0080-\u009f\u202a-\u202e\u2066-\u2069]/);
    }
  });
});

describe('review: reading a big recording', () => {
  // Finding R4: GET /api/sessions/<id> (and /sessions/<id>) reads the whole stream with one
  // XRANGE - + and answers it in one body: up to max_messages (10,000) messages of up to
  // max_response_bytes (32 MiB) each. A caller who grows their own recording makes the replica
  // that an auditor asks load all of it at once (and the page renders it pretty-printed).
  it('R4: one answer for a recording holds a bounded page of messages, not the whole recording', async () => {
    const id = 'sess-huge';
    const blob = 'A'.repeat(1 << 20);
    await write(Array.from({ length: 24 }, (_, i) => recorded(id, i + 1, { sessionId: id, message: { jsonrpc: '2.0', id: i, result: { content: [{ type: 'text', text: blob }] } } })), 64 << 20);
    const res = await api(`/api/sessions/${id}`, await token('audra', ['auditors']));
    expect(res.status).toBe(200);
    expect(res.json.session.messages).toBe(24);
    expect(res.bytes).toBeLessThan(16 << 20);
  }, 60_000);
});

describe('review: the sign-in cookie moved from /approvals to /', () => {
  /** Opens `path`, signs in at the IdP as `login`, and waits to be back on `path`. */
  async function signedIn(login: string, path: string): Promise<Page> {
    browser ??= await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
    const page = await (await browser.newContext()).newPage();
    await page.goto(`${base}${path}`);
    await page.fill('input[name="login"]', login);
    await page.fill('input[name="password"]', 'any');
    await page.click('button[type="submit"]');
    const consent = page.locator('input[name="prompt"][value="consent"]');
    if (await consent.count()) await page.click('button[type="submit"]');
    await page.waitForURL(`${base}${path}`);
    return page;
  }

  // Control for R5: with the cookie as this version sets it (Path=/), "Sign out" does end the session.
  it('R5 (control, passes): "Sign out" ends a session whose cookie has Path=/', async () => {
    const page = await signedIn('audra', '/approvals');
    try {
      await page.click('form[action="/approvals/logout"] button[type="submit"]');
      await page.waitForLoadState();
      const cookies = await page.context().cookies(`${base}/approvals`);
      expect(cookies.find((c) => c.name === 'portcullis_approver')).toBeUndefined();
    } finally {
      await page.close();
    }
  }, 90_000);

  // R5, the other half of the fix: a new sign-in also deletes a pre-upgrade Path=/approvals cookie,
  // which would otherwise shadow the new session on /approvals (sent first: the longer path).
  it('R5: signing in deletes a cookie left at the old Path=/approvals', async () => {
    browser ??= await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
    const context = await browser.newContext();
    await context.addCookies([{ name: 'portcullis_approver', value: 'portcullis.session.stale', domain: '127.0.0.1', path: '/approvals', httpOnly: true, sameSite: 'Lax', secure: false, expires: Math.floor(Date.now() / 1000) + 3600 }]);
    const page = await context.newPage();
    try {
      await page.goto(`${base}/approvals`);
      await page.fill('input[name="login"]', 'audra');
      await page.fill('input[name="password"]', 'any');
      await page.click('button[type="submit"]');
      const consent = page.locator('input[name="prompt"][value="consent"]');
      if (await consent.count()) await page.click('button[type="submit"]');
      await page.waitForURL(`${base}/approvals`);
      const sessions = (await context.cookies(`${base}/approvals`)).filter((c) => c.name === 'portcullis_approver');
      expect(sessions.map((c) => c.path)).toEqual(['/']);
      expect(await page.locator('form[action="/approvals/logout"]').count()).toBe(1);
    } finally {
      await context.close();
    }
  }, 90_000);

  // Finding R5: a session cookie set before the upgrade has Path=/approvals. Browsers keep it and
  // send it first on /approvals (longest path first; Hono's getCookie takes the first), but
  // logout now deletes only Path=/: "Sign out" leaves the approver signed in on /approvals until
  // session_seconds runs out (a shared machine stays signed in to a page that votes on approvals).
  it('R5: "Sign out" ends a session whose cookie was set with the old Path=/approvals', async () => {
    const page = await signedIn('audra', '/approvals');
    try {
      const context = page.context();
      const session = (await context.cookies()).find((c) => c.name === 'portcullis_approver');
      expect(session?.path).toBe('/');
      // The same sealed session, as the previous version set it.
      await context.clearCookies();
      await context.addCookies([{ name: 'portcullis_approver', value: session!.value, domain: '127.0.0.1', path: '/approvals', httpOnly: true, sameSite: 'Lax', secure: false, expires: session!.expires }]);
      await page.goto(`${base}/approvals`);
      expect(await page.locator('form[action="/approvals/logout"]').count()).toBe(1);
      await page.click('form[action="/approvals/logout"] button[type="submit"]');
      await page.waitForLoadState();
      const after = await fetch(`${base}/approvals`, { redirect: 'manual', headers: { cookie: (await context.cookies(`${base}/approvals`)).map((c) => `${c.name}=${c.value}`).join('; ') } });
      expect(after.status).toBe(303);
      expect(after.headers.get('location')).toMatch(/^\/approvals\/login/);
    } finally {
      await page.close();
    }
  }, 90_000);
});
