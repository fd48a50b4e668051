// One principal per subject: the principal (session binding, decision records) is unique to the
// token's subject, users and services never share one, issuers never merge, and a token that
// names nobody is refused. Claims-level tables first, then the same through the real OpenID
// provider (signed tokens, two issuers), then `iat`.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { claimMapping, subjectClaim, subjectFromClaims } from '../../../gateway/identity/claims.ts';
import { identityConfigSchema, issuerSchema } from '../../../gateway/identity/config.ts';
import { AuthError } from '../../../gateway/identity/errors.ts';
import { anonymousAuthenticator, identityOf } from '../../../gateway/identity/identity.ts';
import { TokenRejected } from '../../../gateway/identity/issuer.ts';
import { oidcAuthenticator, type OidcAuthenticator } from '../../../gateway/identity/oidc.ts';
import { startTestIdp, type TestIdp } from '../../helpers/idp.ts';

const ISS = 'https://login.example.com';
const OTHER_ISS = 'https://login.example.org';
const base = { iss: ISS, exp: 2_000_000_000, iat: 1_900_000_000 };

function mapping(overrides: Record<string, unknown> = {}) {
  return claimMapping(issuerSchema.parse({ issuer: ISS, ...overrides }));
}
const principal = (claims: Record<string, unknown>, overrides: Record<string, unknown> = {}) => identityOf(subjectFromClaims(claims, mapping(overrides))).principal;
function rejection(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof TokenRejected) return err.description;
    throw err;
  }
  return 'accepted';
}

describe('the subject claim', () => {
  it.each([
    [{ sub: 'alice' }, 'alice'],
    [{ sub: 42 }, '42'],
    [{ sub: 0 }, '0'],
    [{ sub: -7 }, '-7'],
    [{ sub: Number.MAX_SAFE_INTEGER }, String(Number.MAX_SAFE_INTEGER)],
    [{}, undefined],
    [{ sub: null }, undefined],
  ])('%j -> %j', (claims, expected) => {
    expect(subjectClaim(claims)).toBe(expected);
  });
  it.each([
    [{ sub: '' }, /empty/],
    [{ sub: 2 ** 53 }, /not an exact integer/],
    [{ sub: 1.5 }, /not an exact integer/],
    [{ sub: true }, /must be a string/],
    [{ sub: ['alice'] }, /must be a string/],
    [{ sub: { id: 'alice' } }, /must be a string/],
  ])('%j is refused', (claims, expected) => {
    expect(rejection(() => subjectClaim(claims))).toMatch(expected);
  });
});

