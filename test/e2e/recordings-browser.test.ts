// The recordings page in a real browser (playwright-core driving Debian's chromium): an auditor
// signs in on the approvals page's login (authorization code + PKCE at a real IdP), lists the
// recordings, opens one, and sees its timeline: decisions, masked values as their markers, a link
// to the trace. A recorded message carrying markup and script renders as text, and runs nothing.
// Someone signed in outside the auditor groups gets 403. Screenshot under test-artifacts/.
import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisRecordingStore, Recorder, type RecordedMessage } from '../../gateway/recordings/index.ts';
import { connectRedis, type RedisClient } from '../../gateway/state/index.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { freePort } from '../helpers/identity-stack.ts';
import { startTestIdp, type TestIdp } from '../helpers/idp.ts';
import { startRedis, type TestRedis } from '../helpers/redis.ts';
import { recorded } from '../unit/recordings/messages.ts';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const PREFIX = 'rec-browser:';
const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const XSS = '</pre><script>window.pwned=1</script><img src=x onerror="window.pwned=2">';

let idp: TestIdp;
let redis: TestRedis;
let client: RedisClient;
let gw: TestGateway;
let browser: Browser;
let base: string;
const messages: RecordedMessage[] = [
  recorded('sess-xss', 1, { message: { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'lookup', arguments: { q: XSS, card: '[MASKED:card ...4242]' } } }, name: XSS }),
  recorded('sess-xss', 2, { message: { jsonrpc: '2.0', id: 1, result: { content: [{ type: 'text', text: `email [MASKED:email ...com] and ${XSS}` }] } } }),
  recorded('sess-xss', 3, { decision: { id: 'dec_deny', outcome: 'deny', allow: false, approvalRequired: false, ruleIds: ['crm.no_export'], reasons: ['export is not allowed'], revision: 'r1', masked: {} }, traceId: '' }),
];

beforeAll(async () => {
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  [idp, redis] = await Promise.all([
    startTestIdp({ tokenTtlSeconds: 600, interactive: { redirectUris: [`${base}/approvals/callback`], accounts: { audra: { groups: ['auditors'] }, sam: { groups: ['sre'] } } } }),
    startRedis({ aof: true }),
  ]);
  gw = await startTestGateway({
    targets: { crm: 'http://127.0.0.1:9/mcp' },
    config: {
      listen: { host: '127.0.0.1', port },
      identity: { public_base_url: base, http_timeout_ms: 2000, issuers: [{ issuer: idp.issuer, token_format: 'jwt', groups_claim: 'groups' }] },
      state: { backend: 'redis', redis: { url: redis.url, key_prefix: PREFIX } },
      approvals: { enabled: true, sealing_keys_env: 'REC_KEYS', page: { issuer: idp.issuer, client_id: idp.clients.page.client_id, client_secret_env: 'REC_PAGE_SECRET' } },
      recordings: { enabled: true, auditor_groups: ['auditors'], trace_url: 'https://jaeger.example/trace/{trace_id}' },
    },
    env: { REC_KEYS: `k1:${randomBytes(32).toString('base64')}`, REC_PAGE_SECRET: idp.clients.page.client_secret },
  });
  client = await connectRedis({ url: redis.url, commandTimeoutMs: 1000, connectTimeoutMs: 2000, log: () => {} });
  const writer = new Recorder({ store: new RedisRecordingStore(client, PREFIX, { retentionMs: 3600_000, maxMessages: 100, maxRecordings: 100 }), whenFull: 'fail_closed', bufferMessages: 100, bufferBytes: 1 << 20, flushIntervalMs: 10, flushBatch: 100, closeTimeoutMs: 2000, log: () => {} });
  messages.forEach((m) => writer.record(m));
  await writer.close();
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
}, 120_000);
afterAll(async () => {
  await browser?.close();
  client?.disconnect();
  await gw?.close();
  await Promise.all([idp?.close(), redis?.close()]);
});

