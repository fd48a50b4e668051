// Upstream credentials: none, a static secret, and OAuth client credentials from a real
// authorization server (oidc-provider), cached and refreshed ahead of expiry, with `resource` set
// to the upstream URL. Secrets never appear in errors or logs.
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { upstreamCredentialsSchema } from '../../../gateway/identity/config.ts';
import { upstreamCredentialProvider, UpstreamCredentialError } from '../../../gateway/identity/upstream.ts';
import { startTestIdp, type TestIdp } from '../../helpers/idp.ts';

const UPSTREAM = 'http://127.0.0.1:9/mcp';
const SHORT = 'http://127.0.0.1:9/short';

let idp: TestIdp;
let clock = 0;
const logs: string[] = [];

function provider(overrides: Record<string, unknown> = {}, env?: NodeJS.ProcessEnv, url = UPSTREAM) {
  const spec = upstreamCredentialsSchema.parse({
    type: 'oauth_client_credentials',
    issuer: idp.issuer,
    client_id: idp.clients.upstream.client_id,
    client_secret_env: 'UPSTREAM_SECRET',
    scope: 'mcp:tools',
    ...overrides,
  });
  return upstreamCredentialProvider(spec, {
    target: 'crm',
    url,
    env: env ?? { UPSTREAM_SECRET: idp.clients.upstream.client_secret },
    now: () => Date.now() + clock,
    log: (m) => logs.push(m),
  });
}

function bearer(headers: Record<string, string>): string {
  const value = headers.authorization ?? '';
  expect(value).toMatch(/^Bearer /);
  return value.slice(7);
}

beforeAll(async () => {
  idp = await startTestIdp({ resources: { [UPSTREAM]: 'jwt' }, tokenTtlSeconds: 100 });
  idp.setResource(SHORT, 'jwt', 1);
});
afterAll(async () => {
  await idp?.close();
});
beforeEach(() => {
  clock = 0;
  logs.length = 0;
  idp.resetCounts();
});

describe('static credentials', () => {
  it('none adds nothing', async () => {
    const p = upstreamCredentialProvider({ type: 'none' }, { target: 'crm', url: UPSTREAM });
    expect(await p.headers()).toEqual({});
  });

  it('header: the secret from the environment, with its scheme', async () => {
    const spec = upstreamCredentialsSchema.parse({ type: 'header', header: 'X-Api-Key', value_env: 'CRM_KEY' });
    expect(await upstreamCredentialProvider(spec, { target: 'crm', url: UPSTREAM, env: { CRM_KEY: 's3cr3t' } }).headers()).toEqual({ 'x-api-key': 's3cr3t' });
    const bearerSpec = upstreamCredentialsSchema.parse({ type: 'header', scheme: 'Bearer', value_env: 'CRM_KEY' });
    expect(await upstreamCredentialProvider(bearerSpec, { target: 'crm', url: UPSTREAM, env: { CRM_KEY: 's3cr3t' } }).headers()).toEqual({ authorization: 'Bearer s3cr3t' });
  });

  it('a missing variable is an error naming the key', () => {
    const spec = upstreamCredentialsSchema.parse({ type: 'header', value_env: 'CRM_KEY' });
    expect(() => upstreamCredentialProvider(spec, { target: 'crm', url: UPSTREAM, env: {} })).toThrow('targets.crm.credentials.value_env: environment variable CRM_KEY is not set');
    expect(() => provider({}, {})).toThrow('targets.crm.credentials.client_secret_env: environment variable UPSTREAM_SECRET is not set');
  });
});

