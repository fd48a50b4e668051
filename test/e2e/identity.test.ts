// The gateway as the OAuth 2.1 resource server for MCP, end to end: a real OpenID provider
// (oidc-provider, in-process) issues RFC 9068 JWTs through client credentials with resource
// indicators, and opaque tokens checked by introspection; a real MCP upstream records everything
// it receives. The attack suite is identity-attacks.test.ts, outages and key rotation
// identity-outage.test.ts.
import { Client, ClientCredentialsProvider, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startLegacyUpstream, type UpstreamFixture } from '../fixtures/upstreams/index.ts';
import { startTestGateway } from '../helpers/gateway.ts';
import { startTestIdp, type TestIdp } from '../helpers/idp.ts';
import {
  IDENTITY_POLICY,
  INITIALIZE_PARAMS,
  JSON_HEADERS,
  jwtPayload,
  leaks,
  legacyMessage,
  META,
  startIdentityStack,
  statelessCall,
  type HttpResult,
  type IdentityStack,
} from '../helpers/identity-stack.ts';

const WRONG_UPSTREAM_SECRET_ENV = 'IDENTITY_E2E_WRONG_UPSTREAM_SECRET';
const WRONG_UPSTREAM_SECRET = 'wrong-upstream-secret-5d1f0c7a9b';

let stack: IdentityStack;
let legacy: UpstreamFixture;
/** What went to console.error: upstream credential providers log there, not to the gateway's log. */
const stderr: string[] = [];
/** Tokens SDK clients obtained and presented (for the leak check). */
const sdkTokens = new Set<string>();

beforeAll(async () => {
  vi.spyOn(console, 'error').mockImplementation((...args: unknown[]) => void stderr.push(args.map(String).join(' ')));
  legacy = await startLegacyUpstream();
  stack = await startIdentityStack({
    env: { [WRONG_UPSTREAM_SECRET_ENV]: WRONG_UPSTREAM_SECRET },
    targets: ({ idp }) => ({
      // In front of an SDK v1 server: legacy sessions only.
      legacy: { url: legacy.url },
      // The upstream's authorization server refuses this credential.
      badcreds: {
        url: legacy.url,
        credentials: { type: 'oauth_client_credentials', issuer: idp.issuer, client_id: idp.clients.upstream.client_id, client_secret_env: WRONG_UPSTREAM_SECRET_ENV, timeout_ms: 2000 },
      },
    }),
  });
  stack.idp.setResource(stack.resource('legacy'), 'jwt');
  stack.idp.setResource(stack.resource('badcreds'), 'jwt');
});
afterAll(async () => {
  await stack?.close();
  await legacy?.close();
  vi.restoreAllMocks();
});

/** The last decision on a client message (response-time decisions are recorded after it). */
const lastClientDecision = () => stack.gw.audit.findLast((r) => r.direction === 'client_to_server');

const received = () => stack.upstream.received.length + legacy.received.length;

function challengeOf(res: HttpResult): Record<string, string> {
  const header = res.headers.get('www-authenticate') ?? '';
  expect(header).toMatch(/^Bearer /);
  return Object.fromEntries([...header.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1]!, m[2]!]));
}

