// What clients and servers not written here do, and the gateway must take (issue 8):
// - the Python SDK server answers a legacy DELETE `200`, `application/json`, no body: success;
// - the Go SDK sends 2026-07-28 `notifications/cancelled` without `_meta`: a notification like
//   any other (a 400 makes the client close its connection); requests still need `_meta`.
// The real Python and Go SDK clients run in interop.test.ts; this file pins the two behaviours
// down with a raw upstream that answers exactly as those servers do, and with the real SDK
// upstream (test/fixtures/upstreams/modern.ts).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../gateway/errors.ts';
import { classifyClientMessage, PROTOCOL_VERSION_META_KEY } from '../../gateway/mcp/era.ts';
import { startModernUpstream, startRawUpstream, type RawUpstream, type UpstreamFixture } from '../fixtures/upstreams/index.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';

const JSON_HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
const SESSION = 'python-like-session';
const INIT = { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'foreign', version: '1' } } };
const META = {
  [PROTOCOL_VERSION_META_KEY]: '2026-07-28',
  'io.modelcontextprotocol/clientInfo': { name: 'foreign', version: '1' },
  'io.modelcontextprotocol/clientCapabilities': {},
};

describe('classification: the _meta requirement is for requests', () => {
  const h = (method?: string) => ({ protocolVersion: '2026-07-28', method, name: undefined });
  it('a 2026-07-28 notification without _meta is stateless, with or without Mcp-Method', () => {
    for (const headers of [h(), h('notifications/cancelled')]) {
      expect(classifyClientMessage({ kind: 'notification', method: 'notifications/cancelled', params: { requestId: 3 } }, headers)).toEqual({ era: 'stateless', protocolVersion: '2026-07-28' });
    }
    expect(classifyClientMessage({ kind: 'notification', method: 'notifications/progress', params: undefined }, h())).toEqual({ era: 'stateless', protocolVersion: '2026-07-28' });
  });
  it('its Mcp-Method header must still match the body', () => {
    let code: number | undefined;
    try {
      classifyClientMessage({ kind: 'notification', method: 'notifications/cancelled', params: { requestId: 3 } }, h('tools/call'));
    } catch (err) {
      code = (err as { code: number }).code;
    }
    expect(code).toBe(ErrorCode.HeaderMismatch);
  });
  it('a 2026-07-28 request without _meta is still refused', () => {
    let code: number | undefined;
    try {
      classifyClientMessage({ kind: 'request', id: 1, method: 'tools/list', params: {} }, h('tools/list'));
    } catch (err) {
      code = (err as { code: number }).code;
    }
    expect(code).toBe(ErrorCode.InvalidParams);
  });
});

describe('an upstream answering as the Python SDK server does', () => {
  let upstream: RawUpstream;
  let gw: TestGateway;
  beforeAll(async () => {
    upstream = await startRawUpstream(({ req, res, json }) => {
      const msg = json as { id?: number; method?: string } | undefined;
      if (req.method === 'DELETE' || (msg !== undefined && msg.id === undefined)) {
        // starlette Response(content=None, media_type="application/json"): no body, a JSON type.
        res.writeHead(req.method === 'DELETE' ? 200 : 202, { 'content-type': 'application/json', 'content-length': '0' });
        res.end();
        return;
      }
      if (msg?.method === 'initialize') {
        res.writeHead(200, { 'content-type': 'application/json', 'mcp-session-id': SESSION });
        res.end(JSON.stringify({ jsonrpc: '2.0', id: msg.id, result: { protocolVersion: '2025-11-25', capabilities: { tools: {} }, serverInfo: { name: 'py-like', version: '1' } } }));
        return;
      }
      // A request answered with an empty JSON body: no answer at all.
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end();
    });
    gw = await startTestGateway({ targets: { fixture: upstream.url } });
  });
  afterAll(async () => {
    await gw?.close();
    await upstream?.close();
  });

  async function open(): Promise<void> {
    const init = await fetch(gw.endpoint(), { method: 'POST', headers: JSON_HEADERS, body: JSON.stringify(INIT) });
    await init.text();
    expect(init.headers.get('mcp-session-id')).toBe(SESSION);
  }

  it('a legacy DELETE answered 200 with an empty JSON body is a success, and the session is gone', async () => {
    await open();
    const res = await fetch(gw.endpoint(), { method: 'DELETE', headers: { 'mcp-session-id': SESSION, 'mcp-protocol-version': '2025-11-25' } });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('');
    // No body, so no claim that it is JSON.
    expect(res.headers.get('content-type')).toBeNull();
    expect(upstream.received.at(-1)!.method).toBe('DELETE');
    // The gateway forgot the session: using it now is an unknown session, not forwarded.
    const before = upstream.received.length;
    const after = await fetch(gw.endpoint(), { method: 'POST', headers: { ...JSON_HEADERS, 'mcp-session-id': SESSION, 'mcp-protocol-version': '2025-11-25' }, body: JSON.stringify({ jsonrpc: '2.0', id: 5, method: 'tools/list' }) });
    expect(after.status).toBe(404);
    expect(upstream.received.length).toBe(before);
  });

  it('a notification answered 202 with an empty JSON body is relayed as 202', async () => {
    await open();
    const res = await fetch(gw.endpoint(), {
      method: 'POST',
      headers: { ...JSON_HEADERS, 'mcp-session-id': SESSION, 'mcp-protocol-version': '2025-11-25' },
      body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }),
    });
    expect(res.status).toBe(202);
    expect(await res.text()).toBe('');
  });

  it('a request answered with an empty JSON body is still a 502 with its id: a request needs its answer', async () => {
    await open();
    const res = await fetch(gw.endpoint(), {
      method: 'POST',
      headers: { ...JSON_HEADERS, 'mcp-session-id': SESSION, 'mcp-protocol-version': '2025-11-25' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 77, method: 'tools/list' }),
    });
    expect(res.status).toBe(502);
    const body = JSON.parse(await res.text());
    expect(body).toMatchObject({ id: 77, error: { code: ErrorCode.UpstreamBadResponse } });
  });
});

describe('a 2026-07-28 notifications/cancelled without _meta, as the Go SDK sends it, to the real SDK upstream', () => {
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

  it('is accepted (not 400) and decided like any notification; the next call works', async () => {
    const slow = fetch(gw.endpoint(), {
      method: 'POST',
      headers: { ...JSON_HEADERS, 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/call', 'mcp-name': 'slow' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 'slow-1', method: 'tools/call', params: { name: 'slow', arguments: { ms: 400, steps: 2 }, _meta: META } }),
    }).then(async (r) => ({ status: r.status, text: await r.text() }));
    const decisions = gw.audit.length;
    const cancel = await fetch(gw.endpoint(), {
      method: 'POST',
      headers: { ...JSON_HEADERS, 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'notifications/cancelled' },
      body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 'slow-1', reason: 'user' } }),
    });
    const cancelText = await cancel.text();
    expect(cancel.status, cancelText).toBeLessThan(300);
    // Decided like any notification: one decision record, in the stateless era.
    const record = gw.audit.slice(decisions).find((r) => r.method === 'notifications/cancelled');
    expect(record).toMatchObject({ direction: 'client_to_server', allow: true });
    await slow;
    const next = await fetch(gw.endpoint(), {
      method: 'POST',
      headers: { ...JSON_HEADERS, 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/call', 'mcp-name': 'echo' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 'after', method: 'tools/call', params: { name: 'echo', arguments: { text: 'after cancel' }, _meta: META } }),
    });
    expect(next.status).toBe(200);
    expect(await next.text()).toContain('after cancel');
  });
});
