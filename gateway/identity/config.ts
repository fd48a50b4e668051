// Configuration schemas for the identity section and for upstream credentials. Composed into
// gateway/config/schema.ts. Secrets are only ever named by environment variable.
import { z } from 'zod';

/** Asymmetric JWS algorithms a trusted issuer may use. `none` and HS* are not expressible. */
export const JWS_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'] as const;
export type JwsAlgorithm = (typeof JWS_ALGORITHMS)[number];

const DEFAULT_ALGORITHMS: JwsAlgorithm[] = ['RS256', 'PS256', 'ES256', 'EdDSA'];

const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name');

function isLoopbackHost(hostname: string): boolean {
  const h = hostname.replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127(\.\d{1,3}){3}$/.test(h);
}

/** https, or http on a loopback address (development and tests). */
function webUrl(what: string) {
  return z.string().superRefine((value, ctx) => {
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      ctx.addIssue({ code: 'custom', message: `must be an absolute URL (${what})` });
      return;
    }
    if (url.protocol !== 'https:' && !(url.protocol === 'http:' && isLoopbackHost(url.hostname))) {
      ctx.addIssue({ code: 'custom', message: `must be an https URL (http only on a loopback address) (${what})` });
    }
    if (url.search || url.hash || value.includes('?') || value.includes('#')) {
      ctx.addIssue({ code: 'custom', message: `must not have a query or fragment (${what})` });
    }
  });
}

/** Whether the gateway may talk plain http to this URL (loopback only). */
export function allowsInsecureHttp(url: string): boolean {
  const u = new URL(url);
  return u.protocol === 'http:' && isLoopbackHost(u.hostname);
}

/**
 * A claim path: a top-level claim name used as is when the token has it (so URL-named claims like
 * "https://example.com/groups" work), otherwise dot-separated segments for nested claims
 * ("realm_access.roles"); `\.` is a literal dot inside a segment ("resource_access.my\.app.roles").
 */
const claimPath = z.string().min(1, 'must name a claim');

const serviceAccountRule = z
  .object({
    claim: claimPath,
    equals: z.union([z.string(), z.number(), z.boolean()]).optional(),
    prefix: z.string().min(1).optional(),
    present: z.literal(true).optional(),
  })
  .strict()
  .refine((r) => [r.equals, r.prefix, r.present].filter((v) => v !== undefined).length === 1, 'give exactly one of equals, prefix, present');

const introspection = z
  .object({
    /** The gateway's own client at the authorization server, allowed to introspect. */
    client_id: z.string().min(1),
    /** Environment variable holding that client's secret. */
    client_secret_env: envName,
    auth_method: z.enum(['client_secret_basic', 'client_secret_post']).default('client_secret_basic'),
    /** Cap on how long an introspection result is reused; default: until the token expires. */
    cache_max_seconds: z.number().positive().optional(),
    /** How long an inactive answer is remembered (stops a repeated bad token re-asking). */
    negative_cache_seconds: z.number().min(0).default(30),
  })
  .strict();

