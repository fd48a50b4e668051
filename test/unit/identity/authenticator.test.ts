// The OIDC authenticator against a real OpenID provider (oidc-provider, in-process): valid tokens
// map to subjects, every forged or broken token is a 401 with the right challenge, opaque tokens
// are introspected once and cached, verified JWTs are reused without touching the IdP.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { identityConfigSchema } from '../../../gateway/identity/config.ts';
import { AuthError } from '../../../gateway/identity/errors.ts';
import { oidcAuthenticator, type OidcAuthenticator } from '../../../gateway/identity/oidc.ts';
import { MemoryTokenCache, type TokenCache } from '../../../gateway/identity/token-cache.ts';
import { startTestIdp, type TestIdp } from '../../helpers/idp.ts';

const BASE = 'https://gateway.test';
const DEMO = `${BASE}/mcp/demo`;
const OTHER = `${BASE}/mcp/other`;
const OPAQUE = `${BASE}/mcp/opaque`;
const META = `${BASE}/.well-known/oauth-protected-resource/mcp/demo`;

let idp: TestIdp;
let auth: OidcAuthenticator;
let clock = 0; // ms added to the real clock
const logs: string[] = [];

function config(overrides: Record<string, unknown> = {}) {
  return identityConfigSchema.parse({
    public_base_url: BASE,
    scopes_supported: ['mcp:tools'],
    issuers: [
      {
        issuer: idp.issuer,
        token_format: 'both',
        groups_claim: ['groups', 'https://example.com/groups', 'realm_access.roles'],
        introspection: { client_id: idp.clients.gateway.client_id, client_secret_env: 'GW_SECRET' },
      },
    ],
    ...overrides,
  });
}

function authenticator(overrides: Record<string, unknown> = {}, cache: TokenCache = new MemoryTokenCache({ now: () => Date.now() + clock })): OidcAuthenticator {
  return oidcAuthenticator(config(overrides), {
    env: { GW_SECRET: idp.clients.gateway.client_secret },
    log: (m) => logs.push(m),
    now: () => Date.now() + clock,
    cache,
  });
}

function request(token?: string, url = DEMO, headers: Record<string, string> = {}): Request {
  return new Request(url, { method: 'POST', headers: { ...(token === undefined ? {} : { authorization: `Bearer ${token}` }), ...headers } });
}

async function refusal(promise: Promise<unknown>): Promise<AuthError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof AuthError)) throw new Error(`expected an AuthError, got ${err === undefined ? 'success' : String(err)}`);
  return err;
}

beforeAll(async () => {
  idp = await startTestIdp({
    resources: { [DEMO]: 'jwt', [OTHER]: 'jwt', [OPAQUE]: 'opaque' },
    claims: { 'test-caller': { groups: ['engineering'], 'https://example.com/groups': ['payments'], realm_access: { roles: ['reader'] }, email: 'bot@example.com' } },
  });
  auth = authenticator();
});

afterAll(async () => {
  await idp?.close();
});

