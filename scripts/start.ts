// `npm start`: the quick start. Builds the example bundle when it is missing or older than its
// sources, starts the demo upstream, and runs the gateway in front of it as target `demo`.
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { loadConfig } from '../gateway/config/load.ts';
import { startGateway } from '../gateway/main.ts';
import { startDemoUpstream } from '../demo/upstream.ts';
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
const demo = await startDemoUpstream({ port: 0 });
const config = await loadConfig('demo/gateway.yaml');
const demoTarget = config.targets.demo;
if (demoTarget === undefined) throw new Error('demo/gateway.yaml must define target "demo"');
demoTarget.url = demo.url;
if (process.env.PORT) config.listen.port = Number(process.env.PORT);
const gw = await startGateway(config);
const endpoint = `${gw.url}/mcp/demo`;
console.log(`
Portcullis is running (policy revision ${gw.policy.revision}).
  MCP endpoint:  ${endpoint}   (demo upstream behind it: ${demo.url})
  Status:        ${gw.url}/status
  Caller:        the development subject in demo/gateway.yaml (groups: engineering)

Try it:
  curl -s ${endpoint} -H 'content-type: application/json' -H 'accept: application/json, text/event-stream' \\
    -H 'mcp-protocol-version: 2026-07-28' -H 'mcp-method: tools/list' \\
    -d '{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientInfo":{"name":"curl","version":"1"},"io.modelcontextprotocol/clientCapabilities":{}}}}'

Or point any MCP client (Streamable HTTP) at ${endpoint}. Ctrl-C stops.
`);
const stop = () => void Promise.all([gw.close(), demo.close()]).then(() => process.exit(0));
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
