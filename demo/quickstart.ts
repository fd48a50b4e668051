// The quick start as a function: the DEVELOPMENT identity provider, the demo upstream and the
// gateway with the example policy (demo/gateway.yaml), all on loopback. `npm start`
// (scripts/start.ts) prints what it returns; the quick-start test drives the same thing.
import { randomBytes } from 'node:crypto';
import { loadConfig } from '../gateway/config/load.ts';
import { startGateway, type RunningGateway } from '../gateway/main.ts';
import { startDevIdp, type DevIdp } from './dev-idp.ts';
import { startDemoUpstream } from './upstream.ts';

const APPROVALS_CLIENT = 'dev-approvals';
const APPROVALS_SECRET_ENV = 'PORTCULLIS_DEV_APPROVALS_SECRET';

export interface Quickstart {
  gateway: RunningGateway;
  idp: DevIdp;
  /** `<gateway>/mcp/demo` */
  resource: string;
  base: string;
  upstreamUrl: string;
  close(): Promise<void>;
}

/** Starts the quick start; `port` 0 picks a free port for the gateway. */
export async function startQuickstart(options: { port: number; idpPort?: number; configFile?: string; bundle?: string }): Promise<Quickstart> {
  // The page's client secret is made up for this run, like every secret of the development IdP.
  process.env[APPROVALS_SECRET_ENV] = randomBytes(18).toString('base64url');
  const config = await loadConfig(options.configFile ?? 'demo/gateway.yaml');
  // A configuration that seals approval state for several replicas (demo/gateway.compose.yaml)
  // gets a sealing key made up for this run when its variable is unset: development only.
  const sealing = config.approvals.sealing_keys_env;
  if (sealing !== undefined && !config.env[sealing]) config.env[sealing] = `dev:${randomBytes(32).toString('base64')}`;
  config.listen.port = options.port;
  if (options.bundle !== undefined) config.policy.bundle = options.bundle;
  // The gateway's port must be known before the IdP registers the page's redirect URI.
  const probe = options.port === 0 ? await freePort(config.listen.host) : options.port;
  config.listen.port = probe;
  const base = `http://${config.listen.host}:${probe}`;
  const resource = `${base}/mcp/demo`;
  const idp = await startDevIdp({
    port: options.idpPort ?? 0,
    gatewayResources: [resource],
    approvalsPage: { clientId: APPROVALS_CLIENT, clientSecret: process.env[APPROVALS_SECRET_ENV]!, redirectUri: `${base}/approvals/callback` },
  });
  const demo = await startDemoUpstream({ port: 0 });
  const demoTarget = config.targets.demo;
  if (demoTarget === undefined) throw new Error('demo/gateway.yaml must define target "demo"');
  demoTarget.url = demo.url;
  config.identity.public_base_url = base;
  config.identity.issuers = config.identity.issuers.map((issuer) => ({ ...issuer, issuer: idp.issuer }));
  if (config.approvals.page) config.approvals.page = { ...config.approvals.page, issuer: idp.issuer };
  const gateway = await startGateway(config);
  return {
    gateway, idp, resource, base, upstreamUrl: demo.url,
    close: async () => {
      await gateway.close();
      await Promise.all([demo.close(), idp.close()]);
    },
  };
}

async function freePort(host: string): Promise<number> {
  const { createServer } = await import('node:net');
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, host, () => {
      const { port } = s.address() as import('node:net').AddressInfo;
      s.close(() => resolve(port));
    });
  });
}
