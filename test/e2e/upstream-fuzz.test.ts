// Seeded fuzzing of what an upstream answers, through the real gateway: random statuses, content
// types, headers, JSON bodies and SSE streams (event names, comments, ids, line endings,
// truncation, answers for the wrong id, twice, or not at all). Every byte the upstream must never
// get through carries LEAK. Properties: nothing marked reaches the client, every answer has the
// gateway's shape (a JSON-RPC message for the request, exactly one answer per request on a
// stream), and nothing is an internal error. PORTCULLIS_FUZZ_RUNS raises the count.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRawUpstream, type RawUpstream } from '../fixtures/upstreams/index.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';

const RUNS = Number(process.env.PORTCULLIS_FUZZ_RUNS ?? 60);
const SEED = Number(process.env.PORTCULLIS_FUZZ_SEED ?? 20261202);
const TIMEOUT = Math.max(300_000, RUNS * 100);
const LEAK = 'LEAK';
const ID = 7;

interface Scripted {
  status: number;
  headers: Record<string, string>;
  body: string | Buffer;
}

const ok = { jsonrpc: '2.0', id: ID, result: { content: [{ type: 'text', text: 'ok' }] } };
/** Messages an upstream might put in a JSON body or an event's data; LEAK only where it must not pass. */
const MESSAGE = fc.constantFrom<unknown>(
  ok,
  { ...ok, [`${LEAK}_member`]: LEAK },
  { jsonrpc: '2.0', id: ID + 1, result: { content: [{ type: 'text', text: `${LEAK} for another request` }] } },
  { jsonrpc: '2.0', id: String(ID), result: { content: [{ type: 'text', text: `${LEAK} id of another type` }] } },
  { jsonrpc: '2.0', id: ID, error: { code: -32000, message: 'failed', [`${LEAK}_member`]: LEAK } },
  { jsonrpc: '2.0', method: 'notifications/message', params: { level: 'info', data: 'note' }, [`${LEAK}_member`]: LEAK },
  { jsonrpc: '1.0', id: ID, result: { [LEAK]: 1 } },
  { jsonrpc: '2.0', id: ID, result: `${LEAK} not an object` },
  { jsonrpc: '2.0', id: ID, result: { content: [] }, error: { code: 1, message: LEAK } },
  [ok, ok],
  `${LEAK} not json`,
  `{"jsonrpc":"2.0","id":${ID},"result":{"content":[{"type":"text","text":"\\ud800${LEAK}"}]}}`,
  `{"jsonrpc":"2.0","id":${ID},"result":${'['.repeat(200)}${']'.repeat(200)}}`,
);
const text = (m: unknown) => (typeof m === 'string' ? m : JSON.stringify(m));

const EVENT = fc.record({
  name: fc.option(fc.constantFrom('message', `${LEAK}-type`), { nil: undefined }),
  id: fc.option(fc.constantFrom(`${LEAK}-id`, `${LEAK}\u0000nul`), { nil: undefined }),
  comment: fc.option(fc.constant(`${LEAK}-comment`), { nil: undefined }),
  retry: fc.option(fc.constantFrom('1000', `${LEAK}`), { nil: undefined }),
  data: fc.option(MESSAGE, { nil: undefined }),
});
const STREAM = fc.record({
  events: fc.array(EVENT, { maxLength: 4 }),
  eol: fc.constantFrom('\n', '\r', '\r\n'),
  cut: fc.option(fc.nat(), { nil: undefined }),
}).map(({ events, eol, cut }) => {
  let out = '';
  for (const e of events) {
    if (e.comment) out += `: ${e.comment}${eol}`;
    if (e.name) out += `event: ${e.name}${eol}`;
    if (e.id) out += `id: ${e.id}${eol}`;
    if (e.retry) out += `retry: ${e.retry}${eol}`;
    if (e.data !== undefined) out += `data: ${text(e.data)}${eol}`;
    out += eol;
  }
  return cut === undefined ? out : out.slice(0, cut % (out.length + 1));
});

const SSE_TYPE = fc.constantFrom('text/event-stream', 'text/event-stream; charset=utf-8', `TEXT/EVENT-STREAM; x=${LEAK}`);
const JSON_TYPE = fc.constantFrom('application/json', `application/json; charset=${LEAK}`, 'Application/JSON');
const HEADERS = fc.record({
  'x-leak': fc.constant(LEAK),
  'set-cookie': fc.constant(`${LEAK}=1`),
  'mcp-protocol-version': fc.constantFrom('2025-11-25', `${LEAK}`),
  'cache-control': fc.constant(`${LEAK}`),
  location: fc.constant(`http://${LEAK}.example/`),
}, { requiredKeys: [] });

