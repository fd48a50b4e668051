// An identity provider that cannot be reached: the gateway fails closed with 503 (Retry-After, a
// message naming the issuer and what failed), fails fast while the failure is recent, recovers by
// itself, and keeps verifying tokens signed with keys it already has.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { identityConfigSchema } from '../../../gateway/identity/config.ts';
import { AuthError } from '../../../gateway/identity/errors.ts';
import { oidcAuthenticator, type OidcAuthenticator } from '../../../gateway/identity/oidc.ts';
import { startTestIdp, type TestIdp } from '../../helpers/idp.ts';

const BASE = 'https://gateway.test';
const DEMO = `${BASE}/mcp/demo`;

let idp: TestIdp;
let clock = 0;
let attempts = 0;
const logs: string[] = [];

function authenticator(issuer: string, overrides: Record<string, unknown> = {}): OidcAuthenticator {
  const config = identityConfigSchema.parse({
    public_base_url: BASE,
    http_timeout_ms: 300,
    discovery_retry_seconds: 5,
    issuers: [{ issuer, token_format: 'both', introspection: { client_id: idp.clients.gateway.client_id, client_secret_env: 'GW_SECRET' } }],
    ...overrides,
  });
  const counting: typeof fetch = (input, init) => {
    attempts++;
    return fetch(input, init);
  };
  return oidcAuthenticator(config, { env: { GW_SECRET: idp.clients.gateway.client_secret }, now: () => Date.now() + clock, log: (m) => logs.push(m), fetch: counting });
}

const request = (token: string) => new Request(DEMO, { headers: { authorization: `Bearer ${token}` } });

async function refusal(promise: Promise<unknown>): Promise<AuthError> {
  const err = await promise.then(() => undefined, (e: unknown) => e);
  if (!(err instanceof AuthError)) throw new Error(`expected an AuthError, got ${err === undefined ? 'success' : String(err)}`);
  return err;
}

beforeAll(async () => {
  idp = await startTestIdp({ resources: { [DEMO]: 'jwt', [`${BASE}/mcp/opaque`]: 'opaque' }, tokenTtlSeconds: 3600 });
});
afterAll(async () => {
  await idp?.close();
});
afterEach(async () => {
  clock = 0;
  attempts = 0;
  await idp.start();
});

describe('issuer unreachable', () => {
  it('down before the first request: 503, fail fast, then recovers without a restart', async () => {
    const token = (await idp.mintToken({ resource: DEMO })).access_token;
    await idp.stop();
    const a = authenticator(idp.issuer);
    const err = await refusal(a.authenticate(request(token), 'demo'));
    expect(err.status).toBe(503);
    expect(err.headers['retry-after']).toBe('5');
    expect(err.wwwAuthenticate).toBeUndefined();
    expect(err.message).toBe(`Service Unavailable: identity provider ${idp.issuer} is unreachable (discovery failed: connection refused (ECONNREFUSED)); the request was not forwarded`);
    expect(err.body(3)).toMatchObject({ id: 3, error: { code: -32082 } });
    expect(attempts).toBe(1);

    // While the failure is recent, requests fail at once without asking again.
    await idp.start();
    await refusal(a.authenticate(request(token), 'demo'));
    expect(attempts).toBe(1);

    clock += 5_000;
    await expect(a.authenticate(request(token), 'demo')).resolves.toMatchObject({ subject: { sub: 'test-caller' } });
    expect(logs.some((l) => l.includes(`issuer ${idp.issuer}: discovery failed: connection refused (ECONNREFUSED)`))).toBe(true);
  });

  it('a port nobody listens on: 503 naming the issuer', async () => {
    const dead = await new Promise<number>((resolve) => {
      const s = createServer();
      s.listen(0, '127.0.0.1', () => {
        const port = (s.address() as AddressInfo).port;
        s.close(() => resolve(port));
      });
    });
    const a = authenticator(`http://127.0.0.1:${dead}`);
    const err = await refusal(a.authenticate(request('opaque-token'), 'demo'));
    expect(err.status).toBe(503);
    expect(err.message).toMatch(new RegExp(`identity provider http://127.0.0.1:${dead} is unreachable`));
  });

  it('an IdP that accepts connections and never answers: 503 after the timeout', async () => {
    const hanging: Server = createServer(() => undefined);
    await new Promise<void>((resolve) => hanging.listen(0, '127.0.0.1', resolve));
    try {
      const issuer = `http://127.0.0.1:${(hanging.address() as AddressInfo).port}`;
      const a = authenticator(issuer);
      // The message names the timeout that ended it: the hang was cut by http_timeout_ms.
      const err = await refusal(a.authenticate(request('opaque-token'), 'demo'));
      expect(err.status).toBe(503);
      expect(err.message).toMatch(/discovery failed: no answer within 300 ms/);
    } finally {
      hanging.closeAllConnections();
      await new Promise<void>((resolve) => hanging.close(() => resolve()));
    }
  });

  it('down after keys were fetched: known keys keep working, unknown kids are 503 not 401', async () => {
    const a = authenticator(idp.issuer, { jwks_cooldown_seconds: 1, jwks_max_age_seconds: 60 });
    const first = (await idp.mintToken({ resource: DEMO })).access_token;
    await a.authenticate(request(first), 'demo');
    await idp.stop();

    // A token never seen before, signed with a key we know: verified locally.
    await expect(a.authenticate(request(await idp.sign(idp.validClaims(DEMO))), 'demo')).resolves.toBeDefined();
    // Even once the set is older than max-age: the refetch fails, the known keys stay in use.
    clock += 61_000;
    await expect(a.authenticate(request(await idp.sign(idp.validClaims(DEMO, { exp: Math.floor((Date.now() + clock) / 1000) + 60 }))), 'demo')).resolves.toBeDefined();
    // A kid we cannot look up: we cannot tell whether it is real, so 503 (the client may retry).
    clock += 2_000;
    const err = await refusal(a.authenticate(request(await idp.sign(idp.validClaims(DEMO, { exp: Math.floor((Date.now() + clock) / 1000) + 60 }), { kid: 'brand-new' })), 'demo'));
    expect(err.status).toBe(503);
    expect(err.message).toMatch(new RegExp(`identity provider ${idp.issuer} is unreachable \\(JWKS fetch from ${idp.issuer}/jwks failed: connection (refused|closed by the server)`));
  });

  it('introspection endpoint down: 503, never a pass', async () => {
    const a = authenticator(idp.issuer);
    await a.warmUp();
    const { access_token } = await idp.mintToken({ resource: `${BASE}/mcp/opaque` });
    await idp.stop();
    const err = await refusal(a.authenticate(new Request(`${BASE}/mcp/opaque`, { headers: { authorization: `Bearer ${access_token}` } }), 'opaque'));
    expect(err.status).toBe(503);
    expect(err.message).toMatch(/could not check the token \(introspection failed: connection (refused|closed by the server) \((ECONNREFUSED|UND_ERR_SOCKET)\)\)/);
    expect(err.message).not.toContain(access_token);
  });

  it('warmUp reports each issuer and never throws', async () => {
    await idp.stop();
    const down = await authenticator(idp.issuer).warmUp();
    expect(down).toEqual([{ issuer: idp.issuer, discovered: false, jwks: undefined, lastError: 'discovery failed: connection refused (ECONNREFUSED)' }]);
    await idp.start();
    const up = await authenticator(idp.issuer).warmUp();
    expect(up[0]).toMatchObject({ issuer: idp.issuer, discovered: true, jwks: { keys: 1, fetches: 1 }, lastError: undefined });
  });
});
