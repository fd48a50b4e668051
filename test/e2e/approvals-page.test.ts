// The approvers' web page with a real OIDC login (authorization code + PKCE through
// oidc-provider's login and consent forms), driven by a scripted browser (cookie jar, manual
// redirects, form posts): the pending call shown with masked, escaped arguments; approve; the
// waiting client gets its result. CSRF, Origin, self-approval and escaping are checked too.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApprovalsStack, type ApprovalsStack } from '../helpers/approvals-stack.ts';

const META = { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientInfo': { name: 'page-e2e', version: '1' }, 'io.modelcontextprotocol/clientCapabilities': { elicitation: { url: {} } } };
const KEY = 'io.portcullis/approval';

/** Just enough of a browser: cookies per host, redirects followed by hand, forms posted. */
class Browser {
  readonly jar = new Map<string, Map<string, string>>();
  async go(url: string, init: { method?: string; form?: Record<string, string>; headers?: Record<string, string> } = {}): Promise<{ status: number; url: string; text: string; headers: Headers }> {
    let current = url;
    let method = init.method ?? 'GET';
    let body: string | undefined = init.form ? new URLSearchParams(init.form).toString() : undefined;
    for (let hops = 0; hops < 20; hops++) {
      const host = new URL(current).host;
      const cookies = [...(this.jar.get(host) ?? new Map()).entries()].map(([k, v]) => `${k}=${v}`).join('; ');
      const res = await fetch(current, {
        method, redirect: 'manual',
        headers: { ...(cookies ? { cookie: cookies } : {}), ...(body ? { 'content-type': 'application/x-www-form-urlencoded' } : {}), ...(hops === 0 ? init.headers : {}) },
        ...(body ? { body } : {}),
      });
      for (const set of res.headers.getSetCookie()) {
        const [pair] = set.split(';');
        const [name, ...rest] = pair!.split('=');
        const jar = this.jar.get(host) ?? new Map();
        if (/max-age=0|expires=thu, 01 jan 1970/i.test(set) || rest.join('=') === '') jar.delete(name!.trim());
        else jar.set(name!.trim(), rest.join('='));
        this.jar.set(host, jar);
      }
      const location = res.headers.get('location');
      if (res.status >= 300 && res.status < 400 && location) {
        await res.text();
        current = new URL(location, current).href;
        method = 'GET';
        body = undefined;
        continue;
      }
      return { status: res.status, url: current, text: await res.text(), headers: res.headers };
    }
    throw new Error('too many redirects');
  }
  /** Submits the first form on the page whose action matches. */
  async submit(page: { url: string; text: string }, action: RegExp, fields: Record<string, string>) {
    const forms = [...page.text.matchAll(/<form[^>]*action="([^"]+)"[^>]*>([\s\S]*?)<\/form>/g)];
    const form = forms.find((f) => action.test(f[1]!));
    if (!form) throw new Error(`no form ${action} on ${page.url}:\n${page.text.slice(0, 2000)}`);
    const hidden = Object.fromEntries([...form[2]!.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)"/g)].map((m) => [m[1]!, m[2]!]));
    return this.go(new URL(form[1]!.replace(/&amp;/g, '&'), page.url).href, { method: 'POST', form: { ...hidden, ...fields } });
  }
  /** Signs in at the IdP's development login as `login`, accepting consent. */
  async signIn(start: string, login: string) {
    let page = await this.go(start);
    page = await this.submit(page, /\/interaction\/[^/]+$/, { login, password: 'any' });
    if (page.text.includes('name="prompt" value="consent"')) page = await this.submit(page, /\/interaction\/[^/]+$/, {});
    return page;
  }
}

let s: ApprovalsStack;
let rita: string;
beforeAll(async () => {
  s = await startApprovalsStack({ page: { sam: ['sre'], rita: ['admins', 'sre'], ivy: ['sre', 'intern'] } });
  rita = await s.token('rita', ['admins']);
}, 120_000);
afterAll(async () => { await s?.close(); });

let nextId = 1;
async function call(text: string, extra: Record<string, unknown> = {}) {
  const res = await fetch(s.a.endpoint('modern'), {
    method: 'POST',
    headers: { authorization: `Bearer ${rita}`, 'content-type': 'application/json', accept: 'application/json', 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/call', 'mcp-name': 'echo' },
    body: JSON.stringify({ jsonrpc: '2.0', id: nextId++, method: 'tools/call', params: { name: 'echo', arguments: { text }, _meta: META, ...extra } }),
  });
  return res.json() as Promise<any>;
}

describe('the approvers\' web page', () => {
  it('login with PKCE, the call shown masked and escaped, approve, the client gets its result', async () => {
    const text = 'secret: <script>alert(1)</script> password=hunter2-horse';
    const first = await call(text);
    const url: string = first.result.inputRequests[KEY].params.url;
    const id: string = first.result.inputRequests[KEY].params.elicitationId;
    const browser = new Browser();
    // The elicitation URL, opened on replica A (the public base URL): sign-in first.
    const page = await browser.signIn(url, 'sam');
    expect(page.status).toBe(200);
    expect(page.url).toBe(url);
    expect(page.headers.get('content-security-policy')).toBe("default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'");
    expect(page.text).not.toMatch(/<script/i);
    expect(page.text).not.toContain('hunter2');
    expect(page.text).toContain('[MASKED:text ...orse]');
    expect(page.text).toContain('rita');
    expect(page.text).toContain('approvals.held.secret');
    expect(page.text).toMatch(/name="csrf" value="[A-Za-z0-9_-]{32}"/);
    // The inbox lists it.
    const inbox = await browser.go(`${s.a.url}/approvals`);
    expect(inbox.text).toContain(`/approvals/${id}`);
    // A forged post (no CSRF token, or another Origin) changes nothing.
    const forged = await browser.go(`${s.a.url}/approvals/${id}/vote`, { method: 'POST', form: { decision: 'approve', csrf: 'x'.repeat(32) } });
    expect(forged.text).toContain('The form expired or did not come from this page');
    const csrf = /name="csrf" value="([^"]+)"/.exec(page.text)![1]!;
    const crossSite = await browser.go(`${s.a.url}/approvals/${id}/vote`, { method: 'POST', form: { decision: 'approve', csrf }, headers: { origin: 'https://evil.example' } });
    expect(crossSite.text).toContain('The form expired or did not come from this page');
    expect((await s.api(s.a, 'GET', `/api/approvals/${id}`, rita)).json.state).toBe('pending');
    // Approve through the page.
    const done = await browser.submit(page, new RegExp(`/approvals/${id}/vote$`), { decision: 'approve', comment: 'ok from the page' });
    expect(done.text).toContain('Your vote was recorded.');
    expect(done.text).toContain('approved');
    const shown = await s.api(s.a, 'GET', `/api/approvals/${id}`, rita);
    expect(shown.json.votes[0]).toMatchObject({ by: { sub: 'sam' }, channel: 'page', comment: 'ok from the page' });
    const result = await call(text, { requestState: first.result.requestState, inputResponses: { [KEY]: { action: 'accept' } } });
    expect(result.result.content[0].text).toBe('[MASKED:text ...orse]');
    expect(s.modern.toolCalls.filter((c) => c.args.text === text)).toHaveLength(1);
  });

  it('the requester signed in sees no approve button; an intern is refused by the policy', async () => {
    const first = await call('sre: page self approval');
    const url: string = first.result.inputRequests[KEY].params.url;
    const mine = await new Browser().signIn(url, 'rita');
    expect(mine.text).toContain('Nobody approves their own request.');
    expect(mine.text).not.toContain('name="decision"');
    const intern = await new Browser().signIn(url, 'ivy');
    expect(intern.text).toContain('The policy does not let you decide this request.');
    const stranger = await new Browser().signIn(url, 'nobody');
    expect(stranger.status).toBe(404);
  });

  it('a decided request stays hidden from people outside its gates, as the API hides it', async () => {
    const first = await call('sre: decided then viewed');
    const url: string = first.result.inputRequests[KEY].params.url;
    const id = decodeURIComponent(url.slice(url.lastIndexOf('/') + 1));
    const sam = await s.token('sam', ['sre']);
    expect((await s.api(s.a, 'POST', `/api/approvals/${id}/deny`, sam, { comment: 'not today' })).status).toBe(200);
    expect((await s.api(s.a, 'GET', `/api/approvals/${id}`, rita)).json.state).toBe('denied');
    const stranger = await new Browser().signIn(url, 'nobody');
    expect(stranger.status).toBe(404);
    expect(stranger.text).not.toContain('decided then viewed');
  });

  it('whatever the requester or the model put in the call is shown escaped and whole', async () => {
    const hostile = `sre: <img src=x onerror=alert(1)> & "quotes" </pre><form action="https://evil.example"><button name="decision" value="approve">${'long '.repeat(400)}end`;
    const first = await call(hostile);
    const page = await new Browser().signIn(first.result.inputRequests[KEY].params.url, 'sam');
    expect(page.text).not.toContain('<img');
    expect(page.text).not.toContain('action="https://evil.example"');
    // Shown as the JSON it is (quotes escaped by JSON, then everything by HTML).
    expect(page.text).toContain('&lt;img src=x onerror=alert(1)&gt; &amp; \\&quot;quotes\\&quot; &lt;/pre&gt;&lt;form action=\\&quot;https://evil.example\\&quot;&gt;');
    expect(page.text).toContain(`${'long '.repeat(399)}long end`); // nothing cut
    // Exactly one vote form: the page's own.
    expect(page.text.match(/<form method="post" action="\/approvals\/apv_/g)).toHaveLength(1);
  });

  it('without a session: redirected to sign in; a callback not started here is refused', async () => {
    const res = await fetch(`${s.a.url}/approvals`, { redirect: 'manual' });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/approvals/login?next=%2Fapprovals');
    const forged = await fetch(`${s.a.url}/approvals/callback?code=abc&state=def`, { redirect: 'manual' });
    expect(forged.status).toBe(400);
    const open = await fetch(`${s.a.url}/approvals/login?next=${encodeURIComponent('https://evil.example/')}`, { redirect: 'manual' });
    expect(open.status).toBe(303);
    // The login state cookie remembers a safe next; the evil one is dropped.
    expect(open.headers.get('location')).toContain('code_challenge_method=S256');
  });
});