describe('principals never merge', () => {
  it('a numeric sub is a user subject, not a missing one (no fallback to the client)', () => {
    const subject = subjectFromClaims({ ...base, sub: 1234, client_id: 'spa' }, mapping());
    expect(subject).toMatchObject({ type: 'user', sub: '1234', client_id: 'spa' });
    // Two numeric users of one client are two principals (they used to be one: the client).
    expect(principal({ ...base, sub: 1, client_id: 'spa' })).not.toBe(principal({ ...base, sub: 2, client_id: 'spa' }));
    // The number and its decimal text are the same subject at one issuer (the policy cannot tell them apart either).
    expect(principal({ ...base, sub: 1234, client_id: 'spa' })).toBe(principal({ ...base, sub: '1234', client_id: 'spa' }));
  });

  it("a service named by its client id is never the user whose sub is that id", () => {
    const service = principal({ ...base, client_id: 'reporter' });
    const user = principal({ ...base, sub: 'reporter', client_id: 'desktop' });
    expect(subjectFromClaims({ ...base, client_id: 'reporter' }, mapping()).type).toBe('service');
    expect(subjectFromClaims({ ...base, sub: 'reporter', client_id: 'desktop' }, mapping()).type).toBe('user');
    expect(service).not.toBe(user);
    // azp names the client when client_id is absent; an empty client_id is no client id.
    expect(principal({ ...base, azp: 'reporter' })).toBe(service);
    expect(principal({ ...base, client_id: '', azp: 'reporter' })).toBe(service);
  });

  it('one client is one principal whether its issuer writes sub (RFC 9068) or not', () => {
    expect(principal({ ...base, sub: 'ci-bot', client_id: 'ci-bot' })).toBe(principal({ ...base, client_id: 'ci-bot' }));
  });

  it('a rule-matched service with its own sub is named by that sub, so two of one client stay two', () => {
    const rules = { service_account_rules: [{ claim: 'preferred_username', prefix: 'service-account-' }] };
    const a = principal({ ...base, sub: 'uuid-a', azp: 'portal', preferred_username: 'service-account-a' }, rules);
    const b = principal({ ...base, sub: 'uuid-b', azp: 'portal', preferred_username: 'service-account-b' }, rules);
    expect(a).not.toBe(b);
  });

  it('the same sub from two issuers is two principals', () => {
    const here = identityOf(subjectFromClaims({ ...base, sub: 'alice' }, mapping())).principal;
    const there = identityOf(subjectFromClaims({ ...base, iss: OTHER_ISS, sub: 'alice' }, claimMapping(issuerSchema.parse({ issuer: OTHER_ISS })))).principal;
    expect(here).not.toBe(there);
  });

  it('no character in an issuer or sub can forge another principal', () => {
    // With a plain "issuer sub" join these two collided.
    const i1 = claimMapping(issuerSchema.parse({ issuer: 'https://a.example/x' }));
    const i2 = claimMapping(issuerSchema.parse({ issuer: 'https://a.example/x y' }));
    const p1 = identityOf(subjectFromClaims({ sub: 'y z' }, i1)).principal;
    const p2 = identityOf(subjectFromClaims({ sub: 'z' }, i2)).principal;
    expect(p1).not.toBe(p2);
    for (const sub of ['"]', '","user', '\\', '\u0000', 'alice\n"service"']) {
      expect(JSON.parse(principal({ ...base, sub }))).toEqual(['user', ISS, sub]);
    }
  });

  it('the development subject lives in its own namespace', async () => {
    const dev = await anonymousAuthenticator({ anonymous: { sub: 'alice', email: '', groups: [], scopes: [] } }).authenticate(new Request('http://x/'), 't');
    expect(JSON.parse(dev.principal)).toEqual(['anonymous', '', 'alice']);
    expect(dev.principal).not.toBe(principal({ ...base, sub: 'alice' }));
  });

  it('a token naming neither a subject nor a client is refused by default', () => {
    for (const claims of [{ ...base }, { ...base, sub: null }, { ...base, client_id: '' }, { ...base, azp: 42 }, { ...base, client_id: ['x'] }]) {
      expect(rejection(() => subjectFromClaims(claims, mapping()))).toBe('token names no subject (sub) and no client (client_id, azp)');
    }
  });

  it('subjectless_tokens: per_token accepts it as a service with an empty sub', () => {
    const subject = subjectFromClaims({ ...base }, mapping({ subjectless_tokens: 'per_token' }));
    expect(subject).toMatchObject({ type: 'service', sub: '', client_id: '' });
  });
});

// ---- through the real OpenID provider ----------------------------------------------------------

const BASE_URL = 'https://gateway.test';
const DEMO = `${BASE_URL}/mcp/demo`;
const OPAQUE = `${BASE_URL}/mcp/opaque`;
let idp: TestIdp;
let idp2: TestIdp;
let clock = 0;

function authenticator(identity: Record<string, unknown> = {}, issuer: Record<string, unknown> = {}, issuers?: Array<Record<string, unknown>>): OidcAuthenticator {
  const config = identityConfigSchema.parse({ public_base_url: BASE_URL, issuers: issuers ?? [{ issuer: idp.issuer, ...issuer }], ...identity });
  return oidcAuthenticator(config, { now: () => Date.now() + clock, log: () => {} });
}
const request = (token: string) => new Request(DEMO, { method: 'POST', headers: { authorization: `Bearer ${token}` } });

async function outcome(a: OidcAuthenticator, token: string): Promise<string> {
  try {
    const identity = await a.authenticate(request(token), 'demo');
    return `accepted ${identity.principal}`;
  } catch (err) {
    if (!(err instanceof AuthError)) throw err;
    expect(err.status).toBe(401);
    expect(err.bearerError).toBe('invalid_token');
    return `401 ${/error_description="([^"]*)"/.exec(err.wwwAuthenticate ?? '')?.[1]}`;
  }
}

beforeAll(async () => {
  [idp, idp2] = await Promise.all([startTestIdp({ resources: { [DEMO]: 'jwt', [OPAQUE]: 'opaque' } }), startTestIdp({ resources: { [DEMO]: 'jwt' } })]);
});
afterAll(async () => {
  await Promise.all([idp?.close(), idp2?.close()]);
});