describe('valid tokens', () => {
  it('a real at+jwt from the client credentials grant maps to a service subject', async () => {
    const { access_token } = await idp.mintToken({ resource: DEMO, scope: 'mcp:tools mcp:read' });
    const identity = await auth.authenticate(request(access_token), 'demo');
    expect(identity.subject).toEqual({
      authenticated: true,
      type: 'service',
      sub: 'test-caller',
      issuer: idp.issuer,
      client_id: 'test-caller',
      email: 'bot@example.com',
      groups: ['engineering', 'payments', 'reader'],
      scopes: ['mcp:tools', 'mcp:read'],
      claims: {},
    });
    expect(identity.subjectJson).toBe(JSON.stringify(identity.subject));
    expect(identity.expiresAt).toBeGreaterThan(Date.now());
  });

  it('a user token signed by the IdP maps to a user subject with auth_time and acr', async () => {
    const now = Math.floor(Date.now() / 1000);
    const token = await idp.sign(idp.validClaims(DEMO, { sub: 'alice', client_id: 'desktop-app', scp: ['mcp:tools'], email: 'alice@example.com', groups: ['sre'], auth_time: now - 60, acr: 'urn:mfa', amr: ['pwd', 'otp'] }));
    const { subject } = await auth.authenticate(request(token), 'demo');
    expect(subject).toMatchObject({ type: 'user', sub: 'alice', client_id: 'desktop-app', email: 'alice@example.com', groups: ['sre'], scopes: ['mcp:tools'], claims: { auth_time: now - 60, acr: 'urn:mfa', amr: ['pwd', 'otp'] } });
  });

  it('accepts an audience array that contains this target', async () => {
    const token = await idp.sign(idp.validClaims(DEMO, { aud: ['https://api.example', DEMO] }));
    await expect(auth.authenticate(request(token), 'demo')).resolves.toBeDefined();
  });

  it('tolerates small clock skew on exp and nbf', async () => {
    const now = Math.floor(Date.now() / 1000);
    await expect(auth.authenticate(request(await idp.sign(idp.validClaims(DEMO, { exp: now - 10 }))), 'demo')).resolves.toBeDefined();
    await expect(auth.authenticate(request(await idp.sign(idp.validClaims(DEMO, { nbf: now + 10 }))), 'demo')).resolves.toBeDefined();
  });

  it('reuses a verified JWT: the second call asks the IdP nothing and returns the same identity', async () => {
    const a = authenticator();
    const { access_token } = await idp.mintToken({ resource: DEMO });
    idp.resetCounts();
    const first = await a.authenticate(request(access_token), 'demo');
    const jwksFetches = idp.count('/jwks');
    expect(jwksFetches).toBe(1);
    const second = await a.authenticate(request(access_token), 'demo');
    expect(second).toBe(first);
    expect(idp.count('/jwks')).toBe(1);
    // The cached verification still checks the audience per target.
    const err = await refusal(a.authenticate(request(access_token, OTHER), 'other'));
    expect(err.wwwAuthenticate).toMatch(/error="invalid_token", error_description="token audience does not include https:\/\/gateway.test\/mcp\/other"/);
  });

  it('a cached verification ends when the token expires', async () => {
    const a = authenticator({ clock_skew_seconds: 5 });
    const token = await idp.sign(idp.validClaims(DEMO, { exp: Math.floor(Date.now() / 1000) + 60 }));
    await a.authenticate(request(token), 'demo');
    clock = 66_000;
    try {
      const err = await refusal(a.authenticate(request(token), 'demo'));
      expect(err.wwwAuthenticate).toMatch(/token expired/);
    } finally {
      clock = 0;
    }
  });
});

