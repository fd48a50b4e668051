// `npm start`: the quick start. Builds the example bundle when it is missing or older than its
// sources, starts a DEVELOPMENT identity provider and the demo upstream on loopback, and runs the
// gateway in front of the upstream as target `demo`, trusting only that provider.
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { startDevIdp } from '../demo/dev-idp.ts';
import { startDemoUpstream } from '../demo/upstream.ts';
import { loadConfig } from '../gateway/config/load.ts';
import { startGateway } from '../gateway/main.ts';
import { buildBundle } from './bundle.ts';

const POLICY_DIR = 'rego/example';
const BUNDLE = 'bundles/example.tar.gz';

async function newestSource(dir: string): Promise<number> {
  let newest = 0;
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) newest = Math.max(newest, (await stat(join(entry.parentPath, entry.name))).mtimeMs);
  }
  return newest;
}

async function ensureBundle(): Promise<void> {
  const built = await stat(BUNDLE).then((s) => s.mtimeMs, () => 0);
  if (built > (await newestSource(POLICY_DIR))) return;
  console.log(`portcullis: building ${BUNDLE} from ${POLICY_DIR} …`);
  const result = await buildBundle({ source: POLICY_DIR, outFile: BUNDLE });
  console.log(`portcullis: built revision ${result.revision}`);
}

await ensureBundle();
const config = await loadConfig('demo/gateway.yaml');
if (process.env.PORT) config.listen.port = Number(process.env.PORT);
const base = `http://${config.listen.host}:${config.listen.port}`;
const resource = `${base}/mcp/demo`;

const idp = await startDevIdp({ port: Number(process.env.IDP_PORT ?? 0), gatewayResources: [resource] });
const demo = await startDemoUpstream({ port: 0 });
const demoTarget = config.targets.demo;
if (demoTarget === undefined) throw new Error('demo/gateway.yaml must define target "demo"');
demoTarget.url = demo.url;
config.identity.public_base_url = base;
config.identity.issuers = config.identity.issuers.map((issuer) => ({ ...issuer, issuer: idp.issuer }));

const gw = await startGateway(config);
const token = await idp.token('agent', resource);
console.log(`
Portcullis is running (policy revision ${gw.policy.revision}).
  MCP endpoint:  ${resource}   (demo upstream behind it: ${demo.url})
  Status:        ${base}/status

${idp.howToGetToken}
A token for the dev agent (groups: engineering), valid for an hour:
  export TOKEN=${token}

Try it:
  curl -s ${resource} -H "authorization: Bearer $TOKEN" \\
    -H 'content-type: application/json' -H 'accept: application/json, text/event-stream' \\
    -H 'mcp-protocol-version: 2026-07-28' -H 'mcp-method: tools/call' -H 'mcp-name: get_customer' \\
    -d '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_customer","arguments":{"customer_id":"cus_1001"},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientInfo":{"name":"curl","version":"1"},"io.modelcontextprotocol/clientCapabilities":{}}}}'

Without a token the gateway answers 401 and points MCP clients at ${base}/.well-known/oauth-protected-resource/mcp/demo.
Ctrl-C stops.
`);
const stop = () => void Promise.all([gw.close(), demo.close(), idp.close()]).then(() => process.exit(0));
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
