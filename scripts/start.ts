// `npm start`: the quick start. Builds the example bundle when it is missing or older than its
// sources, then starts demo/quickstart.ts (a DEVELOPMENT identity provider, the demo upstream and
// the gateway in front of it as target `demo`, trusting only that provider) and says how to use it.
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { startQuickstart } from '../demo/quickstart.ts';
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

const { gateway: gw, idp, resource, base, upstreamUrl, close } = await startQuickstart({
  port: Number(process.env.PORT ?? 8080),
  idpPort: Number(process.env.IDP_PORT ?? 0),
  // docker-compose.yml runs the quick start with the audit trail on (demo/gateway.compose.yaml).
  ...(process.env.PORTCULLIS_CONFIG ? { configFile: process.env.PORTCULLIS_CONFIG } : {}),
});
const token = await idp.token('agent', resource);
const approverToken = await idp.personToken('dev-approver', resource);
const meta = '"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientInfo":{"name":"curl","version":"1"},"io.modelcontextprotocol/clientCapabilities":{"elicitation":{"url":{}}}}';
const curl = (name: string, args: string) =>
  `  curl -s ${resource} -H "authorization: Bearer $TOKEN" \\
    -H 'content-type: application/json' -H 'accept: application/json, text/event-stream' \\
    -H 'mcp-protocol-version: 2026-07-28' -H 'mcp-method: tools/call' -H 'mcp-name: ${name}' \\
    -d '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"${name}","arguments":${args},${meta}}}'`;

console.log(`
Portcullis is running (policy revision ${gw.policy.revision}).
  MCP endpoint:  ${resource}   (demo upstream behind it: ${upstreamUrl})
  Status:        ${base}/status

${idp.howToGetToken}

A token for the dev agent (groups: engineering), valid for an hour:
  export TOKEN=${token}

Try it (secrets in the answer come back masked):
${curl('get_customer', '{"customer_id":"cus_1001"}')}

Human approval: run_sql waits until someone in sre or dba approves it.
${curl('run_sql', '{"query":"select count(*) from customers"}')}
  The answer is input_required: it names the approval page (${base}/approvals/<id>) and carries a
  requestState. Approve, then send the same call again with "requestState" added to its params.
  In the page: open ${base}/approvals, sign in as dev-approver (any password), approve.
  With the CLI, as the dev approver (groups sre, dba):
    export PORTCULLIS_URL=${base}
    export PORTCULLIS_TOKEN=${approverToken}
    npx portcullis approvals list
    npx portcullis approvals approve <id> --comment "looks fine"

Without a token the gateway answers 401 and points MCP clients at ${base}/.well-known/oauth-protected-resource/mcp/demo.
Ctrl-C stops.
`);

const stop = () => void close().then(() => process.exit(0));
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
