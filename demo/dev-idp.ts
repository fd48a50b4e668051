// ============================================================================================
//  DEVELOPMENT ONLY. A throwaway OpenID provider for `npm start`, so the quick start can run
//  with real bearer tokens. It listens on loopback only, makes up its signing key and client
//  secrets at every start, and keeps nothing. Agents use the client credentials grant; the
//  approvers' page (when asked for) signs in through oidc-provider's development login form,
//  where any name and password are accepted.
//  Never point a real deployment at it: use your own identity provider (see README.md).
// ============================================================================================
//
// Built on oidc-provider: issuer http://127.0.0.1:<port>, RFC 9068 JWT access tokens (at+jwt) for
// the gateway resources it is given (RFC 8707 resource indicators), everything else refused.
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import type { Configuration } from 'oidc-provider';

export interface DevIdpOptions {
  /** Port on 127.0.0.1; 0 picks a free one. */
  port: number;
  /** Resource URLs of gateway targets (`<gateway>/mcp/<target>`) that may get tokens. */
  gatewayResources: string[];
  /** Loopback address to listen on (default 127.0.0.1); anything else is refused. */
  host?: string;
  /** Access token lifetime in seconds (default 3600). */
  tokenTtlSeconds?: number;
  /**
   * The approvers' web page as a confidential client (authorization code + PKCE) with this
   * redirect URI and secret; people sign in on the development login form.
   */
  approvalsPage?: { clientId: string; clientSecret: string; redirectUri: string };
}

/** People who sign in on the development login form, and their groups; any other name has none. */
export const DEV_PEOPLE: Readonly<Record<string, { groups: string[] }>> = {
  'dev-approver': { groups: ['sre', 'dba'] },
};

export interface DevClient {
  client_id: string;
  client_secret: string;
  /** What its tokens say about it (the demo policy looks at groups). */
  groups: string[];
  email: string;
}

export interface DevIdp {
  issuer: string;
  clients: { agent: DevClient; guest: DevClient };
  /** A fresh access token for a client and one of the gateway resources. */
  token(client: keyof DevIdp['clients'], resource: string): Promise<string>;
  /**
   * An access token for a person of DEV_PEOPLE, for the approvals CLI: the provider signs it as it
   * signs the tokens of its page logins (a command line cannot show the login form).
   */
  personToken(sub: string, resource: string): Promise<string>;
  /** Text for a person: how to get a token with curl, and what to give an MCP client. */
  howToGetToken: string;
  close(): Promise<void>;
}

const SCOPES = 'mcp:tools';

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127(\.\d{1,3}){3}$/.test(host);
}

/** Storage for oidc-provider: in memory, gone at exit (JWT access tokens need almost none). */
function memoryAdapter() {
  const store = new Map<string, { payload: Record<string, unknown>; expiresAt: number }>();
  return class DevAdapter {
    readonly model: string;
    constructor(model: string) {
      this.model = model;
    }
    async upsert(id: string, payload: Record<string, unknown>, expiresIn?: number) {
      store.set(`${this.model}:${id}`, { payload, expiresAt: expiresIn ? Date.now() + expiresIn * 1000 : Infinity });
    }
    async find(id: string) {
      const e = store.get(`${this.model}:${id}`);
      return e && e.expiresAt > Date.now() ? e.payload : undefined;
    }
    async findByUid(uid: string) {
      for (const e of store.values()) if (e.payload.uid === uid && e.expiresAt > Date.now()) return e.payload;
      return undefined;
    }
    async findByUserCode() {
      return undefined;
    }
    async consume(id: string) {
      const e = store.get(`${this.model}:${id}`);
      if (e) e.payload.consumed = Math.floor(Date.now() / 1000);
    }
    async destroy(id: string) {
      store.delete(`${this.model}:${id}`);
    }
    async revokeByGrantId() {}
  };
}

function describe(issuer: string, clients: DevIdp['clients'], resources: string[], ttl: number): string {
  const [first] = resources;
  const { agent, guest } = clients;
  const metadata = first ? (() => {
    const u = new URL(first);
    return `${u.origin}/.well-known/oauth-protected-resource${u.pathname}`;
  })() : '';
  return [
    `DEVELOPMENT ONLY identity provider: ${issuer} (loopback only; its key and secrets change at every start).`,
    '',
    `Clients (OAuth client credentials grant, tokens valid ${ttl} s, scope ${SCOPES}):`,
    `  ${agent.client_id}   secret ${agent.client_secret}   groups: ${agent.groups.join(', ') || '(none)'}`,
    `  ${guest.client_id}   secret ${guest.client_secret}   groups: ${guest.groups.join(', ') || '(none)'}`,
    '',
    'Get a token with curl (the resource is the gateway target you will call):',
    `  TOKEN=$(curl -s -u ${agent.client_id}:${agent.client_secret} -d grant_type=client_credentials -d scope=${SCOPES} \\`,
    `    --data-urlencode resource=${first ?? '<gateway>/mcp/<target>'} ${issuer}/token | sed -E 's/.*"access_token":"([^"]+)".*/\\1/')`,
    '  and send it:  -H "Authorization: Bearer $TOKEN"',
    ...(resources.length > 1 ? [`  (other resources: ${resources.slice(1).join(', ')})`] : []),
    '',
    'MCP clients: give the client the header "Authorization: Bearer <token>" (most have a field for',
    'a bearer token or custom headers). A client that speaks OAuth client credentials can instead use',
    `client id ${agent.client_id} with the secret above; it finds this provider through the gateway's`,
    `resource metadata${metadata ? ` (${metadata})` : ''}.`,
  ].join('\n');
}

