// Bad input at the door and bad answers from upstreams: each case asserts the exact status and
// JSON-RPC code, and what the upstream did (or did not) receive.
import { connect, createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startModernUpstream, startRawUpstream, type RawUpstream, type UpstreamFixture } from '../fixtures/upstreams/index.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';

const LEGACY_HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
const META = { _meta: { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientInfo': { name: 't', version: '1' }, 'io.modelcontextprotocol/clientCapabilities': {} } };

function modernHeaders(method: string, name?: string): Record<string, string> {
  return { ...LEGACY_HEADERS, 'mcp-protocol-version': '2026-07-28', 'mcp-method': method, ...(name ? { 'mcp-name': name } : {}) };
}

async function post(url: string, body: string | object, headers: Record<string, string> = LEGACY_HEADERS) {
  const res = await fetch(url, { method: 'POST', headers, body: typeof body === 'string' ? body : JSON.stringify(body) });
  const text = await res.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, json, text, headers: res.headers };
}

const toolCall = (name: string, args: object = {}, id: number | string = 1) => ({
  jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: args, ...META },
});

describe('requests refused at the door', () => {
  let upstream: UpstreamFixture;
  let gw: TestGateway;
  beforeAll(async () => {
    upstream = await startModernUpstream();
    gw = await startTestGateway({ targets: { fixture: upstream.url }, config: { limits: { max_body_bytes: 4096 } } });
  });
  afterAll(async () => {
    await gw?.close();
    await upstream?.close();
  });

  it.each([
    ['a body that is not JSON', '{"jsonrpc": "2.0", "id": 1, "method": ', LEGACY_HEADERS, 400, -32700],
    ['invalid JSON-RPC (no jsonrpc member)', { id: 1, method: 'tools/list' }, LEGACY_HEADERS, 400, -32600],
    ['invalid JSON-RPC (numeric method)', { jsonrpc: '2.0', id: 1, method: 42 }, LEGACY_HEADERS, 400, -32600],
    ['a JSON-RPC batch', [{ jsonrpc: '2.0', id: 1, method: 'ping' }, { jsonrpc: '2.0', id: 2, method: 'ping' }], LEGACY_HEADERS, 400, -32600],
    ['an Mcp-Method header that disagrees with the body', toolCall('echo', { text: 'x' }), modernHeaders('tools/list', 'echo'), 400, -32020],
    ['an Mcp-Name header that disagrees with the body', toolCall('delete_everything'), modernHeaders('tools/call', 'echo'), 400, -32020],
    ['a 2026-07-28 request without Mcp-Name', toolCall('echo', { text: 'x' }), modernHeaders('tools/call'), 400, -32020],
  ])('%s: %i / %i, nothing forwarded', async (_, body, headers, status, code) => {
    const before = upstream.received.length;
    const res = await post(gw.endpoint(), body as object, headers);
    expect(res.status).toBe(status);
    expect(res.json.error.code).toBe(code);
    expect(upstream.received.length).toBe(before);
  });

  it('refuses a body over the limit with 413', async () => {
    const before = upstream.received.length;
    const res = await post(gw.endpoint(), toolCall('echo', { text: 'x'.repeat(5000) }), modernHeaders('tools/call', 'echo'));
    expect(res.status).toBe(413);
    expect(res.json.error.code).toBe(-32071);
    expect(upstream.received.length).toBe(before);
  });

  it('refuses a chunked body (no Content-Length) once it passes the limit, with 413', async () => {
    const before = upstream.received.length;
    const chunk = new TextEncoder().encode('x'.repeat(1024));
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent++ < 8) controller.enqueue(chunk);
        else controller.close();
      },
    });
    const res = await fetch(gw.endpoint(), { method: 'POST', headers: LEGACY_HEADERS, body, duplex: 'half' } as RequestInit);
    expect(res.status).toBe(413);
    expect((await res.json()).error.code).toBe(-32071);
    expect(upstream.received.length).toBe(before);
  });

  it('answers an unknown target with 404', async () => {
    const res = await post(`${gw.url}/mcp/nope`, toolCall('echo'), modernHeaders('tools/call', 'echo'));
    expect(res.status).toBe(404);
    expect(res.json.error.code).toBe(-32072);
  });

  it('refuses a foreign Origin with 403 (and a rebinding Host)', async () => {
    const before = upstream.received.length;
    const origin = await post(gw.endpoint(), toolCall('echo', { text: 'x' }), { ...modernHeaders('tools/call', 'echo'), origin: 'https://evil.example' });
    expect(origin.status).toBe(403);
    expect(origin.json.error.code).toBe(-32070);
    const rebound = await new Promise<string>((resolve, reject) => {
      // fetch will not let a test forge Host, so speak HTTP/1.1 by hand.
      const url = new URL(gw.endpoint());
      const socket = connect(Number(url.port), url.hostname);
      let data = '';
      socket.on('data', (d: Buffer) => (data += d.toString()));
      socket.on('end', () => resolve(data));
      socket.on('error', reject);
      const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' });
      socket.write(`POST ${url.pathname} HTTP/1.1\r\nHost: evil.example:${url.port}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`);
    });
    expect(rebound).toMatch(/^HTTP\/1\.1 403/);
    expect(rebound).toContain('-32070');
    expect(upstream.received.length).toBe(before);
  });

  it('accepts a loopback Origin when it listens on loopback', async () => {
    const res = await post(gw.endpoint(), { jsonrpc: '2.0', id: 1, method: 'tools/list', params: META }, { ...modernHeaders('tools/list'), origin: gw.url });
    expect(res.status).toBe(200);
    expect(res.json.result.tools.length).toBeGreaterThan(0);
  });

  it('answers CORS preflights for allowed origins only, before authentication', async () => {
    const preflight = (origin: string) => fetch(gw.endpoint(), {
      method: 'OPTIONS',
      headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type, mcp-param-region' },
    });
    const allowed = await preflight(gw.url);
    expect(allowed.status).toBe(204);
    expect(allowed.headers.get('access-control-allow-origin')).toBe(gw.url);
    expect(allowed.headers.get('access-control-allow-headers')).toContain('mcp-param-region');
    const foreign = await preflight('https://evil.example');
    expect(foreign.headers.get('access-control-allow-origin')).toBeNull();
    const post = await fetch(gw.endpoint(), { method: 'POST', headers: { ...modernHeaders('tools/list'), origin: gw.url }, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: META }) });
    expect(post.headers.get('access-control-expose-headers')).toContain('mcp-session-id');
  });

  it('refuses an unknown legacy session with 404 and forwards nothing', async () => {
    const before = upstream.received.length;
    const res = await post(gw.endpoint(), { jsonrpc: '2.0', id: 3, method: 'tools/list' }, { ...LEGACY_HEADERS, 'mcp-session-id': 'made-up', 'mcp-protocol-version': '2025-11-25' });
    expect(res.status).toBe(404);
    expect(res.json.error.code).toBe(-32001);
    expect(upstream.received.length).toBe(before);
  });

  it('denies a tool the policy forbids without forwarding it', async () => {
    const before = upstream.received.length;
    const res = await post(gw.endpoint(), toolCall('delete_everything', {}, 'd1'), modernHeaders('tools/call', 'delete_everything'));
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ jsonrpc: '2.0', id: 'd1', error: { code: -32051 } });
    expect(res.json.error.message).toContain('destructive tools are denied');
    expect(res.json.error.data.portcullis.rule_ids).toEqual(['fixture.destructive']);
    expect(upstream.received.length).toBe(before);
    expect(upstream.toolCalls.some((c) => c.tool === 'delete_everything')).toBe(false);
  });
});

