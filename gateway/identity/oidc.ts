// The OAuth 2.1 resource-server side of the gateway: every MCP request must carry
// `Authorization: Bearer <token>`, issued by a configured issuer for this target (RFC 8707).
//
//   bearer token from the header (query-string tokens refused, size capped before parsing)
//     ├─ JWT  → issuer chosen by exact `iss` match → verified-token cache → jose jwtVerify
//     │         (JWKS cached, typ/alg/iss/aud/exp/nbf checked) → subject
//     └─ opaque → the one issuer accepting opaque tokens → introspection cache → RFC 7662 → subject
//
// Failures are AuthErrors: 401 with a Bearer challenge naming the resource metadata, or 503 when
// an identity provider cannot be reached (fail closed). See README.md beside this file.
import { decodeJwt, decodeProtectedHeader, type JWTPayload } from 'jose';
import type { IdentityConfig } from './config.ts';
import { claimMapping, subjectFromClaims, type ClaimMapping, type Claims } from './claims.ts';
import { AuthError, insufficientScope, invalidToken, missingToken, providerUnavailable } from './errors.ts';
import { identityOf, type Authenticator, type Identity } from './identity.ts';
import { ProviderUnavailable, TokenRejected, TrustedIssuer, type IssuerStatus } from './issuer.ts';
import { protectedResourceMetadata, resourceMetadataUrl, resourceUrl, type ProtectedResourceMetadata } from './metadata.ts';
import { MemoryTokenCache, tokenHash, VerifiedTokens, type CachedIntrospection, type TokenCache } from './token-cache.ts';

export interface OidcAuthenticatorOptions {
  /** Where secrets named by `*_env` keys are read. Default: process.env. */
  env?: NodeJS.ProcessEnv;
  log?: (message: string) => void;
  /** Introspection result cache (shared, e.g. Redis, later). Default: in memory. */
  cache?: TokenCache;
  /** Clock in ms (tests). */
  now?: () => number;
  /** fetch used for discovery, JWKS and introspection (tests). */
  fetch?: typeof fetch;
}

export interface OidcAuthenticator extends Authenticator {
  authenticate(request: Request, target: string): Promise<Identity>;
  /** The RFC 8707 resource URL of a target. */
  resource(target: string): string;
  /** The RFC 9728 metadata URL of a target (what 401 challenges point at). */
  resourceMetadataUrl(target: string): string;
  /** The RFC 9728 metadata document of a target. */
  metadata(target: string): ProtectedResourceMetadata;
  /** 403 insufficient_scope for a target, for when the policy says scopes are missing. */
  insufficientScope(target: string, scopes: readonly string[], description?: string): AuthError;
  /** Discovers every issuer and fetches its keys; resolves to each issuer's status (never throws). */
  warmUp(): Promise<IssuerStatus[]>;
  status(): IssuerStatus[];
}

const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i;
const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/**
 * A token bound to a key (RFC 9449 DPoP `cnf.jkt`, RFC 8705 mTLS `cnf.x5t#S256`) is only valid
 * with proof of that key; accepting it as a plain bearer token would undo the binding.
 */
const SENDER_CONSTRAINED = new TokenRejected('token is sender-constrained (cnf); DPoP and mTLS-bound tokens are not supported');

interface Audiences {
  /** Per issuer index: the audience this target requires. */
  byIssuer: string[];
  metadataUrl: string;
}