/** DEVELOPMENT ONLY: starts the throwaway provider. */
export async function startDevIdp(options: DevIdpOptions): Promise<DevIdp> {
  const host = options.host ?? '127.0.0.1';
  if (!isLoopback(host)) throw new Error(`dev-idp: refusing to listen on ${host}: DEVELOPMENT ONLY, loopback addresses only`);
  const ttl = options.tokenTtlSeconds ?? 3600;
  const resources = new Set(options.gatewayResources);
  const secret = () => randomBytes(18).toString('base64url');
  const clients: DevIdp['clients'] = {
    agent: { client_id: 'dev-agent', client_secret: secret(), groups: ['engineering'], email: 'dev-agent@portcullis.invalid' },
    guest: { client_id: 'dev-guest', client_secret: secret(), groups: [], email: 'dev-guest@portcullis.invalid' },
  };
  const byId = new Map(Object.values(clients).map((c) => [c.client_id, c]));

  const { default: Provider, errors } = await import('oidc-provider');
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const jwk = { ...(await exportJWK(privateKey)), kid: `dev-${randomBytes(4).toString('hex')}`, alg: 'RS256', use: 'sig' };

  let handler: ((req: IncomingMessage, res: ServerResponse) => void) | undefined;
  const server = createServer((req, res) => (handler ? handler(req, res) : res.writeHead(503).end()));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  const issuer = `http://${host.includes(':') ? `[${host}]` : host}:${address.port}`;

  const page = options.approvalsPage;
  const configuration: Configuration = {
    clients: [
      ...Object.values(clients).map((c) => ({
        client_id: c.client_id,
        client_secret: c.client_secret,
        grant_types: ['client_credentials'],
        response_types: [],
        redirect_uris: [],
        scope: SCOPES,
      })),
      ...(page ? [{
        client_id: page.clientId, client_secret: page.clientSecret, grant_types: ['authorization_code'],
        response_types: ['code' as const], redirect_uris: [page.redirectUri], token_endpoint_auth_method: 'client_secret_basic' as const,
      }] : []),
    ],
    ...(page ? {
      // Whoever signs in on the development form is that person, with DEV_PEOPLE's groups.
      findAccount: async (_ctx: unknown, id: string) => ({
        accountId: id,
        claims: async () => ({ sub: id, groups: DEV_PEOPLE[id]?.groups ?? [], email: `${id}@portcullis.invalid` }),
      }),
      claims: { openid: ['sub'], profile: ['groups', 'email'] },
      conformIdTokenClaims: false,
    } : {}),
    adapter: memoryAdapter() as never,
    jwks: { keys: [jwk as never] },
    scopes: SCOPES.split(' '),
    cookies: { keys: [secret()] },
    ttl: { ClientCredentials: ttl, ...(page ? { AccessToken: ttl, AuthorizationCode: 60, IdToken: 600, Interaction: 600, Session: 3600, Grant: 3600 } : {}) },
    features: {
      devInteractions: { enabled: page !== undefined },
      clientCredentials: { enabled: true },
      introspection: { enabled: false },
      resourceIndicators: {
        enabled: true,
        defaultResource: async () => undefined as unknown as string,
        useGrantedResource: async () => false,
        getResourceServerInfo: async (_ctx, resource) => {
          if (!resources.has(resource)) throw new errors.InvalidTarget(`unknown resource; this development provider only issues tokens for ${[...resources].join(', ')}`);
          return { scope: SCOPES, audience: resource, accessTokenTTL: ttl, accessTokenFormat: 'jwt', jwt: { sign: { alg: 'RS256' } } };
        },
      },
    },
    extraTokenClaims: async (_ctx, token) => {
      const c = byId.get((token as unknown as { clientId?: string }).clientId ?? '');
      return c ? { groups: c.groups, email: c.email } : undefined;
    },
    ...(page ? {} : { interactions: { url: async () => '/no-interactive-login' } }),
    renderError: async (ctx, out) => {
      ctx.type = 'json';
      ctx.body = out;
    },
  };
  const provider = new Provider(issuer, configuration);
  handler = provider.callback() as unknown as (req: IncomingMessage, res: ServerResponse) => void;

  return {
    issuer,
    clients,
    howToGetToken: describe(issuer, clients, [...resources], ttl),
    async personToken(sub, resource) {
      if (!resources.has(resource)) throw new Error(`dev-idp: unknown resource ${resource}`);
      const now = Math.floor(Date.now() / 1000);
      return new SignJWT({ scope: SCOPES, client_id: page?.clientId ?? 'dev-cli', groups: DEV_PEOPLE[sub]?.groups ?? [], email: `${sub}@portcullis.invalid` })
        .setProtectedHeader({ alg: 'RS256', typ: 'at+jwt', kid: jwk.kid })
        .setIssuer(issuer).setSubject(sub).setAudience(resource).setIssuedAt(now).setExpirationTime(now + ttl)
        .setJti(randomBytes(12).toString('base64url'))
        .sign(privateKey);
    },
    async token(name, resource) {
      const c = clients[name];
      const res = await fetch(`${issuer}/token`, {
        method: 'POST',
        headers: { authorization: `Basic ${Buffer.from(`${c.client_id}:${c.client_secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'client_credentials', scope: SCOPES, resource }),
      });
      const body = (await res.json()) as { access_token?: string; error?: string; error_description?: string };
      if (!res.ok || typeof body.access_token !== 'string') throw new Error(`dev-idp: token request failed: ${body.error ?? res.status} ${body.error_description ?? ''}`.trim());
      return body.access_token;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
