// Seeded fuzzing of client bodies and headers through the real gateway (fast-check). Whatever a
// client sends, the gateway answers with a status from the documented set and, for errors, a
// JSON-RPC error body with a documented code; it never answers 500 and never logs an internal
// error. PORTCULLIS_FUZZ_RUNS raises the counts for a long run (default keeps CI fast);
// PORTCULLIS_FUZZ_SEED replays a run.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../gateway/errors.ts';
import { startModernUpstream, type UpstreamFixture } from '../fixtures/upstreams/index.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';

const RUNS = Number(process.env.PORTCULLIS_FUZZ_RUNS ?? 60);
const SEED = Number(process.env.PORTCULLIS_FUZZ_SEED ?? 20261201);
/** Per-property time allowed: a long run gets time in proportion (slow tools answer in ~1 s). */
const TIMEOUT = Math.max(120_000, RUNS * 300);
const CODES = new Set<number>(Object.values(ErrorCode));
const STATUSES = new Set([200, 202, 400, 403, 404, 405, 406, 413, 415, 422, 502]);

const METHODS = ['tools/call', 'tools/list', 'prompts/get', 'resources/read', 'resources/subscribe', 'initialize', 'ping', 'notifications/initialized', 'notifications/cancelled', '', 'x/y', 'tools/call\u0000'];
const TEXT = fc.oneof(
  fc.string(),
  fc.string({ unit: 'binary' }),
  fc.constantFrom('echo', 'delete_everything', 'approve_me', 'clock', '\ud800', '\udfff', '😀', '__proto__', 'constructor', 'a'.repeat(5000)),
);
const VALUE = fc.letrec((tie) => ({
  value: fc.oneof({ depthSize: 'small' }, TEXT, fc.integer(), fc.double(), fc.boolean(), fc.constant(null), fc.array(tie('value'), { maxLength: 4 }), fc.dictionary(TEXT, tie('value'), { maxKeys: 4 })),
})).value;
const META = fc.oneof(
  fc.constant(undefined),
  fc.record({ 'io.modelcontextprotocol/protocolVersion': fc.oneof(fc.constantFrom('2026-07-28', '2025-11-25', '2099-01-01'), VALUE) }, { requiredKeys: [] }),
  VALUE,
);

/** JSON-RPC-shaped objects, most of them almost right. */
const MESSAGE = fc.record({
  jsonrpc: fc.oneof(fc.constant('2.0'), VALUE),
  id: fc.oneof(fc.integer(), TEXT, fc.constant(null), fc.double(), VALUE),
  method: fc.oneof(fc.constantFrom(...METHODS), VALUE),
  params: fc.oneof(
    fc.record({ name: fc.oneof(TEXT, VALUE), uri: fc.oneof(TEXT, VALUE), arguments: VALUE, _meta: META }, { requiredKeys: [] }),
    VALUE,
  ),
  result: VALUE,
  error: VALUE,
  extra: VALUE,
}, { requiredKeys: [] });

/** Bodies: JSON-RPC-ish messages serialized, text with surrogate escapes, deep nesting, noise. */
const BODY = fc.oneof(
  MESSAGE.map((m) => JSON.stringify(m)),
  MESSAGE.map((m) => JSON.stringify(m).replace(/"echo"/g, '"\\ud800echo"')),
  fc.integer({ min: 1, max: 200 }).map((n) => `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":${'['.repeat(n)}${']'.repeat(n)}}}`),
  fc.string({ unit: 'binary', maxLength: 300 }),
  fc.array(MESSAGE, { maxLength: 3 }).map((m) => JSON.stringify(m)),
  fc.constantFrom('', 'null', '[]', '{}', '1', '"x"', '{"jsonrpc":"2.0","id":1e400,"method":"ping"}', '{"jsonrpc":"2.0","id":12345678901234567890,"method":"ping"}'),
);

