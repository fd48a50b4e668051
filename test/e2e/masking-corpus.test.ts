// The adversarial masking corpus (masking-corpus.cases.ts) through the real gateway, both eras:
// a hand-rolled hostile upstream (test/fixtures/planted-upstream.ts) answers every case with
// planted content, an SDK upstream echoes the text cases. For every case the same call made
// directly to the upstream proves the planted bytes were sent, and the gateway's answer (the
// whole HTTP body, SSE included) must contain none of them.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPlantedUpstream, type PlantedUpstream } from '../fixtures/planted-upstream.ts';
import { startModernUpstream, type UpstreamFixture } from '../fixtures/upstreams/index.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { CASES, PLANTED_RESOURCES, PLANTED_TOOLS } from './masking-corpus.cases.ts';

const H = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
const MODERN = '2026-07-28';
const LEGACY = '2025-11-25';
const META = {
  'io.modelcontextprotocol/protocolVersion': MODERN,
  'io.modelcontextprotocol/clientInfo': { name: 'masking-corpus', version: '1' },
  'io.modelcontextprotocol/clientCapabilities': {},
};

type Era = typeof MODERN | typeof LEGACY;
let nextId = 1;

/** One request in an era; returns the raw body text. */
async function send(url: string, era: Era, session: string | undefined, method: string, params: Record<string, unknown>, name?: string): Promise<{ status: number; text: string }> {
  const headers: Record<string, string> = { ...H, 'mcp-protocol-version': era };
  let body: Record<string, unknown>;
  if (era === MODERN) {
    headers['mcp-method'] = method;
    if (name !== undefined) headers['mcp-name'] = name;
    body = { jsonrpc: '2.0', id: nextId++, method, params: { ...params, _meta: META } };
  } else {
    if (session !== undefined) headers['mcp-session-id'] = session;
    body = { jsonrpc: '2.0', id: nextId++, method, params };
  }
  const res = await fetch(url, { method: 'POST', headers, body: JSON.stringify(body) });
  return { status: res.status, text: await res.text() };
}

/** A legacy session through `url` (initialize + initialized); returns its id. */
async function legacySession(url: string): Promise<string> {
  const init = await fetch(url, {
    method: 'POST',
    headers: H,
    body: JSON.stringify({ jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: LEGACY, capabilities: {}, clientInfo: { name: 'masking-corpus', version: '1' } } }),
  });
  await init.text();
  const sid = init.headers.get('mcp-session-id');
  expect(sid).toBeTruthy();
  const ack = await fetch(url, { method: 'POST', headers: { ...H, 'mcp-session-id': sid!, 'mcp-protocol-version': LEGACY }, body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }) });
  await ack.text();
  expect(ack.status).toBe(202);
  return sid!;
}

/** The forms a planted string can take in a JSON body: as is, and JSON-escaped. */
const forms = (s: string): string[] => [...new Set([s, JSON.stringify(s).slice(1, -1), JSON.stringify(s).slice(1, -1).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)])];
const holds = (body: string, s: string): boolean => forms(s).some((f) => body.includes(f));

function expectScreened(direct: string, through: string, secrets: readonly string[], keep: readonly string[] = []): void {
  for (const s of secrets) {
    expect(holds(direct, s), `the upstream sent ${JSON.stringify(s)}`).toBe(true);
    expect(holds(through, s), `${JSON.stringify(s)} reached the client`).toBe(false);
  }
  for (const k of keep) expect(holds(through, k), `${JSON.stringify(k)} was kept`).toBe(true);
  // Masked, not withheld: the gateway's own fail-closed answer would hide everything.
  expect(through).not.toContain('-32054');
}

describe('masking corpus: planted content never reaches the client', () => {
  let planted: PlantedUpstream;
  let sdk: UpstreamFixture;
  let gw: TestGateway;
  const sessions: Record<string, string> = {};
  beforeAll(async () => {
    planted = await startPlantedUpstream({
      calls: Object.fromEntries(CASES.map((c) => [c.name, c.answer])),
      tools: PLANTED_TOOLS.answer,
      resources: PLANTED_RESOURCES.answers,
    });
    sdk = await startModernUpstream({ modernResponse: 'auto' });
    gw = await startTestGateway({ policy: 'test/fixtures/rego/masking-corpus', targets: { planted: planted.url, sdk: sdk.url } });
    sessions.planted = await legacySession(gw.endpoint('planted'));
    sessions.sdk = await legacySession(gw.endpoint('sdk'));
    sessions.sdkDirect = await legacySession(sdk.url);
  });
  afterAll(async () => {
    await gw?.close();
    await sdk?.close();
    await planted?.close();
  });

  it('has at least 150 named cases', () => {
    expect(CASES.length).toBeGreaterThanOrEqual(150);
    expect(new Set(CASES.map((c) => c.name)).size).toBe(CASES.length);
  });

  for (const era of [MODERN, LEGACY] as const) {
    describe(`${era}, hostile upstream`, () => {
      it.each(CASES.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
        const params = { name: 'planted', arguments: { case: c.name } };
        const direct = await send(planted.url, era, 'direct', 'tools/call', params, 'planted');
        const through = await send(gw.endpoint('planted'), era, sessions.planted, 'tools/call', params, 'planted');
        expect(through.status).toBe(200);
        expectScreened(direct.text, through.text, c.secrets, c.keep);
      });

      it('tools/list: schemas keep their structure, the data in them is masked', async () => {
        const direct = await send(planted.url, era, 'direct', 'tools/list', {});
        const through = await send(gw.endpoint('planted'), era, sessions.planted, 'tools/list', {});
        expectScreened(direct.text, through.text, PLANTED_TOOLS.secrets);
        const json = JSON.parse(through.text.includes('data: ') ? through.text.slice(through.text.indexOf('data: ') + 6) : through.text);
        const schema = json.result.tools[0].inputSchema;
        expect(schema.properties.password.type).toBe('string');
        expect(schema.required).toEqual(['user', 'password']);
        expect(json.result.tools[0].outputSchema).toEqual({ type: 'object', properties: { password_hash: { type: 'string' } } });
      });

      it('resources/read: text and text-like blobs are masked', async () => {
        for (const uri of Object.keys(PLANTED_RESOURCES.answers)) {
          const direct = await send(planted.url, era, 'direct', 'resources/read', { uri }, uri);
          const through = await send(gw.endpoint('planted'), era, sessions.planted, 'resources/read', { uri }, uri);
          for (const s of PLANTED_RESOURCES.secrets) expect(holds(through.text, s)).toBe(false);
          expect(PLANTED_RESOURCES.secrets.some((s) => holds(direct.text, s))).toBe(true);
        }
      });
    });

    describe(`${era}, SDK upstream (echo)`, () => {
      const echoed = CASES.filter((c) => c.echo !== undefined);
      it.each(echoed.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
        const params = { name: 'echo', arguments: { text: c.echo } };
        const direct = await send(sdk.url, era, sessions.sdkDirect, 'tools/call', params, 'echo');
        const through = await send(gw.endpoint('sdk'), era, sessions.sdk, 'tools/call', params, 'echo');
        expect(through.status).toBe(200);
        expectScreened(direct.text, through.text, c.secrets, c.keep);
      });
    });
  }
});
