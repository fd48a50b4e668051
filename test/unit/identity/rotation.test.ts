// Key rotation against a real OpenID provider: new keys are picked up without a restart (an
// unknown kid refetches the JWKS, at most once per cooldown); keys the issuer drops stop working
// once the set is refetched (max-age, or a refetch for a new kid), cached verifications included.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { identityConfigSchema } from '../../../gateway/identity/config.ts';
import { AuthError } from '../../../gateway/identity/errors.ts';
import { oidcAuthenticator, type OidcAuthenticator } from '../../../gateway/identity/oidc.ts';
import { startTestIdp, type TestIdp } from '../../helpers/idp.ts';

const BASE = 'https://gateway.test';
const DEMO = `${BASE}/mcp/demo`;

let idp: TestIdp;
let clock = 0;
const logs: string[] = [];

function authenticator(overrides: Record<string, unknown> = {}, now = () => Date.now() + clock): OidcAuthenticator {
  const config = identityConfigSchema.parse({ public_base_url: BASE, issuers: [{ issuer: idp.issuer }], ...overrides });
  return oidcAuthenticator(config, { now, log: (m) => logs.push(m) });
}

const request = (token: string) => new Request(DEMO, { headers: { authorization: `Bearer ${token}` } });

async function description(a: OidcAuthenticator, token: string): Promise<string> {
  try {
    await a.authenticate(request(token), 'demo');
    return 'accepted';
  } catch (err) {
    if (!(err instanceof AuthError)) throw err;
    return `${err.status} ${/error_description="([^"]*)"/.exec(err.wwwAuthenticate ?? '')?.[1] ?? err.message}`;
  }
}

const mint = async () => (await idp.mintToken({ resource: DEMO })).access_token;

beforeAll(async () => {
  idp = await startTestIdp({ resources: { [DEMO]: 'jwt' }, tokenTtlSeconds: 3600 });
});
afterAll(async () => {
  await idp?.close();
});

describe('JWKS rotation', () => {
  it('new keys verify without a restart; dropped keys stop working after max-age', async () => {
    clock = 0;
    const a = authenticator({ jwks_cooldown_seconds: 30, jwks_max_age_seconds: 300 });
    idp.resetCounts();
    const t1 = await mint();
    expect(await description(a, t1)).toBe('accepted');
    expect(idp.count('/jwks')).toBe(1);

    // The IdP publishes a new key first and signs with it; the old key is still published.
    await idp.rotateKeys({ keepOld: true });
    const t2 = await mint();
    // Within the cooldown an unknown kid does not refetch: refused, and the IdP is not asked.
    expect(await description(a, t2)).toBe('401 unknown signing key');
    expect(idp.count('/jwks')).toBe(1);
    // After it, the unknown kid refetches once and verifies.
    clock += 31_000;
    expect(await description(a, t2)).toBe('accepted');
    expect(idp.count('/jwks')).toBe(2);
    expect(await description(a, t1)).toBe('accepted');

    // The IdP drops every old key. Until the set is refetched, cached keys still verify…
    await idp.rotateKeys({ keepOld: false });
    expect(await description(a, t1)).toBe('accepted');
    expect(await description(a, await idp.sign(idp.validClaims(DEMO), { key: idp.keys[0] }))).toBe('401 unknown signing key');
    // …once it is older than max-age it is refetched before use, and the dropped keys are gone,
    // including the cached verification of t1.
    clock += 301_000;
    expect(await description(a, t1)).toBe('401 unknown signing key');
    expect(await description(a, t2)).toBe('401 unknown signing key');
    expect(idp.count('/jwks')).toBe(3);
    expect(await description(a, await mint())).toBe('accepted');
    expect(idp.count('/jwks')).toBe(3);
    expect(logs.some((l) => /no longer publishes 2 key\(s\); \d+ cached token\(s\) dropped/.test(l))).toBe(true);
  });

  it('a refetch for a new kid forgets cached tokens of keys that disappeared', async () => {
    clock = 0;
    const a = authenticator({ jwks_cooldown_seconds: 10, jwks_max_age_seconds: 3600 });
    const old = await mint();
    expect(await description(a, old)).toBe('accepted');
    await idp.rotateKeys({ keepOld: false });
    clock += 11_000;
    expect(await description(a, await mint())).toBe('accepted');
    expect(await description(a, old)).toBe('401 unknown signing key');
  });

  it('forged unknown kids cannot make the gateway hammer the IdP', async () => {
    clock = 0;
    const a = authenticator({ jwks_cooldown_seconds: 30 });
    expect(await description(a, await mint())).toBe('accepted');
    idp.resetCounts();
    for (let i = 0; i < 20; i++) {
      const token = await idp.sign(idp.validClaims(DEMO), { kid: `forged-${i}` });
      expect(await description(a, token)).toBe('401 unknown signing key');
    }
    expect(idp.count('/jwks')).toBe(0);
    clock += 31_000;
    for (let i = 0; i < 20; i++) await description(a, await idp.sign(idp.validClaims(DEMO), { kid: `forged-again-${i}` }));
    expect(idp.count('/jwks')).toBe(1);
  });

  it('with a short real cooldown (no fake clock)', async () => {
    const a = authenticator({ jwks_cooldown_seconds: 0.2 }, Date.now);
    expect(await description(a, await mint())).toBe('accepted');
    await idp.rotateKeys({ keepOld: true });
    const fresh = await mint();
    // Right after the first fetch the new kid is inside the cooldown; 250 ms later it is not.
    await new Promise((r) => setTimeout(r, 250));
    expect(await description(a, fresh)).toBe('accepted');
  });
});