describe('upstreams that fail or misbehave', () => {
  const raws: RawUpstream[] = [];
  let gw: TestGateway;
  const sse = (...events: string[]) => events.map((e) => `data: ${e}\n\n`).join('');
  beforeAll(async () => {
    const make = async (handler: Parameters<typeof startRawUpstream>[0]) => {
      const raw = await startRawUpstream(handler);
      raws.push(raw);
      return raw.url;
    };
    const closedPort = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const port = (s.address() as { port: number }).port;
        s.close(() => resolve(port));
      });
    });
    gw = await startTestGateway({
      targets: {
        down: `http://127.0.0.1:${closedPort}/mcp`,
        hangs: { url: await make(() => {}), timeout_ms: 300 },
        html: await make(({ res }) => res.writeHead(200, { 'content-type': 'text/html' }).end('<html>hi</html>')),
        notjson: await make(({ res }) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"nope"')),
        notrpc: await make(({ res }) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"hello":"world"}')),
        crash: await make(({ res }) => res.writeHead(500, { 'content-type': 'text/plain' }).end('Traceback: secret internals')),
        badsse: await make(({ res }) => res.writeHead(200, { 'content-type': 'text/event-stream' }).end(sse('{"jsonrpc":"2.0","method":"notifications/progress","params":{}}', 'garbage{'))),
        drops: await make(({ res }) => {
          res.writeHead(200, { 'content-type': 'text/event-stream' });
          res.write(sse('{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":"x"}}'));
          setTimeout(() => res.destroy(), 50);
        }),
        authfail: await make(({ res }) => res.writeHead(401, { 'www-authenticate': 'Bearer' }).end()),
      },
    });
  });
  afterAll(async () => {
    await gw?.close();
    await Promise.all(raws.map((r) => r.close()));
  });

  const ping = { jsonrpc: '2.0', id: 9, method: 'ping' };

  it.each([
    ['down', 502, -32060, /unreachable \(ECONNREFUSED\)/],
    ['hangs', 504, -32061, /did not answer within 300 ms/],
    ['html', 502, -32062, /a content type that is neither JSON nor an event stream/],
    ['notjson', 502, -32062, /not JSON/],
    ['notrpc', 502, -32062, /invalid JSON-RPC message/],
    ['crash', 502, -32062, /HTTP 500 without a JSON-RPC error/],
    ['authfail', 502, -32062, /rejected the gateway's own credentials \(HTTP 401\)/],
  ])('upstream %s: %i / %i', async (target, status, code, message) => {
    const res = await post(gw.endpoint(target), ping);
    expect(res.status).toBe(status);
    expect(res.json).toMatchObject({ jsonrpc: '2.0', id: 9, error: { code } });
    expect(res.json.error.message).toMatch(message);
    expect(res.text).not.toContain('secret internals');
  });

  it('cuts a stream that turns to garbage and answers the pending request with -32062', async () => {
    const res = await post(gw.endpoint('badsse'), ping);
    expect(res.status).toBe(200);
    const events = res.text.split('\n\n').filter(Boolean).map((e) => JSON.parse(e.replace(/^data: /, '')));
    expect(events[0].method).toBe('notifications/progress');
    expect(events[1]).toMatchObject({ id: 9, error: { code: -32062 } });
    expect(events).toHaveLength(2);
  });

  it('answers the pending request when the upstream drops the stream', async () => {
    const res = await post(gw.endpoint('drops'), ping);
    const events = res.text.split('\n\n').filter(Boolean).map((e) => JSON.parse(e.replace(/^data: /, '')));
    expect(events.at(-1)).toMatchObject({ id: 9, error: { code: -32062 } });
  });
});
