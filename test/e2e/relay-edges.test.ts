// Edges of the data path a code review found, each asserting the behaviour the docs promise: the
// answer is screened as its own request, errors are masked and keep their id, a request is
// answered once, and a client that leaves is not an internal error.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRawUpstream, type RawExchange, type RawUpstream } from '../fixtures/upstreams/index.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';

const HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
const META = {
  'io.modelcontextprotocol/protocolVersion': '2026-07-28',
  'io.modelcontextprotocol/clientInfo': { name: 'review', version: '1' },
  'io.modelcontextprotocol/clientCapabilities': { elicitation: { form: {} } },
};
const EMAIL = 'bob@example.com';
const SESSION = 'review-session-1';

/** What the raw upstream does, chosen by the tool called (or the HTTP method). */
function upstreamHandler({ req, res, json }: RawExchange): void {
  const msg = json as { id?: number; method?: string; params?: { name?: string; arguments?: { text?: string } } } | undefined;
  if (req.method === 'GET') {
    // A resumed stream (Last-Event-ID): the server replays the answer to an earlier tools/call.
    res.writeHead(200, { 'content-type': 'text/event-stream', 'mcp-session-id': SESSION });
    res.write(`id: 2\nevent: message\ndata: ${JSON.stringify({ jsonrpc: '2.0', id: 7, result: { content: [{ type: 'text', text: `mail ${EMAIL}` }] } })}\n\n`);
    res.end();
    return;
  }
  if (msg?.method === 'initialize') {
    res.writeHead(200, { 'content-type': 'application/json', 'mcp-session-id': SESSION });
    res.end(JSON.stringify({ jsonrpc: '2.0', id: msg.id, result: { protocolVersion: '2025-11-25', capabilities: { tools: {} }, serverInfo: { name: 'raw', version: '1' } } }));
    return;
  }
  const scenario = msg?.params?.arguments?.text;
  const id = msg?.id;
  switch (scenario) {
    case 'wrong-id':
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ jsonrpc: '2.0', id: (id as number) + 1, result: { content: [{ type: 'text', text: `mail ${EMAIL}` }] } }));
      return;
    case 'http-500':
      res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ jsonrpc: '2.0', id, error: { code: -32603, message: `lookup failed for ${EMAIL}` } }));
      return;
    case 'garbage':
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('}{ not json');
      return;
    case 'break-after-answer':
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(`event: message\ndata: ${JSON.stringify({ jsonrpc: '2.0', id, result: { content: [{ type: 'text', text: 'done' }] } })}\n\n`);
      setTimeout(() => res.socket?.destroy(), 50);
      return;
    case 'slow-json':
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"jsonrpc":"2.0",');
      return; // never finishes
    default:
      break;
  }
  if (msg?.params?.name === 'ask_user') {
    // 2026-07-28: the server needs the client to answer an elicitation first.
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({
      jsonrpc: '2.0', id,
      result: { resultType: 'input_required', inputRequests: { answer: { method: 'elicitation/create', params: { message: `Shall I mail ${EMAIL}?`, requestedSchema: { type: 'object', properties: {} } } } } },
    }));
    return;
  }
  res.writeHead(202).end();
}

async function post(gw: TestGateway, body: object, headers: Record<string, string> = HEADERS) {
  const res = await fetch(gw.endpoint(), { method: 'POST', headers, body: JSON.stringify(body) });
  return { status: res.status, text: await res.text() };
}

const echo = (text: string, id = 7) => ({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'echo', arguments: { text } } });

