// The identity and upstream-credential schemas: defaults, and every refusal names its key.
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { identityConfigSchema, missingIdentitySecrets, missingUpstreamSecrets, upstreamCredentialsSchema } from '../../../gateway/identity/config.ts';

function problems(doc: unknown, schema: { safeParse(d: unknown): { success: boolean; error?: { issues: Array<{ path: PropertyKey[]; message: string }> } } } = identityConfigSchema): string[] {
  const r = schema.safeParse(doc);
  return r.success ? [] : r.error!.issues.map((i) => `${i.path.map(String).join('.')}: ${i.message}`);
}

const EXAMPLE = `
public_base_url: https://mcp.example.com
scopes_supported: [mcp:tools]
clock_skew_seconds: 30
jwks_cooldown_seconds: 30
issuers:
  - issuer: https://login.example.com/realms/corp
    audience: "{resource}"
    token_format: both
    require_typ_at_jwt: true
    algorithms: [RS256, ES256]
    groups_claim: [realm_access.roles, "https://example.com/groups"]
    service_account_rules:
      - { claim: preferred_username, prefix: service-account- }
    introspection:
      client_id: portcullis
      client_secret_env: PORTCULLIS_INTROSPECTION_SECRET
  - issuer: https://corp.okta.example/oauth2/default
    require_typ_at_jwt: false
`;

describe('identity config', () => {
  it('accepts the documented example and fills defaults', () => {
    const c = identityConfigSchema.parse(parseYaml(EXAMPLE));
    expect(c.issuers).toHaveLength(2);
    expect(c.issuers[1]).toMatchObject({ token_format: 'jwt', audience: '{resource}', algorithms: ['RS256', 'PS256', 'ES256', 'EdDSA'], groups_claim: 'groups', claims: ['auth_time', 'acr', 'amr'] });
    expect(c).toMatchObject({ max_token_bytes: 8192, jwks_max_age_seconds: 600, http_timeout_ms: 5000 });
  });

  it('is optional as a whole: no issuers, no base URL', () => {
    expect(identityConfigSchema.parse(undefined)).toMatchObject({ issuers: [], max_token_bytes: 8192 });
    expect(identityConfigSchema.parse({ anonymous: { sub: 'dev', groups: ['engineering'] } }).anonymous).toEqual({ sub: 'dev', email: '', groups: ['engineering'], scopes: [] });
  });

  it('strips a trailing slash from public_base_url', () => {
    expect(identityConfigSchema.parse({ public_base_url: 'https://gw.example/' }).public_base_url).toBe('https://gw.example');
  });

  it.each([
    [{ issuers: [{ issuer: 'https://a.example' }] }, /public_base_url: required when issuers/],
    [{ public_base_url: 'https://gw.example', issuers: [{ issuer: 'http://idp.example' }] }, /issuers\.0\.issuer: must be an https URL \(http only on a loopback address\)/],
    [{ public_base_url: 'http://gw.example' }, /public_base_url: must be an https URL/],
    [{ public_base_url: 'https://gw.example', issuers: [{ issuer: 'https://a.example', algorithms: ['HS256'] }] }, /issuers\.0\.algorithms\.0: must be one of .*never none or HS\*/],
    [{ public_base_url: 'https://gw.example', issuers: [{ issuer: 'https://a.example', algorithms: ['none'] }] }, /algorithms\.0/],
    [{ public_base_url: 'https://gw.example', issuers: [{ issuer: 'https://a.example', algorithms: [] }] }, /algorithms/],
    [{ public_base_url: 'https://gw.example', issuers: [{ issuer: 'https://a.example', token_format: 'opaque' }] }, /issuers\.0\.introspection: required when token_format is 'opaque'/],
    [
      { public_base_url: 'https://gw.example', issuers: ['https://a.example', 'https://b.example'].map((issuer) => ({ issuer, token_format: 'both', introspection: { client_id: 'x', client_secret_env: 'X' } })) },
      /issuers: at most one issuer may accept opaque tokens/,
    ],
    [{ public_base_url: 'https://gw.example', issuers: [{ issuer: 'https://a.example' }, { issuer: 'https://a.example' }] }, /issuers\.1\.issuer: listed twice/],
    [{ public_base_url: 'https://gw.example', issuers: [{ issuer: 'https://a.example' }], anonymous: { sub: 'dev' } }, /anonymous: cannot be combined with issuers/],
    [{ public_base_url: 'https://gw.example', issuers: [{ issuer: 'https://a.example', introspection: { client_id: 'x', client_secret: 'inline!' } }] }, /client_secret_env|Unrecognized key/],
    [{ public_base_url: 'https://gw.example', issuers: [{ issuer: 'https://a.example', service_account_rules: [{ claim: 'gty' }] }] }, /exactly one of equals, prefix, present/],
    [{ public_base_url: 'https://gw.example', issuers: [{ issuer: 'https://a.example?x=1' }] }, /query or fragment/],
    [{ unknown: 1 }, /Unrecognized key/],
  ])('refuses %j', (doc, message) => {
    expect(problems(doc).join('\n')).toMatch(message);
  });

  it('allows http issuers on loopback only', () => {
    for (const issuer of ['http://127.0.0.1:4000', 'http://localhost:4000/realms/x', 'http://[::1]:4000']) {
      expect(problems({ public_base_url: 'http://127.0.0.1:8080', issuers: [{ issuer }] })).toEqual([]);
    }
  });
});

