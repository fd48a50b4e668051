// Well-formed but odd client input is a 4xx with a JSON-RPC error, never a 500: nesting beyond
// the limit, names that are not strings, lone surrogates (refused at parse, so gateway and policy
// never disagree), a client that leaves mid-upload, unknown paths and methods, and requests Node's
// HTTP parser rejects.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startModernUpstream, type UpstreamFixture } from '../fixtures/upstreams/index.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { rawHttp } from '../helpers/raw-http.ts';

const H = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };

async function post(gw: TestGateway, body: string, headers: Record<string, string> = H) {
  const res = await fetch(gw.endpoint(), { method: 'POST', headers, body });
  const text = await res.text();
  return { status: res.status, text, json: JSON.parse(text) };
}

const META = '{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientInfo":{"name":"odd","version":"1"},"io.modelcontextprotocol/clientCapabilities":{}}';
const call = (args: string, name = '"echo"') => `{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":${name},"arguments":${args},"_meta":${META}}}`;
/** A 2026-07-28 tools/call of echo: the upstream answers it without a session. */
const STATELESS = { ...H, 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/call', 'mcp-name': 'echo' };

describe('odd client input', () => {
  let upstream: UpstreamFixture;
  let gw: TestGateway;
  beforeAll(async () => {
    upstream = await startModernUpstream();
    gw = await startTestGateway({ targets: { fixture: upstream.url }, config: { limits: { max_json_depth: 16 } } });
  });
  afterAll(async () => {
    await gw?.close();
    await upstream?.close();
  });

  it.each([
    ['nesting one level past limits.max_json_depth', call(`{"a":${'['.repeat(14)}${']'.repeat(14)}}`), 400, -32600],
    ['nesting 100000 deep (cut off)', '['.repeat(100_000), 400, -32600],
    ['params.name a number', call('{}', '42'), 400, -32602],
    ['params.name an object', call('{}', '{"toString":"echo"}'), 400, -32602],
    ['params.name an array', call('{}', '["echo"]'), 400, -32602],
    ['params.name missing', '{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{}}', 400, -32602],
    ['params.uri a number', '{"jsonrpc":"2.0","id":3,"method":"resources/read","params":{"uri":1}}', 400, -32602],
    ['prompts/get with a null name', '{"jsonrpc":"2.0","id":3,"method":"prompts/get","params":{"name":null}}', 400, -32602],
    ['a lone high surrogate in an argument', call('{"text":"\\ud800"}'), 400, -32600],
    ['a lone low surrogate in a key', call('{"\\udc00":"x"}'), 400, -32600],
    ['a lone surrogate in the tool name', call('{}', '"echo\\ud83d"'), 400, -32600],
  ])('%s: %i / %i, nothing forwarded', async (_, body, status, code) => {
    const before = upstream.received.length;
    const res = await post(gw, body);
    expect(res.status).toBe(status);
    expect(res.json.error.code).toBe(code);
    expect(upstream.received.length).toBe(before);
  });

  it('allows nesting at the limit', async () => {
    const res = await post(gw, call(`{"text":"deep","a":${'['.repeat(12)}${']'.repeat(12)}}`), STATELESS);
    expect(res.status).toBe(200);
  });

  it('passes paired surrogates, escaped or not, and the policy reads them (it allows, not -32053)', async () => {
    const records = gw.audit.length;
    const res = await post(gw, call('{"text":"smile \\ud83d\\ude00 😀"}'), STATELESS);
    expect(res.status).toBe(200);
    expect(res.json.result.content[0].text).toContain('smile 😀 😀');
    const decision = gw.audit.slice(records).find((r) => (r as { method?: string }).method === 'tools/call');
    expect(JSON.stringify(decision)).not.toContain('-32053');
    expect(upstream.received.at(-1)!.body).toContain('😀 😀');
  });

  it('forwards the message rebuilt: unknown members dropped, duplicate keys resolved as the policy read them', async () => {
    const res = await post(gw, `{"jsonrpc":"2.0","id":3,"method":"tools/call","extra":"x","params":{"name":"delete_everything","name":"echo","arguments":{"text":"dup"},"_meta":${META}}}`, STATELESS);
    expect(res.status).toBe(200);
    const sent = JSON.parse(upstream.received.at(-1)!.body);
    expect(sent).toEqual({ jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'echo', arguments: { text: 'dup' }, _meta: JSON.parse(META) } });
    expect(upstream.received.at(-1)!.body).not.toContain('delete_everything');
  });

  it('forwards a 19-digit number literal exactly', async () => {
    await post(gw, call('{"text":"n","card":4111111111111111111}'), STATELESS);
    expect(upstream.received.at(-1)!.body).toContain('"card":4111111111111111111');
  });

  it('a client that disconnects mid-upload leaves no internal error or stack trace in the log', async () => {
    const url = new URL(gw.endpoint());
    for (const framing of ['content-length: 5000\r\n', 'transfer-encoding: chunked\r\n']) {
      const head = `POST ${url.pathname} HTTP/1.1\r\nhost: ${url.host}\r\ncontent-type: application/json\r\n${framing}\r\n`;
      const part = framing.startsWith('transfer') ? '10\r\n{"jsonrpc":"2.0",\r\n' : '{"jsonrpc":"2.0",';
      await rawHttp(gw.url, [head, part], { pauseMs: 100, destroyAfterWrite: true });
    }
    await new Promise((r) => setTimeout(r, 300));
    expect(gw.logs.filter((l) => /internal error|\n\s+at /.test(l))).toEqual([]);
  });

  it.each([
    ['GET', '/nope', 404, -32073],
    ['POST', '/mcp', 404, -32073],
    ['POST', '/mcp/fixture/extra', 404, -32073],
    ['PUT', '/mcp/fixture', 405, -32074],
    ['PATCH', '/mcp/fixture', 405, -32074],
  ])('%s %s: %i / %i', async (method, path, status, code) => {
    const res = await fetch(`${gw.url}${path}`, { method, headers: H, body: method === 'GET' ? undefined : '{}' });
    expect(res.status).toBe(status);
    expect(res.headers.get('content-type')).toBe('application/json');
    expect((await res.json()).error.code).toBe(code);
  });

  it('HEAD on an MCP endpoint is 405 and opens no upstream stream', async () => {
    const before = upstream.received.length;
    const res = await fetch(gw.endpoint(), { method: 'HEAD' });
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toContain('POST');
    expect(upstream.received.length).toBe(before);
  });

  it.each([
    ['a request line that is not HTTP', 'HELLO\r\n\r\n', 400],
    ['both Content-Length and chunked', 'POST /mcp/fixture HTTP/1.1\r\nhost: localhost\r\ncontent-length: 3\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n', 400],
    ['a bad chunk size', 'POST /mcp/fixture HTTP/1.1\r\nhost: localhost\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n', 400],
    ['a header line without a colon', 'POST /mcp/fixture HTTP/1.1\r\nhost: localhost\r\nbroken header\r\n\r\n', 400],
    ['headers over 16 KiB', `GET /mcp/fixture HTTP/1.1\r\nhost: localhost\r\nx-big: ${'a'.repeat(20_000)}\r\n\r\n`, 431],
    ['an absolute request target that cannot be parsed', 'GET http://[bad/mcp/fixture HTTP/1.1\r\nhost: localhost\r\n\r\n', 400],
  ])('%s: %i with a JSON-RPC error body', async (_, request, status) => {
    const res = await rawHttp(gw.url, request);
    expect(res.status).toBe(status);
    const body = JSON.parse(res.body);
    expect(body).toMatchObject({ jsonrpc: '2.0', id: null, error: { code: -32600 } });
    expect(gw.logs.filter((l) => /internal error/.test(l))).toEqual([]);
  });
});
