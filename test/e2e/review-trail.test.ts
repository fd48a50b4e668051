// Outside review of the audit trail (spans, metrics, decision records, recordings), as a hostile
// client or a hostile upstream. Every test here states what docs/telemetry.md and docs/audit.md
// promise and fails where the gateway does not keep it: each is a finding of the review.
import { randomBytes } from 'node:crypto';
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../gateway/errors.ts';
import type { RecordedMessage, RecordingSink } from '../../gateway/recordings/entry.ts';
import { semconv as S } from '../../gateway/telemetry/index.ts';
import { startLegacyUpstream, startRawUpstream, type RawExchange, type RawUpstream, type UpstreamFixture } from '../fixtures/upstreams/index.ts';
import { ALLOW_ALL_POLICY, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { freePort, parseBody } from '../helpers/identity-stack.ts';
import { startTestIdp, type TestIdp } from '../helpers/idp.ts';
import { openLegacySession } from '../helpers/legacy-session.ts';

/** A recording sink the test can fill: `full` refuses new exchanges (admit) and every message. */
class MemorySink implements RecordingSink {
  readonly enabled = true;
  full = false;
  entries: RecordedMessage[] = [];
  admit(): boolean {
    return !this.full;
  }
  record(entry: RecordedMessage): boolean {
    if (this.full) return false;
    this.entries.push(entry);
    return true;
  }
}

const V = '2026-07-28';
const META = { 'io.modelcontextprotocol/protocolVersion': V, 'io.modelcontextprotocol/clientInfo': { name: 'review', version: '1' }, 'io.modelcontextprotocol/clientCapabilities': {} };
let nextId = 1000;

/** One 2026-07-28 message through the gateway, headers as the era requires. */
async function send(gw: TestGateway, target: string, method: string, params: Record<string, unknown>, o: { id?: string | number | null; name?: string; headers?: Record<string, string> } = {}) {
  const id = o.id === undefined ? nextId++ : o.id;
  const res = await fetch(gw.endpoint(target), {
    method: 'POST',
    headers: {
      'content-type': 'application/json', accept: 'application/json, text/event-stream',
      'mcp-protocol-version': V, 'mcp-method': method, ...(o.name === undefined ? {} : { 'mcp-name': o.name }), ...o.headers,
    },
    body: JSON.stringify({ jsonrpc: '2.0', ...(id === null ? {} : { id }), method, params: { ...params, _meta: { ...META, ...(params._meta as object | undefined) } } }),
  });
  const text = await res.text();
  return { id, status: res.status, text, json: parseBody(text, res.headers.get('content-type')) as any };
}

/** Where a value shows in exported spans: `<span name> <field>` for the name, each attribute, event and status message. */
function spanLeaks(spans: ReadableSpan[], value: string): string[] {
  const out: string[] = [];
  for (const s of spans) {
    const name = s.name.slice(0, 60);
    if (s.name.includes(value)) out.push(`${name} (span name)`);
    for (const [k, v] of Object.entries(s.attributes)) if (JSON.stringify(v).includes(value)) out.push(`${name} ${k}`);
    for (const e of s.events) if (JSON.stringify(e).includes(value)) out.push(`${name} event ${e.name}`);
    if (s.status.message?.includes(value)) out.push(`${name} status.message`);
  }
  return out;
}

/** Where a value shows in recorded messages: `<kind> <direction> <field>`. */
function recordLeaks(entries: RecordedMessage[], value: string): string[] {
  const out: string[] = [];
  for (const e of entries) {
    for (const [k, v] of Object.entries(e)) if (JSON.stringify(v ?? null).includes(value)) out.push(`${e.kind} ${e.direction} ${k}`);
  }
  return out;
}

const sse = (res: RawExchange['res'], messages: unknown[]) => {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  for (const m of messages) res.write(`event: message\ndata: ${JSON.stringify(m)}\n\n`);
  res.end();
};

/** A hostile upstream: answers what it is asked, and writes what the test plants. */
function hostileHandler(plant: { onCall?: (msg: any, x: RawExchange) => boolean }) {
  return (x: RawExchange) => {
    const msg = x.json as any;
    if (msg?.method === undefined || msg.id === undefined) {
      x.res.writeHead(202).end();
      return;
    }
    if (plant.onCall?.(msg, x)) return;
    if (msg.method === 'resources/read') {
      x.res.writeHead(200, { 'content-type': 'application/json' });
      x.res.end(JSON.stringify({ jsonrpc: '2.0', id: msg.id, result: { contents: [{ uri: msg.params.uri, text: 'resource body' }] } }));
      return;
    }
    x.res.writeHead(200, { 'content-type': 'application/json' });
    x.res.end(JSON.stringify({ jsonrpc: '2.0', id: msg.id, result: { content: [{ type: 'text', text: 'ok' }] } }));
  };
}

describe('review: unmasked values reach the trail', () => {
  const sink = new MemorySink();
  const exporter = new InMemorySpanExporter();
  const plant: { onCall?: (msg: any, x: RawExchange) => boolean } = {};
  let up: RawUpstream;
  let gw: TestGateway;
  beforeAll(async () => {
    up = await startRawUpstream(hostileHandler(plant));
    gw = await startTestGateway({ targets: { modern: up.url }, config: { telemetry: { enabled: true } }, gateway: { spanExporter: exporter, recordings: sink } });
  });
  afterAll(async () => {
    await gw?.close();
    await up?.close();
  });

  // The fixture policy masks e-mail addresses (detector email) on a resources/read of any test://
  // URI other than test://hello: the recorded request is masked, the answer reaches the client masked.
  const SECRET = 'ada.lovelace@example.com';
  const URI = `test://customers/${SECRET}`;

  it('R1a: a resource URI the policy masks (its request is recorded masked) is not put on spans unmasked', async () => {
    exporter.reset();
    const r = await send(gw, 'modern', 'resources/read', { uri: URI }, { name: URI });
    expect(r.json.result.contents[0].uri).toContain('[MASKED:email');
    expect(JSON.stringify(r.json)).not.toContain(SECRET);
    const request = sink.entries.find((e) => e.rpcId === r.id && e.kind === 'request')!;
    expect(JSON.stringify(request.message)).not.toContain(SECRET);
    // The masked value is in the span name's attribute mcp.resource.uri, on the SERVER span.
    expect(spanLeaks(exporter.getFinishedSpans(), SECRET)).toEqual([]);
  });

  it('R1b: the same URI is not kept unmasked in the recording (the answer\'s `name` field)', async () => {
    const r = await send(gw, 'modern', 'resources/read', { uri: URI }, { name: URI });
    const mine = sink.entries.filter((e) => e.rpcId === r.id);
    expect(mine.map((e) => e.kind)).toEqual(['request', 'response']);
    // The request's name is taken from the masked message; the response's from the raw request.
    expect(mine[0]!.name).toContain('[MASKED:email');
    expect(recordLeaks(mine, SECRET)).toEqual([]);
  });

  it('R1c: the same URI is not in the decision records (stdout / OPA decision-log `input.name`) unmasked', async () => {
    const before = gw.audit.length;
    await send(gw, 'modern', 'resources/read', { uri: URI }, { name: URI });
    const records = gw.audit.slice(before);
    expect(records.length).toBeGreaterThan(0);
    expect(records.filter((d) => JSON.stringify(d).includes(SECRET)).map((d) => `${d.direction} ${d.method} name`)).toEqual([]);
  });

  it('R1d: a header/body mismatch error quoting the URI does not put it on the span (status message) or in the recording', async () => {
    exporter.reset();
    const r = await send(gw, 'modern', 'resources/read', { uri: URI }, { name: 'test://other' });
    expect(r.json.error.code).toBe(ErrorCode.HeaderMismatch);
    const mine = sink.entries.filter((e) => e.rpcId === r.id);
    expect([...spanLeaks(exporter.getFinishedSpans(), SECRET), ...recordLeaks(mine, SECRET)]).toEqual([]);
  });

  it('R2: a hostile upstream\'s notification named like prompts/get: masked for the client, raw in the span name', async () => {
    const secret = 'grace.hopper@example.com';
    plant.onCall = (msg, x) => {
      if (msg.method !== 'tools/call') return false;
      sse(x.res, [
        { jsonrpc: '2.0', method: 'prompts/get', params: { name: `for ${secret}` } },
        { jsonrpc: '2.0', method: 'resources/read', params: { uri: `mailto:${secret}` } },
        { jsonrpc: '2.0', id: msg.id, result: { content: [{ type: 'text', text: 'ok' }] } },
      ]);
      return true;
    };
    try {
      exporter.reset();
      // echo's request mask (detector email) applies to everything on its stream.
      const r = await send(gw, 'modern', 'tools/call', { name: 'echo', arguments: { text: 'hi' } }, { name: 'echo' });
      expect(r.status).toBe(200);
      expect(r.text).toContain('[MASKED:email');
      expect(r.text).not.toContain(secret);
      expect(recordLeaks(sink.entries, secret)).toEqual([]);
      expect(spanLeaks(exporter.getFinishedSpans(), secret)).toEqual([]);
    } finally {
      plant.onCall = undefined;
    }
  });
});

describe('review: attacker-chosen values as metric labels (/metrics is unauthenticated)', () => {
  let up: RawUpstream;
  let gw: TestGateway;
  const exporter = new InMemorySpanExporter();
  const plant: { onCall?: (msg: any, x: RawExchange) => boolean } = {};
  beforeAll(async () => {
    up = await startRawUpstream(hostileHandler(plant));
    gw = await startTestGateway({ targets: { modern: up.url }, config: { telemetry: { enabled: true } }, gateway: { spanExporter: exporter } });
  });
  afterAll(async () => {
    await gw?.close();
    await up?.close();
  });

  it('R3a: a client\'s method names do not become `method` label values of portcullis_decisions_total', async () => {
    const tag = randomBytes(6).toString('hex');
    for (let i = 0; i < 20; i++) {
      const r = await send(gw, 'modern', `x/${tag}-${i}-${'A'.repeat(2048)}`, {}, { id: null });
      expect(r.status).toBe(202);
    }
    const metrics = await (await fetch(`${gw.url}/metrics`)).text();
    // 20 notifications, 20 new series, each label value 2 KiB of the caller's choosing; the SDK's
    // cardinality limit (2000 per instrument) bounds the series, not their size, and once reached
    // it folds every legitimate series into otel_metric_overflow.
    const series = metrics.split('\n').filter((l) => l.startsWith('portcullis_decisions_total{') && l.includes(tag));
    expect({ series: series.length, longestLine: Math.max(0, ...series.map((l) => l.length)) }).toEqual({ series: 0, longestLine: 0 });
  });

  it('R3d: a hostile upstream\'s method names (input_required inputRequests) do not become metric label values', async () => {
    const tag = randomBytes(6).toString('hex');
    plant.onCall = (msg, x) => {
      if (msg.method !== 'tools/call') return false;
      const inputRequests = Object.fromEntries(Array.from({ length: 25 }, (_, i) => [`k${i}`, { method: `up/${tag}-${i}`, params: {} }]));
      x.res.writeHead(200, { 'content-type': 'application/json' });
      x.res.end(JSON.stringify({ jsonrpc: '2.0', id: msg.id, result: { resultType: 'input_required', inputRequests, requestState: 'opaque' } }));
      return true;
    };
    try {
      const r = await send(gw, 'modern', 'tools/call', { name: 'echo', arguments: { text: 'hi' } }, { name: 'echo' });
      expect(r.json.result.resultType).toBe('input_required');
    } finally {
      plant.onCall = undefined;
    }
    const metrics = await (await fetch(`${gw.url}/metrics`)).text();
    // One answer, 25 new series of portcullis_decisions_total, named by the upstream.
    expect(metrics.split('\n').filter((l) => l.startsWith('portcullis_decisions_total{') && l.includes(tag)).length).toBe(0);
  });

  it('R3b: a client\'s method name does not become an unbounded span name', async () => {
    exporter.reset();
    // Legacy-shaped (no Mcp-Method header, so no header-size bound): only the body limit bounds it.
    const method = `x/${'B'.repeat(100_000)}`;
    const res = await fetch(gw.endpoint('modern'), {
      method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', method, params: {} }),
    });
    await res.text();
    expect(res.status).toBe(202);
    const longest = Math.max(...exporter.getFinishedSpans().map((s) => s.name.length));
    // Span names are meant to be low-cardinality (`{mcp.method.name} {target}`, fixed stage names).
    expect(longest).toBeLessThan(1024);
  });

  it('R3c: a client\'s JSON-RPC id does not become an unbounded span attribute (jsonrpc.request.id)', async () => {
    exporter.reset();
    const id = `id-${'C'.repeat(200_000)}`;
    const r = await send(gw, 'modern', 'tools/call', { name: 'echo', arguments: { text: 'hi' } }, { name: 'echo', id });
    expect(r.status).toBe(200);
    // Each span of the exchange that carries it keeps all 200 kB (no attribute length limit is set),
    // and BatchSpanProcessor queues up to 2048 spans before export.
    const longest = Math.max(0, ...exporter.getFinishedSpans().map((s) => String(s.attributes[S.ATTR_JSONRPC_REQUEST_ID] ?? '').length));
    expect(longest).toBeLessThan(1024);
  });
});

describe('review: trace context from the client', () => {
  const exporter = new InMemorySpanExporter();
  let up: RawUpstream;
  let gw: TestGateway;
  beforeAll(async () => {
    up = await startRawUpstream(hostileHandler({}));
    gw = await startTestGateway({ targets: { modern: up.url }, config: { telemetry: { enabled: true } }, gateway: { spanExporter: exporter } });
  });
  afterAll(async () => {
    await gw?.close();
    await up?.close();
  });

  it('R4: a client cannot opt its calls out of the trace (sample_ratio 1) with a not-sampled traceparent', async () => {
    exporter.reset();
    const traceId = randomBytes(16).toString('hex');
    const r = await send(gw, 'modern', 'tools/call', { name: 'echo', arguments: { text: 'quiet' } }, {
      name: 'echo', headers: { traceparent: `00-${traceId}-${randomBytes(8).toString('hex')}-00` },
    });
    expect(r.json.result).toBeDefined();
    // "One SERVER span per MCP message that crosses the gateway": this call has none.
    const server = exporter.getFinishedSpans().filter((s) => s.attributes[S.ATTR_JSONRPC_REQUEST_ID] === String(r.id));
    expect(server.length).toBeGreaterThan(0);
  });

  it('R5a: a client\'s tracestate header is not sent upstream beside a traceparent it does not belong to', async () => {
    const before = up.received.length;
    const junk = `evil=${'x'.repeat(200)},${Array.from({ length: 40 }, (_, i) => `k${i}=v`).join(',')}`;
    const r = await send(gw, 'modern', 'tools/call', { name: 'echo', arguments: { text: 'hi' } }, {
      name: 'echo', headers: { traceparent: 'not-a-traceparent', tracestate: junk, baggage: 'tenant=victim-corp' },
    });
    expect(r.json.result).toBeDefined();
    const got = up.received.slice(before).find((q) => (q.json as any)?.id === r.id)!;
    // The gateway started a new trace (the client's traceparent is invalid) and sends its own
    // traceparent; the client's raw tracestate (41 members, over the W3C limits) rides along.
    expect(got.headers.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/);
    expect({ forwardedTracestateChars: (got.headers.tracestate ?? '').length, clientsMembersForwarded: (got.headers.tracestate ?? '').includes('evil=') })
      .toEqual({ forwardedTracestateChars: 0, clientsMembersForwarded: false });
  });

  it('R5c: a client\'s baggage header is not passed upstream as-is through a traced gateway (untrusted at a trust boundary)', async () => {
    const before = up.received.length;
    const r = await send(gw, 'modern', 'tools/call', { name: 'echo', arguments: { text: 'hi' } }, { name: 'echo', headers: { baggage: 'tenant=victim-corp,role=admin' } });
    expect(r.json.result).toBeDefined();
    const got = up.received.slice(before).find((q) => (q.json as any)?.id === r.id)!;
    expect(got.headers.baggage).toBeUndefined();
  });

  it('R5b: in 2026-07-28, a client\'s params._meta.tracestate is not sent upstream beside the gateway\'s traceparent', async () => {
    const before = up.received.length;
    const r = await send(gw, 'modern', 'tools/call', { name: 'echo', arguments: { text: 'hi' }, _meta: { traceparent: 'bogus', tracestate: `evil=${'y'.repeat(4000)}` } }, { name: 'echo' });
    expect(r.json.result).toBeDefined();
    const got = up.received.slice(before).find((q) => (q.json as any)?.id === r.id)!;
    const meta = (got.json as any).params._meta;
    expect(meta.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/);
    expect({ forwardedTracestateChars: String(meta.tracestate ?? '').length }).toEqual({ forwardedTracestateChars: 0 });
  });
});

describe('review: messages that go upstream unrecorded', () => {
  const sink = new MemorySink();
  const plant: { onCall?: (msg: any, x: RawExchange) => boolean } = {};
  let up: RawUpstream;
  let legacy: UpstreamFixture;
  let gw: TestGateway;
  beforeAll(async () => {
    [up, legacy] = await Promise.all([startRawUpstream(hostileHandler(plant)), startLegacyUpstream()]);
    gw = await startTestGateway({ targets: { modern: up.url, legacy: legacy.url }, gateway: { recordings: sink } });
  });
  afterAll(async () => {
    await gw?.close();
    await Promise.all([up?.close(), legacy?.close()]);
  });

  it('R6: a refused server request, and the gateway\'s answer to it sent upstream (answerUpstream), are recorded', async () => {
    plant.onCall = (msg, x) => {
      if (msg.method !== 'tools/call') return false;
      sse(x.res, [
        { jsonrpc: '2.0', id: 'srv-1', method: 'sampling/createMessage', params: { messages: [], maxTokens: 5 } },
        { jsonrpc: '2.0', id: msg.id, result: { content: [{ type: 'text', text: 'ok' }] } },
      ]);
      return true;
    };
    try {
      const before = up.received.length;
      const r = await send(gw, 'modern', 'tools/call', { name: 'echo', arguments: { text: 'hi' } }, { name: 'echo' });
      expect(r.status).toBe(200);
      // The gateway answered the sampling request upstream on the client's behalf (fixture.no_sampling).
      let answered: any;
      for (let i = 0; i < 100 && answered === undefined; i++) {
        answered = up.received.slice(before).map((q) => q.json as any).find((m) => m?.id === 'srv-1');
        if (answered === undefined) await new Promise((res) => setTimeout(res, 20));
      }
      expect(answered?.error?.code).toBe(ErrorCode.PolicyDenied);
      // "every message of every exchange that crosses the gateway, in both directions, is kept".
      const srv = sink.entries.filter((e) => e.rpcId === 'srv-1');
      expect(srv.map((e) => `${e.direction} ${e.origin}`)).toEqual(expect.arrayContaining(['server_to_client upstream', 'client_to_server gateway']));
    } finally {
      plant.onCall = undefined;
    }
  });

  it('R7: with the recording buffer full (fail_closed), a legacy DELETE is not forwarded unrecorded', async () => {
    const session = await openLegacySession(gw.endpoint('legacy'));
    sink.full = true;
    try {
      const before = legacy.received.length;
      const res = await fetch(gw.endpoint('legacy'), { method: 'DELETE', headers: { 'mcp-session-id': session.id, 'mcp-protocol-version': '2025-06-18' } });
      await res.text();
      // A GET on the same session is refused -32092; DELETE reaches the upstream and ends the session.
      expect(legacy.received.slice(before).filter((q) => q.method === 'DELETE').map((q) => `${q.method} ${q.headers['mcp-session-id']}`)).toEqual([]);
      expect(res.status).toBe(503);
    } finally {
      sink.full = false;
    }
  });
});

describe('review: a legacy approval hold (SSE) that ends without the call', () => {
  const sink = new MemorySink();
  let legacy: UpstreamFixture;
  let gw: TestGateway;
  beforeAll(async () => {
    legacy = await startLegacyUpstream();
    gw = await startTestGateway({
      policy: 'test/fixtures/rego/approvals',
      targets: { legacy: legacy.url },
      config: { approvals: { enabled: true, max_hold_seconds: 1, keepalive_seconds: 1, sweep_interval_ms: 100 } },
      gateway: { recordings: sink },
    });
  });
  afterAll(async () => {
    await gw?.close();
    await legacy?.close();
  });

  it('R8: the held request and the gateway\'s refusal that ends the hold are recorded (docs/audit.md: "answered from the approval stage")', async () => {
    const session = await openLegacySession(gw.endpoint('legacy'));
    const id = 'held-1';
    const res = await fetch(gw.endpoint('legacy'), {
      method: 'POST', headers: session.post,
      body: JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'echo', arguments: { text: 'sre: restart the cache' }, _meta: { progressToken: 'p1' } } }),
    });
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    // Nobody votes: the hold ends after max_hold_seconds with the gateway's error on the stream.
    const answer = parseBody(await res.text(), res.headers.get('content-type')) as any;
    expect(answer.id).toBe(id);
    expect(answer.error).toBeDefined();
    expect(legacy.received.filter((q) => (q.json as any)?.id === id)).toEqual([]);
    const mine = sink.entries.filter((e) => e.rpcId === id).map((e) => `${e.direction} ${e.origin} ${e.kind}`);
    expect(mine).toEqual(['client_to_server client request', 'server_to_client gateway response']);
  });
});

