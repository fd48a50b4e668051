// The identity e2e stack: a real OpenID provider (test/helpers/idp.ts), a real MCP upstream and a
// gateway that is the OAuth resource server for it, on a port reserved up front so that
// `identity.public_base_url` is the gateway's own base URL (SDK clients check the metadata's
// `resource` against the URL they connect to).
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { startModernUpstream, type UpstreamFixture } from '../fixtures/upstreams/index.ts';
import { startTestGateway, type TestGateway } from './gateway.ts';
import { startTestIdp, type TestIdp, type TestIdpOptions } from './idp.ts';

export const IDENTITY_POLICY = 'test/fixtures/rego/identity';

/** A free loopback port (reserved then released: the gateway binds it right after). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export const JSON_HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' } as const;

export const META = {
  'io.modelcontextprotocol/protocolVersion': '2026-07-28',
  'io.modelcontextprotocol/clientInfo': { name: 'identity-e2e', version: '1' },
  'io.modelcontextprotocol/clientCapabilities': {},
};

export interface McpRequest {
  headers: Record<string, string>;
  body: unknown;
}

/** A 2026-07-28 (stateless) tools/call: no session, so any call stands on its own. */
export function statelessCall(name: string, args: Record<string, unknown> = {}, id: number | string = 1): McpRequest {
  return {
    headers: { ...JSON_HEADERS, 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/call', 'mcp-name': name },
    body: { jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: args, _meta: META } },
  };
}

/** A legacy-era (2025-11-25) message, optionally on a session. */
export function legacyMessage(method: string, params: Record<string, unknown> | undefined, id: number | string | undefined, sessionId?: string): McpRequest {
  const body: Record<string, unknown> = { jsonrpc: '2.0', method };
  if (id !== undefined) body.id = id;
  if (params !== undefined) body.params = params;
  return {
    headers: {
      ...JSON_HEADERS,
      ...(method === 'initialize' ? {} : { 'mcp-protocol-version': '2025-11-25' }),
      ...(sessionId === undefined ? {} : { 'mcp-session-id': sessionId }),
    },
    body,
  };
}

export const INITIALIZE_PARAMS = { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'identity-e2e', version: '1' } };

export interface HttpResult {
  status: number;
  headers: Headers;
  text: string;
  /** The JSON body, or the last JSON-RPC message of an SSE body. */
  json: any;
}

/** Parses a JSON body or the last `data:` event of an SSE body. */
export function parseBody(text: string, contentType: string | null): unknown {
  if (contentType?.includes('text/event-stream')) {
    const data = text.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trim()).filter((l) => l !== '');
    const last = data.at(-1);
    return last === undefined ? undefined : JSON.parse(last);
  }
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

export interface IdentityStackOptions {
  /** Merged into `identity` (after public_base_url and issuers). */
  identity?: Record<string, unknown>;
  /** Merged into the one issuer entry. */
  issuer?: Record<string, unknown>;
  /** Further trusted issuers (e.g. a second test IdP), after the stack's own. */
  moreIssuers?: Array<Record<string, unknown>>;
  idp?: TestIdpOptions;
  /** Extra targets (name -> target config), besides fixture / other / opaque. */
  targets?: (ctx: { idp: TestIdp; upstream: UpstreamFixture }) => Record<string, Record<string, unknown>>;
  /** Extra environment for the gateway. */
  env?: Record<string, string>;
  /** Runs after the IdP and upstream are up, before the gateway starts (e.g. mint, then stop the IdP). */
  beforeGateway?: (ctx: { idp: TestIdp; upstream: UpstreamFixture; resource: (target: string) => string }) => Promise<void>;
}

export interface IdentityStack {
  idp: TestIdp;
  upstream: UpstreamFixture;
  gw: TestGateway;
  /** The gateway's base URL (= identity.public_base_url). */
  base: string;
  /** RFC 8707 resource of a target: `<base>/mcp/<target>`. */
  resource(target: string): string;
  /** RFC 9728 metadata URL of a target. */
  metadataUrl(target: string): string;
  /** Environment variables the stack set for the gateway (names -> secrets). */
  env: Record<string, string>;
  /** Every answer `send` got, for leak checks. */
  answers: HttpResult[];
  /** Every bearer token `send` presented, for leak checks. */
  presented: Set<string>;
  /** Sends one request to a target (or any gateway path when `target` starts with '/'). */
  send(target: string, request: McpRequest | { method: 'GET' | 'DELETE'; headers: Record<string, string> }, token?: string, extraHeaders?: Record<string, string>): Promise<HttpResult>;
  /** A caller JWT (client credentials, resource indicator) for a target. */
  callerToken(target?: string, scope?: string): Promise<string>;
  close(): Promise<void>;
}

/** Env var naming the gateway's introspection secret. */
export const INTROSPECTION_SECRET_ENV = 'IDENTITY_E2E_INTROSPECTION_SECRET';
/** Env var naming the upstream client's secret (target `fixture`). */
export const UPSTREAM_SECRET_ENV = 'IDENTITY_E2E_UPSTREAM_SECRET';

