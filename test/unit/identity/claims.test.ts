// Claims -> policy subject, as tables: claim paths (URL-named, nested, escaped dots), scopes
// from `scope` and `scp`, client id, user vs service account, copied claims.
import { describe, expect, it } from 'vitest';
import { claimAt, claimMapping, parseClaimPath, scopesOf, subjectFromClaims } from '../../../gateway/identity/claims.ts';
import { issuerSchema } from '../../../gateway/identity/config.ts';

const ISS = 'https://login.example.com';

function mapping(overrides: Record<string, unknown> = {}) {
  return claimMapping(issuerSchema.parse({ issuer: ISS, ...overrides }));
}

describe('claim paths', () => {
  const claims = {
    groups: ['a', 'b'],
    'https://example.com/groups': ['url-named'],
    'https://example.com/org': { name: 'acme' },
    realm_access: { roles: ['realm-admin', 'user'] },
    resource_access: { 'my.app': { roles: ['app-role'] }, portcullis: { roles: ['gw-user'] } },
    'dotted.name': 'literal wins',
    dotted: { name: 'nested loses' },
  };
  it.each([
    ['groups', ['a', 'b']],
    ['https://example.com/groups', ['url-named']],
    ['realm_access.roles', ['realm-admin', 'user']],
    ['resource_access.portcullis.roles', ['gw-user']],
    ['resource_access.my\\.app.roles', ['app-role']],
    ['dotted.name', 'literal wins'],
    ['https://example.com/org', { name: 'acme' }],
    ['missing', undefined],
    ['realm_access.missing', undefined],
    ['groups.0', undefined], // arrays are not walked into
    ['__proto__', undefined],
    ['constructor.name', undefined],
  ])('%s', (path, expected) => {
    expect(claimAt(claims, parseClaimPath(path))).toEqual(expected);
  });
});

describe('scopes', () => {
  it.each([
    [{ scope: 'a b  c' }, ['a', 'b', 'c']],
    [{ scp: ['a', 'b'] }, ['a', 'b']],
    [{ scp: 'a b' }, ['a', 'b']],
    [{ scope: 'a b', scp: ['b', 'c'] }, ['a', 'b', 'c']],
    [{ scp: ['a', 7, null, ''] }, ['a']],
    [{ scope: 42 }, []],
    [{}, []],
  ])('%j -> %j', (claims, expected) => {
    expect(scopesOf(claims)).toEqual(expected);
  });
});

describe('subject mapping', () => {
  const base = { iss: ISS, exp: 2_000_000_000, iat: 1_900_000_000 };
  const cases: Array<{ name: string; issuer?: Record<string, unknown>; claims: Record<string, unknown>; expect: Record<string, unknown> }> = [
    {
      name: 'user with RFC 9068 claims',
      claims: { ...base, sub: 'alice', client_id: 'desktop', scope: 'mcp:tools openid', email: 'alice@example.com', groups: ['engineering'], auth_time: 1_899_999_000, acr: 'mfa' },
      expect: { type: 'user', sub: 'alice', client_id: 'desktop', email: 'alice@example.com', groups: ['engineering'], scopes: ['mcp:tools', 'openid'], claims: { auth_time: 1_899_999_000, acr: 'mfa' } },
    },
    {
      name: 'client credentials: sub equals client_id',
      claims: { ...base, sub: 'ci-bot', client_id: 'ci-bot', scope: 'mcp:tools' },
      expect: { type: 'service', sub: 'ci-bot', client_id: 'ci-bot', groups: [], scopes: ['mcp:tools'] },
    },
    {
      name: 'client credentials: no sub (introspection answer)',
      claims: { ...base, client_id: 'ci-bot', active: true },
      expect: { type: 'service', sub: 'ci-bot', client_id: 'ci-bot' },
    },
    {
      name: 'azp when there is no client_id (Keycloak, Entra v2)',
      claims: { ...base, sub: 'u-1', azp: 'spa', scp: ['files.read'] },
      expect: { type: 'user', client_id: 'spa', scopes: ['files.read'] },
    },
    {
      name: 'Keycloak: nested realm and client roles as groups',
      issuer: { groups_claim: ['realm_access.roles', 'resource_access.portcullis.roles'] },
      claims: { ...base, sub: 'u-2', azp: 'cli', realm_access: { roles: ['admin', 'user'] }, resource_access: { portcullis: { roles: ['user', 'sre'] } } },
      expect: { groups: ['admin', 'user', 'sre'] },
    },
    {
      name: 'Auth0: URL-named groups claim, gty rule for machine tokens',
      issuer: { groups_claim: 'https://example.com/groups', service_account_rules: [{ claim: 'gty', equals: 'client-credentials' }] },
      claims: { ...base, sub: 'abc@clients', azp: 'abc', gty: 'client-credentials', 'https://example.com/groups': ['bots'] },
      expect: { type: 'service', sub: 'abc@clients', client_id: 'abc', groups: ['bots'] },
    },
    {
      name: 'Keycloak service account by username prefix',
      issuer: { service_account_rules: [{ claim: 'preferred_username', prefix: 'service-account-' }] },
      claims: { ...base, sub: '5f0c-uuid', azp: 'reporter', preferred_username: 'service-account-reporter' },
      expect: { type: 'service', sub: '5f0c-uuid' },
    },
    {
      name: 'Entra app-only token: idtyp present rule',
      issuer: { service_account_rules: [{ claim: 'idtyp', present: true }] },
      claims: { ...base, sub: 'obj-id', azp: 'app-id', idtyp: 'app', roles: ['Tools.Run'] },
      expect: { type: 'service' },
    },
    {
      name: 'a single string groups claim',
      claims: { ...base, sub: 'bob', groups: 'ops' },
      expect: { groups: ['ops'] },
    },
    {
      name: 'non-string groups and email are ignored',
      claims: { ...base, sub: 'bob', groups: [1, { g: 'x' }, 'ok'], email: 42 },
      expect: { groups: ['ok'], email: '' },
    },
    {
      name: 'configured email claim and copied claims',
      issuer: { email_claim: 'upn', claims: ['acr', 'tid', 'https://example.com/tenant'] },
      claims: { ...base, sub: 'carol', upn: 'carol@corp.example', tid: 't-1', 'https://example.com/tenant': 'acme', auth_time: 1 },
      expect: { email: 'carol@corp.example', claims: { tid: 't-1', 'https://example.com/tenant': 'acme' } },
    },
    {
      name: 'duplicate groups merged once',
      issuer: { groups_claim: ['groups', 'roles'] },
      claims: { ...base, sub: 'dave', groups: ['a', 'b'], roles: ['b', 'c'] },
      expect: { groups: ['a', 'b', 'c'] },
    },
  ];
  it.each(cases)('$name', ({ issuer, claims, expect: expected }) => {
    const subject = subjectFromClaims(claims, mapping(issuer));
    expect(subject).toMatchObject({ authenticated: true, issuer: ISS, ...expected });
    // Always a complete subject, whatever the claims were.
    expect(Object.keys(subject).sort()).toEqual(['authenticated', 'claims', 'client_id', 'email', 'groups', 'issuer', 'scopes', 'sub', 'type']);
  });
});
