// When the identity provider cannot be asked, the gateway fails closed with 503 (Retry-After,
// -32082, a message naming the issuer and what failed), never 401 and never forwarding; it
// recovers without a restart; keys it already has keep verifying. And key rotation through the
// gateway: new keys verify without a restart, removed keys stop working.
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { IDENTITY_POLICY, leaks, startIdentityStack, statelessCall, type HttpResult, type IdentityStack } from '../helpers/identity-stack.ts';

const echo = (text: string) => statelessCall('echo', { text });

function expectUnavailable(res: HttpResult, message: string | RegExp): void {
  expect(res.status).toBe(503);
  expect(res.headers.get('www-authenticate')).toBeNull();
  expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
  expect(res.json).toMatchObject({ jsonrpc: '2.0', id: null, error: { code: -32082 } });
  if (typeof message === 'string') expect(res.json.error.message).toBe(message);
  else expect(res.json.error.message).toMatch(message);
}

describe('the identity provider is unreachable', () => {
  let stack: IdentityStack;
  let issuer: string;
  const tokens = { jwt: '', opaque: '' };

  beforeAll(async () => {
    stack = await startIdentityStack({
      identity: { discovery_retry_seconds: 0, jwks_cooldown_seconds: 0, http_timeout_ms: 500 },
      // Tokens issued while the IdP was up; then it goes away before the gateway ever saw it.
      beforeGateway: async ({ idp, resource }) => {
        tokens.jwt = (await idp.mintToken({ resource: resource('other'), scope: 'mcp:tools' })).access_token;
        tokens.opaque = (await idp.mintToken({ resource: resource('opaque'), scope: 'mcp:tools' })).access_token;
        await idp.stop();
      },
    });
    issuer = stack.idp.issuer;
  });
  afterAll(async () => {
    await stack?.close();
  });

  it.each([
    ['a JWT', 'other', () => tokens.jwt],
    ['an opaque token', 'opaque', () => tokens.opaque],
    ['a forged JWT naming the trusted issuer', 'other', () => `eyJhbGciOiJSUzI1NiIsInR5cCI6ImF0K2p3dCJ9.${Buffer.from(JSON.stringify({ iss: issuer })).toString('base64url')}.c2ln`],
  ])('cold gateway: %s gets 503 naming the issuer (fail closed), nothing forwarded', async (_, target, token) => {
    const before = stack.upstream.received.length;
    const res = await stack.send(target, echo('x'), token());
    expectUnavailable(res, `Service Unavailable: identity provider ${issuer} is unreachable (discovery failed: connection refused (ECONNREFUSED)); the request was not forwarded`);
    expect(res.headers.get('retry-after')).toBe('1');
    expect(stack.upstream.received.length).toBe(before);
  });

  it('the failure is logged naming the issuer', () => {
    expect(stack.gw.logs).toContain(`identity: issuer ${issuer}: discovery failed: connection refused (ECONNREFUSED)`);
  });

  it('what needs no provider is still answered: no token is 401, an untrusted issuer is 401', async () => {
    const before = stack.upstream.received.length;
    const none = await stack.send('other', echo('x'));
    expect(none.status).toBe(401);
    expect(none.json.error.code).toBe(-32080);
    const foreign = await stack.idp.sign({ ...stack.idp.validClaims(stack.resource('other')), iss: 'https://evil.example' });
    const res = await stack.send('other', echo('x'), foreign);
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toContain('error_description="token issuer is not trusted by this gateway"');
    expect(stack.upstream.received.length).toBe(before);
  });

  it('the provider comes back: the same tokens are accepted without a restart', async () => {
    await stack.idp.start();
    const jwt = await stack.send('other', echo('back'), tokens.jwt);
    expect(jwt.status).toBe(200);
    expect(jwt.json.result.content[0].text).toBe('back');
    const opaque = await stack.send('opaque', echo('back opaque'), tokens.opaque);
    expect(opaque.status).toBe(200);
  });

  it('a later outage: known keys and cached introspections keep working; what needs the provider gets 503', async () => {
    const newOpaque = await stack.callerToken('opaque');
    await stack.idp.stop();
    try {
      const before = stack.upstream.received.length;
      // Verified before (cached), and a new token signed with a key the gateway already has.
      expect((await stack.send('other', echo('cached'), tokens.jwt)).status).toBe(200);
      const fresh = await stack.idp.sign(stack.idp.validClaims(stack.resource('other')));
      expect((await stack.send('other', echo('known key'), fresh)).status).toBe(200);
      expect((await stack.send('opaque', echo('cached opaque'), tokens.opaque)).status).toBe(200);
      expect(stack.upstream.received.length).toBe(before + 3);

      // A kid never seen: could be a new key or a forgery; it cannot be told while the IdP is away.
      const newKey = await stack.idp.rotateKeys();
      const unknownKid = await stack.idp.sign(stack.idp.validClaims(stack.resource('other')), { key: newKey });
      const kid = await stack.send('other', echo('x'), unknownKid);
      expectUnavailable(kid, new RegExp(`^Service Unavailable: identity provider ${issuer} is unreachable \\(JWKS fetch from ${issuer}/jwks failed: connection refused \\(ECONNREFUSED\\)\\); the request was not forwarded$`));
      // An opaque token never introspected.
      const intro = await stack.send('opaque', echo('x'), newOpaque);
      expectUnavailable(intro, new RegExp(`^Service Unavailable: identity provider ${issuer} could not check the token \\(introspection failed: connection refused \\(ECONNREFUSED\\)\\); the request was not forwarded$`));
      expect(stack.upstream.received.length).toBe(before + 3);
    } finally {
      await stack.idp.start();
    }
  });
});