describe('review: the real recorder and a legacy upstream that issues no session id', () => {
  let up: RawUpstream;
  let gw: TestGateway;
  beforeAll(async () => {
    // A legacy (2025) server in stateless mode: it answers initialize without an Mcp-Session-Id,
    // as the SDKs' servers do with sessions off.
    up = await startRawUpstream(hostileHandler({
      onCall: (msg, x) => {
        if (msg.method !== 'initialize') return false;
        x.res.writeHead(200, { 'content-type': 'application/json' });
        x.res.end(JSON.stringify({ jsonrpc: '2.0', id: msg.id, result: { protocolVersion: '2025-06-18', capabilities: { tools: {} }, serverInfo: { name: 'stateless', version: '1' } } }));
        return true;
      },
    }));
    gw = await startTestGateway({ targets: { legacy: up.url }, config: { recordings: { enabled: true, auditor_groups: [] } } });
  });
  afterAll(async () => {
    await gw?.close();
    await up?.close();
  });

  it('R9: with recordings on (fail_closed, buffer empty), a session-less legacy exchange is recorded, not refused -32092', async () => {
    const res = await fetch(gw.endpoint('legacy'), {
      method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'review', version: '1' } } }),
    });
    const body = parseBody(await res.text(), res.headers.get('content-type')) as any;
    // record.ts keeps a session-less legacy exchange "with the principal's session-less recording"
    // (a rec_ id); the recorder refuses a legacy message with a rec_ id as the other era's.
    expect({ status: res.status, code: body?.error?.code, logs: gw.logs.filter((l) => l.includes('of the other era')).length })
      .toEqual({ status: 200, code: undefined, logs: 0 });
    expect(body.result.serverInfo.name).toBe('stateless');
  });
});

