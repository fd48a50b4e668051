// A REAL OpenID provider (oidc-provider) in-process on a free loopback port, for tests.
//
// - Issuer `http://127.0.0.1:<port>`: oidc-provider accepts http issuers (only client metadata
//   and CIMD insist on https); cookies are irrelevant to the grants used here.
// - Features: client credentials, resource indicators (each resource is configured as 'jwt' ->
//   RFC 9068 at+jwt tokens, or 'opaque'), introspection (opaque tokens only; oidc-provider refuses
//   to introspect JWTs).
// - Clients: `gateway` (introspection), `caller` (client credentials, for test callers),
//   `upstream` (client credentials, for upstream-credential tests).
// - Counters per request path (`count('/token/introspection')`), key rotation (a new Provider
//   instance with a new JWKS is swapped in behind the same server: issued opaque tokens survive,
//   they live in the shared memory adapter), stop/start to make the issuer unreachable.
// - `attacks()` forges every bad token the attack suite needs.
import { constants, KeyObject, randomBytes, randomUUID, sign as cryptoSign, type webcrypto } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { base64url, exportJWK, exportSPKI, generateKeyPair, SignJWT, type CryptoKey, type JWK, type JWTPayload } from 'jose';
import Provider, { errors, type Configuration } from 'oidc-provider';

export type TokenFormat = 'jwt' | 'opaque';

export interface TestClient {
  client_id: string;
  client_secret: string;
}

export interface TestIdpOptions {
  /** Resource indicator -> token format. */
  resources?: Record<string, TokenFormat>;
  /** Format for a resource not listed; undefined refuses it (invalid_target). */
  defaultFormat?: TokenFormat;
  /** Access token lifetime, seconds (default 300). */
  tokenTtlSeconds?: number;
  /** Extra claims put in every token of a client (by client_id), e.g. groups. */
  claims?: Record<string, Record<string, unknown>>;
  /** Signing algorithm (default RS256). */
  alg?: 'RS256' | 'ES256' | 'PS256';
  /** Scopes each resource server knows (default 'mcp:tools mcp:read mcp:admin'). */
  scopes?: string;
  /**
   * Interactive logins (authorization code + PKCE) for a web client `page`, through
   * oidc-provider's development login and consent forms: any login name signs in as that subject,
   * with the groups listed here (none for others).
   */
  interactive?: { redirectUris: string[]; accounts: Record<string, { groups: string[]; email?: string }> };
}

export interface MintOptions {
  resource: string;
  scope?: string;
  client?: 'caller' | 'upstream' | 'gateway';
}

export interface TokenResponse {
  access_token: string;
  token_type: string;
  expires_in: number;
  scope?: string;
}

export interface SigningKey {
  kid: string;
  alg: string;
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  privateJwk: JWK;
  publicJwk: JWK;
}

export interface AttackCase {
  name: string;
  token: string;
  /** What the error_description should mention (a fragment), for assertions. */
  expect: RegExp;
}