describe('an identity provider that accepts connections but never answers', () => {
  let blackhole: Server;
  const sockets = new Set<Socket>();
  let stack: IdentityStack;
  let gw: TestGateway;
  let issuer: string;

  beforeAll(async () => {
    blackhole = createServer((s) => {
      sockets.add(s);
      s.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => blackhole.listen(0, '127.0.0.1', () => resolve()));
    issuer = `http://127.0.0.1:${(blackhole.address() as AddressInfo).port}`;
    stack = await startIdentityStack();
    gw = await startTestGateway({
      policy: IDENTITY_POLICY,
      targets: { other: stack.upstream.url },
      config: { identity: { public_base_url: 'http://127.0.0.1:9', http_timeout_ms: 200, issuers: [{ issuer }] } },
    });
  });
  afterAll(async () => {
    await gw?.close();
    await stack?.close();
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => blackhole.close(() => resolve()));
  });

  it('503 after http_timeout_ms, naming the issuer and the timeout; nothing forwarded', async () => {
    const token = await stack.idp.sign({ ...stack.idp.validClaims('http://127.0.0.1:9/mcp/other'), iss: issuer });
    const before = stack.upstream.received.length;
    const res = await fetch(`${gw.url}/mcp/other`, { method: 'POST', headers: { ...echo('x').headers, authorization: `Bearer ${token}` }, body: JSON.stringify(echo('x').body) });
    const text = await res.text();
    expectUnavailable({ status: res.status, headers: res.headers, text, json: JSON.parse(text) }, `Service Unavailable: identity provider ${issuer} is unreachable (discovery failed: no answer within 200 ms); the request was not forwarded`);
    expect(stack.upstream.received.length).toBe(before);
  });
});

describe('the introspection client is refused by the provider', () => {
  const WRONG = 'wrong-introspection-secret-8c41e2';
  let stack: IdentityStack;

  beforeAll(async () => {
    stack = await startIdentityStack({
      env: { IDENTITY_E2E_WRONG_INTROSPECTION_SECRET: WRONG },
      issuer: { introspection: { client_id: 'portcullis-gateway', client_secret_env: 'IDENTITY_E2E_WRONG_INTROSPECTION_SECRET' } },
    });
  });
  afterAll(async () => {
    await stack?.close();
  });

  it('an opaque token gets 503 naming invalid_client, never the secret; JWTs are unaffected', async () => {
    const opaque = await stack.callerToken('opaque');
    const before = stack.upstream.received.length;
    const res = await stack.send('opaque', echo('x'), opaque);
    expectUnavailable(res, new RegExp(`^Service Unavailable: identity provider ${stack.idp.issuer} could not check the token \\(introspection failed: invalid_client`));
    expect(stack.upstream.received.length).toBe(before);
    expect((await stack.send('other', echo('jwt'), await stack.callerToken('other'))).status).toBe(200);
    const haystacks = { 'error body': res.text, 'gateway log': stack.gw.logs.join('\n'), 'decision records': JSON.stringify(stack.gw.audit) };
    expect(stack.gw.logs.join('\n')).toContain('introspection failed: invalid_client');
    expect(leaks({ 'introspection secret (wrong)': WRONG, 'opaque token': opaque }, haystacks)).toEqual([]);
  });
});