const RESPONSE: fc.Arbitrary<Scripted> = fc.oneof(
  fc.record({ status: fc.constant(200), type: SSE_TYPE, headers: HEADERS, body: STREAM }).map(({ status, type, headers, body }) => ({ status, headers: { ...headers, 'content-type': type }, body })),
  fc.record({ status: fc.constantFrom(200, 200, 200, 400, 404, 500, 503), type: JSON_TYPE, headers: HEADERS, body: MESSAGE.map(text), cut: fc.option(fc.nat(), { nil: undefined }) })
    .map(({ status, type, headers, body, cut }) => ({ status, headers: { ...headers, 'content-type': type }, body: cut === undefined ? body : body.slice(0, cut % (body.length + 1)) })),
  fc.record({ status: fc.constantFrom(200, 301, 302, 307, 308, 400, 401, 403, 418, 500, 502), type: fc.constantFrom('text/html', 'text/plain', '', `${LEAK}/type`), headers: HEADERS })
    .map(({ status, type, headers }) => ({ status, headers: type ? { ...headers, 'content-type': type } : headers, body: `<p>${LEAK}</p>` })),
  fc.record({ type: SSE_TYPE, bytes: fc.uint8Array({ minLength: 1, maxLength: 64 }) }).map(({ type, bytes }) => ({ status: 200, headers: { 'content-type': type }, body: Buffer.concat([Buffer.from([0xff]), Buffer.from(bytes)]) })),
);

const STATUSES = new Set([200, 202, 400, 404, 405, 406, 409, 413, 415, 422, 429, 502, 504]);

describe('fuzzing upstream answers through the gateway', () => {
  let upstream: RawUpstream;
  let gw: TestGateway;
  let script: Scripted = { status: 200, headers: {}, body: '' };
  beforeAll(async () => {
    upstream = await startRawUpstream(({ res }) => {
      res.writeHead(script.status, script.headers);
      res.end(script.body);
    });
    gw = await startTestGateway({ targets: { hostile: { url: upstream.url, timeout_ms: 2000 } } });
  });
  afterAll(async () => {
    await gw?.close();
    await upstream?.close();
  });

  it.each(['legacy', 'stateless'] as const)('never leaks, always answers in shape (%s)', async (era) => {
    const meta = { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientInfo': { name: 'f', version: '1' }, 'io.modelcontextprotocol/clientCapabilities': {} };
    const headers: Record<string, string> = era === 'stateless'
      ? { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/call', 'mcp-name': 'echo' }
      : { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
    const body = JSON.stringify({ jsonrpc: '2.0', id: ID, method: 'tools/call', params: { name: 'echo', arguments: { text: 'x' }, ...(era === 'stateless' ? { _meta: meta } : {}) } });
    await fc.assert(fc.asyncProperty(RESPONSE, async (scripted) => {
      script = scripted;
      const res = await fetch(gw.endpoint(), { method: 'POST', headers, body, signal: AbortSignal.timeout(10_000) });
      const out = await res.text();
      expect(STATUSES.has(res.status), `status ${res.status}`).toBe(true);
      expect(out).not.toContain(LEAK);
      res.headers.forEach((value, name) => expect(`${name}: ${value}`).not.toContain(LEAK));
      const type = res.headers.get('content-type');
      if (type === 'text/event-stream') {
        expect(out).not.toMatch(/^event:/m);
        const messages = out.split('\n\n').flatMap((block) => {
          const data = block.split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n');
          return data === '' ? [] : [JSON.parse(data)];
        });
        const answers = messages.filter((m) => !('method' in m));
        expect(answers).toHaveLength(1);
        expect(answers[0].id).toBe(ID);
      } else {
        expect(type).toBe('application/json');
        const message = JSON.parse(out);
        expect(message.jsonrpc).toBe('2.0');
        expect(message.id).toBe(ID);
        expect(Object.keys(message).sort()).toEqual(message.error ? ['error', 'id', 'jsonrpc'] : ['id', 'jsonrpc', 'result']);
      }
      expect(gw.logs.filter((l) => l.includes('internal error'))).toEqual([]);
    }), { numRuns: RUNS, seed: era === 'legacy' ? SEED : SEED + 1 });
  }, TIMEOUT);
});