/**
 * IdP + upstream + gateway. Targets: `fixture` (upstream credential: OAuth client credentials at
 * the same IdP, resource = the upstream URL), `other` (no upstream credential), `opaque` (its
 * resource is issued opaque tokens, checked by introspection); all in front of one upstream.
 */
export async function startIdentityStack(options: IdentityStackOptions = {}): Promise<IdentityStack> {
  const idp = await startTestIdp({ tokenTtlSeconds: 600, ...options.idp });
  const upstream = await startModernUpstream();
  // Reserved after the IdP and upstream have their ports (bound to 0), so neither can be handed
  // the one the gateway is about to bind.
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const resource = (target: string) => `${base}/mcp/${target}`;
  const metadataUrl = (target: string) => `${base}/.well-known/oauth-protected-resource/mcp/${target}`;
  idp.setResource(resource('fixture'), 'jwt');
  idp.setResource(resource('other'), 'jwt');
  idp.setResource(resource('opaque'), 'opaque');
  idp.setResource(upstream.url, 'jwt');

  const env: Record<string, string> = {
    [INTROSPECTION_SECRET_ENV]: idp.clients.gateway.client_secret,
    [UPSTREAM_SECRET_ENV]: idp.clients.upstream.client_secret,
    ...options.env,
  };
  // The gateway reads the introspection secret from process.env, not from the env it was
  // validated with (see the report on gateway/app.ts): give it both.
  const saved = new Map(Object.keys(env).map((k) => [k, process.env[k]] as const));
  Object.assign(process.env, env);
  const restoreEnv = () => {
    for (const [k, v] of saved) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  };

  let gw: TestGateway;
  try {
    await options.beforeGateway?.({ idp, upstream, resource });
    gw = await startTestGateway({
      policy: IDENTITY_POLICY,
      targets: {
        fixture: {
          url: upstream.url,
          credentials: { type: 'oauth_client_credentials', issuer: idp.issuer, client_id: idp.clients.upstream.client_id, client_secret_env: UPSTREAM_SECRET_ENV, scope: 'mcp:tools', timeout_ms: 2000 },
        },
        other: { url: upstream.url },
        opaque: { url: upstream.url },
        ...options.targets?.({ idp, upstream }),
      },
      config: {
        listen: { host: '127.0.0.1', port },
        identity: {
          public_base_url: base,
          http_timeout_ms: 2000,
          issuers: [
            {
              issuer: idp.issuer,
              token_format: 'both',
              groups_claim: 'groups',
              introspection: { client_id: idp.clients.gateway.client_id, client_secret_env: INTROSPECTION_SECRET_ENV },
              ...options.issuer,
            },
            ...(options.moreIssuers ?? []),
          ],
          ...options.identity,
        },
      },
      env,
    });
  } catch (err) {
    await upstream.close();
    await idp.close();
    restoreEnv();
    throw err;
  }

  const answers: HttpResult[] = [];
  const presented = new Set<string>();

  async function send(target: string, request: McpRequest | { method: 'GET' | 'DELETE'; headers: Record<string, string> }, token?: string, extraHeaders: Record<string, string> = {}): Promise<HttpResult> {
    const url = target.startsWith('/') ? `${base}${target}` : resource(target);
    const headers: Record<string, string> = { ...request.headers, ...extraHeaders };
    if (token !== undefined) {
      headers.authorization = `Bearer ${token}`;
      presented.add(token);
    }
    const init: RequestInit = 'body' in request
      ? { method: 'POST', headers, body: JSON.stringify(request.body) }
      : { method: request.method, headers };
    const res = await fetch(url, init);
    const text = await res.text();
    const result: HttpResult = { status: res.status, headers: res.headers, text, json: parseBody(text, res.headers.get('content-type')) };
    answers.push(result);
    return result;
  }

  return {
    idp, upstream, gw, base, resource, metadataUrl, env, answers, presented, send,
    async callerToken(target = 'fixture', scope = 'mcp:tools') {
      return (await idp.mintToken({ resource: resource(target), scope })).access_token;
    },
    async close() {
      await gw.close();
      await upstream.close();
      await idp.close();
      restoreEnv();
    },
  };
}

/** Base64url-decodes a JWT's payload (no verification: for looking at what a server received). */
export function jwtPayload(token: string): Record<string, unknown> {
  const part = token.split('.')[1];
  if (part === undefined) throw new Error('not a JWT');
  return JSON.parse(Buffer.from(part, 'base64url').toString()) as Record<string, unknown>;
}

/** Where any of `secrets` occurs in `haystacks` (label -> text): an empty list when none. */
export function leaks(secrets: Record<string, string>, haystacks: Record<string, string>): string[] {
  const found: string[] = [];
  for (const [what, secret] of Object.entries(secrets)) {
    if (secret.length < 8) throw new Error(`secret ${what} is too short to look for`);
    for (const [where, text] of Object.entries(haystacks)) {
      if (text.includes(secret)) found.push(`${what} in ${where}`);
    }
  }
  return found;
}