describe('JWKS rotation through the gateway', () => {
  let stack: IdentityStack;
  const mint = () => stack.callerToken('other');
  const call = (token: string) => stack.send('other', echo('rotation'), token);
  const description = (res: HttpResult) => /error_description="([^"]*)"/.exec(res.headers.get('www-authenticate') ?? '')?.[1];

  beforeAll(async () => {
    stack = await startIdentityStack({ identity: { jwks_cooldown_seconds: 0, jwks_max_age_seconds: 1 } });
  });
  afterAll(async () => {
    await stack?.close();
  });

  it('new keys verify without a restart; removed keys stop working (on a refetch for a new kid, and after max-age)', async () => {
    const t1 = await mint();
    expect((await call(t1)).status).toBe(200);

    // The IdP publishes a new key (first) and signs with it; the old one is still published.
    const k2 = await stack.idp.rotateKeys({ keepOld: true });
    const t2 = await mint();
    expect(JSON.parse(Buffer.from(t2.split('.')[0]!, 'base64url').toString()).kid).toBe(k2.kid);
    const jwks = stack.idp.count('/jwks');
    expect((await call(t2)).status).toBe(200);
    expect(stack.idp.count('/jwks')).toBe(jwks + 1);
    expect((await call(t1)).status).toBe(200);

    // Only a brand-new key is published now: the first token with it refetches the set, and that
    // refetch retires the old keys at once, cached verifications included.
    await stack.idp.rotateKeys({ keepOld: false });
    const t3 = await mint();
    expect((await call(t3)).status).toBe(200);
    const before = stack.upstream.received.length;
    for (const old of [t1, t2]) {
      const res = await call(old);
      expect(res.status).toBe(401);
      expect(res.json.error.code).toBe(-32080);
      expect(description(res)).toBe('unknown signing key');
    }
    expect(stack.upstream.received.length).toBe(before);
    expect(stack.gw.logs.some((l) => l.includes(`issuer ${stack.idp.issuer} no longer publishes 2 key(s)`))).toBe(true);

    // Rotated again, but no token with the new key shows up: the set ages out (max-age 1 s) and
    // the refetch before the next verification retires t3's key.
    await stack.idp.rotateKeys({ keepOld: false });
    await new Promise((r) => setTimeout(r, 1100));
    const res = await call(t3);
    expect(res.status).toBe(401);
    expect(description(res)).toBe('unknown signing key');
    expect(stack.upstream.received.length).toBe(before);
    expect((await call(await mint())).status).toBe(200);
  });
});

describe('the bound on a removed key, through the gateway (real rotation, real clock)', () => {
  let stack: IdentityStack;
  const call = (token: string) => stack.send('other', echo('bound'), token);
  const description = (res: HttpResult) => /error_description="([^"]*)"/.exec(res.headers.get('www-authenticate') ?? '')?.[1];

  beforeAll(async () => {
    // A cooldown far longer than max-age: max-age alone must bound a removed key's life.
    stack = await startIdentityStack({ identity: { jwks_cooldown_seconds: 3600, jwks_max_age_seconds: 1 } });
  });
  afterAll(async () => {
    await stack?.close();
  });

  it('a key the IdP removed is refused once jwks_max_age_seconds have passed, cached verifications included', async () => {
    const old = await stack.callerToken('other');
    expect((await call(old)).status).toBe(200);
    expect((await call(old)).status).toBe(200); // the cached verification
    await stack.idp.rotateKeys({ keepOld: false });
    await new Promise((r) => setTimeout(r, 1100));
    const before = stack.upstream.received.length;
    const res = await call(old);
    expect(res.status).toBe(401);
    expect(res.json.error.code).toBe(-32080);
    expect(description(res)).toBe('unknown signing key');
    expect(stack.upstream.received.length).toBe(before);
    expect((await call(await stack.callerToken('other'))).status).toBe(200);
  });
});
