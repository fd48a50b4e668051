// On a legacy session, a message that arrives on the GET stream while a masked call is unanswered
// (progress with the call's progressToken, as after a resumption) carries that call's masks.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRawUpstream, type RawUpstream } from '../fixtures/upstreams/index.ts';
import { EXAMPLE_POLICY, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { openLegacySession } from '../helpers/legacy-session.ts';

const EMAIL = 'ada.lovelace@example.com';
const SECRET = 'sk_live_51Habcdefghijklmnopqrstuvwx';

describe('legacy GET stream and the masks of unanswered calls (example policy)', () => {
  let up: RawUpstream;
  let gw: TestGateway;
  let callSeen: (token: unknown) => void;
  const called = new Promise<unknown>((r) => { callSeen = r; });
  let progressSent: () => void;
  const sent = new Promise<void>((r) => { progressSent = r; });
  beforeAll(async () => {
    up = await startRawUpstream(async ({ req, res, json }) => {
      const msg = json as { id?: unknown; method?: string; params?: { _meta?: { progressToken?: unknown } } } | undefined;
      if (req.method === 'GET') {
        const token = await called;
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.end(`data: ${JSON.stringify({ jsonrpc: '2.0', method: 'notifications/progress', params: { progressToken: token, progress: 1, total: 2, message: `loaded ${EMAIL} key ${SECRET}` } })}\n\n`);
        return;
      }
      if (msg?.method === 'initialize') {
        res.writeHead(200, { 'content-type': 'application/json', 'mcp-session-id': 'sess-review-1' });
        res.end(JSON.stringify({ jsonrpc: '2.0', id: msg.id, result: { protocolVersion: '2025-06-18', capabilities: { tools: {} }, serverInfo: { name: 'raw', version: '1' } } }));
        return;
      }
      if (msg?.method === 'tools/call') {
        callSeen(msg.params?._meta?.progressToken);
        await sent;
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ jsonrpc: '2.0', id: msg.id, result: { content: [{ type: 'text', text: `customer ${EMAIL}` }] } }));
        return;
      }
      res.writeHead(202).end();
    });
    gw = await startTestGateway({ policy: EXAMPLE_POLICY, targets: { demo: up.url }, config: { identity: { anonymous: { sub: 'eve', groups: ['support'] } } } });
  });
  afterAll(async () => {
    await gw?.close();
    await up?.close();
  });

  it('masks a progress notification of the masked get_customer call that arrives on the GET stream', async () => {
    const session = await openLegacySession(gw.endpoint());
    const sh = session.post;
    const get = fetch(gw.endpoint(), { method: 'GET', headers: session.get }).then((r) => r.text()).then((text) => {
      // The call is answered only once its progress reached the client on the GET stream.
      progressSent();
      return text;
    });
    const post = await fetch(gw.endpoint(), { method: 'POST', headers: sh, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'get_customer', arguments: { customer_id: 'cus_1' }, _meta: { progressToken: 'p-1' } } }) });
    const answer = await post.text();
    expect(answer).not.toContain(EMAIL); // the answer itself is masked
    const stream = await get;
    expect(stream).toContain('notifications/progress');
    expect(stream).not.toContain(EMAIL);
    expect(stream).not.toContain(SECRET);
  });
});

// A message about a call may arrive on the GET stream after the call's answer (a late progress,
// a log line quoting what the call read): the session's GET stream carries every mask its calls
// required, answered or not.
describe('legacy GET stream after the masked call was answered (example policy)', () => {
  let up: RawUpstream;
  let gw: TestGateway;
  const late = (token: unknown) => [
    { jsonrpc: '2.0', method: 'notifications/progress', params: { progressToken: token, progress: 2, total: 2, message: `done with ${EMAIL}` } },
    { jsonrpc: '2.0', method: 'notifications/message', params: { level: 'info', logger: 'db', data: `read ${EMAIL} with key ${SECRET}` } },
    { jsonrpc: '2.0', id: 'srv-1', method: 'elicitation/create', params: { message: `confirm the key ${SECRET} of ${EMAIL}`, requestedSchema: { type: 'object', properties: {} } } },
  ];
  beforeAll(async () => {
    up = await startRawUpstream(async ({ req, res, json }) => {
      const msg = json as { id?: unknown; method?: string } | undefined;
      if (req.method === 'GET') {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.end(late('p-9').map((m) => `data: ${JSON.stringify(m)}\n\n`).join(''));
        return;
      }
      if (msg?.method === 'initialize') {
        res.writeHead(200, { 'content-type': 'application/json', 'mcp-session-id': 'sess-late-1' });
        res.end(JSON.stringify({ jsonrpc: '2.0', id: msg.id, result: { protocolVersion: '2025-06-18', capabilities: { tools: {} }, serverInfo: { name: 'raw', version: '1' } } }));
        return;
      }
      if (msg?.method === 'tools/call') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ jsonrpc: '2.0', id: msg.id, result: { content: [{ type: 'text', text: `customer ${EMAIL}` }] } }));
        return;
      }
      res.writeHead(202).end();
    });
    gw = await startTestGateway({ policy: EXAMPLE_POLICY, targets: { demo: up.url }, config: { identity: { anonymous: { sub: 'eve', groups: ['support'] } } } });
  });
  afterAll(async () => {
    await gw?.close();
    await up?.close();
  });

  it('sent the secrets (direct control)', async () => {
    const direct = await (await fetch(up.url, { headers: { accept: 'text/event-stream' } })).text();
    expect(direct).toContain(EMAIL);
    expect(direct).toContain(SECRET);
  });

  it('masks progress, logging and a server request that arrive on the GET stream once the call is answered', async () => {
    const session = await openLegacySession(gw.endpoint());
    const post = await fetch(gw.endpoint(), { method: 'POST', headers: session.post, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'get_customer', arguments: { customer_id: 'cus_1' }, _meta: { progressToken: 'p-9' } } }) });
    expect(await post.text()).not.toContain(EMAIL);
    const stream = await (await fetch(gw.endpoint(), { method: 'GET', headers: session.get })).text();
    for (const method of ['notifications/progress', 'notifications/message', 'elicitation/create']) expect(stream).toContain(method);
    expect(stream).not.toContain(EMAIL);
    expect(stream).not.toContain(SECRET);
  });

  it('a session without masked calls leaves the same stream as it is (the masks are the calls\', not the stream\'s)', async () => {
    const session = await openLegacySession(gw.endpoint());
    const stream = await (await fetch(gw.endpoint(), { method: 'GET', headers: session.get })).text();
    expect(stream).toContain('notifications/message');
    expect(stream).toContain(EMAIL);
  });
});