describe('the bound on a removed key', () => {
  /** fetch that rewrites every JWKS the IdP serves (the IdP itself is real). */
  function rewritingFetch(rewrite: (key: Record<string, unknown>) => Record<string, unknown>): typeof fetch {
    return async (input, init) => {
      const res = await fetch(input, init);
      if (!String(input instanceof Request ? input.url : input).endsWith('/jwks')) return res;
      const doc = (await res.json()) as { keys: Array<Record<string, unknown>> };
      return new Response(JSON.stringify({ keys: doc.keys.map(rewrite) }), { status: res.status, headers: { 'content-type': 'application/json' } });
    };
  }

  it('is max-age even when the cooldown is longer', async () => {
    clock = 0;
    const a = authenticator({ jwks_cooldown_seconds: 3600, jwks_max_age_seconds: 60 });
    const old = await mint();
    expect(await description(a, old)).toBe('accepted');
    await idp.rotateKeys({ keepOld: false });
    clock += 61_000;
    expect(await description(a, old)).toBe('401 unknown signing key');
    expect(await description(a, await mint())).toBe('accepted');
  });

  it('a kid reused for new key material retires the old key and its cached verifications', async () => {
    clock = 0;
    const config = identityConfigSchema.parse({ public_base_url: BASE, issuers: [{ issuer: idp.issuer }], jwks_max_age_seconds: 60 });
    const a = oidcAuthenticator(config, { now: () => Date.now() + clock, log: () => {}, fetch: rewritingFetch((k) => ({ ...k, kid: 'k-same' })) });
    const old = await idp.sign(idp.validClaims(DEMO), { kid: 'k-same' });
    expect(await description(a, old)).toBe('accepted');
    expect(await description(a, old)).toBe('accepted'); // cached
    await idp.rotateKeys({ keepOld: false });
    clock += 61_000;
    // Same kid, other key: the cached verification must not survive the refetch.
    expect(await description(a, old)).toBe('401 token signature is invalid');
    expect(await description(a, await idp.sign(idp.validClaims(DEMO), { kid: 'k-same' }))).toBe('accepted');
  });

  it('keys published without kid are retired too', async () => {
    clock = 0;
    const config = identityConfigSchema.parse({ public_base_url: BASE, issuers: [{ issuer: idp.issuer }], jwks_max_age_seconds: 60 });
    const a = oidcAuthenticator(config, { now: () => Date.now() + clock, log: () => {}, fetch: rewritingFetch(({ kid: _kid, ...k }) => k) });
    const old = await idp.sign(idp.validClaims(DEMO), { kid: null });
    expect(await description(a, old)).toBe('accepted');
    await idp.rotateKeys({ keepOld: false });
    clock += 61_000;
    expect(await description(a, old)).toBe('401 token signature is invalid');
  });

  it('while the issuer is unreachable, known keys verify for stale-if-error past max-age, then 503', async () => {
    clock = 0;
    const a = authenticator({ jwks_cooldown_seconds: 5, jwks_max_age_seconds: 60, jwks_stale_if_error_seconds: 120 });
    const token = await mint();
    expect(await description(a, token)).toBe('accepted');
    await idp.stop();
    try {
      clock += 61_000;
      expect(await description(a, token)).toBe('accepted'); // refetch fails, known key still verifies
      clock += 100_000; // 161 s after the last good fetch: within 60 + 120
      expect(await description(a, token)).toBe('accepted');
      clock += 30_000; // 191 s: beyond
      expect(await description(a, token)).toMatch(/^503 .*too old to trust/);
    } finally {
      await idp.start();
    }
    clock += 6_000; // past the cooldown: refetched, verifies again
    expect(await description(a, token)).toBe('accepted');
  });
});