describe('review: the recorder\'s size cap as a way to run a call whose content is not recorded', () => {
  let idp: TestIdp;
  let up: RawUpstream;
  let gw: TestGateway;
  let base: string;
  beforeAll(async () => {
    [idp, up] = await Promise.all([startTestIdp({ tokenTtlSeconds: 600 }), startRawUpstream(hostileHandler({}))]);
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    // Allow-all: as rego/example does for every class but destructive and high_risk, it lets a
    // call whose arguments are too large to inspect (input.truncated) through.
    gw = await startTestGateway({
      policy: ALLOW_ALL_POLICY,
      targets: { modern: up.url },
      config: {
        listen: { host: '127.0.0.1', port },
        identity: { public_base_url: base, http_timeout_ms: 2000, issuers: [{ issuer: idp.issuer, token_format: 'jwt', groups_claim: 'groups' }] },
        // Defaults otherwise: when_full fail_closed, max_message_bytes 1 MiB (limits.max_body_bytes is 4 MiB).
        recordings: { enabled: true, auditor_groups: ['auditors'] },
      },
    });
  });
  afterAll(async () => {
    await gw?.close();
    await Promise.all([up?.close(), idp?.close()]);
  });

  it('R10: a padded call (1.1 MB, under max_body_bytes) goes upstream while its recording keeps only the "too large" marker', async () => {
    const aud = `${base}/mcp/modern`;
    const [mallory, auditor] = await Promise.all([
      idp.sign(idp.validClaims(aud, { sub: 'mallory' })),
      idp.sign(idp.validClaims(aud, { sub: 'audrey', groups: ['auditors'] })),
    ]);
    const command = `transfer-all-funds-${randomBytes(4).toString('hex')}`;
    const before = up.received.length;
    const r = await send(gw, 'modern', 'tools/call', { name: 'echo', arguments: { text: command, pad: 'x'.repeat(1_100_000) } }, { name: 'echo', headers: { authorization: `Bearer ${mallory}` } });
    expect({ status: r.status, error: r.json?.error?.message }).toEqual({ status: 200, error: undefined });
    expect(up.received.slice(before).some((q) => q.body.includes(command))).toBe(true);
    // Read it back as an auditor, once the background writer has flushed it.
    const auth = { authorization: `Bearer ${auditor}` };
    let messages: any[] = [];
    for (let i = 0; i < 100 && messages.length < 2; i++) {
      const list = (await (await fetch(`${base}/api/sessions`, { headers: auth })).json()) as any;
      const mine = (list.sessions as any[]).find((x) => x.principal.includes('mallory'));
      if (mine) messages = ((await (await fetch(`${base}/api/sessions/${encodeURIComponent(mine.recording)}`, { headers: auth })).json()) as any).messages;
      if (messages.length < 2) await new Promise((res) => setTimeout(res, 50));
    }
    const request = messages.find((m) => m.rpcId === r.id && m.kind === 'request');
    expect(request).toBeDefined();
    // What the upstream ran is not in the record of it: fail_closed let it through unrecorded.
    expect({ oversize: request.oversizeBytes !== undefined, commandKept: JSON.stringify(request.message).includes(command) }).toEqual({ oversize: false, commandKept: true });
  });
});