export const issuerSchema = z
  .object({
    /** Issuer identifier; must equal the tokens' `iss` exactly. Metadata is discovered from it. */
    issuer: webUrl('issuer'),
    /** Discovery document: OpenID Connect (`/.well-known/openid-configuration`) or RFC 8414. */
    discovery: z.enum(['oidc', 'oauth2']).default('oidc'),
    /**
     * Audience a token must carry. `{resource}` is the target's resource URL
     * (`<public_base_url>/mcp/<target>`, RFC 8707), `{target}` the target name. Without a
     * placeholder every target accepts the same tokens.
     */
    audience: z.string().min(1).default('{resource}'),
    token_format: z.enum(['jwt', 'opaque', 'both']).default('jwt'),
    /** Require the JWT header `typ: at+jwt` (RFC 9068). Turn off for issuers minting plain JWTs. */
    require_typ_at_jwt: z.boolean().default(true),
    algorithms: z.array(z.enum(JWS_ALGORITHMS, { error: `must be one of ${JWS_ALGORITHMS.join(', ')} (never none or HS*)` })).min(1).default(() => [...DEFAULT_ALGORITHMS]),
    /** Where the groups are: one claim path or several (merged). */
    groups_claim: z.union([claimPath, z.array(claimPath).min(1)]).default('groups'),
    email_claim: claimPath.default('email'),
    /**
     * Extra rules marking a token as a service account (besides the default: no `sub`, or `sub`
     * equal to the client id). Any matching rule makes it a service.
     */
    service_account_rules: z.array(serviceAccountRule).default(() => []),
    /** Raw claims copied into `subject.claims` when present. */
    claims: z.array(z.string().min(1)).default(() => ['auth_time', 'acr', 'amr']),
    /**
     * A token with neither `sub` nor a client id (`client_id`, `azp`) names nobody. `refuse`
     * (default): 401 invalid_token. `per_token`: accepted as a service whose principal is that one
     * token (its hash), so no two such tokens ever share a session or an audit identity.
     */
    subjectless_tokens: z.enum(['refuse', 'per_token']).default('refuse'),
    introspection: introspection.optional(),
  })
  .strict()
  .superRefine((i, ctx) => {
    if (i.token_format !== 'jwt' && i.introspection === undefined) {
      ctx.addIssue({ code: 'custom', path: ['introspection'], message: `required when token_format is '${i.token_format}'` });
    }
  });

const anonymousSubject = z
  .object({
    sub: z.string().default('anonymous'),
    email: z.string().default(''),
    groups: z.array(z.string()).default([]),
    scopes: z.array(z.string()).default([]),
  })
  .strict();

export const identityConfigSchema = z
  .object({
    /**
     * The gateway's public origin as clients see it (e.g. https://mcp.example.com). A target's
     * resource URL is `<public_base_url>/mcp/<target>`. Required with issuers.
     */
    public_base_url: webUrl('public_base_url').transform((u) => u.replace(/\/+$/, '')).optional(),
    issuers: z.array(issuerSchema).default([]),
    /** Scopes advertised in the protected-resource metadata and hinted in 401 challenges. */
    scopes_supported: z.array(z.string().regex(/^[\x21\x23-\x5b\x5d-\x7e]+$/, 'must be a scope token')).default([]),
    /** Tolerance for exp, nbf and iat (a token issued up to this far in the future is accepted). */
    clock_skew_seconds: z.number().min(0).max(300).default(30),
    /**
     * Optional: tokens issued (`iat`) longer ago than this are refused, whatever their `exp`; a
     * token without `iat` is then refused too. Default: no limit beyond `exp`.
     */
    max_token_age_seconds: z.number().positive().max(365 * 86_400).optional(),
    /** Minimum time between two JWKS fetches triggered by an unknown `kid`. */
    jwks_cooldown_seconds: z.number().min(0).max(3600).default(30),
    /**
     * A JWKS older than this is refetched before the next token is verified, and verified tokens
     * are reused from the cache only while it is younger: a key the issuer removed stops being
     * accepted at most this long after the removal (plus one JWKS fetch), while the issuer can
     * be reached. When it cannot, known keys keep verifying (see README: outages).
     */
    jwks_max_age_seconds: z.number().positive().max(86_400).default(600),
    /**
     * While the JWKS cannot be refetched, known keys keep verifying this long past max-age; after
     * that every token of the issuer gets 503. So a removed key is never accepted longer than
     * jwks_max_age_seconds + jwks_stale_if_error_seconds after the last good fetch.
     */
    jwks_stale_if_error_seconds: z.number().min(0).max(7 * 86_400).default(3600),
    /** Timeout for every request to an identity provider (discovery, JWKS, introspection). */
    http_timeout_ms: z.number().int().min(50).max(60_000).default(5000),
    /** After a failed discovery, requests fail fast (503) this long before it is tried again. */
    discovery_retry_seconds: z.number().min(0).max(3600).default(10),
    /** Tokens longer than this are refused before parsing. */
    max_token_bytes: z.number().int().min(1024).max(64 * 1024).default(8192),
    /** Entries kept in the in-process verified-token and introspection caches. */
    cache_max_entries: z.number().int().min(0).default(10_000),
    /**
     * DEVELOPMENT ONLY: without issuers, every caller is this fixed, unauthenticated subject.
     * Cannot be combined with issuers.
     */
    anonymous: anonymousSubject.optional(),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.issuers.length === 0) return;
    if (c.public_base_url === undefined) {
      ctx.addIssue({ code: 'custom', path: ['public_base_url'], message: 'required when issuers are configured (token audiences and resource metadata are built from it)' });
    }
    if (c.anonymous !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['anonymous'], message: 'cannot be combined with issuers: callers either present tokens or are the development subject' });
    }
    const seen = new Set<string>();
    c.issuers.forEach((i, n) => {
      if (seen.has(i.issuer)) ctx.addIssue({ code: 'custom', path: ['issuers', n, 'issuer'], message: 'listed twice' });
      seen.add(i.issuer);
    });
    const opaque = c.issuers.filter((i) => i.token_format !== 'jwt');
    if (opaque.length > 1) {
      // An opaque token does not say who issued it: sending it to several introspection endpoints
      // would hand one issuer's tokens to another.
      ctx.addIssue({ code: 'custom', path: ['issuers'], message: 'at most one issuer may accept opaque tokens (token_format opaque or both)' });
    }
  })
  .prefault({});