export function oidcAuthenticator(config: IdentityConfig, options: OidcAuthenticatorOptions = {}): OidcAuthenticator {
  const baseUrl = config.public_base_url;
  if (baseUrl === undefined) throw new Error('identity.public_base_url: required when issuers are configured');
  if (config.issuers.length === 0) throw new Error('identity.issuers: at least one issuer is required for token validation');
  const log = options.log ?? ((m: string) => console.error(m));
  const now = options.now ?? Date.now;
  const skewMs = config.clock_skew_seconds * 1000;
  const verified = new VerifiedTokens(config.cache_max_entries, now, skewMs);
  const cache = options.cache ?? new MemoryTokenCache({ maxEntries: config.cache_max_entries, now });
  const issuers = config.issuers.map(
    (ic, index) =>
      new TrustedIssuer(ic, index, {
        clockSkewSeconds: config.clock_skew_seconds,
        jwksCooldownMs: config.jwks_cooldown_seconds * 1000,
        jwksMaxAgeMs: config.jwks_max_age_seconds * 1000,
        jwksStaleIfErrorMs: config.jwks_stale_if_error_seconds * 1000,
        timeoutMs: config.http_timeout_ms,
        discoveryRetryMs: config.discovery_retry_seconds * 1000,
        now,
        fetch: options.fetch ?? globalThis.fetch,
        env: options.env ?? process.env,
        log,
        onKeysRemoved: (issuer, keyIds) => {
          const n = verified.forgetKeys(issuer, keyIds);
          log(`identity: issuer ${issuer} no longer publishes ${keyIds.size} key(s); ${n} cached token(s) dropped`);
        },
      }),
  );
  const byIss = new Map(issuers.filter((i) => i.acceptsJwt).map((i) => [i.issuer, i]));
  const opaqueIssuer = issuers.find((i) => i.acceptsOpaque);
  const mappings: ClaimMapping[] = config.issuers.map(claimMapping);
  const maxTokenBytes = config.max_token_bytes;
  const scopeHint = config.scopes_supported.length > 0 ? config.scopes_supported.join(' ') : undefined;

  const audiencesMemo = new Map<string, Audiences>();
  function audiences(target: string): Audiences {
    let a = audiencesMemo.get(target);
    if (a === undefined) {
      const resource = resourceUrl(baseUrl!, target);
      a = {
        byIssuer: config.issuers.map((i) => i.audience.replaceAll('{resource}', resource).replaceAll('{target}', target)),
        metadataUrl: resourceMetadataUrl(baseUrl!, target),
      };
      if (audiencesMemo.size < 10_000) audiencesMemo.set(target, a);
    }
    return a;
  }

  const maxAgeSeconds = config.max_token_age_seconds;

  /**
   * `iat` checks, for JWTs (after jose, which only checks that it is a number), introspection
   * answers and every reuse of a cached verification (a token ages while it is cached): not in
   * the future beyond the clock skew, and not older than `max_token_age_seconds` when set.
   */
  function checkIssuedAt(iat: unknown): void {
    if (iat === undefined) {
      if (maxAgeSeconds !== undefined) throw new TokenRejected('token has no issued-at time (iat), required by the maximum token age');
      return;
    }
    if (typeof iat !== 'number' || !Number.isFinite(iat)) throw new TokenRejected('token issued-at time (iat) is invalid');
    const t = now() / 1000;
    if (iat > t + config.clock_skew_seconds) throw new TokenRejected('token issued-at time (iat) is in the future');
    if (maxAgeSeconds !== undefined && t - iat > maxAgeSeconds + config.clock_skew_seconds) throw new TokenRejected('token is older than the maximum token age (iat)');
  }

  function identityFromClaims(claims: Claims, mapping: ClaimMapping, exp: unknown, key: string): Identity {
    const subject = subjectFromClaims(claims, mapping);
    // Shared by every request that presents the same token: frozen so no caller can alter it.
    Object.freeze(subject.groups);
    Object.freeze(subject.scopes);
    Object.freeze(subject.claims);
    Object.freeze(subject);
    // Only with `subjectless_tokens: per_token` can a token name nobody: it is its own principal.
    const identity = subject.sub === '' ? identityOf(subject, JSON.stringify(['token', subject.issuer, key])) : identityOf(subject);
    if (typeof exp === 'number') identity.expiresAt = exp * 1000;
    return identity;
  }

  /** The bearer token of a request, or the AuthError explaining why there is none. */
  function bearerToken(request: Request, metadataUrl: string): string {
    const url = request.url;
    const q = url.indexOf('?');
    // searchParams decodes names, so `access%5Ftoken` is caught as well.
    if (q !== -1 && new URL(url).searchParams.has('access_token')) {
      // RFC 6750 §2.3 tokens end up in logs and histories; MCP forbids them (tokens go in the header).
      throw invalidToken(metadataUrl, 'access tokens in the query string are refused; send Authorization: Bearer <token>', 'invalid_request');
    }
    const header = request.headers.get('authorization');
    if (header === null || header.trim() === '') {
      throw missingToken(metadataUrl, `send Authorization: Bearer <token>; how to get one: ${metadataUrl}`, scopeHint);
    }
    if (header.length > maxTokenBytes + 16) throw invalidToken(metadataUrl, `token larger than ${maxTokenBytes} bytes`);
    const match = BEARER.exec(header);
    if (match === null) {
      if (!/^Bearer(\s|$)/i.test(header)) throw missingToken(metadataUrl, 'the Authorization header must use the Bearer scheme', scopeHint);
      throw invalidToken(metadataUrl, 'token is malformed');
    }
    const token = match[1]!;
    if (token.length > maxTokenBytes) throw invalidToken(metadataUrl, `token larger than ${maxTokenBytes} bytes`);
    return token;
  }

  async function verifyJwt(token: string, key: string, a: Audiences): Promise<Identity> {
    let iss: unknown;
    try {
      decodeProtectedHeader(token);
      iss = (decodeJwt(token) as JWTPayload).iss;
    } catch {
      throw new TokenRejected('token is malformed');
    }
    const issuer = typeof iss === 'string' ? byIss.get(iss) : undefined;
    if (issuer === undefined) throw new TokenRejected('token issuer is not trusted by this gateway');
    const audience = a.byIssuer[issuer.index]!;
    const { payload, keyId } = await issuer.verifyJwt(token, audience);
    if (payload.cnf !== undefined) throw SENDER_CONSTRAINED;
    checkIssuedAt(payload.iat);
    const identity = identityFromClaims(payload as Claims, mappings[issuer.index]!, payload.exp, key);
    const aud = payload.aud;
    verified.set(key, {
      issuer: issuer.issuer,
      keyId,
      ...(typeof payload.iat === 'number' ? { issuedAt: payload.iat } : {}),
      expiresAt: (payload.exp as number) * 1000,
      audiences: new Set(typeof aud === 'string' ? [aud] : (aud ?? [])),
      identity,
      issuerIndex: issuer.index,
    });
    return identity;
  }

  const introspecting = new Map<string, Promise<CachedIntrospection>>();

  async function introspected(issuer: TrustedIssuer, token: string, key: string): Promise<CachedIntrospection> {
    const cached = await cache.get(key);
    if (cached !== undefined) return cached;
    let pending = introspecting.get(key);
    if (pending === undefined) {
      pending = (async (): Promise<CachedIntrospection> => {
        const response = await issuer.introspect(token);
        const intro = issuer.config.introspection!;
        if (response.active !== true) {
          const result: CachedIntrospection = { active: false };
          if (intro.negative_cache_seconds > 0) await cache.set(key, result, intro.negative_cache_seconds);
          return result;
        }
        const claims = { ...response } as Record<string, unknown>;
        const result: CachedIntrospection = { active: true, claims };
        const exp = typeof response.exp === 'number' ? response.exp : undefined;
        let ttl = exp === undefined ? 0 : exp - now() / 1000;
        if (intro.cache_max_seconds !== undefined) ttl = Math.min(ttl, intro.cache_max_seconds);
        if (ttl > 0) await cache.set(key, result, ttl);
        return result;
      })().finally(() => introspecting.delete(key));
      introspecting.set(key, pending);
    }
    return pending;
  }

  async function verifyOpaque(token: string, key: string, a: Audiences): Promise<Identity> {
    const issuer = opaqueIssuer;
    if (issuer === undefined) throw new TokenRejected('token is not a JWT and no trusted issuer accepts opaque tokens');
    const result = await introspected(issuer, token, key);
    if (!result.active) throw new TokenRejected('token is not active');
    const claims = result.claims;
    const t = now() / 1000;
    const skew = config.clock_skew_seconds;
    if (typeof claims.exp !== 'number') throw new TokenRejected('token has no expiry (exp)');
    if (claims.exp <= t - skew) throw new TokenRejected('token expired');
    if (typeof claims.nbf === 'number' && claims.nbf > t + skew) throw new TokenRejected('token is not valid yet (nbf)');
    checkIssuedAt(claims.iat);
    if (claims.iss !== undefined && claims.iss !== issuer.issuer) throw new TokenRejected('token issuer does not match');
    if (claims.cnf !== undefined) throw SENDER_CONSTRAINED;
    const tokenType = typeof claims.token_type === 'string' ? claims.token_type.toLowerCase() : undefined;
    if (tokenType !== undefined && tokenType !== 'bearer' && tokenType !== 'access_token') {
      throw new TokenRejected('token is not a bearer access token');
    }
    const audience = a.byIssuer[issuer.index]!;
    const aud = claims.aud;
    const audList = typeof aud === 'string' ? [aud] : Array.isArray(aud) ? aud : [];
    if (!audList.includes(audience)) throw new TokenRejected(`token audience does not include ${audience}`);
    return identityFromClaims(claims, mappings[issuer.index]!, claims.exp, key);
  }

  async function authenticate(request: Request, target: string): Promise<Identity> {
    const a = audiences(target);
    const token = bearerToken(request, a.metadataUrl);
    const key = tokenHash(token);

    // The common path: this token was verified before (signature, issuer, typ, nbf at the time).
    const hit = verified.get(key);
    // Reused only while the issuer's key set is fresh and still has the key: a verification that
    // finished just after a refetch dropped its key (so after `forgetKeys`) must not outlive it.
    if (hit !== undefined && issuers[hit.issuerIndex]!.keysFresh() && issuers[hit.issuerIndex]!.stillPublishes(hit.keyId)) {
      if (hit.expiresAt + skewMs <= now()) throw invalidToken(a.metadataUrl, 'token expired');
      const audience = a.byIssuer[hit.issuerIndex]!;
      if (!hit.audiences.has(audience)) throw invalidToken(a.metadataUrl, `token audience does not include ${audience}`);
      if (maxAgeSeconds !== undefined) {
        try {
          checkIssuedAt(hit.issuedAt);
        } catch (err) {
          throw invalidToken(a.metadataUrl, (err as TokenRejected).description);
        }
      }
      return hit.identity;
    }

    try {
      if (token.includes('.')) {
        if (JWT_SHAPE.test(token)) return await verifyJwt(token, key, a);
        if (token.split('.').length === 5) throw new TokenRejected('encrypted (JWE) access tokens are not accepted');
      }
      return await verifyOpaque(token, key, a);
    } catch (err) {
      if (err instanceof TokenRejected) throw invalidToken(a.metadataUrl, err.description);
      if (err instanceof ProviderUnavailable) throw providerUnavailable(err.message, err.retryAfterSeconds);
      throw err;
    }
  }

  return {
    authenticate,
    resource: (target) => resourceUrl(baseUrl, target),
    resourceMetadataUrl: (target) => audiences(target).metadataUrl,
    metadata: (target) => protectedResourceMetadata(config, target),
    insufficientScope: (target, scopes, description) => insufficientScope(audiences(target).metadataUrl, scopes, description),
    async warmUp() {
      await Promise.all(issuers.map((i) => i.warmUp().catch(() => undefined)));
      return issuers.map((i) => i.status());
    },
    status: () => issuers.map((i) => i.status()),
  };
}
