// Bearer-token authentication per request, against a real OpenID provider (oidc-provider,
// in-process, RS256 keys), after warm-up (metadata discovered, JWKS fetched):
//
// (a) cached path: the same JWT again (what an MCP client does for the token's lifetime):
//     header parse, sha256 of the token, verified-token cache hit, exp and audience re-checked.
// (b) full verification, JWKS cached: a token never seen before; jose jwtVerify with the cached
//     key (RS256 through WebCrypto) plus claims mapping. Measured by disabling the cache.
// (c) opaque token, introspection cached: the TokenCache hit (memory) plus mapping.
//
// One process.hrtime.bigint() pair per call (per-iteration samples); the paths run in
// alternating blocks so noise lands on all of them.
import { identityConfigSchema } from '../gateway/identity/config.ts';
import { oidcAuthenticator, type OidcAuthenticator } from '../gateway/identity/oidc.ts';
import { startTestIdp } from '../test/helpers/idp.ts';
import { row, Samples, summarize, type Row, type Summary } from './stats.ts';

export interface IdentityBenchOptions {
  /** Measured calls per path. */
  iterations: number;
  /** Unmeasured calls per path before measuring. */
  warmup: number;
  log: (line: string) => void;
}

const BASE = 'https://gateway.bench';
const BLOCK = 250;

async function time(auth: OidcAuthenticator, request: Request, target: string, samples: Samples | undefined, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint();
    await auth.authenticate(request, target);
    const t1 = process.hrtime.bigint();
    samples?.push(Number(t1 - t0) / 1000);
  }
}

export async function runIdentityBench(options: IdentityBenchOptions): Promise<{ rows: Row[]; data: Record<string, unknown> }> {
  const demo = `${BASE}/mcp/demo`;
  const opaque = `${BASE}/mcp/opaque`;
  const idp = await startTestIdp({
    resources: { [demo]: 'jwt', [opaque]: 'opaque' },
    tokenTtlSeconds: 3600,
    claims: { 'test-caller': { groups: ['engineering', 'oncall'], email: 'bot@example.com' } },
  });
  try {
    const env = { BENCH_INTROSPECTION_SECRET: idp.clients.gateway.client_secret };
    const issuers = [{ issuer: idp.issuer, token_format: 'both', introspection: { client_id: idp.clients.gateway.client_id, client_secret_env: 'BENCH_INTROSPECTION_SECRET' } }];
    const quiet = { env, log: () => undefined };
    const cached = oidcAuthenticator(identityConfigSchema.parse({ public_base_url: BASE, issuers }), quiet);
    const uncached = oidcAuthenticator(identityConfigSchema.parse({ public_base_url: BASE, issuers, cache_max_entries: 0 }), quiet);
    const introspected = oidcAuthenticator(identityConfigSchema.parse({ public_base_url: BASE, issuers }), quiet);
    for (const a of [cached, uncached, introspected]) {
      const status = await a.warmUp();
      if (status.some((s) => !s.discovered)) throw new Error(`identity bench: IdP warm-up failed: ${JSON.stringify(status)}`);
    }

    const jwt = (await idp.mintToken({ resource: demo, scope: 'mcp:tools mcp:read' })).access_token;
    const opaqueToken = (await idp.mintToken({ resource: opaque, scope: 'mcp:tools' })).access_token;
    const jwtRequest = new Request(demo, { method: 'POST', headers: { authorization: `Bearer ${jwt}` } });
    const opaqueRequest = new Request(opaque, { method: 'POST', headers: { authorization: `Bearer ${opaqueToken}` } });

    options.log(`identity: warm-up ${options.warmup} calls per path…`);
    const fullShare = 4; // the full path is ~10x slower: measure a quarter as many calls
    await time(cached, jwtRequest, 'demo', undefined, options.warmup);
    await time(uncached, jwtRequest, 'demo', undefined, Math.ceil(options.warmup / fullShare));
    await time(introspected, opaqueRequest, 'opaque', undefined, options.warmup);
    idp.resetCounts(); // the first opaque call above introspected; from here on nothing may ask the IdP

    const samples = { cached: new Samples(options.iterations), full: new Samples(options.iterations), opaque: new Samples(options.iterations) };
    options.log(`identity: measuring ${options.iterations} calls (cached, opaque), ${Math.ceil(options.iterations / fullShare)} (full)…`);
    for (let done = 0; done < options.iterations; done += BLOCK) {
      const n = Math.min(BLOCK, options.iterations - done);
      await time(cached, jwtRequest, 'demo', samples.cached, n);
      await time(uncached, jwtRequest, 'demo', samples.full, Math.ceil(n / fullShare));
      await time(introspected, opaqueRequest, 'opaque', samples.opaque, n);
    }
    const idpRequests = idp.count('/jwks') + idp.count('/token/introspection') + idp.count('/.well-known/openid-configuration');
    if (idpRequests !== 0) throw new Error(`identity bench: the measured paths asked the IdP ${idpRequests} time(s); they must not`);

    const stats: Record<string, Summary> = {
      jwt_cached: summarize(samples.cached.values()),
      jwt_full: summarize(samples.full.values()),
      opaque_cached: summarize(samples.opaque.values()),
    };
    const S = 'identity';
    const rows = [
      row(S, 'jwt_cached_p50_us', 'token verification, cached path (JWKS cached, token seen before) p50', stats.jwt_cached!.p50, 'µs', { kind: 'max', value: 50 }),
      row(S, 'jwt_cached_p99_us', 'token verification, cached path p99', stats.jwt_cached!.p99, 'µs'),
      row(S, 'jwt_full_p50_us', 'full JWT verification, JWKS cached (jose, RS256) p50', stats.jwt_full!.p50, 'µs'),
      row(S, 'jwt_full_p99_us', 'full JWT verification, JWKS cached p99', stats.jwt_full!.p99, 'µs'),
      row(S, 'opaque_cached_p50_us', 'opaque token, introspection cached p50', stats.opaque_cached!.p50, 'µs'),
      row(S, 'opaque_cached_p99_us', 'opaque token, introspection cached p99', stats.opaque_cached!.p99, 'µs'),
    ];
    return { rows, data: { ...stats, token_bytes: jwt.length, alg: 'RS256', idp_requests_while_measuring: idpRequests } };
  } finally {
    await idp.close();
  }
}
