// What of a client's trace context reaches the upstream, and who decides sampling
// (docs/telemetry.md, "Trace context"): with tracing off a well-formed traceparent passes and its
// tracestate only within the W3C limits, never baggage; trust_incoming_sampling lets the client's
// sampled flag decide. Errors quote no body values (spans and recordings carry them).
import { randomBytes } from 'node:crypto';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../gateway/errors.ts';
import { startRawUpstream, type RawExchange, type RawUpstream } from '../fixtures/upstreams/index.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';

const V = '2026-07-28';
const META = { 'io.modelcontextprotocol/protocolVersion': V, 'io.modelcontextprotocol/clientInfo': { name: 't', version: '1' }, 'io.modelcontextprotocol/clientCapabilities': {} };
let nextId = 1;

function answer(x: RawExchange): void {
  const msg = x.json as any;
  if (msg?.id === undefined) {
    x.res.writeHead(202).end();
    return;
  }
  x.res.writeHead(200, { 'content-type': 'application/json' });
  x.res.end(JSON.stringify({ jsonrpc: '2.0', id: msg.id, result: { content: [{ type: 'text', text: 'ok' }] } }));
}

async function call(gw: TestGateway, headers: Record<string, string>, body?: string) {
  const id = nextId++;
  const res = await fetch(gw.endpoint('modern'), {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': V, 'mcp-method': 'tools/call', 'mcp-name': 'echo', ...headers },
    body: body ?? JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'echo', arguments: { text: 'hi' }, _meta: META } }),
  });
  return { id, status: res.status, json: (await res.json()) as any };
}

describe('trace context upstream, tracing off', () => {
  let up: RawUpstream;
  let gw: TestGateway;
  beforeAll(async () => {
    up = await startRawUpstream(answer);
    gw = await startTestGateway({ targets: { modern: up.url } });
  });
  afterAll(async () => {
    await gw?.close();
    await up?.close();
  });
  const sent = (id: number) => up.received.find((q) => (q.json as any)?.id === id)!;

  it('passes a well-formed traceparent unchanged, its tracestate cut to the W3C limits, and no baggage', async () => {
    const traceparent = `00-${randomBytes(16).toString('hex')}-${randomBytes(8).toString('hex')}-01`;
    const members = Array.from({ length: 40 }, (_, i) => `k${i}=v${i}`);
    const r = await call(gw, { traceparent, tracestate: members.join(','), baggage: 'tenant=victim-corp' });
    expect(r.json.result).toBeDefined();
    const got = sent(r.id).headers;
    expect(got.traceparent).toBe(traceparent);
    expect(String(got.tracestate).split(',').length).toBe(32);
    expect(got.baggage).toBeUndefined();
  });

  it('passes nothing of a malformed traceparent, nor a tracestate without one', async () => {
    const r = await call(gw, { traceparent: '00-zz-nope-01', tracestate: 'evil=1' });
    const got = sent(r.id).headers;
    expect({ traceparent: got.traceparent, tracestate: got.tracestate }).toEqual({ traceparent: undefined, tracestate: undefined });
    const r2 = await call(gw, { tracestate: 'evil=1', baggage: 'a=b' });
    expect({ tracestate: sent(r2.id).headers.tracestate, baggage: sent(r2.id).headers.baggage }).toEqual({ tracestate: undefined, baggage: undefined });
  });

  it('answers a body that is not JSON -32700 without repeating any of it', async () => {
    const secret = `s3cret-${randomBytes(4).toString('hex')}`;
    const r = await call(gw, {}, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"${secret}" oops}}`);
    expect(r.status).toBe(400);
    expect(r.json.error.code).toBe(ErrorCode.ParseError);
    expect(JSON.stringify(r.json)).not.toContain(secret);
  });

  it('answers a Mcp-Name that disagrees with the body -32020, naming the field, not the values', async () => {
    const secret = `grace-${randomBytes(4).toString('hex')}@example.com`;
    const r = await call(gw, { 'mcp-name': `other-${secret}` }, JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: secret, arguments: {}, _meta: META } }));
    expect(r.status).toBe(400);
    expect(r.json.error.code).toBe(ErrorCode.HeaderMismatch);
    expect(r.json.error.message).toContain('params.name');
    expect(JSON.stringify(r.json)).not.toContain(secret);
  });
});

describe('trace context, tracing on, trust_incoming_sampling: true', () => {
  const exporter = new InMemorySpanExporter();
  let up: RawUpstream;
  let gw: TestGateway;
  beforeAll(async () => {
    up = await startRawUpstream(answer);
    gw = await startTestGateway({ targets: { modern: up.url }, config: { telemetry: { enabled: true, traces: { trust_incoming_sampling: true } } }, gateway: { spanExporter: exporter } });
  });
  afterAll(async () => {
    await gw?.close();
    await up?.close();
  });

  it('follows a client\'s not-sampled flag (no spans), keeping its trace id upstream', async () => {
    exporter.reset();
    const traceId = randomBytes(16).toString('hex');
    const r = await call(gw, { traceparent: `00-${traceId}-${randomBytes(8).toString('hex')}-00` });
    expect(r.json.result).toBeDefined();
    expect(exporter.getFinishedSpans()).toHaveLength(0);
    expect(up.received.find((q) => (q.json as any)?.id === r.id)!.headers.traceparent).toMatch(new RegExp(`^00-${traceId}-[0-9a-f]{16}-00$`));
  });
});
