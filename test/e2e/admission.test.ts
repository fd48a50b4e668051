// Origin, CORS and Host through the real gateway: lookalikes of loopback are refused with
// 403 / -32070, never echoed by CORS, and nothing reaches the upstream.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startModernUpstream, type UpstreamFixture } from '../fixtures/upstreams/index.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { postWithHost, rawHttp } from '../helpers/raw-http.ts';

const H = { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/list' };
const META = {
  'io.modelcontextprotocol/protocolVersion': '2026-07-28',
  'io.modelcontextprotocol/clientInfo': { name: 'admission', version: '1' },
  'io.modelcontextprotocol/clientCapabilities': {},
};
const PING = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: { _meta: META } });
const PING_HEADERS = { 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/list' };

const FOREIGN_ORIGINS = [
  'http://127.evil.example', 'http://127.0.0.1.evil.com', 'http://127.1', 'http://0x7f.0.0.1', 'http://2130706433',
  'http://user@127.0.0.1', 'http://evil.com@localhost', 'http://localhost.', 'http://LOCALHOST', 'http://localhost/',
  'http://localhost.evil.com', 'http://[::ffff:127.0.0.1]', 'http://[::ffff:7f00:1]', 'http://[0:0:0:0:0:0:0:1]', 'null',
  'file://localhost', 'https://evil.example', 'http://localhost:80', 'http://127.0.0.1:80',
];

const headerLines = (headers: Record<string, string>) => Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('');

describe('Origin and Host through the gateway', () => {
  let upstream: UpstreamFixture;
  let gw: TestGateway;
  beforeAll(async () => {
    upstream = await startModernUpstream();
    gw = await startTestGateway({ targets: { fixture: upstream.url } });
  });
  afterAll(async () => {
    await gw?.close();
    await upstream?.close();
  });

  it.each(FOREIGN_ORIGINS)('refuses Origin %j with 403 / -32070 and echoes nothing', async (origin) => {
    const before = upstream.received.length;
    const res = await fetch(gw.endpoint(), { method: 'POST', headers: { ...H, origin }, body: PING });
    expect(res.status).toBe(403);
    expect((await res.json()).error.code).toBe(-32070);
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
    const preflight = await fetch(gw.endpoint(), { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'POST' } });
    expect(preflight.headers.get('access-control-allow-origin')).toBeNull();
    expect(upstream.received.length).toBe(before);
  });

  it.each(['http://localhost:3000', 'http://127.0.0.1:6274', 'http://[::1]:8080'])('admits the loopback Origin %s and echoes it exactly', async (origin) => {
    const res = await fetch(gw.endpoint(), { method: 'POST', headers: { ...H, origin }, body: PING });
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBe(origin);
  });

  it.each([
    'evil.example', '127.0.0.1.evil.com', '127.evil.example', '127.1', 'localhost.', '2130706433', 'localhost.evil.com', '0x7f000001',
  ])('refuses Host %j with 403 / -32070', async (host) => {
    const before = upstream.received.length;
    const res = await rawHttp(gw.url, postWithHost('/mcp/fixture', host, PING, headerLines(PING_HEADERS)));
    expect(res.status).toBe(403);
    expect(JSON.parse(res.body).error.code).toBe(-32070);
    expect(upstream.received.length).toBe(before);
  });

  // Node's HTTP parser refuses these Hosts itself (400); the answer is still a JSON-RPC error.
  it.each(['localhost@evil.com', 'evil.com#@localhost', '[::ffff:127.0.0.1]', 'localhost:1:2'])('refuses the malformed Host %j', async (host) => {
    const before = upstream.received.length;
    const res = await rawHttp(gw.url, postWithHost('/mcp/fixture', host, PING, headerLines(PING_HEADERS)));
    expect([400, 403]).toContain(res.status);
    expect([-32600, -32070]).toContain(JSON.parse(res.body).error.code);
    expect(upstream.received.length).toBe(before);
  });

  it.each(['localhost', '127.0.0.1', '127.0.0.2:9', '[::1]'])('admits Host %s', async (host) => {
    const res = await rawHttp(gw.url, postWithHost('/mcp/fixture', host, PING, headerLines(PING_HEADERS)));
    expect(res.status).toBe(200);
  });
});