async function waitFor(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (check()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('discovery: a caller without a token', () => {
  it.each([
    ['POST tools/call', statelessCall('echo', { text: 'x' })],
    ['POST initialize', legacyMessage('initialize', INITIALIZE_PARAMS, 1)],
    ['GET (legacy stream)', { method: 'GET' as const, headers: { accept: 'text/event-stream' } }],
    ['DELETE (legacy session end)', { method: 'DELETE' as const, headers: { 'mcp-session-id': 'whatever' } }],
  ])('%s: 401, -32080, a challenge naming the metadata; nothing forwarded', async (_, request) => {
    const before = received();
    const res = await stack.send('fixture', request);
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe(`Bearer resource_metadata="${stack.metadataUrl('fixture')}"`);
    expect(res.json).toMatchObject({ jsonrpc: '2.0', id: null, error: { code: -32080 } });
    expect(res.json.error.message).toContain(stack.metadataUrl('fixture'));
    expect(received()).toBe(before);
  });

  it('a non-Bearer Authorization is no token: 401 without an error code, nothing forwarded', async () => {
    const before = received();
    const res = await stack.send('fixture', statelessCall('echo', { text: 'x' }), undefined, { authorization: `Basic ${Buffer.from('test-caller:pw').toString('base64')}` });
    expect(res.status).toBe(401);
    expect(challengeOf(res)).toEqual({ resource_metadata: stack.metadataUrl('fixture') });
    expect(res.json.error.code).toBe(-32080);
    expect(received()).toBe(before);
  });

  it('each target challenges with its own metadata URL', async () => {
    const res = await stack.send('other', statelessCall('echo', { text: 'x' }));
    expect(res.status).toBe(401);
    expect(challengeOf(res).resource_metadata).toBe(stack.metadataUrl('other'));
  });

  it('the RFC 9728 metadata names the IdP as authorization server and the target as resource', async () => {
    for (const target of ['fixture', 'other']) {
      const res = await fetch(stack.metadataUrl(target));
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toContain('application/json');
      expect(await res.json()).toEqual({
        resource: stack.resource(target),
        authorization_servers: [stack.idp.issuer],
        bearer_methods_supported: ['header'],
        resource_name: `Portcullis MCP target ${target}`,
      });
    }
    expect((await fetch(`${stack.base}/.well-known/oauth-protected-resource/mcp/nope`)).status).toBe(404);
    // What a client does next: the IdP's own metadata has the token endpoint and the grant.
    const as = (await (await fetch(`${stack.idp.issuer}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
    expect(as.issuer).toBe(stack.idp.issuer);
    expect(as.grant_types_supported).toContain('client_credentials');
  });
});

describe('a valid token', () => {
  it('a client-credentials JWT for the target calls echo; the upstream gets its own credential, never the caller\'s', async () => {
    const token = await stack.callerToken('fixture');
    expect(jwtPayload(token)).toMatchObject({ aud: stack.resource('fixture'), client_id: 'test-caller', iss: stack.idp.issuer });
    const before = stack.upstream.received.length;
    const res = await stack.send('fixture', statelessCall('echo', { text: 'through the gate' }), token, { cookie: 'sid=caller-cookie-3f9a; theme=dark' });
    expect(res.status).toBe(200);
    expect(res.json.result.content).toEqual([{ type: 'text', text: 'through the gate' }]);
    expect(stack.upstream.received.length).toBe(before + 1);

    const seen = stack.upstream.received.at(-1)!;
    expect(seen.headers.cookie).toBeUndefined();
    expect(JSON.stringify(seen)).not.toContain(token);
    expect(JSON.stringify(seen)).not.toContain('caller-cookie-3f9a');
    // The target's own credential: a client-credentials token for the upstream URL.
    const upstreamToken = /^Bearer (.+)$/.exec(seen.headers.authorization ?? '')?.[1];
    expect(upstreamToken).toBeDefined();
    expect(upstreamToken).not.toBe(token);
    expect(jwtPayload(upstreamToken!)).toMatchObject({ aud: stack.upstream.url, client_id: 'portcullis-upstream', iss: stack.idp.issuer, scope: 'mcp:tools' });
  });

  it('a target without upstream credentials forwards no Authorization at all', async () => {
    const token = await stack.callerToken('other');
    const res = await stack.send('other', statelessCall('echo', { text: 'plain' }), token, { cookie: 'sid=caller-cookie-3f9a' });
    expect(res.status).toBe(200);
    const seen = stack.upstream.received.at(-1)!;
    expect(seen.headers.authorization).toBeUndefined();
    expect(seen.headers.cookie).toBeUndefined();
  });

  it('an opaque token is introspected once, then served from the cache', async () => {
    const token = await stack.callerToken('opaque');
    expect(token.split('.')).toHaveLength(1);
    const introspections = stack.idp.count('/token/introspection');
    const first = await stack.send('opaque', statelessCall('echo', { text: 'opaque 1' }), token);
    expect(first.status).toBe(200);
    expect(first.json.result.content[0].text).toBe('opaque 1');
    expect(stack.idp.count('/token/introspection')).toBe(introspections + 1);
    const second = await stack.send('opaque', statelessCall('echo', { text: 'opaque 2' }), token);
    expect(second.status).toBe(200);
    expect(stack.idp.count('/token/introspection')).toBe(introspections + 1);
    expect(JSON.stringify(stack.upstream.received.at(-1))).not.toContain(token);
  });

  it('a verified JWT is reused without asking the IdP again', async () => {
    const token = await stack.callerToken('other');
    await stack.send('other', statelessCall('echo', { text: 'warm' }), token);
    const jwks = stack.idp.count('/jwks');
    const introspections = stack.idp.count('/token/introspection');
    for (let i = 0; i < 5; i++) expect((await stack.send('other', statelessCall('echo', { text: `again ${i}` }), token)).status).toBe(200);
    expect(stack.idp.count('/jwks')).toBe(jwks);
    expect(stack.idp.count('/token/introspection')).toBe(introspections);
  });
});

describe('the subject reaches the policy', () => {
  it('the policy sees the verified subject; decision records carry the principal, never the token', async () => {
    const token = await stack.callerToken('fixture');
    const before = received();
    const res = await stack.send('fixture', statelessCall('whoami', {}, 'w1'), token);
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ id: 'w1', error: { code: -32051, data: { portcullis: { rule_ids: ['identity.whoami'] } } } });
    expect(JSON.parse(res.json.error.data.portcullis.reasons[0])).toEqual({
      authenticated: true,
      type: 'service',
      sub: 'test-caller',
      issuer: stack.idp.issuer,
      client_id: 'test-caller',
      email: '',
      groups: [],
      scopes: ['mcp:tools'],
      claims: {},
    });
    expect(received()).toBe(before);
    const record = lastClientDecision()!;
    expect(record).toMatchObject({ target: 'fixture', method: 'tools/call', name: 'whoami', allow: false, principal: JSON.stringify(['service', stack.idp.issuer, 'test-caller']) });
    expect(JSON.stringify(record)).not.toContain(token);
  });

  it('a user token: groups from the token decide (engineering may add, others may not)', async () => {
    const engineer = await stack.idp.sign(stack.idp.validClaims(stack.resource('fixture'), { sub: 'alice', groups: ['engineering'], email: 'alice@example.com' }));
    const guest = await stack.idp.sign(stack.idp.validClaims(stack.resource('fixture'), { sub: 'gus', groups: ['visitors'] }));
    const ok = await stack.send('fixture', statelessCall('add', { a: 2, b: 3 }), engineer);
    expect(ok.status).toBe(200);
    expect(ok.json.result.structuredContent).toEqual({ sum: 5 });
    expect(lastClientDecision()).toMatchObject({ name: 'add', allow: true, rule_ids: ['identity.group'], principal: JSON.stringify(['user', stack.idp.issuer, 'alice']) });

    const before = received();
    const denied = await stack.send('fixture', statelessCall('add', { a: 2, b: 3 }), guest);
    expect(denied.status).toBe(200);
    expect(denied.json.error).toMatchObject({ code: -32051, data: { portcullis: { rule_ids: ['identity.default_deny'] } } });
    expect(lastClientDecision()).toMatchObject({ name: 'add', allow: false, principal: JSON.stringify(['user', stack.idp.issuer, 'gus']) });
    expect(received()).toBe(before);
  });

  it('another OAuth client with a valid token for the target is denied by client id', async () => {
    const token = (await stack.idp.mintToken({ resource: stack.resource('fixture'), scope: 'mcp:tools', client: 'upstream' })).access_token;
    const before = received();
    const res = await stack.send('fixture', statelessCall('echo', { text: 'x' }), token);
    expect(res.status).toBe(200);
    expect(res.json.error).toMatchObject({ code: -32051, message: 'Denied by policy: echo is only for the test-caller client' });
    expect(lastClientDecision()).toMatchObject({ principal: JSON.stringify(['service', stack.idp.issuer, 'portcullis-upstream']), rule_ids: ['identity.client'] });
    expect(received()).toBe(before);
  });

  it('a policy naming missing scopes: 403 insufficient_scope with the scope and the metadata, nothing forwarded', async () => {
    const token = await stack.callerToken('fixture', 'mcp:read');
    const before = received();
    const res = await stack.send('fixture', statelessCall('echo', { text: 'x' }), token);
    expect(res.status).toBe(403);
    expect(res.headers.get('www-authenticate')).toBe(
      `Bearer error="insufficient_scope", error_description="echo needs the mcp:tools scope", scope="mcp:tools", resource_metadata="${stack.metadataUrl('fixture')}"`,
    );
    expect(res.json.error).toMatchObject({ code: -32081, message: 'Forbidden: echo needs the mcp:tools scope' });
    expect(lastClientDecision()).toMatchObject({ name: 'echo', allow: false, rule_ids: ['identity.scope'] });
    expect(received()).toBe(before);
  });

  it('the 403 step-up answer carries the request id', async () => {
    const token = await stack.callerToken('fixture', 'mcp:read');
    const res = await stack.send('fixture', statelessCall('echo', { text: 'x' }, 'step-up-1'), token);
    expect(res.status).toBe(403);
    expect(res.json.id, '403 answer id').toBe('step-up-1');
  });

  it('tools/list shows only what this caller may call', async () => {
    const full = await stack.callerToken('other');
    const narrow = await stack.callerToken('other', 'mcp:read');
    const list = async (token: string) => {
      const res = await stack.send('other', {
        headers: { ...JSON_HEADERS, 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/list' },
        body: { jsonrpc: '2.0', id: 1, method: 'tools/list', params: { _meta: META } },
      }, token);
      expect(res.status).toBe(200);
      return (res.json.result.tools as Array<{ name: string }>).map((t) => t.name).sort();
    };
    expect(await list(full)).toEqual(['echo', 'slow']);
    expect(await list(narrow)).toEqual(['slow']);
  });
});

describe('legacy sessions are bound to the identity that created them', () => {
  let alice: string;
  let bob: string;
  let session: string;

  beforeAll(async () => {
    alice = await stack.idp.sign(stack.idp.validClaims(stack.resource('legacy'), { sub: 'alice' }));
    bob = await stack.idp.sign(stack.idp.validClaims(stack.resource('legacy'), { sub: 'bob' }));
    const init = await stack.send('legacy', legacyMessage('initialize', INITIALIZE_PARAMS, 1), alice);
    expect(init.status).toBe(200);
    session = init.headers.get('mcp-session-id')!;
    expect(session).toBeTruthy();
    expect((await stack.send('legacy', legacyMessage('notifications/initialized', undefined, undefined, session), alice)).status).toBe(202);
  });

  it('the creator uses it (with any of its tokens)', async () => {
    const res = await stack.send('legacy', legacyMessage('tools/call', { name: 'echo', arguments: { text: 'mine' } }, 2, session), alice);
    expect(res.status).toBe(200);
    expect(res.json.result.content[0].text).toBe('mine');
    // A fresh token for the same identity is the same principal.
    const again = await stack.idp.sign(stack.idp.validClaims(stack.resource('legacy'), { sub: 'alice' }));
    expect((await stack.send('legacy', legacyMessage('tools/list', undefined, 3, session), again)).status).toBe(200);
  });

  it.each([
    ['POST tools/call', () => legacyMessage('tools/call', { name: 'echo', arguments: { text: 'hijack' } }, 9, session)],
    ['POST notification', () => legacyMessage('notifications/cancelled', { requestId: 2 }, undefined, session)],
    ['POST response', () => ({ ...legacyMessage('x', undefined, undefined, session), body: { jsonrpc: '2.0', id: 0, result: {} } })],
    ['GET (server stream)', () => ({ method: 'GET' as const, headers: { accept: 'text/event-stream', 'mcp-session-id': session, 'mcp-protocol-version': '2025-11-25' } })],
    ['DELETE', () => ({ method: 'DELETE' as const, headers: { 'mcp-session-id': session, 'mcp-protocol-version': '2025-11-25' } })],
  ])('another identity presenting it (%s): 404, -32001, nothing forwarded', async (_, request) => {
    const before = received();
    const res = await stack.send('legacy', request(), bob);
    expect(res.status).toBe(404);
    expect(res.json.error.code).toBe(-32001);
    expect(received()).toBe(before);
  });

  it('the session survives the attempts: its creator still uses it', async () => {
    const res = await stack.send('legacy', legacyMessage('tools/call', { name: 'echo', arguments: { text: 'still mine' } }, 4, session), alice);
    expect(res.status).toBe(200);
    expect(res.json.result.content[0].text).toBe('still mine');
  });

  it('another identity cannot reach the session with a 2026-07-28-shaped message either', async () => {
    const abort = new AbortController();
    const call = fetch(stack.resource('legacy'), {
      method: 'POST',
      headers: { ...legacyMessage('tools/call', {}, 5, session).headers, authorization: `Bearer ${alice}` },
      body: JSON.stringify({ jsonrpc: '2.0', id: 5, method: 'tools/call', params: { name: 'slow', arguments: { ms: 600, steps: 2 } } }),
      signal: abort.signal,
    }).then((r) => r.text()).catch(() => 'aborted');
    try {
      await waitFor(() => legacy.toolCalls.some((c) => c.tool === 'slow'), 'the slow call to start');
      const before = legacy.received.length;
      await stack.send('legacy', {
        headers: { ...JSON_HEADERS, 'mcp-session-id': session },
        body: { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 5, _meta: { 'io.modelcontextprotocol/protocolVersion': '2026-07-28' } } },
      }, bob);
      const forwardedIntoSession = legacy.received.slice(before).some((r) => r.headers['mcp-session-id'] === session);
      await new Promise((r) => setTimeout(r, 100));
      expect(forwardedIntoSession, "bob's notification was forwarded into alice's session").toBe(false);
      expect(legacy.abortedCalls, "alice's call was cancelled by bob").toBe(0);
    } finally {
      abort.abort();
      await call;
    }
  });
});

describe('one principal per subject: sessions and decision records never merge two subjects', () => {
  const initLegacy = async (token: string) => {
    const init = await stack.send('legacy', legacyMessage('initialize', INITIALIZE_PARAMS, 1), token);
    expect(init.status).toBe(200);
    const session = init.headers.get('mcp-session-id')!;
    expect((await stack.send('legacy', legacyMessage('notifications/initialized', undefined, undefined, session), token)).status).toBe(202);
    return session;
  };
  const claims = (overrides: Record<string, unknown>) => stack.idp.validClaims(stack.resource('legacy'), overrides);

  it("a service's session is not the session of a user whose sub is that client id", async () => {
    // A client-credentials token without sub, named by its client id…
    const service = await stack.idp.sign(claims({ sub: undefined, client_id: 'portcullis-upstream' }));
    // …and a user whose sub happens to be the same string, through another client.
    const user = await stack.idp.sign(claims({ sub: 'portcullis-upstream', client_id: 'test-caller' }));
    const session = await initLegacy(service);
    const before = received();
    const res = await stack.send('legacy', legacyMessage('tools/call', { name: 'echo', arguments: { text: 'hijack' } }, 2, session), user);
    expect(res.status).toBe(404);
    expect(res.json.error.code).toBe(-32001);
    expect(received()).toBe(before);
    // (The identity policy keeps echo for test-caller; tools/list is open to every client.)
    const ok = await stack.send('legacy', legacyMessage('tools/list', undefined, 3, session), service);
    expect(ok.status).toBe(200);
    expect(ok.json.result.tools).toBeInstanceOf(Array);
    expect(lastClientDecision()!.principal).toBe(JSON.stringify(['service', stack.idp.issuer, 'portcullis-upstream']));
  });

  it('numeric subjects are subjects: user 7 cannot use the session of user 8 of the same client', async () => {
    const seven = await stack.idp.sign(claims({ sub: 7 }));
    const eight = await stack.idp.sign(claims({ sub: 8 }));
    const session = await initLegacy(eight);
    expect(lastClientDecision()!.principal).toBe(JSON.stringify(['user', stack.idp.issuer, '8']));
    const before = received();
    const res = await stack.send('legacy', legacyMessage('tools/list', undefined, 2, session), seven);
    expect(res.status).toBe(404);
    expect(received()).toBe(before);
    // The number's decimal text is the same subject at the same issuer.
    const eightText = await stack.idp.sign(claims({ sub: '8' }));
    expect((await stack.send('legacy', legacyMessage('tools/list', undefined, 3, session), eightText)).status).toBe(200);
  });

  it.each([
    ['neither sub nor client id', { sub: undefined, client_id: undefined }, 'token names no subject (sub) and no client (client_id, azp)'],
    ['an empty sub', { sub: '' }, 'token subject (sub) is empty'],
    ['a sub above 2^53', { sub: 2 ** 60 }, 'token subject (sub) is a number that is not an exact integer'],
    ['iat an hour ahead', { iat: Math.floor(Date.now() / 1000) + 3600 }, 'token issued-at time (iat) is in the future'],
    ['iat not a number', { iat: 'now' }, 'token issued-at time (iat) is invalid'],
  ])('%s: 401 invalid_token, nothing forwarded', async (_, overrides, expected) => {
    const token = await stack.idp.sign(stack.idp.validClaims(stack.resource('fixture'), overrides as Record<string, unknown>));
    const before = received();
    const res = await stack.send('fixture', statelessCall('echo', { text: 'x' }), token);
    expect(res.status).toBe(401);
    expect(res.json.error.code).toBe(-32080);
    expect(res.headers.get('www-authenticate')).toBe(`Bearer error="invalid_token", error_description="${expected}", resource_metadata="${stack.metadataUrl('fixture')}"`);
    expect(received()).toBe(before);
  });
});

describe('an MCP SDK client with an auth provider', () => {
  interface Seen { method: string; url: string; status: number; body: string | undefined; authorization: string | null }

  async function connect(era: 'legacy' | '2026-07-28', scope: string | undefined) {
    const seen: Seen[] = [];
    const recording = async (url: string | URL, init?: RequestInit): Promise<Response> => {
      const headers = new Headers(init?.headers);
      const body = typeof init?.body === 'string' ? init.body : init?.body instanceof URLSearchParams ? init.body.toString() : undefined;
      const auth = headers.get('authorization');
      if (auth?.startsWith('Bearer ')) sdkTokens.add(auth.slice(7));
      const res = await fetch(url, init);
      seen.push({ method: init?.method ?? 'GET', url: String(url), status: res.status, body, authorization: auth });
      return res;
    };
    const provider = new ClientCredentialsProvider({
      clientId: stack.idp.clients.caller.client_id,
      clientSecret: stack.idp.clients.caller.client_secret,
      expectedIssuer: stack.idp.issuer,
      ...(scope === undefined ? {} : { scope }),
    });
    const client = new Client(
      { name: 'identity-e2e-sdk', version: '1.0.0' },
      { versionNegotiation: { mode: era === 'legacy' ? 'legacy' : { pin: '2026-07-28' } } },
    );
    await client.connect(new StreamableHTTPClientTransport(new URL(stack.resource('fixture')), { authProvider: provider, fetch: recording }));
    return { client, seen };
  }

  it.each(['legacy', '2026-07-28'] as const)('%s: discovers the IdP from the 401, gets a token for the target and calls echo', async (era) => {
    const tokensBefore = stack.idp.count('/token');
    const { client, seen } = await connect(era, 'mcp:tools');
    try {
      const result = await client.callTool({ name: 'echo', arguments: { text: `sdk ${era}` } });
      expect(result.content).toEqual([{ type: 'text', text: `sdk ${era}` }]);
      expect(stack.upstream.toolCalls.at(-1)).toMatchObject({ tool: 'echo', args: { text: `sdk ${era}` } });

      // The first request went without a token and was challenged…
      const first = seen[0]!;
      expect(first).toMatchObject({ method: 'POST', url: stack.resource('fixture'), status: 401, authorization: null });
      // …the client read the metadata the challenge named, the IdP's metadata, then the token endpoint…
      expect(seen.find((s) => s.url === stack.metadataUrl('fixture'))?.status).toBe(200);
      expect(seen.some((s) => s.url.startsWith(`${stack.idp.issuer}/.well-known/`) && s.status === 200)).toBe(true);
      const tokenRequest = seen.find((s) => s.url === `${stack.idp.issuer}/token`)!;
      expect(tokenRequest.status).toBe(200);
      const form = new URLSearchParams(tokenRequest.body);
      expect(form.get('grant_type')).toBe('client_credentials');
      expect(form.get('resource')).toBe(stack.resource('fixture'));
      expect(stack.idp.count('/token')).toBe(tokensBefore + 1);
      // …and every later request to the gateway carried that token; none of them was refused.
      const later = seen.slice(1).filter((s) => s.url === stack.resource('fixture'));
      expect(later.length).toBeGreaterThan(0);
      for (const s of later) {
        expect(s.authorization).toMatch(/^Bearer /);
        expect(s.status).toBeLessThan(300);
        expect(jwtPayload(s.authorization!.slice(7))).toMatchObject({ aud: stack.resource('fixture'), client_id: 'test-caller' });
      }
    } finally {
      await client.close();
    }
  });

  it('steps up on 403 insufficient_scope: asks the IdP for the missing scope and retries', async () => {
    const { client, seen } = await connect('2026-07-28', 'mcp:read');
    try {
      const result = await client.callTool({ name: 'echo', arguments: { text: 'after step-up' } });
      expect(result.content).toEqual([{ type: 'text', text: 'after step-up' }]);
      const refused = seen.filter((s) => s.url === stack.resource('fixture') && s.status === 403);
      expect(refused).toHaveLength(1);
      const scopes = seen.filter((s) => s.url === `${stack.idp.issuer}/token`).map((s) => new URLSearchParams(s.body).get('scope')?.split(' ').sort().join(' '));
      expect(scopes).toEqual(['mcp:read', 'mcp:read mcp:tools']);
    } finally {
      await client.close();
    }
  });
});

describe('upstream credentials', () => {
  it('an upstream credential the IdP refuses: 502 naming issuer and client, never the secret; nothing forwarded', async () => {
    const token = await stack.callerToken('badcreds');
    const before = received();
    const res = await stack.send('badcreds', legacyMessage('initialize', INITIALIZE_PARAMS, 1), token);
    expect(res.status).toBe(502);
    expect(res.json.error.code).toBe(-32060);
    expect(res.json.error.message).toContain(`target 'badcreds': could not obtain an upstream access token from ${stack.idp.issuer} (client credentials for portcullis-upstream): invalid_client`);
    expect(res.text).not.toContain(WRONG_UPSTREAM_SECRET);
    expect(received()).toBe(before);
  });
});

describe('configuration', () => {
  it('the introspection secret is read from the environment the configuration was validated with', async () => {
    const gw = await startTestGateway({
      policy: IDENTITY_POLICY,
      targets: { fixture: stack.upstream.url },
      config: {
        identity: {
          public_base_url: 'http://127.0.0.1:9',
          issuers: [{ issuer: stack.idp.issuer, token_format: 'both', introspection: { client_id: stack.idp.clients.gateway.client_id, client_secret_env: 'IDENTITY_E2E_ENV_ONLY_SECRET' } }],
        },
      },
      env: { IDENTITY_E2E_ENV_ONLY_SECRET: stack.idp.clients.gateway.client_secret },
    });
    await gw.close();
  });
});

describe('secrets never leak', () => {
  it('no token or client secret appears in logs, error bodies, decision records, /status or what upstreams received', async () => {
    const status = await fetch(`${stack.base}/status`);
    expect(status.status).toBe(200);
    const statusText = await status.text();
    const metadata = await (await fetch(stack.metadataUrl('fixture'))).text();

    const { idp } = stack;
    const secrets: Record<string, string> = {
      'caller client secret': idp.clients.caller.client_secret,
      'upstream client secret': idp.clients.upstream.client_secret,
      'introspection secret': idp.clients.gateway.client_secret,
      'wrong upstream secret': WRONG_UPSTREAM_SECRET,
    };
    const callerTokens = [...stack.presented, ...sdkTokens];
    expect(callerTokens.length).toBeGreaterThan(10);
    callerTokens.forEach((t, i) => (secrets[`caller token #${i}`] = t));

    const answers = stack.answers.map((a) => `${a.status} ${a.headers.get('www-authenticate') ?? ''} ${a.text}`).join('\n');
    expect(stack.answers.some((a) => a.status === 401)).toBe(true);
    // The refused upstream credential was logged (to console.error today; see the report): the
    // check below covers that log line too.
    expect([...stack.gw.logs, ...stderr].join('\n')).toContain("target 'badcreds': could not obtain an upstream access token");
    const haystacks = {
      'gateway log': stack.gw.logs.join('\n'),
      stderr: stderr.join('\n'),
      'answers (bodies and challenges)': answers,
      'decision records': JSON.stringify(stack.gw.audit),
      '/status': statusText,
      'resource metadata': metadata,
      'what the upstreams received': JSON.stringify([...stack.upstream.received, ...legacy.received]),
    };
    expect(leaks(secrets, haystacks)).toEqual([]);
    // Whatever Authorization the upstreams saw was the gateway's own credential.
    for (const r of [...stack.upstream.received, ...legacy.received]) {
      const auth = r.headers.authorization;
      if (auth !== undefined) expect(jwtPayload(auth.slice(7))).toMatchObject({ client_id: 'portcullis-upstream', aud: stack.upstream.url });
    }
  });
});

describe('two trusted issuers: the same sub is two principals', () => {
  let two: IdentityStack;
  let idp2: TestIdp;
  beforeAll(async () => {
    idp2 = await startTestIdp();
    two = await startIdentityStack({ moreIssuers: [{ issuer: idp2.issuer, groups_claim: 'groups' }], targets: () => ({ legacy: { url: legacy.url } }) });
  });
  afterAll(async () => {
    await two?.close();
    await idp2?.close();
  });

  it("alice at one issuer cannot use alice-at-the-other's session; each is recorded under its own issuer", async () => {
    const here = await two.idp.sign(two.idp.validClaims(two.resource('legacy'), { sub: 'alice' }));
    const there = await idp2.sign(idp2.validClaims(two.resource('legacy'), { sub: 'alice' }));
    const init = await two.send('legacy', legacyMessage('initialize', INITIALIZE_PARAMS, 1), here);
    expect(init.status).toBe(200);
    const session = init.headers.get('mcp-session-id')!;
    expect((await two.send('legacy', legacyMessage('notifications/initialized', undefined, undefined, session), here)).status).toBe(202);
    expect(two.gw.audit.findLast((r) => r.direction === 'client_to_server')!.principal).toBe(JSON.stringify(['user', two.idp.issuer, 'alice']));

    const before = legacy.received.length;
    const hijack = await two.send('legacy', legacyMessage('tools/list', undefined, 2, session), there);
    expect(hijack.status).toBe(404);
    expect(hijack.json.error.code).toBe(-32001);
    expect(legacy.received.length).toBe(before);

    // The other issuer's alice is a valid caller in her own right, recorded as herself.
    const own = await two.send('legacy', legacyMessage('initialize', INITIALIZE_PARAMS, 1), there);
    expect(own.status).toBe(200);
    expect(two.gw.audit.findLast((r) => r.direction === 'client_to_server')!.principal).toBe(JSON.stringify(['user', idp2.issuer, 'alice']));
    expect((await two.send('legacy', legacyMessage('tools/list', undefined, 3, session), here)).status).toBe(200);
  });
});
