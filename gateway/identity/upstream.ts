// What the gateway itself presents to an upstream MCP server. The caller's token never goes
// upstream (it was issued for the gateway); each target has its own credential:
// - none;
// - header: a static secret from an environment variable;
// - oauth_client_credentials: a token from the upstream's authorization server (client
//   credentials grant, RFC 8707 `resource` = the upstream URL), cached and refreshed ahead of
//   expiry (at 80% of its lifetime; a request in the last 20% triggers a background refresh and
//   still uses the current token, an expired one waits for a new one).
// Secrets come from the environment, are never logged and never appear in error messages.
import * as oidc from 'openid-client';
import { allowsInsecureHttp, type UpstreamCredentialsSpec } from './config.ts';
import { describeFailure } from './failure.ts';

export class UpstreamCredentialError extends Error {
  override name = 'UpstreamCredentialError';
  readonly target: string;
  constructor(target: string, message: string) {
    super(message);
    this.target = target;
  }
}

export interface UpstreamCredentialProvider {
  /** Headers to add to a request to the upstream. */
  headers(): Promise<Record<string, string>>;
  /** Forgets a cached token (e.g. after the upstream answered 401); the next call fetches anew. */
  invalidate(): void;
  readonly type: UpstreamCredentialsSpec['type'];
}

export interface UpstreamCredentialOptions {
  /** Target name, for messages. */
  target: string;
  /** The upstream MCP endpoint: default RFC 8707 resource for client credentials. */
  url: string;
  env?: NodeJS.ProcessEnv;
  log?: (message: string) => void;
  now?: () => number;
  fetch?: typeof fetch;
  /** After a failed token request, requests fail fast this long (ms). Default 1000. */
  retryAfterFailureMs?: number;
}

function secretFromEnv(env: NodeJS.ProcessEnv, name: string, key: string): string {
  const value = env[name];
  if (value === undefined || value === '') throw new Error(`${key}: environment variable ${name} is not set`);
  return value;
}

const NO_HEADERS: Promise<Record<string, string>> = Promise.resolve(Object.freeze({}) as Record<string, string>);

/** Builds the credential provider for a target; throws (naming the key) when a secret is missing. */
export function upstreamCredentialProvider(spec: UpstreamCredentialsSpec, options: UpstreamCredentialOptions): UpstreamCredentialProvider {
  const env = options.env ?? process.env;
  const key = `targets.${options.target}.credentials`;
  switch (spec.type) {
    case 'none':
      return { type: 'none', headers: () => NO_HEADERS, invalidate: () => undefined };
    case 'header': {
      const secret = secretFromEnv(env, spec.value_env, `${key}.value_env`);
      const headers = Promise.resolve(Object.freeze({ [spec.header.toLowerCase()]: spec.scheme ? `${spec.scheme} ${secret}` : secret }));
      return { type: 'header', headers: () => headers, invalidate: () => undefined };
    }
    case 'oauth_client_credentials':
      return clientCredentials(spec, options, secretFromEnv(env, spec.client_secret_env, `${key}.client_secret_env`));
  }
}

interface CachedToken {
  headers: Record<string, string>;
  refreshAt: number;
  expiresAt: number;
}

function clientCredentials(
  spec: Extract<UpstreamCredentialsSpec, { type: 'oauth_client_credentials' }>,
  options: UpstreamCredentialOptions,
  secret: string,
): UpstreamCredentialProvider {
  const now = options.now ?? Date.now;
  const log = options.log ?? ((m: string) => console.error(m));
  const retryAfterFailureMs = options.retryAfterFailureMs ?? 1000;
  const resource = spec.resource ?? options.url;
  const what = `target '${options.target}': could not obtain an upstream access token from ${spec.issuer} (client credentials for ${spec.client_id})`;
  const secrets = [secret];

  let configuration: Promise<oidc.Configuration> | undefined;
  let token: CachedToken | undefined;
  let inflight: Promise<CachedToken> | undefined;
  let failure: { at: number; message: string } | undefined;

  function discover(): Promise<oidc.Configuration> {
    configuration ??= oidc
      .discovery(
        new URL(spec.issuer),
        spec.client_id,
        undefined,
        spec.auth_method === 'client_secret_post' ? oidc.ClientSecretPost(secret) : oidc.ClientSecretBasic(secret),
        {
          algorithm: spec.discovery === 'oauth2' ? 'oauth2' : 'oidc',
          timeout: Math.max(1, Math.ceil(spec.timeout_ms / 1000)),
          execute: allowsInsecureHttp(spec.issuer) ? [oidc.allowInsecureRequests] : [],
          ...(options.fetch ? { [oidc.customFetch]: options.fetch as unknown as oidc.CustomFetch } : {}),
        },
      )
      .catch((err: unknown) => {
        configuration = undefined; // try discovery again next time
        throw err;
      });
    return configuration;
  }

  async function fetchToken(): Promise<CachedToken> {
    try {
      const config = await discover();
      const params: Record<string, string> = { resource };
      if (spec.scope) params.scope = spec.scope;
      const response = await oidc.clientCredentialsGrant(config, params);
      if (response.token_type.toLowerCase() !== 'bearer') throw new Error('the token endpoint issued a token_type other than Bearer');
      const issuedAt = now();
      const lifetimeMs = (typeof response.expires_in === 'number' && response.expires_in > 0 ? response.expires_in : spec.default_lifetime_seconds) * 1000;
      failure = undefined;
      return {
        headers: Object.freeze({ authorization: `Bearer ${response.access_token}` }),
        refreshAt: issuedAt + lifetimeMs * 0.8,
        expiresAt: issuedAt + lifetimeMs,
      };
    } catch (err) {
      const message = `${what}: ${describeFailure(err, spec.timeout_ms, secrets)}`;
      failure = { at: now(), message };
      log(`identity: ${message}`);
      throw new UpstreamCredentialError(options.target, message);
    }
  }

  function refresh(): Promise<CachedToken> {
    inflight ??= fetchToken()
      .then((t) => {
        token = t;
        return t;
      })
      .finally(() => {
        inflight = undefined;
      });
    return inflight;
  }

  return {
    type: 'oauth_client_credentials',
    async headers() {
      const t = now();
      const current = token;
      if (current !== undefined && t < current.expiresAt) {
        if (t >= current.refreshAt && inflight === undefined && (failure === undefined || t - failure.at >= retryAfterFailureMs)) {
          refresh().catch(() => undefined); // logged in fetchToken; the current token is still good
        }
        return current.headers;
      }
      if (inflight === undefined && failure !== undefined && t - failure.at < retryAfterFailureMs) {
        throw new UpstreamCredentialError(options.target, failure.message);
      }
      return (await refresh()).headers;
    },
    invalidate() {
      token = undefined;
    },
  };
}