export type IdentityConfig = z.infer<typeof identityConfigSchema>;
export type IssuerConfig = z.infer<typeof issuerSchema>;
export type ServiceAccountRule = z.infer<typeof serviceAccountRule>;

/** How the gateway authenticates to an upstream. The caller's own credentials never go upstream. */
export const upstreamCredentialsSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('none') }).strict(),
  z
    .object({
      type: z.literal('header'),
      /** Header to send, e.g. Authorization or X-Api-Key. */
      header: z.string().regex(/^[A-Za-z0-9-]+$/, 'must be an HTTP header name').default('Authorization'),
      /** Prefix written before the secret, e.g. "Bearer". */
      scheme: z.string().optional(),
      /** Name of the environment variable holding the secret (never the secret itself). */
      value_env: envName,
    })
    .strict(),
  z
    .object({
      /** OAuth 2.0 client credentials grant at the upstream's authorization server. */
      type: z.literal('oauth_client_credentials'),
      /** The upstream's authorization server; its token endpoint is discovered. */
      issuer: webUrl('issuer'),
      discovery: z.enum(['oidc', 'oauth2']).default('oidc'),
      client_id: z.string().min(1),
      client_secret_env: envName,
      auth_method: z.enum(['client_secret_basic', 'client_secret_post']).default('client_secret_basic'),
      /** Space-separated scopes to request. */
      scope: z.string().optional(),
      /** RFC 8707 resource indicator; default: the target's upstream URL. */
      resource: z.url().optional(),
      /** Lifetime assumed when the token response has no expires_in. */
      default_lifetime_seconds: z.number().positive().default(300),
      timeout_ms: z.number().int().min(50).max(60_000).default(5000),
    })
    .strict(),
]);

export type UpstreamCredentialsSpec = z.infer<typeof upstreamCredentialsSchema>;

/**
 * Environment variables the identity section names but the environment lacks, as config
 * problems ("key: message"), so the loader can report them with every other problem at start.
 */
export function missingIdentitySecrets(identity: IdentityConfig, env: NodeJS.ProcessEnv): string[] {
  const problems: string[] = [];
  identity.issuers.forEach((issuer, n) => {
    const name = issuer.introspection?.client_secret_env;
    if (name !== undefined && !env[name]) problems.push(`identity.issuers.${n}.introspection.client_secret_env: environment variable ${name} is not set`);
  });
  return problems;
}

/** The same for one target's upstream credentials. */
export function missingUpstreamSecrets(target: string, spec: UpstreamCredentialsSpec, env: NodeJS.ProcessEnv): string[] {
  const key = `targets.${target}.credentials`;
  if (spec.type === 'header' && !env[spec.value_env]) return [`${key}.value_env: environment variable ${spec.value_env} is not set`];
  if (spec.type === 'oauth_client_credentials' && !env[spec.client_secret_env]) return [`${key}.client_secret_env: environment variable ${spec.client_secret_env} is not set`];
  return [];
}