describe('OAuth client credentials', () => {
  it('gets a token for the upstream resource and reuses it', async () => {
    const p = provider();
    const token = bearer(await p.headers());
    const claims = decodeJwt(token);
    expect(claims).toMatchObject({ aud: UPSTREAM, client_id: idp.clients.upstream.client_id, scope: 'mcp:tools', iss: idp.issuer });
    expect(idp.count('/token')).toBe(1);
    for (let i = 0; i < 5; i++) expect(bearer(await p.headers())).toBe(token);
    expect(idp.count('/token')).toBe(1);
    expect(idp.count('/.well-known/openid-configuration')).toBe(1);
  });

  it('concurrent first requests share one token request', async () => {
    const p = provider();
    const all = await Promise.all(Array.from({ length: 10 }, () => p.headers()));
    expect(new Set(all.map(bearer)).size).toBe(1);
    expect(idp.count('/token')).toBe(1);
  });

  it('refreshes in the background at 80% of the lifetime, keeps serving the current token meanwhile', async () => {
    const p = provider();
    const first = bearer(await p.headers());
    clock = 79_000;
    expect(bearer(await p.headers())).toBe(first);
    expect(idp.count('/token')).toBe(1);
    clock = 81_000;
    expect(bearer(await p.headers())).toBe(first); // still valid: used while the refresh runs
    await vi.waitFor(() => expect(idp.count('/token')).toBe(2));
    await vi.waitFor(async () => expect(bearer(await p.headers())).not.toBe(first));
    expect(idp.count('/token')).toBe(2);
  });

  it('an expired token is never used: the request waits for a new one', async () => {
    const p = provider();
    const first = bearer(await p.headers());
    clock = 101_000;
    const second = bearer(await p.headers());
    expect(second).not.toBe(first);
    expect(idp.count('/token')).toBe(2);
  });

  it('really short-lived tokens (1 s, real clock) are refreshed', async () => {
    const p = upstreamCredentialProvider(
      upstreamCredentialsSchema.parse({ type: 'oauth_client_credentials', issuer: idp.issuer, client_id: idp.clients.upstream.client_id, client_secret_env: 'S' }),
      { target: 'crm', url: SHORT, env: { S: idp.clients.upstream.client_secret } },
    );
    const first = bearer(await p.headers());
    expect(decodeJwt(first).exp! - decodeJwt(first).iat!).toBe(1);
    await new Promise((r) => setTimeout(r, 850));
    await p.headers();
    await vi.waitFor(async () => expect(bearer(await p.headers())).not.toBe(first));
    expect(idp.count('/token')).toBeGreaterThanOrEqual(2); // 3 if a slow machine reached the new token's 80%
  });

  it('invalidate() forgets the token (e.g. after the upstream answered 401)', async () => {
    const p = provider();
    const first = bearer(await p.headers());
    p.invalidate();
    expect(bearer(await p.headers())).not.toBe(first);
    expect(idp.count('/token')).toBe(2);
  });

  it('the resource can be set explicitly', async () => {
    idp.setResource('https://crm.internal.example', 'jwt');
    const p = provider({ resource: 'https://crm.internal.example' });
    expect(decodeJwt(bearer(await p.headers())).aud).toBe('https://crm.internal.example');
  });

  it('a refused client: clear error, no secret, fail fast for a moment', async () => {
    const secret = 'definitely-not-the-secret-4711';
    const p = provider({}, { UPSTREAM_SECRET: secret });
    const err = await p.headers().then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(UpstreamCredentialError);
    const message = (err as Error).message;
    expect(message).toMatch(new RegExp(`^target 'crm': could not obtain an upstream access token from ${idp.issuer} \\(client credentials for portcullis-upstream\\): invalid_client`));
    expect(idp.count('/token')).toBe(1);
    await expect(p.headers()).rejects.toThrow(/invalid_client/);
    expect(idp.count('/token')).toBe(1);
    for (const text of [message, ...logs]) expect(text).not.toContain(secret);
  });

  it('an unknown resource: the server says why', async () => {
    const p = provider({}, undefined, 'http://127.0.0.1:9/not-registered');
    await expect(p.headers()).rejects.toThrow(/invalid_target/);
  });

  it('authorization server down: error names what failed; recovers later', async () => {
    const p = provider();
    await idp.stop();
    try {
      await expect(p.headers()).rejects.toThrow(/could not obtain an upstream access token from .*: connection (refused|closed by the server)/);
    } finally {
      await idp.start();
    }
    clock = 2_000;
    await expect(p.headers()).resolves.toHaveProperty('authorization');
  });

  it('a failed background refresh keeps the current token until it expires', async () => {
    const p = provider();
    const first = bearer(await p.headers());
    await idp.stop();
    try {
      clock = 85_000;
      expect(bearer(await p.headers())).toBe(first);
      await vi.waitFor(() => expect(logs.some((l) => /could not obtain an upstream access token/.test(l))).toBe(true));
      expect(bearer(await p.headers())).toBe(first);
      clock = 101_000;
      await expect(p.headers()).rejects.toThrow(UpstreamCredentialError);
    } finally {
      await idp.start();
    }
  });
});