describe('review: data-path correctness', () => {
  let upstream: RawUpstream;
  let gw: TestGateway;
  beforeAll(async () => {
    upstream = await startRawUpstream(upstreamHandler);
    gw = await startTestGateway({ targets: { fixture: upstream.url } });
  });
  afterAll(async () => {
    await gw?.close();
    await upstream?.close();
  });

  // Regression (review finding 1, fixed): a response whose id is not the request's skips the response-time decision and every
  // mask (screen.ts screenResponse: `message.id !== answered.id` -> pass): fail open.
  it('never relays an unmasked answer whose id does not match the request', async () => {
    const res = await post(gw, echo('wrong-id'));
    expect(res.text).not.toContain(EMAIL);
  });

  // Regression (review finding 2, fixed): a non-2xx upstream answer carrying a JSON-RPC error is relayed verbatim
  // (relay.ts relayFailure), so error messages are never masked on that path.
  it('masks a JSON-RPC error that arrives with an HTTP error status', async () => {
    const res = await post(gw, echo('http-500'));
    expect(res.text).not.toContain(EMAIL);
  });

  // Regression (review finding 3, fixed): the masks a policy puts on a server request are applied to legacy server requests
  // (elicitation/create params) but not to the same request embedded in a 2026-07-28
  // input_required result (screen.ts refuseInputRequests only decides).
  it('masks the embedded requests of a 2026-07-28 input_required result', async () => {
    const res = await post(
      gw,
      { jsonrpc: '2.0', id: 9, method: 'tools/call', params: { name: 'ask_user', arguments: { question: 'q' }, _meta: META } },
      { ...HEADERS, 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/call', 'mcp-name': 'ask_user' },
    );
    expect(res.status).toBe(200);
    expect(res.text).not.toContain(EMAIL);
  });

  // Regression (review finding 4, fixed): a resumed legacy stream (GET + Last-Event-ID) replays the answer to an earlier
  // tools/call; with no `ex.request` on a GET, every response passes unscreened and unmasked.
  it('does not replay an unmasked call result on a resumed GET stream', async () => {
    const init = await fetch(gw.endpoint(), {
      method: 'POST', headers: HEADERS,
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'r', version: '1' } } }),
    });
    await init.text();
    expect(init.headers.get('mcp-session-id')).toBe(SESSION);
    const res = await fetch(gw.endpoint(), {
      method: 'GET',
      headers: { accept: 'text/event-stream', 'mcp-session-id': SESSION, 'mcp-protocol-version': '2025-11-25', 'last-event-id': '1' },
    });
    expect(res.status).toBe(200);
    expect(await res.text()).not.toContain(EMAIL);
  });

  // Regression (review finding 5, fixed): docs/errors.md: "The id is the request's when it could be read". Upstream failures
  // (and unknown sessions) are answered with id null although the request was parsed.
  it('answers an upstream failure with the id of the request', async () => {
    const res = await post(gw, echo('garbage', 42));
    expect(res.status).toBe(502);
    expect(JSON.parse(res.text).id).toBe(42);
    const unknown = await post(gw, echo('x', 43), { ...HEADERS, 'mcp-session-id': 'no-such-session' });
    expect(unknown.status).toBe(404);
    expect(JSON.parse(unknown.text).id).toBe(43);
  });

  // Regression (review finding 6, fixed): when an SSE stream breaks after the request was already answered, the gateway adds
  // a second, error answer with the same id (relay.ts relayStream pull/catch).
  it('answers a request at most once on a stream that breaks after the answer', async () => {
    const res = await fetch(gw.endpoint(), { method: 'POST', headers: HEADERS, body: JSON.stringify(echo('break-after-answer', 11)) });
    const text = await res.text();
    const answers = text.split('\n').filter((l) => l.startsWith('data: ')).map((l) => JSON.parse(l.slice(6))).filter((m) => m.id === 11);
    expect(answers).toHaveLength(1);
    expect(answers[0].result).toBeDefined();
  });

  // Regression (review finding 7, fixed): a client that goes away while a JSON answer is being read is logged as an
  // "internal error" with a stack trace (readCapped throws undici's abort error, not a GatewayError).
  it('treats a client disconnect during a JSON answer as cancellation, not an internal error', async () => {
    const abort = new AbortController();
    const pending = fetch(gw.endpoint(), { method: 'POST', headers: HEADERS, body: JSON.stringify(echo('slow-json', 12)), signal: abort.signal }).catch(() => undefined);
    await new Promise((r) => setTimeout(r, 300));
    abort.abort();
    await pending;
    await new Promise((r) => setTimeout(r, 300));
    expect(gw.logs.filter((l) => l.includes('internal error'))).toEqual([]);
  });
});
