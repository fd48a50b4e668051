// Outside review, through the real gateway: the plan key cache leak of
// test/unit/masking/review-fastpaths.test.ts. A hostile upstream answers one call with text that
// names a secret as `NAME=value`; from then on the same secret as a member name of any later
// answer (any caller, same mask list) leaves the gateway unscanned. Fails until fixed.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPlantedUpstream, type PlantedUpstream } from '../fixtures/planted-upstream.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';

const MODERN = '2026-07-28';
const META = {
  'io.modelcontextprotocol/protocolVersion': MODERN,
  'io.modelcontextprotocol/clientInfo': { name: 'review-fastpaths', version: '1' },
  'io.modelcontextprotocol/clientCapabilities': {},
};
const IBAN = 'GB82WEST12345698765432';
let nextId = 1;

async function call(url: string, kase: string): Promise<{ status: number; text: string }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': MODERN, 'mcp-method': 'tools/call', 'mcp-name': 'planted' },
    body: JSON.stringify({ jsonrpc: '2.0', id: nextId++, method: 'tools/call', params: { name: 'planted', arguments: { case: kase }, _meta: META } }),
  });
  return { status: res.status, text: await res.text() };
}

describe('gateway: a secret named in one answer\'s text is not scanned as a member name later', () => {
  let planted: PlantedUpstream;
  let gw: TestGateway;
  beforeAll(async () => {
    planted = await startPlantedUpstream({
      calls: {
        accounts: { result: { content: [{ type: 'text', text: 'see structured content' }], structuredContent: { accounts: { [IBAN]: { balance: 1 } } } } },
        poison: { result: { content: [{ type: 'text', text: `${IBAN}=active` }] } },
        rawcard: { raw: '{"content":[{"type":"text","text":"c"}],"structuredContent":{"n":4242424242424242e0,"m":6212345678901234569.0}}' },
        curl: { result: { content: [{ type: 'text', text: 'ran: curl -u [MASKED:a]b:hunter2 https://api.example' }] } },
      },
    });
    gw = await startTestGateway({ policy: 'test/fixtures/rego/masking-corpus', targets: { planted: planted.url } });
  });
  afterAll(async () => {
    await gw?.close();
    await planted?.close();
  });

  it('masks the IBAN member name before and after another answer wrote it as NAME=value', async () => {
    const direct = await call(planted.url, 'accounts');
    expect(direct.text).toContain(IBAN);
    const before = await call(gw.endpoint('planted'), 'accounts');
    expect(before.status).toBe(200);
    expect(before.text).not.toContain(IBAN);
    const poison = await call(gw.endpoint('planted'), 'poison');
    expect(poison.text).not.toContain(IBAN);
    const after = await call(gw.endpoint('planted'), 'accounts');
    expect(after.status).toBe(200);
    expect(after.text, 'the IBAN reached the client').not.toContain(IBAN);
  });

  it('masks a basic_auth password after a user shaped like part of a marker (regression)', async () => {
    const direct = await call(planted.url, 'curl');
    expect(direct.text).toContain('hunter2');
    const through = await call(gw.endpoint('planted'), 'curl');
    expect(through.status).toBe(200);
    expect(through.text, 'the password reached the client').not.toContain('hunter2');
  });

  it('masks card numbers written as number literals with an exponent or a fraction (old gap)', async () => {
    const direct = await call(planted.url, 'rawcard');
    expect(direct.text).toContain('4242424242424242e0');
    const through = await call(gw.endpoint('planted'), 'rawcard');
    expect(through.status).toBe(200);
    // A client's JSON.parse reads 4242424242424242 from "4242424242424242e0".
    expect(through.text, 'the card number reached the client').not.toMatch(/4242424242424242|6212345678901234569/);
  });
});