describe('signed tokens: principals', () => {
  it('numeric sub, service without sub, subjectless refusal', async () => {
    const a = authenticator();
    expect(await outcome(a, await idp.sign(idp.validClaims(DEMO, { sub: 99 as unknown as string })))).toBe(`accepted ${JSON.stringify(['user', idp.issuer, '99'])}`);
    expect(await outcome(a, await idp.sign(idp.validClaims(DEMO, { sub: undefined })))).toBe(`accepted ${JSON.stringify(['service', idp.issuer, 'test-caller'])}`);
    expect(await outcome(a, await idp.sign(idp.validClaims(DEMO, { sub: 'test-caller', client_id: 'desktop' })))).toBe(`accepted ${JSON.stringify(['user', idp.issuer, 'test-caller'])}`);
    expect(await outcome(a, await idp.sign(idp.validClaims(DEMO, { sub: undefined, client_id: undefined })))).toBe('401 token names no subject (sub) and no client (client_id, azp)');
    expect(await outcome(a, await idp.sign(idp.validClaims(DEMO, { sub: 2 ** 60 as unknown as string })))).toBe('401 token subject (sub) is a number that is not an exact integer');
    expect(await outcome(a, await idp.sign(idp.validClaims(DEMO, { sub: { id: 1 } as unknown as string })))).toBe('401 token subject (sub) must be a string');
    // A real client-credentials token of the IdP: the client, as a service.
    const real = (await idp.mintToken({ resource: DEMO })).access_token;
    expect(await outcome(a, real)).toBe(`accepted ${JSON.stringify(['service', idp.issuer, 'test-caller'])}`);
  });

  it('per_token: two subjectless tokens are two principals, and each is stable across reuse', async () => {
    const a = authenticator({}, { subjectless_tokens: 'per_token' });
    const t1 = await idp.sign(idp.validClaims(DEMO, { sub: undefined, client_id: undefined }));
    const t2 = await idp.sign(idp.validClaims(DEMO, { sub: undefined, client_id: undefined }));
    const p1 = await outcome(a, t1);
    expect(p1).toMatch(/^accepted \["token",/);
    expect(await outcome(a, t1)).toBe(p1);
    expect(await outcome(a, t2)).not.toBe(p1);
  });

  it('the same sub signed by two trusted issuers is two principals', async () => {
    const a = authenticator({}, {}, [{ issuer: idp.issuer }, { issuer: idp2.issuer }]);
    const p1 = await outcome(a, await idp.sign(idp.validClaims(DEMO, { sub: 'alice' })));
    const p2 = await outcome(a, await idp2.sign(idp2.validClaims(DEMO, { sub: 'alice' })));
    expect(p1).toBe(`accepted ${JSON.stringify(['user', idp.issuer, 'alice'])}`);
    expect(p2).toBe(`accepted ${JSON.stringify(['user', idp2.issuer, 'alice'])}`);
    // And one issuer's key cannot speak for the other: idp's key with idp2's iss.
    expect(await outcome(a, await idp.sign(idp2.validClaims(DEMO, { sub: 'alice' })))).toMatch(/^401 (unknown signing key|token signature is invalid)$/);
  });
});

describe('iat', () => {
  const t = () => Math.floor((Date.now() + clock) / 1000);

  it('in the future beyond the clock skew: refused; within it: accepted', async () => {
    clock = 0;
    const a = authenticator({ clock_skew_seconds: 30 });
    expect(await outcome(a, await idp.sign(idp.validClaims(DEMO, { iat: t() + 3600 })))).toBe('401 token issued-at time (iat) is in the future');
    expect(await outcome(a, await idp.sign(idp.validClaims(DEMO, { iat: t() + 60 })))).toBe('401 token issued-at time (iat) is in the future');
    expect(await outcome(a, await idp.sign(idp.validClaims(DEMO, { iat: t() + 20 })))).toMatch(/^accepted /);
  });

  it('not a number: the issued-at error path (jose) answers', async () => {
    const a = authenticator();
    for (const iat of ['yesterday', '1700000000', null, [1]]) {
      expect(await outcome(a, await idp.sign(idp.validClaims(DEMO, { iat: iat as unknown as number })))).toBe('401 token issued-at time (iat) is invalid');
    }
  });

  it('maximum token age: older tokens refused, tokens without iat refused, cached verifications age out', async () => {
    clock = 0;
    const a = authenticator({ max_token_age_seconds: 600, clock_skew_seconds: 10 });
    expect(await outcome(a, await idp.sign(idp.validClaims(DEMO, { iat: t() - 3600, exp: t() + 3600 })))).toBe('401 token is older than the maximum token age (iat)');
    expect(await outcome(a, await idp.sign(idp.validClaims(DEMO, { iat: undefined })))).toBe('401 token has no issued-at time (iat), required by the maximum token age');
    const young = await idp.sign(idp.validClaims(DEMO, { iat: t() - 60, exp: t() + 3600 }));
    expect(await outcome(a, young)).toMatch(/^accepted /);
    expect(await outcome(a, young)).toMatch(/^accepted /); // from the cache
    clock += 545_000; // 605 s old: within max age + skew
    expect(await outcome(a, young)).toMatch(/^accepted /);
    clock += 10_000; // 615 s old
    expect(await outcome(a, young)).toBe('401 token is older than the maximum token age (iat)');
    clock = 0;
    // Without the option, an old but unexpired token is fine and iat may be absent.
    const b = authenticator();
    expect(await outcome(b, await idp.sign(idp.validClaims(DEMO, { iat: t() - 86_400, exp: t() + 3600 })))).toMatch(/^accepted /);
    expect(await outcome(b, await idp.sign(idp.validClaims(DEMO, { iat: undefined })))).toMatch(/^accepted /);
  });
});

describe('introspection answers get the same subject and iat checks', () => {
  /** The real IdP's introspection answer, rewritten (what another authorization server might say). */
  function authenticatorRewriting(rewrite: (answer: Record<string, unknown>) => Record<string, unknown>, identity: Record<string, unknown> = {}): OidcAuthenticator {
    const config = identityConfigSchema.parse({
      public_base_url: BASE_URL,
      issuers: [{ issuer: idp.issuer, token_format: 'opaque', introspection: { client_id: idp.clients.gateway.client_id, client_secret_env: 'GW_SECRET' } }],
      ...identity,
    });
    const rewriting: typeof fetch = async (input, init) => {
      const res = await fetch(input, init);
      if (!String(input instanceof Request ? input.url : input).endsWith('/token/introspection')) return res;
      const answer = (await res.json()) as Record<string, unknown>;
      return new Response(JSON.stringify(rewrite(answer)), { status: res.status, headers: { 'content-type': 'application/json' } });
    };
    return oidcAuthenticator(config, { env: { GW_SECRET: idp.clients.gateway.client_secret }, now: () => Date.now() + clock, log: () => {}, fetch: rewriting });
  }
  const opaque = async () => (await idp.mintToken({ resource: OPAQUE })).access_token;
  const outcomeAt = async (a: OidcAuthenticator, token: string) => {
    try {
      return `accepted ${(await a.authenticate(new Request(OPAQUE, { method: 'POST', headers: { authorization: `Bearer ${token}` } }), 'opaque')).principal}`;
    } catch (err) {
      if (!(err instanceof AuthError)) throw err;
      return `${err.status} ${/error_description="([^"]*)"/.exec(err.wwwAuthenticate ?? '')?.[1]}`;
    }
  };

  it('the real answer: a service named by its client id', async () => {
    clock = 0;
    expect(await outcomeAt(authenticatorRewriting((x) => x), await opaque())).toBe(`accepted ${JSON.stringify(['service', idp.issuer, 'test-caller'])}`);
  });
  it('no sub and no client id: refused', async () => {
    const a = authenticatorRewriting(({ sub: _s, client_id: _c, azp: _a, ...rest }) => rest);
    expect(await outcomeAt(a, await opaque())).toBe('401 token names no subject (sub) and no client (client_id, azp)');
  });
  it('a numeric sub is a user', async () => {
    const a = authenticatorRewriting((x) => ({ ...x, sub: 31337 }));
    expect(await outcomeAt(a, await opaque())).toBe(`accepted ${JSON.stringify(['user', idp.issuer, '31337'])}`);
  });
  it('iat in the future, or not a number: refused', async () => {
    const future = authenticatorRewriting((x) => ({ ...x, iat: Math.floor(Date.now() / 1000) + 3600 }));
    expect(await outcomeAt(future, await opaque())).toBe('401 token issued-at time (iat) is in the future');
    const text = authenticatorRewriting((x) => ({ ...x, iat: 'now' }));
    expect(await outcomeAt(text, await opaque())).toBe('401 token issued-at time (iat) is invalid');
  });
  it('maximum token age applies to cached introspection results too', async () => {
    clock = 0;
    const a = authenticatorRewriting((x) => x, { max_token_age_seconds: 120, clock_skew_seconds: 0 });
    const token = await opaque();
    expect(await outcomeAt(a, token)).toMatch(/^accepted /);
    clock += 60_000;
    expect(await outcomeAt(a, token)).toMatch(/^accepted /);
    clock += 70_000;
    expect(await outcomeAt(a, token)).toBe('401 token is older than the maximum token age (iat)');
    clock = 0;
  });
});