export interface TestIdp {
  issuer: string;
  port: number;
  clients: { gateway: TestClient; caller: TestClient; upstream: TestClient; page: TestClient };
  /** Requests served per path since start (or the last resetCounts). */
  count(path: string): number;
  resetCounts(): void;
  setResource(resource: string, format: TokenFormat, ttlSeconds?: number): void;
  setClaims(clientId: string, claims: Record<string, unknown>): void;
  /** Client credentials grant with a resource indicator, through the real token endpoint. */
  mintToken(options: MintOptions): Promise<TokenResponse>;
  /** Signs arbitrary claims with the IdP's current key (a legitimately signed token). */
  sign(claims: JWTPayload, options?: { typ?: string | null; kid?: string | null; key?: SigningKey }): Promise<string>;
  /** Claims of a valid RFC 9068 token for `resource` (user alice unless overridden). */
  validClaims(resource: string, overrides?: JWTPayload): JWTPayload;
  /** A new signing key first in the JWKS; the old ones kept (default) or removed. */
  rotateKeys(options?: { keepOld?: boolean }): Promise<SigningKey>;
  readonly keys: readonly SigningKey[];
  /** Every forged or broken token for `resource` (`otherResource`: another target of the same gateway). */
  attacks(resource: string, otherResource: string): Promise<AttackCase[]>;
  /** Closes the listener (connections refused) but keeps the port for start(). */
  stop(): Promise<void>;
  start(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Storage for oidc-provider (client credentials and introspection need find/upsert/destroy). One
 * Map per IdP, shared by the Provider instances a key rotation swaps in, so opaque tokens issued
 * before a rotation still introspect.
 */
function memoryAdapter(store: Map<string, { payload: Record<string, unknown>; expiresAt: number }>) {
  return class TestAdapter {
    readonly model: string;
    constructor(model: string) {
      this.model = model;
    }
    key(id: string): string {
      return `${this.model}:${id}`;
    }
    async upsert(id: string, payload: Record<string, unknown>, expiresIn?: number): Promise<void> {
      store.set(this.key(id), { payload, expiresAt: expiresIn ? Date.now() + expiresIn * 1000 : Infinity });
    }
    async find(id: string): Promise<Record<string, unknown> | undefined> {
      const entry = store.get(this.key(id));
      if (entry === undefined || entry.expiresAt <= Date.now()) return undefined;
      return entry.payload;
    }
    /** Sessions are looked up by uid in interactive logins. */
    async findByUid(uid: string): Promise<Record<string, unknown> | undefined> {
      for (const [key, entry] of store) {
        if (key.startsWith(`${this.model}:`) && entry.payload.uid === uid && entry.expiresAt > Date.now()) return entry.payload;
      }
      return undefined;
    }
    async findByUserCode(): Promise<undefined> {
      return undefined;
    }
    async consume(id: string): Promise<void> {
      const entry = store.get(this.key(id));
      if (entry) entry.payload.consumed = Math.floor(Date.now() / 1000);
    }
    async destroy(id: string): Promise<void> {
      store.delete(this.key(id));
    }
    async revokeByGrantId(): Promise<void> {}
  };
}

function secret(): string {
  return randomBytes(24).toString('base64url');
}

async function newKey(alg: string): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const kid = `k-${randomUUID().slice(0, 8)}`;
  const privateJwk = { ...(await exportJWK(privateKey)), kid, alg, use: 'sig' };
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
  return { kid, alg, privateKey, publicKey, privateJwk, publicJwk };
}

function listen(server: Server, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

export async function startTestIdp(options: TestIdpOptions = {}): Promise<TestIdp> {
  const alg = options.alg ?? 'RS256';
  const scopes = options.scopes ?? 'mcp:tools mcp:read mcp:admin';
  const ttlDefault = options.tokenTtlSeconds ?? 300;
  const resources = new Map<string, { format: TokenFormat; ttl: number }>(
    Object.entries(options.resources ?? {}).map(([r, f]) => [r, { format: f, ttl: ttlDefault }]),
  );
  const claimsByClient = new Map(Object.entries(options.claims ?? {}));
  const clients = {
    gateway: { client_id: 'portcullis-gateway', client_secret: secret() },
    caller: { client_id: 'test-caller', client_secret: secret() },
    upstream: { client_id: 'portcullis-upstream', client_secret: secret() },
    page: { client_id: 'portcullis-approvals-page', client_secret: secret() },
  };
  const interactive = options.interactive;
  let keys: SigningKey[] = [await newKey(alg)];
  const counts = new Map<string, number>();
  const Adapter = memoryAdapter(new Map());

  let handler: ((req: IncomingMessage, res: ServerResponse) => void) | undefined;
  const sockets = new Set<import('node:net').Socket>();
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    counts.set(path, (counts.get(path) ?? 0) + 1);
    if (handler === undefined) {
      res.writeHead(503).end();
      return;
    }
    handler(req, res);
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  const port = await listen(server, 0);
  const issuer = `http://127.0.0.1:${port}`;

  function build(): Provider {
    const configuration: Configuration = {
      clients: [
        { ...clients.gateway, grant_types: [], response_types: [], redirect_uris: [], token_endpoint_auth_method: 'client_secret_basic' },
        { ...clients.caller, grant_types: ['client_credentials'], response_types: [], redirect_uris: [], scope: scopes },
        { ...clients.upstream, grant_types: ['client_credentials'], response_types: [], redirect_uris: [], scope: scopes },
        ...(interactive ? [{ ...clients.page, grant_types: ['authorization_code'], response_types: ['code' as const], redirect_uris: interactive.redirectUris, token_endpoint_auth_method: 'client_secret_basic' as const }] : []),
      ],
      ...(interactive ? {
        findAccount: async (_ctx: unknown, id: string) => ({
          accountId: id,
          claims: async () => ({ sub: id, groups: interactive.accounts[id]?.groups ?? [], email: interactive.accounts[id]?.email ?? `${id}@example.com` }),
        }),
        claims: { openid: ['sub'], profile: ['groups', 'email'] },
        conformIdTokenClaims: false,
      } : {}),
      adapter: Adapter as never,
      jwks: { keys: keys.map((k) => k.privateJwk) as never },
      ttl: {
        ClientCredentials: (_ctx, token) => (token as unknown as { resourceServer?: { accessTokenTTL?: number } }).resourceServer?.accessTokenTTL ?? ttlDefault,
        ...(interactive ? { AccessToken: ttlDefault, AuthorizationCode: 60, IdToken: 600, Interaction: 600, Session: 3600, Grant: 3600 } : {}),
      },
      scopes: scopes.split(' '),
      cookies: { keys: ['portcullis-test-idp-cookie-key'] },
      features: {
        devInteractions: { enabled: interactive !== undefined },
        clientCredentials: { enabled: true },
        introspection: { enabled: true, allowedPolicy: async () => true },
        resourceIndicators: {
          enabled: true,
          defaultResource: async () => undefined as unknown as string,
          useGrantedResource: async () => false,
          getResourceServerInfo: async (_ctx, resource) => {
            const known = resources.get(resource);
            const format = known?.format ?? options.defaultFormat;
            if (format === undefined) throw new errors.InvalidTarget();
            return {
              scope: scopes,
              audience: resource,
              accessTokenTTL: known?.ttl ?? ttlDefault,
              accessTokenFormat: format,
              ...(format === 'jwt' ? { jwt: { sign: { alg } } } : {}),
            };
          },
        },
      },
      extraTokenClaims: async (_ctx, token) => {
        const clientId = (token as unknown as { clientId?: string }).clientId;
        return clientId === undefined ? undefined : claimsByClient.get(clientId);
      },
      // Tests only make client-credentials requests; no interactive flows.
      ...(interactive ? {} : { interactions: { url: async () => '/interaction-disabled' } }),
      renderError: async (ctx, out) => {
        ctx.type = 'json';
        ctx.body = out;
      },
    };
    return new Provider(issuer, configuration);
  }

  function activate(): void {
    const provider = build();
    handler = provider.callback() as unknown as (req: IncomingMessage, res: ServerResponse) => void;
  }
  activate();

  const current = () => keys[0]!;

  function validClaims(resource: string, overrides: JWTPayload = {}): JWTPayload {
    const now = Math.floor(Date.now() / 1000);
    return {
      iss: issuer,
      aud: resource,
      sub: 'alice',
      client_id: clients.caller.client_id,
      scope: 'mcp:tools',
      iat: now,
      exp: now + 300,
      jti: randomUUID(),
      ...overrides,
    };
  }

  async function sign(claims: JWTPayload, opts: { typ?: string | null; kid?: string | null; key?: SigningKey } = {}): Promise<string> {
    const key = opts.key ?? current();
    const header: Record<string, unknown> = { alg: key.alg };
    if (opts.typ !== null) header.typ = opts.typ ?? 'at+jwt';
    if (opts.kid !== null) header.kid = opts.kid ?? key.kid;
    return new SignJWT(claims).setProtectedHeader(header as { alg: string }).sign(key.privateKey);
  }

  async function mintToken(mint: MintOptions): Promise<TokenResponse> {
    const client = clients[mint.client ?? 'caller'];
    const body = new URLSearchParams({ grant_type: 'client_credentials', resource: mint.resource });
    if (mint.scope !== undefined) body.set('scope', mint.scope);
    const res = await fetch(`${issuer}/token`, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`${encodeURIComponent(client.client_id)}:${encodeURIComponent(client.client_secret)}`).toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body,
    });
    const json = (await res.json()) as TokenResponse & { error?: string; error_description?: string };
    if (res.status !== 200) throw new Error(`token request failed: ${res.status} ${json.error}: ${json.error_description}`);
    return json;
  }