describe('review: a session id the caller does not own, on the trail', () => {
  const sink = new MemorySink();
  const exporter = new InMemorySpanExporter();
  let legacy: UpstreamFixture;
  let gw: TestGateway;
  beforeAll(async () => {
    legacy = await startLegacyUpstream();
    gw = await startTestGateway({ targets: { legacy: legacy.url }, config: { telemetry: { enabled: true } }, gateway: { spanExporter: exporter, recordings: sink } });
  });
  afterAll(async () => {
    await gw?.close();
    await legacy?.close();
  });

  it('R12: a GET naming a session the caller does not own (404) is not filed under that session id (span mcp.session.id, recording sessionId)', async () => {
    // Stands for another caller's session id, seen in a log or a shared trace UI.
    const victim = `victim-${randomBytes(6).toString('hex')}`;
    exporter.reset();
    const res = await fetch(gw.endpoint('legacy'), { headers: { accept: 'text/event-stream', 'mcp-session-id': victim, 'mcp-protocol-version': '2025-06-18' } });
    await res.text();
    expect(res.status).toBe(404);
    const spans = exporter.getFinishedSpans().filter((s) => s.attributes[S.ATTR_MCP_SESSION_ID] === victim).map((s) => s.name);
    const recorded = sink.entries.filter((e) => e.sessionId === victim).map((e) => `${e.recording.slice(0, 4)} ${e.origin} ${e.kind}`);
    // `GET /api/sessions?session_id=<victim>` lists the stranger's refused request with the victim's.
    expect({ spans, recorded }).toEqual({ spans: [], recorded: [] });
  });
});
