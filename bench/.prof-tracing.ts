import { Agent, request } from 'undici';
import { performance } from 'node:perf_hooks';
import { ServerProcess } from './proxy.ts';
import { ALLOW_ALL_POLICY } from '../test/helpers/gateway.ts';
const upstream = new ServerProcess('upstream', ['upstream']);
const sink = new ServerProcess('sink', ['otlp-sink']);
const { url: u } = await upstream.next<{ url: string }>();
const { url: s } = await sink.next<{ url: string }>();
const gw = new ServerProcess('gw', ['gateway', ALLOW_ALL_POLICY, u, JSON.stringify({ telemetry: { enabled: true, traces: { endpoint: s, sample_ratio: Number(process.argv[2] ?? 0) } } })]);
const { url } = await gw.next<{ url: string }>();
const agent = new Agent({ connections: 16 });
const META = JSON.stringify({ 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientInfo': { name: 'b', version: '1' }, 'io.modelcontextprotocol/clientCapabilities': {} });
let id = 1;
async function drive(ms: number) {
  const end = performance.now() + ms;
  await Promise.all(Array.from({ length: 16 }, async () => {
    while (performance.now() < end) {
      const res = await request(url, { method: 'POST', dispatcher: agent, headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/call', 'mcp-name': 'echo' }, body: `{"jsonrpc":"2.0","id":${id++},"method":"tools/call","params":{"name":"echo","arguments":{"text":"x"},"_meta":${META}}}` });
      await res.body.text();
    }
  }));
}
await drive(3000);
await gw.ask({ type: 'profile-start' });
await drive(5000);
await gw.ask({ type: 'profile-stop', file: '/tmp/tracing-prof/gw.cpuprofile' });
await Promise.all([gw.close(), upstream.close(), sink.close()]);
await agent.close();
process.exit(0);