describe('upstream credentials config', () => {
  it('accepts none, header and oauth_client_credentials', () => {
    expect(upstreamCredentialsSchema.parse({ type: 'none' })).toEqual({ type: 'none' });
    expect(upstreamCredentialsSchema.parse({ type: 'header', value_env: 'TOKEN' })).toMatchObject({ header: 'Authorization' });
    expect(
      upstreamCredentialsSchema.parse({ type: 'oauth_client_credentials', issuer: 'https://as.example', client_id: 'gw', client_secret_env: 'GW_SECRET', scope: 'crm:read' }),
    ).toMatchObject({ auth_method: 'client_secret_basic', default_lifetime_seconds: 300, discovery: 'oidc' });
  });

  it.each([
    [{ type: 'oauth_client_credentials', issuer: 'https://as.example', client_id: 'gw', client_secret: 'literal' }, /client_secret_env|Unrecognized key/],
    [{ type: 'oauth_client_credentials', issuer: 'http://as.example', client_id: 'gw', client_secret_env: 'S' }, /issuer: must be an https URL/],
    [{ type: 'header', value_env: 'not a name' }, /value_env: must be an environment variable name/],
    [{ type: 'bogus' }, /type/],
  ])('refuses %j', (doc, message) => {
    expect(problems(doc, upstreamCredentialsSchema).join('\n')).toMatch(message);
  });
});

describe('secrets named by environment variable', () => {
  it('lists every missing one with its key', () => {
    const identity = identityConfigSchema.parse(parseYaml(EXAMPLE));
    expect(missingIdentitySecrets(identity, {})).toEqual(['identity.issuers.0.introspection.client_secret_env: environment variable PORTCULLIS_INTROSPECTION_SECRET is not set']);
    expect(missingIdentitySecrets(identity, { PORTCULLIS_INTROSPECTION_SECRET: 'x' })).toEqual([]);
    const cc = upstreamCredentialsSchema.parse({ type: 'oauth_client_credentials', issuer: 'https://as.example', client_id: 'gw', client_secret_env: 'CRM_CC' });
    expect(missingUpstreamSecrets('crm', cc, {})).toEqual(['targets.crm.credentials.client_secret_env: environment variable CRM_CC is not set']);
    expect(missingUpstreamSecrets('crm', { type: 'none' }, {})).toEqual([]);
  });
});