describe('the Authorization header', () => {
  it('missing: 401 with resource_metadata and a scope hint, no error code', async () => {
    const err = await refusal(auth.authenticate(request(), 'demo'));
    expect(err.status).toBe(401);
    expect(err.wwwAuthenticate).toBe(`Bearer scope="mcp:tools", resource_metadata="${META}"`);
    expect(err.message).toMatch(/Authorization: Bearer/);
  });

  it('another scheme: 401 without error code', async () => {
    const err = await refusal(auth.authenticate(request(undefined, DEMO, { authorization: 'Basic dXNlcjpwYXNz' }), 'demo'));
    expect(err.wwwAuthenticate).toBe(`Bearer scope="mcp:tools", resource_metadata="${META}"`);
    expect(err.message).toMatch(/Bearer scheme/);
  });

  it.each([
    ['Bearer', 'token is malformed'],
    ['Bearer a b', 'token is malformed'],
    ['Bearer tok"en', 'token is malformed'],
    ['Bearer abc, Bearer def', 'token is malformed'],
  ])('%j: 401 invalid_token', async (header, description) => {
    const err = await refusal(auth.authenticate(request(undefined, DEMO, { authorization: header }), 'demo'));
    expect(err.wwwAuthenticate).toBe(`Bearer error="invalid_token", error_description="${description}", resource_metadata="${META}"`);
  });

  it('a token in the query string is refused, even next to a header', async () => {
    const { access_token } = await idp.mintToken({ resource: DEMO });
    for (const req of [request(undefined, `${DEMO}?access_token=${access_token}`), request(access_token, `${DEMO}?x=1&access_token=${access_token}`)]) {
      const err = await refusal(auth.authenticate(req, 'demo'));
      expect(err.status).toBe(401);
      expect(err.wwwAuthenticate).toMatch(/^Bearer error="invalid_request", error_description="access tokens in the query string are refused/);
      expect(err.message).not.toContain(access_token);
    }
  });

  it('an oversized token is refused before it is parsed or hashed', async () => {
    const err = await refusal(auth.authenticate(request('A'.repeat(8193)), 'demo'));
    expect(err.wwwAuthenticate).toMatch(/token larger than 8192 bytes/);
    const huge = await refusal(auth.authenticate(request('A'.repeat(1_000_000)), 'demo'));
    expect(huge.wwwAuthenticate).toMatch(/token larger than 8192 bytes/);
  });
});

describe('attacks: every forged or broken token is refused with 401 invalid_token', () => {
  it('the whole table', async () => {
    const cases = await idp.attacks(DEMO, OTHER);
    expect(cases.length).toBeGreaterThanOrEqual(25);
    const results: string[] = [];
    for (const c of cases) {
      const err = await refusal(auth.authenticate(request(c.token), 'demo'));
      const header = err.wwwAuthenticate ?? '';
      const ok = err.status === 401 && header.startsWith('Bearer error="invalid_token", error_description="') && header.endsWith(`resource_metadata="${META}"`) && c.expect.test(header);
      if (!ok) results.push(`${c.name}: ${err.status} ${header}`);
      // Never echo the token, or anything taken from it.
      expect(err.message).not.toContain(c.token.slice(0, 40));
      expect(JSON.stringify(err.body())).not.toContain(c.token.slice(-20));
    }
    expect(results).toEqual([]);
  });

  it('an ID-token-style plain JWT is still refused when typ is not required, by audience', async () => {
    const a = authenticator({ issuers: [{ issuer: idp.issuer, require_typ_at_jwt: false }] });
    const token = await idp.sign(idp.validClaims(DEMO, { aud: 'test-caller' }), { typ: 'JWT' });
    const err = await refusal(a.authenticate(request(token), 'demo'));
    expect(err.wwwAuthenticate).toMatch(/audience does not include/);
    // …and a plain JWT with the right audience is fine for such an issuer.
    await expect(a.authenticate(request(await idp.sign(idp.validClaims(DEMO), { typ: 'JWT' })), 'demo')).resolves.toBeDefined();
  });

  it('an algorithm outside the issuer allowlist is refused even when the key fits', async () => {
    const a = authenticator({ issuers: [{ issuer: idp.issuer, algorithms: ['ES256'] }] });
    const err = await refusal(a.authenticate(request(await idp.sign(idp.validClaims(DEMO))), 'demo'));
    expect(err.wwwAuthenticate).toMatch(/algorithm is not allowed/);
  });

  it('a JWT-only issuer refuses opaque tokens without asking anyone', async () => {
    const a = authenticator({ issuers: [{ issuer: idp.issuer }] });
    idp.resetCounts();
    const err = await refusal(a.authenticate(request('some-opaque-token'), 'demo'));
    expect(err.wwwAuthenticate).toMatch(/not a JWT and no trusted issuer accepts opaque tokens/);
    expect(idp.count('/token/introspection')).toBe(0);
  });
});

describe('opaque tokens (RFC 7662 introspection)', () => {
  it('introspects once, then answers from the cache', async () => {
    const a = authenticator();
    const { access_token } = await idp.mintToken({ resource: OPAQUE, scope: 'mcp:tools' });
    expect(access_token.split('.')).toHaveLength(1);
    idp.resetCounts();
    const first = await a.authenticate(request(access_token, OPAQUE), 'opaque');
    expect(first.subject).toMatchObject({ type: 'service', sub: 'test-caller', client_id: 'test-caller', scopes: ['mcp:tools'], groups: ['engineering', 'payments', 'reader'] });
    expect(idp.count('/token/introspection')).toBe(1);
    const second = await a.authenticate(request(access_token, OPAQUE), 'opaque');
    expect(second.subject).toEqual(first.subject);
    expect(idp.count('/token/introspection')).toBe(1);
  });

  it('concurrent first uses share one introspection', async () => {
    const a = authenticator();
    const { access_token } = await idp.mintToken({ resource: OPAQUE });
    idp.resetCounts();
    await Promise.all(Array.from({ length: 8 }, () => a.authenticate(request(access_token, OPAQUE), 'opaque')));
    expect(idp.count('/token/introspection')).toBe(1);
  });

  it('the cache is keyed by a hash of the token, never the token', async () => {
    const seen: string[] = [];
    const inner = new MemoryTokenCache();
    const a = authenticator({}, { get: (k) => (seen.push(k), inner.get(k)), set: (k, v, ttl) => (seen.push(k), inner.set(k, v, ttl)) });
    const { access_token } = await idp.mintToken({ resource: OPAQUE });
    await a.authenticate(request(access_token, OPAQUE), 'opaque');
    expect(seen.length).toBeGreaterThan(0);
    for (const k of seen) {
      expect(k).not.toContain(access_token);
      expect(k).toMatch(/^[A-Za-z0-9_-]{43}$/);
    }
  });

  it('an inactive token is 401 and the answer is remembered briefly', async () => {
    const a = authenticator();
    idp.resetCounts();
    for (let i = 0; i < 3; i++) {
      const err = await refusal(a.authenticate(request('made-up-opaque-token', OPAQUE), 'opaque'));
      expect(err.wwwAuthenticate).toMatch(/error="invalid_token", error_description="token is not active"/);
    }
    expect(idp.count('/token/introspection')).toBe(1);
  });

  it("checks the audience: an opaque token for one target is refused at another", async () => {
    idp.setResource(`${BASE}/mcp/opaque2`, 'opaque');
    const { access_token } = await idp.mintToken({ resource: `${BASE}/mcp/opaque2` });
    const err = await refusal(auth.authenticate(request(access_token, OPAQUE), 'opaque'));
    expect(err.wwwAuthenticate).toMatch(/audience does not include https:\/\/gateway.test\/mcp\/opaque"/);
  });

  it('a cached result stops working at exp', async () => {
    const a = authenticator({ clock_skew_seconds: 0 });
    idp.setResource(`${BASE}/mcp/short`, 'opaque', 30);
    const { access_token } = await idp.mintToken({ resource: `${BASE}/mcp/short` });
    await a.authenticate(request(access_token, `${BASE}/mcp/short`), 'short');
    clock = 31_000;
    try {
      const err = await refusal(a.authenticate(request(access_token, `${BASE}/mcp/short`), 'short'));
      expect(err.status).toBe(401);
    } finally {
      clock = 0;
    }
  });

  it('wrong introspection credentials: 503, the secret never in the message or the logs', async () => {
    const a = oidcAuthenticator(config(), { env: { GW_SECRET: 'wrong-secret-value-123' }, log: (m) => logs.push(m) });
    const { access_token } = await idp.mintToken({ resource: OPAQUE });
    logs.length = 0;
    const err = await refusal(a.authenticate(request(access_token, OPAQUE), 'opaque'));
    expect(err.status).toBe(503);
    expect(err.message).toMatch(new RegExp(`identity provider ${idp.issuer} could not check the token \\(introspection failed: invalid_client`));
    for (const text of [err.message, ...logs]) {
      expect(text).not.toContain('wrong-secret-value-123');
      expect(text).not.toContain(access_token);
    }
  });

  it('a missing secret is a start-time error naming the key', () => {
    expect(() => oidcAuthenticator(config(), { env: {} })).toThrow('identity.issuers.0.introspection.client_secret_env: environment variable GW_SECRET is not set');
  });
});

describe('metadata helpers on the authenticator', () => {
  it('resource, metadata URL, document and insufficient_scope', () => {
    expect(auth.resource('demo')).toBe(DEMO);
    expect(auth.resourceMetadataUrl('demo')).toBe(META);
    expect(auth.metadata('demo')).toEqual({ resource: DEMO, authorization_servers: [idp.issuer], scopes_supported: ['mcp:tools'], bearer_methods_supported: ['header'], resource_name: 'Portcullis MCP target demo' });
    const err = auth.insufficientScope('demo', ['mcp:admin']);
    expect(err.status).toBe(403);
    expect(err.wwwAuthenticate).toBe(`Bearer error="insufficient_scope", error_description="the token lacks the scope mcp:admin", scope="mcp:admin", resource_metadata="${META}"`);
  });

  it('the audience can be a template', async () => {
    idp.setResource('urn:portcullis:demo', 'jwt');
    const a = authenticator({ issuers: [{ issuer: idp.issuer, audience: 'urn:portcullis:{target}' }] });
    const { access_token } = await idp.mintToken({ resource: 'urn:portcullis:demo' });
    await expect(a.authenticate(request(access_token), 'demo')).resolves.toBeDefined();
    await expect(a.authenticate(request(access_token, OTHER), 'other')).rejects.toThrow(/audience does not include urn:portcullis:other/);
  });
});
