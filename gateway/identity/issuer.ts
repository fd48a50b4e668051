// One trusted issuer: its discovered metadata (openid-client), its signing keys (jwks.ts) and,
// where configured, its introspection endpoint. Nothing here ever contacts a URL taken from a
// token: an issuer is selected by exact match against the configuration first.
import { errors as joseErrors, jwtVerify, type JWTPayload } from 'jose';
import * as oidc from 'openid-client';
import { allowsInsecureHttp, type IssuerConfig } from './config.ts';
import { describeFailure } from './failure.ts';
import { JwksUnavailableError, KeyNotFoundError, RemoteJwks } from './jwks.ts';

/** The token was checked and refused (401). `description` never repeats token content. */
export class TokenRejected extends Error {
  override name = 'TokenRejected';
  readonly description: string;
  constructor(description: string) {
    super(description);
    this.description = description;
  }
}

/** The issuer could not be asked (503). */
export class ProviderUnavailable extends Error {
  override name = 'ProviderUnavailable';
  readonly retryAfterSeconds: number;
  constructor(message: string, retryAfterSeconds: number) {
    super(message);
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

export interface IssuerRuntime {
  clockSkewSeconds: number;
  jwksCooldownMs: number;
  jwksMaxAgeMs: number;
  jwksStaleIfErrorMs: number;
  timeoutMs: number;
  discoveryRetryMs: number;
  now: () => number;
  fetch: typeof fetch;
  env: NodeJS.ProcessEnv;
  log: (message: string) => void;
  onKeysRemoved: (issuer: string, keyIds: ReadonlySet<string>) => void;
}

interface Discovered {
  config: oidc.Configuration;
  jwks: RemoteJwks | undefined;
}

export interface IssuerStatus {
  issuer: string;
  discovered: boolean;
  jwks: { keys: number; fetchedAt: string | undefined; fetches: number } | undefined;
  lastError: string | undefined;
}

/** What a verified JWT yields. */
export interface VerifiedJwt {
  payload: JWTPayload;
  /** Identity of the key that verified it (kid and thumbprint, see jwks.ts `keyId`). */
  keyId: string;
}

/** Resource-server client id used for discovery when no introspection client is configured. */
const RESOURCE_SERVER_CLIENT = 'portcullis-resource-server';

export class TrustedIssuer {
  readonly issuer: string;
  readonly acceptsJwt: boolean;
  readonly acceptsOpaque: boolean;
  readonly #secret: string | undefined;
  #discovered: Discovered | undefined;
  #inflight: Promise<Discovered> | undefined;
  #failedAt = -Infinity;
  #lastError: string | undefined;

  readonly config: IssuerConfig;
  readonly index: number;
  readonly runtime: IssuerRuntime;

  constructor(config: IssuerConfig, index: number, runtime: IssuerRuntime) {
    this.config = config;
    this.index = index;
    this.runtime = runtime;
    this.issuer = config.issuer;
    this.acceptsJwt = config.token_format !== 'opaque';
    this.acceptsOpaque = config.token_format !== 'jwt';
    if (config.introspection) {
      const name = config.introspection.client_secret_env;
      const secret = runtime.env[name];
      if (secret === undefined || secret === '') {
        throw new Error(`identity.issuers.${index}.introspection.client_secret_env: environment variable ${name} is not set`);
      }
      this.#secret = secret;
    }
  }

  status(): IssuerStatus {
    const jwks = this.#discovered?.jwks?.status;
    return {
      issuer: this.issuer,
      discovered: this.#discovered !== undefined,
      jwks: jwks && { keys: jwks.keys, fetchedAt: jwks.fetchedAt === undefined ? undefined : new Date(jwks.fetchedAt).toISOString(), fetches: jwks.fetches },
      lastError: jwks?.lastError ?? this.#lastError,
    };
  }

  /**
   * Whether verifications made with this issuer's keys may be reused without looking at its JWKS:
   * only while the set is fresh, so a key the issuer dropped is noticed within max-age.
   */
  keysFresh(): boolean {
    return this.#discovered?.jwks?.fresh() ?? false;
  }

  /** Whether the issuer still publishes the key that verified a cached token. */
  stillPublishes(keyId: string): boolean {
    return this.#discovered?.jwks?.has(keyId) ?? false;
  }

  #retryAfterSeconds(): number {
    return Math.max(1, Math.ceil(this.runtime.discoveryRetryMs / 1000));
  }

  /** Discovers metadata once; while a failure is recent, fails fast without asking again. */
  discovered(): Promise<Discovered> {
    if (this.#discovered) return Promise.resolve(this.#discovered);
    if (this.#inflight) return this.#inflight;
    if (this.runtime.now() - this.#failedAt < this.runtime.discoveryRetryMs) {
      return Promise.reject(new ProviderUnavailable(`identity provider ${this.issuer} is unreachable (${this.#lastError})`, this.#retryAfterSeconds()));
    }
    this.#inflight = this.#discover().finally(() => {
      this.#inflight = undefined;
    });
    return this.#inflight;
  }

  async #discover(): Promise<Discovered> {
    const { config, runtime } = this;
    const intro = config.introspection;
    const clientAuth = intro === undefined
      ? oidc.None()
      : intro.auth_method === 'client_secret_post' ? oidc.ClientSecretPost(this.#secret) : oidc.ClientSecretBasic(this.#secret);
    const options: oidc.DiscoveryRequestOptions = {
      algorithm: config.discovery === 'oauth2' ? 'oauth2' : 'oidc',
      timeout: Math.max(1, Math.ceil(runtime.timeoutMs / 1000)),
      execute: allowsInsecureHttp(config.issuer) ? [oidc.allowInsecureRequests] : [],
      // openid-client's own `timeout` is in whole seconds; this enforces the configured ms.
      [oidc.customFetch]: ((url: string, init: RequestInit) => {
        const timeout = AbortSignal.timeout(runtime.timeoutMs);
        return runtime.fetch(url, { ...init, signal: init.signal ? AbortSignal.any([init.signal, timeout]) : timeout });
      }) as unknown as oidc.CustomFetch,
    };
    let configuration: oidc.Configuration;
    try {
      configuration = await oidc.discovery(new URL(config.issuer), intro?.client_id ?? RESOURCE_SERVER_CLIENT, undefined, clientAuth, options);
    } catch (err) {
      return this.#failed(`discovery failed: ${describeFailure(err, runtime.timeoutMs, this.#secret ? [this.#secret] : [])}`);
    }
    const meta = configuration.serverMetadata();
    if (this.acceptsJwt && typeof meta.jwks_uri !== 'string') return this.#failed('its metadata has no jwks_uri');
    if (this.acceptsOpaque && typeof meta.introspection_endpoint !== 'string') return this.#failed('its metadata has no introspection_endpoint');
    if (allowsInsecureHttp(config.issuer) === false) {
      for (const [name, url] of [['jwks_uri', meta.jwks_uri], ['introspection_endpoint', meta.introspection_endpoint]] as const) {
        if (url !== undefined && !url.startsWith('https:')) return this.#failed(`its ${name} is not https`);
      }
    }
    const jwks = this.acceptsJwt
      ? new RemoteJwks({
          issuer: config.issuer,
          uri: meta.jwks_uri!,
          cooldownMs: runtime.jwksCooldownMs,
          maxAgeMs: runtime.jwksMaxAgeMs,
          staleIfErrorMs: runtime.jwksStaleIfErrorMs,
          timeoutMs: runtime.timeoutMs,
          fetch: runtime.fetch,
          now: runtime.now,
          log: runtime.log,
          onKeysRemoved: (kids) => runtime.onKeysRemoved(config.issuer, kids),
        })
      : undefined;
    this.#discovered = { config: configuration, jwks };
    this.#lastError = undefined;
    this.#failedAt = -Infinity;
    return this.#discovered;
  }

  #failed(reason: string): never {
    this.#failedAt = this.runtime.now();
    this.#lastError = reason;
    this.runtime.log(`identity: issuer ${this.issuer}: ${reason}`);
    throw new ProviderUnavailable(`identity provider ${this.issuer} is unreachable (${reason})`, this.#retryAfterSeconds());
  }

  /** Discovery plus a first JWKS fetch; used at start so the first request does not pay for it. */
  async warmUp(): Promise<void> {
    const d = await this.discovered();
    if (d.jwks && !(await d.jwks.refresh())) throw new ProviderUnavailable(d.jwks.status.lastError ?? 'JWKS fetch failed', this.#retryAfterSeconds());
  }

  /** Verifies a JWT access token's signature and claims for `audience`. */
  async verifyJwt(token: string, audience: string, requireExpiry = true): Promise<VerifiedJwt> {
    const { jwks } = await this.discovered();
    if (jwks === undefined) throw new TokenRejected('this issuer does not accept JWT access tokens');
    let keyId = '';
    try {
      const { payload } = await jwtVerify(
        token,
        async (header) => {
          const resolved = await jwks.key(header);
          keyId = resolved.id;
          return resolved.key;
        },
        {
          issuer: this.issuer,
          audience,
          algorithms: this.config.algorithms,
          clockTolerance: this.runtime.clockSkewSeconds,
          currentDate: new Date(this.runtime.now()),
          ...(this.config.require_typ_at_jwt ? { typ: 'at+jwt' } : {}),
          ...(requireExpiry ? { requiredClaims: ['exp'] } : {}),
        },
      );
      return { payload, keyId };
    } catch (err) {
      throw this.#jwtFailure(err, audience);
    }
  }

  #jwtFailure(err: unknown, audience: string): Error {
    if (err instanceof JwksUnavailableError) {
      return new ProviderUnavailable(`identity provider ${this.issuer} is unreachable (${err.message})`, Math.max(1, Math.ceil(this.runtime.jwksCooldownMs / 1000)));
    }
    if (err instanceof ProviderUnavailable) return err;
    if (err instanceof KeyNotFoundError) return new TokenRejected(err.message);
    if (err instanceof joseErrors.JWTExpired) return new TokenRejected('token expired');
    if (err instanceof joseErrors.JWTClaimValidationFailed) {
      switch (err.claim) {
        case 'iss': return new TokenRejected('token issuer does not match');
        case 'aud': return new TokenRejected(`token audience does not include ${audience}`);
        case 'nbf': return new TokenRejected('token is not valid yet (nbf)');
        case 'exp': return new TokenRejected('token has no expiry (exp)');
        // jose checks that `iat`, when present, is a number; oidc.ts checks its value.
        case 'iat': return new TokenRejected('token issued-at time (iat) is invalid');
        case 'typ': return new TokenRejected('token type (typ header) must be at+jwt');
        default: return new TokenRejected('token claims are invalid');
      }
    }
    if (err instanceof joseErrors.JOSEAlgNotAllowed) return new TokenRejected('token signing algorithm is not allowed');
    if (err instanceof joseErrors.JWSSignatureVerificationFailed) return new TokenRejected('token signature is invalid');
    if (err instanceof joseErrors.JWSInvalid || err instanceof joseErrors.JWTInvalid) return new TokenRejected('token is malformed');
    if (err instanceof joseErrors.JOSENotSupported) return new TokenRejected('token uses an unsupported algorithm or header');
    if (err instanceof joseErrors.JOSEError) return new TokenRejected('token could not be verified');
    this.runtime.log(`identity: issuer ${this.issuer}: unexpected error verifying a token: ${describeFailure(err, this.runtime.timeoutMs)}`);
    return new TokenRejected('token could not be verified');
  }

  /** RFC 7662 introspection. Network and server failures are ProviderUnavailable. */
  async introspect(token: string): Promise<oidc.IntrospectionResponse> {
    const { config } = await this.discovered();
    try {
      return await oidc.tokenIntrospection(config, token, { token_type_hint: 'access_token' });
    } catch (err) {
      const reason = describeFailure(err, this.runtime.timeoutMs, this.#secret ? [this.#secret, token] : [token]);
      this.runtime.log(`identity: issuer ${this.issuer}: introspection failed: ${reason}`);
      throw new ProviderUnavailable(`identity provider ${this.issuer} could not check the token (introspection failed: ${reason})`, 5);
    }
  }
}
