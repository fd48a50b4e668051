// The approvals e2e stack: a real IdP, a real Redis, both upstream fixtures (SDK v2 "modern",
// SDK v1 "legacy") and two gateway replicas sharing the Redis and the sealing keys, behind one
// public base URL (replica A's, as a load balancer would present them). Tokens are signed by the
// IdP for any subject and groups the test names.
import { randomBytes } from 'node:crypto';
import { startLegacyUpstream, startModernUpstream, type UpstreamFixture } from '../fixtures/upstreams/index.ts';
import { startTestGateway, type TestGateway } from './gateway.ts';
import { freePort } from './identity-stack.ts';
import { startTestIdp, type TestIdp } from './idp.ts';
import { startRedis, type TestRedis } from './redis.ts';

export const APPROVALS_POLICY = 'test/fixtures/rego/approvals';
export const SEALING_ENV = 'APPROVALS_E2E_SEALING_KEYS';

export interface ApprovalsStack {
  idp: TestIdp;
  redis: TestRedis;
  modern: UpstreamFixture;
  legacy: UpstreamFixture;
  a: TestGateway;
  b: TestGateway;
  base: string;
  /** A bearer token for `sub` with `groups`, valid for `target`. */
  token(sub: string, groups: string[], target?: string, extra?: Record<string, unknown>): Promise<string>;
  /** Calls the approvals API of a replica. */
  api(gw: TestGateway, method: 'GET' | 'POST', path: string, token: string, body?: unknown): Promise<{ status: number; json: any }>;
  close(): Promise<void>;
}

export const PAGE_SECRET_ENV = 'APPROVALS_E2E_PAGE_SECRET';

/** `page`: the approvers' web page with interactive logins (these accounts and groups) at the IdP. */
export async function startApprovalsStack(options: { approvals?: Record<string, unknown>; page?: Record<string, string[]> } = {}): Promise<ApprovalsStack> {
  // Replica A's port is the public base URL, so it is reserved first (and retried below when
  // another test took it in between); replica B takes any free port.
  let portA = await freePort();
  let base = `http://127.0.0.1:${portA}`;
  const interactive = options.page
    ? { redirectUris: [`${base}/approvals/callback`], accounts: Object.fromEntries(Object.entries(options.page).map(([sub, groups]) => [sub, { groups }])) }
    : undefined;
  const [idp, redis, modern, legacy] = await Promise.all([startTestIdp({ tokenTtlSeconds: 600, ...(interactive ? { interactive } : {}) }), startRedis(), startModernUpstream(), startLegacyUpstream()]);
  const env: Record<string, string> = { [SEALING_ENV]: `k2:${randomBytes(32).toString('base64')},k1:${randomBytes(32).toString('base64')}`, [PAGE_SECRET_ENV]: idp.clients.page.client_secret };
  const page = options.page ? { page: { issuer: idp.issuer, client_id: idp.clients.page.client_id, client_secret_env: PAGE_SECRET_ENV } } : {};
  const replica = (port: number) => startTestGateway({
    policy: APPROVALS_POLICY,
    targets: { modern: modern.url, legacy: legacy.url },
    config: {
      listen: { host: '127.0.0.1', port },
      identity: { public_base_url: base, http_timeout_ms: 2000, issuers: [{ issuer: idp.issuer, token_format: 'jwt', groups_claim: 'groups' }] },
      state: { backend: 'redis', redis: { url: redis.url, key_prefix: 'e2e:' } },
      approvals: { enabled: true, sealing_keys_env: SEALING_ENV, retry_hold_seconds: 1, keepalive_seconds: 1, max_hold_seconds: 20, sweep_interval_ms: 100, ...page, ...options.approvals },
    },
    env,
  });
  let a: TestGateway | undefined;
  let b: TestGateway | undefined;
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        a = await replica(portA);
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || attempt >= 3 || interactive) throw err;
        portA = await freePort();
        base = `http://127.0.0.1:${portA}`;
      }
    }
    b = await replica(0);
  } catch (err) {
    await a?.close();
    await Promise.all([idp.close(), redis.close(), modern.close(), legacy.close()]);
    throw err;
  }
  const ga = a;
  const gb = b;
  return {
    idp, redis, modern, legacy, a: ga, b: gb, base,
    token: (sub, groups, target = 'modern', extra = {}) => idp.sign({ ...idp.validClaims(`${base}/mcp/${target}`, { sub, groups, ...extra }) }),
    api: async (gw, method, path, token, body) => {
      const res = await fetch(`${gw.url}${path}`, {
        method, headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const text = await res.text();
      return { status: res.status, json: text ? JSON.parse(text) : undefined };
    },
    close: async () => {
      await ga.close();
      await gb.close();
      await Promise.all([idp.close(), redis.close(), modern.close(), legacy.close()]);
    },
  };
}