  function encode(part: unknown): string {
    return base64url.encode(JSON.stringify(part));
  }

  /** Signs with the current key without jose's header checks (for headers jose refuses to produce). */
  function signRaw(header: Record<string, unknown>, claims: JWTPayload): string {
    const input = `${encode(header)}.${encode(claims)}`;
    const key = KeyObject.from(current().privateKey as unknown as webcrypto.CryptoKey);
    const signature = alg === 'ES256'
      ? cryptoSign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' })
      : alg === 'PS256'
        ? cryptoSign('sha256', Buffer.from(input), { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 })
        : cryptoSign('sha256', Buffer.from(input), key);
    return `${input}.${signature.toString('base64url')}`;
  }

  async function attacks(resource: string, otherResource: string): Promise<AttackCase[]> {
    const attacker = await newKey(alg);
    const real = (await mintToken({ resource, scope: 'mcp:tools' })).access_token;
    const [h, p, s] = real.split('.') as [string, string, string];
    const payload = JSON.parse(Buffer.from(p, 'base64url').toString()) as JWTPayload;
    const hsSecret = new TextEncoder().encode(await exportSPKI(current().publicKey));
    const valid = () => validClaims(resource);
    const now = Math.floor(Date.now() / 1000);
    return [
      { name: 'alg none', token: `${encode({ alg: 'none', typ: 'at+jwt' })}.${encode(valid())}.`, expect: /algorithm is not allowed|malformed/ },
      { name: 'alg none with the real kid', token: `${encode({ alg: 'none', typ: 'at+jwt', kid: current().kid })}.${encode(valid())}.`, expect: /algorithm is not allowed|malformed/ },
      {
        name: 'HS256 signed with the RSA public key',
        token: await new SignJWT(valid()).setProtectedHeader({ alg: 'HS256', typ: 'at+jwt', kid: current().kid }).sign(hsSecret),
        expect: /algorithm is not allowed/,
      },
      { name: 'expired', token: await sign({ ...valid(), iat: now - 7200, exp: now - 3600 }), expect: /expired/ },
      { name: 'nbf in the future', token: await sign({ ...valid(), nbf: now + 3600 }), expect: /not valid yet/ },
      { name: 'no exp', token: await sign({ ...valid(), exp: undefined }), expect: /no expiry/ },
      { name: 'wrong issuer (signed by the real key)', token: await sign({ ...valid(), iss: 'https://evil.example' }), expect: /issuer is not trusted/ },
      { name: 'issuer with a trailing slash', token: await sign({ ...valid(), iss: `${issuer}/` }), expect: /issuer is not trusted/ },
      { name: 'wrong audience', token: await sign({ ...valid(), aud: 'https://evil.example/mcp' }), expect: /audience/ },
      { name: "another target's audience (real token)", token: (await mintToken({ resource: otherResource })).access_token, expect: /audience/ },
      { name: 'no audience', token: await sign({ ...valid(), aud: undefined }), expect: /audience/ },
      { name: 'ID-token-like audience (client id)', token: await sign({ ...valid(), aud: clients.caller.client_id }, { typ: 'JWT' }), expect: /typ|audience/ },
      { name: 'unknown kid (attacker key)', token: await sign(valid(), { key: attacker }), expect: /unknown signing key/ },
      { name: "attacker key with the IdP's kid", token: await sign(valid(), { key: attacker, kid: current().kid }), expect: /signature is invalid/ },
      {
        name: 'embedded jwk header (attacker key)',
        token: await new SignJWT(valid()).setProtectedHeader({ alg, typ: 'at+jwt', jwk: attacker.publicJwk }).sign(attacker.privateKey),
        expect: /signature is invalid|key/,
      },
      {
        name: 'jku header pointing elsewhere',
        token: await new SignJWT(valid()).setProtectedHeader({ alg, typ: 'at+jwt', kid: attacker.kid, jku: 'https://evil.example/jwks' }).sign(attacker.privateKey),
        expect: /unknown signing key/,
      },
      { name: 'tampered payload (groups added)', token: `${h}.${encode({ ...payload, groups: ['admin'] })}.${s}`, expect: /signature is invalid/ },
      { name: 'tampered header (kid changed)', token: `${encode({ alg, typ: 'at+jwt', kid: attacker.kid })}.${p}.${s}`, expect: /unknown signing key/ },
      { name: 'signature stripped', token: `${h}.${p}.`, expect: /signature is invalid|malformed/ },
      { name: 'truncated', token: real.slice(0, real.length - 12), expect: /signature is invalid|malformed/ },
      { name: 'two segments', token: `${h}.${p}`, expect: /opaque|not active|malformed/ },
      { name: 'garbage', token: 'not-a-token', expect: /opaque|not active/ },
      { name: 'garbage JWT shape', token: 'aaaa.bbbb.cccc', expect: /malformed/ },
      { name: 'wrong typ (JWT)', token: await sign(valid(), { typ: 'JWT' }), expect: /typ/ },
      { name: 'no typ', token: await sign(valid(), { typ: null }), expect: /typ/ },
      { name: 'unknown crit header', token: signRaw({ alg, typ: 'at+jwt', kid: current().kid, crit: ['x-portcullis'], 'x-portcullis': 1 }, valid()), expect: /unsupported/ },
      { name: 'oversized (> 8 KiB)', token: await sign({ ...valid(), padding: 'x'.repeat(9000) }), expect: /larger than/ },
      { name: 'JWE-shaped', token: 'a.b.c.d.e', expect: /encrypted/ },
      { name: 'DPoP-bound token used as a bearer token', token: await sign({ ...valid(), cnf: { jkt: 'a'.repeat(43) } }), expect: /sender-constrained/ },
    ];
  }

  let running = true;
  return {
    issuer,
    port,
    clients,
    count: (path) => counts.get(path) ?? 0,
    resetCounts: () => counts.clear(),
    setResource: (resource, format, ttlSeconds) => void resources.set(resource, { format, ttl: ttlSeconds ?? ttlDefault }),
    setClaims: (clientId, claims) => void claimsByClient.set(clientId, claims),
    mintToken,
    sign,
    validClaims,
    async rotateKeys({ keepOld = true } = {}) {
      const key = await newKey(alg);
      keys = keepOld ? [key, ...keys] : [key];
      activate();
      return key;
    },
    get keys() {
      return keys;
    },
    attacks,
    async stop() {
      if (!running) return;
      running = false;
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      });
    },
    async start() {
      if (running) return;
      await listen(server, port);
      running = true;
    },
    async close() {
      if (running) {
        running = false;
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          for (const s of sockets) s.destroy();
        });
      }
    },
  };
}