const HEADER_VALUE = fc.oneof(
  fc.constantFrom('2026-07-28', '2025-11-25', 'tools/call', 'echo', '=?base64?ZWNobw==?=', '=?base64?!!?=', 'http://localhost', 'null', 'text/event-stream', 'application/json; charset=utf-8'),
  fc.string({ unit: fc.constantFrom(...'abc-/:=?;., 0123456789'), maxLength: 40 }),
);
const HEADERS = fc.record({
  'mcp-protocol-version': HEADER_VALUE,
  'mcp-method': HEADER_VALUE,
  'mcp-name': HEADER_VALUE,
  'mcp-session-id': HEADER_VALUE,
  'mcp-param-x': HEADER_VALUE,
  origin: HEADER_VALUE,
  'last-event-id': HEADER_VALUE,
  'content-type': HEADER_VALUE,
  accept: HEADER_VALUE,
}, { requiredKeys: [] });

describe('fuzzing client input through the gateway', () => {
  let upstream: UpstreamFixture;
  let gw: TestGateway;
  const seen = new Map<number, number>();
  beforeAll(async () => {
    upstream = await startModernUpstream();
    gw = await startTestGateway({ targets: { fixture: upstream.url }, config: { limits: { max_body_bytes: 64 * 1024 } } });
  });
  afterAll(async () => {
    await gw?.close();
    await upstream?.close();
    // The distribution of statuses, so a run that only ever hit one branch is visible.
    console.log(`fuzz: ${RUNS} runs per property, seed ${SEED}; statuses ${JSON.stringify(Object.fromEntries(seen))}`);
  });

  async function check(method: string, body: string | undefined, headers: Record<string, string>): Promise<void> {
    const res = await fetch(gw.endpoint(), {
      method, body,
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
      signal: AbortSignal.timeout(10_000),
    });
    seen.set(res.status, (seen.get(res.status) ?? 0) + 1);
    const text = res.headers.get('content-type') === 'text/event-stream' ? '' : await res.text();
    if (res.headers.get('content-type') === 'text/event-stream') await res.body?.cancel();
    expect(STATUSES.has(res.status), `status ${res.status} for ${body?.slice(0, 200)}`).toBe(true);
    if (res.status >= 400) {
      const parsed = JSON.parse(text);
      expect(parsed.jsonrpc).toBe('2.0');
      expect(CODES.has(parsed.error.code) || res.status === 502, `code ${parsed.error.code}`).toBe(true);
    }
    expect(gw.logs.filter((l) => l.includes('internal error'))).toEqual([]);
  }

  it('POST bodies', async () => {
    await fc.assert(fc.asyncProperty(BODY, async (body) => check('POST', body, {})), { numRuns: RUNS, seed: SEED });
  }, TIMEOUT);

  it('POST bodies with fuzzed MCP headers', async () => {
    await fc.assert(fc.asyncProperty(BODY, HEADERS, async (body, headers) => check('POST', body, headers)), { numRuns: RUNS, seed: SEED + 1 });
  }, TIMEOUT);

  it('well-formed 2026-07-28 calls with fuzzed names and arguments', async () => {
    const meta = { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientInfo': { name: 'fuzz', version: '1' }, 'io.modelcontextprotocol/clientCapabilities': {} };
    const name = fc.oneof(fc.constantFrom('echo', 'add', 'slow', 'delete_everything', 'approve_me', 'clock', 'nope'), fc.string({ maxLength: 20 }));
    await fc.assert(fc.asyncProperty(name, VALUE, fc.oneof(fc.integer(), fc.string({ maxLength: 10 })), async (tool, args, id) => {
      const body = JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: tool, arguments: { text: 'fuzz', value: args }, _meta: meta } });
      const encoded = `=?base64?${Buffer.from(tool).toString('base64')}?=`;
      await check('POST', body, { 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/call', 'mcp-name': encoded });
    }), { numRuns: RUNS, seed: SEED + 3 });
  }, TIMEOUT);

  it('GET and DELETE with fuzzed headers', async () => {
    await fc.assert(fc.asyncProperty(fc.constantFrom('GET', 'DELETE'), HEADERS, async (method, headers) => check(method, undefined, headers)), { numRuns: RUNS, seed: SEED + 2 });
  }, TIMEOUT);
});
