// The example policy's customer record travels in other shapes than structuredContent and its
// exact text copy (a JSON blob, a text with a prefix, an error's data, a log notification): its
// key rules and detectors mask it wherever it goes, not only at the paths.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRawUpstream, type RawUpstream } from '../fixtures/upstreams/index.ts';
import { EXAMPLE_POLICY, FIXTURE_POLICY, startTestGateway, type TestGateway } from '../helpers/gateway.ts';

const META = {
  'io.modelcontextprotocol/protocolVersion': '2026-07-28',
  'io.modelcontextprotocol/clientInfo': { name: 'review', version: '1' },
  'io.modelcontextprotocol/clientCapabilities': {},
};
const SSN = '123-45-6789';
const CVC = '987';
const IBAN = 'DE89370400440532013000';
const customer = { customer: { id: 'cus_1', name: 'Ada', ssn: SSN, billing: { card_cvc: CVC, iban: IBAN } } };

let result: Record<string, unknown> = {};
let reply: ((id: unknown) => unknown) | undefined;
let sseEvents: ((id: unknown) => unknown[]) | undefined;

async function call(gw: TestGateway, name: string, args: object = {}): Promise<{ status: number; text: string }> {
  const res = await fetch(gw.endpoint(), {
    method: 'POST',
    headers: {
      'content-type': 'application/json', accept: 'application/json, text/event-stream',
      'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/call', 'mcp-name': name,
    },
    body: JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name, arguments: args, _meta: META } }),
  });
  return { status: res.status, text: await res.text() };
}

describe('the example customer record masked in every shape it travels (2026-07-28)', () => {
  let up: RawUpstream;
  let gw: TestGateway;
  let fx: TestGateway;
  beforeAll(async () => {
    up = await startRawUpstream(({ res, json }) => {
      const id = (json as { id?: unknown })?.id;
      if (sseEvents) {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.end(sseEvents(id).map((m) => `data: ${JSON.stringify(m)}\n\n`).join(''));
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(reply ? reply(id) : { jsonrpc: '2.0', id, result }));
    });
    gw = await startTestGateway({ policy: EXAMPLE_POLICY, targets: { demo: up.url }, config: { identity: { anonymous: { sub: 'eve', groups: ['support'] } } } });
    fx = await startTestGateway({ policy: FIXTURE_POLICY, targets: { fixture: up.url } });
  });
  afterAll(async () => {
    await gw?.close();
    await fx?.close();
    await up?.close();
  });

  it('masks the SSN, IBAN and CVC inside an embedded JSON resource blob copy of the customer', async () => {
    reply = undefined;
    result = {
      structuredContent: customer,
      content: [{ type: 'resource', resource: { uri: 'demo://customers/cus_1', mimeType: 'application/json', blob: Buffer.from(JSON.stringify(customer)).toString('base64') } }],
    };
    const { text } = await call(gw, 'get_customer', { customer_id: 'cus_1' });
    const blob = JSON.parse(text).result.content[0].resource.blob;
    const decoded = Buffer.from(blob, 'base64').toString('utf8');
    expect(decoded).not.toContain(SSN);
    expect(decoded).not.toContain(IBAN);
    expect(decoded).not.toContain(`"card_cvc":"${CVC}"`);
  });  it('masks the card CVC in a text block that carries the customer with a prefix ("Customer: {...}")', async () => {
    reply = undefined;
    result = { structuredContent: customer, content: [{ type: 'text', text: `Customer: ${JSON.stringify(customer)}` }] };
    const { text } = await call(gw, 'get_customer', { customer_id: 'cus_1' });
    expect(text).not.toContain(`\\"card_cvc\\":\\"${CVC}\\"`);
  });  it('masks the card CVC in a text block that carries only the inner customer object', async () => {
    reply = undefined;
    result = { structuredContent: customer, content: [{ type: 'text', text: JSON.stringify(customer.customer) }] };
    const { text } = await call(gw, 'get_customer', { customer_id: 'cus_1' });
    expect(text).not.toContain(`\\"card_cvc\\":\\"${CVC}\\"`);
  });  it('masks the customer record path fields in an error answer to get_customer (error.data.customer)', async () => {
    sseEvents = undefined;
    reply = (id) => ({ jsonrpc: '2.0', id, error: { code: -32000, message: 'customer failed validation', data: customer } });
    const { text } = await call(gw, 'get_customer', { customer_id: 'cus_1' });
    expect(text).not.toContain(SSN);
    expect(text).not.toContain(IBAN);
  });  it('masks the customer record carried by a progress notification on the get_customer stream', async () => {
    reply = undefined;
    sseEvents = (id) => [
      { jsonrpc: '2.0', method: 'notifications/message', params: { level: 'debug', logger: 'db', data: customer } },
      { jsonrpc: '2.0', id, result: { structuredContent: customer, content: [{ type: 'text', text: JSON.stringify(customer) }] } },
    ];
    const { text } = await call(gw, 'get_customer', { customer_id: 'cus_1' });
    sseEvents = undefined;
    expect(text).toContain('notifications/message');
    expect(text).not.toContain(SSN);
    expect(text).not.toContain(IBAN);
  });});
