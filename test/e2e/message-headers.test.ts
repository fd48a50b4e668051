// MCP routing headers go upstream as the gateway wrote them from the body the policy decided on. A 2026-07-28-aware upstream may route on Mcp-Method / Mcp-Name and read
// arguments from Mcp-Param-* headers (the spec lets servers use them instead of parsing the body).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRawUpstream, type RawUpstream } from '../fixtures/upstreams/index.ts';
import { EXAMPLE_POLICY, startTestGateway, type TestGateway } from '../helpers/gateway.ts';

const META = {
  'io.modelcontextprotocol/protocolVersion': '2026-07-28',
  'io.modelcontextprotocol/clientInfo': { name: 'review', version: '1' },
  'io.modelcontextprotocol/clientCapabilities': {},
};

describe('MCP message headers upstream come from the decided body (example policy)', () => {
  let up: RawUpstream;
  let gw: TestGateway;
  beforeAll(async () => {
    up = await startRawUpstream(({ res, json }) => {
      const id = (json as { id?: unknown })?.id;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ jsonrpc: '2.0', id, result: { content: [{ type: 'text', text: 'ok' }] } }));
    });
    gw = await startTestGateway({ policy: EXAMPLE_POLICY, targets: { demo: up.url }, config: { identity: { anonymous: { sub: 'eve', groups: ['support'] } } } });
  });
  afterAll(async () => {
    await gw?.close();
    await up?.close();
  });

  it('does not forward an Mcp-Name / Mcp-Method naming a denied tool beside a legacy-era body naming an allowed one', async () => {
    const res = await fetch(gw.endpoint(), {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-06-18', 'mcp-method': 'tools/call', 'mcp-name': 'delete_customer' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'list_customers', arguments: {} } }),
    });
    await res.text();
    expect(res.status).toBe(200);
    const seen = up.received.at(-1)!;
    expect(seen.body).toContain('list_customers');
    // The legacy era has no MCP message headers: none is passed on from the client.
    expect(seen.headers['mcp-name']).toBeUndefined();
    expect(seen.headers['mcp-method']).toBeUndefined();
  });

  it('does not forward an Mcp-Name on a 2026-07-28 request whose method names nothing (tools/list)', async () => {
    const before = up.received.length;
    const res = await fetch(gw.endpoint(), {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/list', 'mcp-name': 'delete_customer' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/list', params: { _meta: META } }),
    });
    await res.text();
    expect(up.received.length).toBe(before + 1);
    expect(up.received.at(-1)!.headers['mcp-name']).toBeUndefined();
    expect(up.received.at(-1)!.headers['mcp-method']).toBe('tools/list');
  });

  it('does not forward Mcp-Param-* headers that disagree with the arguments the policy saw', async () => {
    const before = up.received.length;
    const res = await fetch(gw.endpoint(), {
      method: 'POST',
      headers: {
        'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2026-07-28',
        'mcp-method': 'tools/call', 'mcp-name': 'get_order_status', 'mcp-param-order-id': 'ord_OF_SOMEONE_ELSE',
      },
      body: JSON.stringify({ jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'get_order_status', arguments: { order_id: 'ord_mine' }, _meta: META } }),
    });
    const body = JSON.parse(await res.text());
    expect({ status: res.status, code: body.error?.code }).toEqual({ status: 400, code: -32020 });
    expect(up.received.length).toBe(before);
  });

  it('passes on a Mcp-Param-* header that mirrors an argument the policy saw', async () => {
    const before = up.received.length;
    const res = await fetch(gw.endpoint(), {
      method: 'POST',
      headers: {
        'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2026-07-28',
        'mcp-method': 'tools/call', 'mcp-name': 'get_order_status', 'mcp-param-order-id': 'ord_mine',
      },
      body: JSON.stringify({ jsonrpc: '2.0', id: 4, method: 'tools/call', params: { name: 'get_order_status', arguments: { order_id: 'ord_mine' }, _meta: META } }),
    });
    await res.text();
    expect(res.status).toBe(200);
    expect(up.received.length).toBe(before + 1);
    expect(up.received.at(-1)!.headers).toMatchObject({ 'mcp-param-order-id': 'ord_mine', 'mcp-name': 'get_order_status', 'mcp-method': 'tools/call' });
  });
});