/** Opens `path`, signs in at the IdP as `login`, and waits to be back on `path`. */
async function signedIn(login: string, path: string): Promise<Page> {
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

describe('recordings page in chromium', () => {
  it('an auditor lists recordings and reads one as a timeline; recorded markup is text and runs nothing', async () => {
    const page = await signedIn('audra', '/sessions');
    const dialogs: string[] = [];
    page.on('dialog', (d) => { dialogs.push(d.message()); void d.dismiss(); });
    try {
      await page.click('a[href="/sessions/sess-xss"]');
      await page.waitForURL(`${base}/sessions/sess-xss`);
      expect(await page.locator('h1').innerText()).toBe('Recording sess-xss');
      expect(await page.locator('tr.message').count()).toBe(3);
      // Decisions, with their rules and masked counts.
      const rows = page.locator('tr.message');
      expect(await rows.nth(0).innerText()).toContain('client → server');
      expect(await rows.nth(0).innerText()).toContain('rules crm.lookup · masked email: 1 · decision dec_1');
      expect(await rows.nth(2).locator('.outcome').innerText()).toBe('DENY');
      expect(await rows.nth(2).innerText()).toContain('export is not allowed');
      // Masked values are shown as the markers they are, marked.
      expect(await page.locator('mark.masked').allInnerTexts()).toEqual(['[MASKED:card ...4242]', '[MASKED:email ...com]', '[MASKED:email ...com]']);
      // The trace link, where there is a trace.
      expect(await rows.nth(0).locator('a.trace').getAttribute('href')).toBe(`https://jaeger.example/trace/${TRACE}`);
      expect(await rows.nth(2).locator('a.trace').count()).toBe(0);
      // The hostile text is there, as text: no element was made of it, no script ran.
      expect(await page.locator('pre').first().innerText()).toContain('</pre><script>window.pwned=1</script>');
      expect(await rows.nth(0).innerText()).toContain(XSS);
      expect(await page.locator('main script, main img').count()).toBe(0);
      expect(await page.evaluate(() => (window as unknown as { pwned?: number }).pwned)).toBeUndefined();
      expect(dialogs).toEqual([]);
      const response = await page.goto(`${base}/sessions/sess-xss`);
      expect(response?.headers()['content-security-policy']).toContain("default-src 'none'");
      await mkdir('test-artifacts', { recursive: true });
      await page.screenshot({ path: 'test-artifacts/sessions-page.png', fullPage: true });
      const missing = await page.goto(`${base}/sessions/no-such`);
      expect(missing?.status()).toBe(404);
    } finally {
      await page.close();
    }
  }, 90_000);

  it('someone signed in outside the auditor groups gets 403 and no recording', async () => {
    const page = await signedIn('sam', '/approvals');
    try {
      const list = await page.goto(`${base}/sessions`);
      expect(list?.status()).toBe(403);
      expect(await page.content()).not.toContain('sess-xss');
      const one = await page.goto(`${base}/sessions/sess-xss`);
      expect(one?.status()).toBe(403);
      expect(await page.content()).not.toContain('lookup');
    } finally {
      await page.close();
    }
  }, 90_000);

  it('with Redis down, the page says the store cannot be reached (503), and recovers', async () => {
    const page = await signedIn('audra', '/sessions');
    try {
      await redis.stop();
      try {
        const down = await page.goto(`${base}/sessions/sess-xss`);
        expect(down?.status()).toBe(503);
        expect(await page.locator('.card.error').innerText()).toBe('The recordings store cannot be reached; try again shortly.');
        expect(down?.headers()['content-security-policy']).toContain("default-src 'none'");
      } finally {
        await redis.start();
      }
      // The gateway reconnects on its own; until it has, the page keeps answering 503.
      let status: number | undefined;
      do {
        await new Promise((r) => setTimeout(r, 50));
        status = (await page.goto(`${base}/sessions/sess-xss`))?.status();
      } while (status === 503);
      expect(status).toBe(200);
      expect(await page.locator('tr.message').count()).toBe(3);
    } finally {
      await page.close();
    }
  }, 90_000);

  it('without a sign-in, the page sends the browser to the login', async () => {
    const res = await fetch(`${base}/sessions/sess-xss`, { redirect: 'manual' });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/approvals/login?next=%2Fsessions%2Fsess-xss');
  });
});
