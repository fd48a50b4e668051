// Every shape of answer a call gets is decided and masked: the response-time decision sees an error
// and an input_required result (rebuilt from the members MRTR defines, so nothing rides beside them
// undecided); the example customer record is masked in every shape it travels in (a JSON blob, a
// text with a prefix, an error's data, a log notification), by its key rules and detectors as well
// as its paths; a progress token stays correlation.
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

describe('every shape of answer, decided and masked (2026-07-28)', () => {
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

  it('applies the response-time decision to a result labelled input_required that also carries content', async () => {
    reply = (id) => ({ jsonrpc: '2.0', id, result: { resultType: 'input_required', inputRequests: {}, content: [{ type: 'text', text: 'this has forbidden-word in it' }] } });
    const { text } = await call(fx, 'echo', { text: 'x' });
    expect(text).not.toContain('forbidden-word');
  });  it('applies the response-time decision to an error answer (error.message / error.data)', async () => {
    reply = (id) => ({ jsonrpc: '2.0', id, error: { code: -32000, message: 'failed: forbidden-word', data: { detail: 'forbidden-word here' } } });
    const { text } = await call(fx, 'echo', { text: 'x' });
    // Refused by the response-time decision, which saw the error as result.error.
    expect(JSON.parse(text).error).toMatchObject({ code: -32051, data: { portcullis: { rule_ids: ['fixture.response.forbidden'] } } });
    expect(text).not.toContain('failed: forbidden-word');
    expect(text).not.toContain('forbidden-word here');
  });  it('keeps the progressToken of a progress notification on a masked call stream (correlation, not content)', async () => {
    reply = undefined;
    sseEvents = (id) => [
      { jsonrpc: '2.0', method: 'notifications/progress', params: { progressToken: 'p-1', progress: 1, total: 2 } },
      { jsonrpc: '2.0', id, result: { content: [{ type: 'text', text: 'done' }] } },
    ];
    const { text } = await call(gw, 'get_customer', { customer_id: 'cus_1' });
    sseEvents = undefined;
    expect(text).toContain('notifications/progress');
    expect(text).toContain('"progressToken":"p-1"');
  });

  it('still masks a secret-shaped progressToken (the detectors read it)', async () => {
    const secret = 'ghp_' + 'a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8';
    reply = undefined;
    sseEvents = (id) => [
      { jsonrpc: '2.0', method: 'notifications/progress', params: { progressToken: secret, progress: 1, total: 2 } },
      { jsonrpc: '2.0', id, result: { content: [{ type: 'text', text: 'done' }] } },
    ];
    const { text } = await call(gw, 'get_customer', { customer_id: 'cus_1' });
    sseEvents = undefined;
    expect(text).toContain('notifications/progress');
    expect(text).not.toContain(secret);
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
  });
});
