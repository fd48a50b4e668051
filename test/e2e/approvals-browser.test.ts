// The approval page in a real browser: playwright-core driving Debian's chromium (.ci/run installs
// it when missing). The 2026-07-28 client's URL elicitation is opened, the approver signs in at
// the IdP (authorization code + PKCE), sees the pending call with masked arguments, approves, and
// the waiting SDK client receives its result. A screenshot is saved under test-artifacts/.
import { mkdir } from 'node:fs/promises';
import { Client as ClientV2, StreamableHTTPClientTransport as TransportV2 } from '@modelcontextprotocol/client';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApprovalsStack, type ApprovalsStack } from '../helpers/approvals-stack.ts';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

let s: ApprovalsStack;
let browser: Browser;
beforeAll(async () => {
  s = await startApprovalsStack({ page: { sam: ['sre'] } });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
}, 120_000);
afterAll(async () => {
  await browser?.close();
  await s?.close();
});

describe('approval page in chromium', () => {
  it('sign in, see the masked call, approve; the waiting SDK client gets its result', async () => {
    const token = await s.token('rita', ['admins'], 'modern');
    const client = new ClientV2({ name: 'browser-e2e', version: '1' }, { capabilities: { elicitation: { url: {} } }, versionNegotiation: { mode: { pin: '2026-07-28' } } });
    const text = 'secret: password=correct-horse-battery-staple';
    let approvedInBrowser: Promise<void> | undefined;
    client.setRequestHandler('elicitation/create', async (request: any) => {
      // What a client does with a URL elicitation: open it for the user; here the user is the approver.
      approvedInBrowser ??= (async () => {
        const page = await browser.newPage();
        try {
          await page.goto(request.params.url);
          await page.fill('input[name="login"]', 'sam');
          await page.fill('input[name="password"]', 'any');
          await page.click('button[type="submit"]');
          const consent = page.locator('input[name="prompt"][value="consent"]');
          if (await consent.count()) await page.click('button[type="submit"]');
          await page.waitForURL(request.params.url);
          const args = await page.locator('pre').innerText();
          expect(args).toContain('[MASKED:text ...aple]');
          expect(await page.content()).not.toContain('correct-horse');
          expect(await page.locator('h1').innerText()).toContain('echo');
          await page.fill('textarea[name="comment"]', 'approved in chromium');
          await page.click('button[value="approve"]');
          await page.waitForSelector('text=Your vote was recorded.');
          await mkdir('test-artifacts', { recursive: true });
          await page.screenshot({ path: 'test-artifacts/approvals-page.png', fullPage: true });
        } finally {
          await page.close();
        }
      })();
      await approvedInBrowser;
      return { action: 'accept' as const };
    });
    await client.connect(new TransportV2(new URL(s.a.endpoint('modern')), { requestInit: { headers: { authorization: `Bearer ${token}` } } }));
    try {
      const result: any = await client.callTool({ name: 'echo', arguments: { text } });
      expect(result.content[0].text).toBe('[MASKED:text ...aple]');
      expect(s.modern.toolCalls.filter((c) => c.args.text === text)).toHaveLength(1);
    } finally {
      await client.close();
    }
  }, 90_000);
});
