// The request path hands every message that crosses the gateway to the RecordingSink
// (gateway/recordings/entry.ts), masked: a client's request by its own decision's masks, each
// upstream message as the client got it, the gateway's own answers. A full buffer refuses a new
// exchange (-32092, HTTP 503, Retry-After) before anything is forwarded.
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../gateway/errors.ts';
import type { RecordedMessage, RecordingSink } from '../../gateway/recordings/entry.ts';
import { recordingIdFor } from '../../gateway/recordings/index.ts';
import { startLegacyUpstream, startModernUpstream, type UpstreamFixture } from '../fixtures/upstreams/index.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { openLegacySession } from '../helpers/legacy-session.ts';
import { callTool, clientContext } from '../helpers/tracing-stack.ts';
import { parseBody } from '../helpers/identity-stack.ts';

/** What the recordings store will be to the path: an admit switch and a list. */
class MemorySink implements RecordingSink {
  readonly enabled = true;
  full = false;
  /** Admits, then refuses the message itself (a request too large for what is left, say). */
  refuse = false;
  entries: RecordedMessage[] = [];
  admit(): boolean {
    return !this.full;
  }
  record(entry: RecordedMessage): boolean {
    if (this.full || this.refuse) return false;
    this.entries.push(entry);
    return true;
  }
}

describe('recordings: every crossing, masked, with its decision and trace', () => {
  const sink = new MemorySink();
  const exporter = new InMemorySpanExporter();
  let modern: UpstreamFixture;
  let legacy: UpstreamFixture;
  let gw: TestGateway;
  beforeAll(async () => {
    [modern, legacy] = await Promise.all([startModernUpstream({ modernResponse: 'json' }), startLegacyUpstream()]);
    gw = await startTestGateway({
      targets: { modern: modern.url, legacy: legacy.url },
      config: { telemetry: { enabled: true } },
      gateway: { recordings: sink, spanExporter: exporter },
    });
  });
  afterAll(async () => {
    await gw?.close();
    await Promise.all([modern?.close(), legacy?.close()]);
  });

  it('records the forwarded request masked by its own decision, and the masked answer', async () => {
    const secret = 'grace.hopper@example.com';
    const c = clientContext();
    const call = await callTool(gw, 'echo', { text: `mail ${secret}` }, { header: c.traceparent });
    expect(call.json.result.content[0].text).toContain('[MASKED:email');
    const mine = sink.entries.filter((e) => e.rpcId === call.id);
    expect(mine.map((e) => `${e.direction} ${e.origin} ${e.kind}`)).toEqual(['client_to_server client request', 'server_to_client upstream response']);
    const [request, answer] = mine as [RecordedMessage, RecordedMessage];
    expect(JSON.stringify(sink.entries)).not.toContain(secret);
    expect((request.message as any).params.arguments.text).toContain('[MASKED:email');
    // What went upstream was not masked: the masks apply to what is kept, not to the call.
    expect((modern.received.find((r) => (r.json as any)?.id === call.id)!.json as any).params.arguments.text).toContain(secret);
    expect(request.decision).toMatchObject({ outcome: 'allow', ruleIds: ['fixture.tool'], masked: { email: 1 } });
    expect(answer.decision).toMatchObject({ outcome: 'allow', ruleIds: ['fixture.response'], masked: { email: 1 } });
    expect(answer.durationMs).toEqual(expect.any(Number));
    const record = gw.audit.find((r) => r.name === 'echo' && r.direction === 'client_to_server' && r.decision_id === request.decision?.id);
    expect(record).toBeDefined();
    expect(request).toMatchObject({
      recording: recordingIdFor({ era: 'stateless', target: 'modern', principal: record!.principal, subject: { client_id: '' } }), target: 'modern', era: 'stateless', protocolVersion: '2026-07-28',
      sessionId: '', method: 'tools/call', name: 'echo', principal: record!.principal,
    });
    expect(JSON.parse(request.subjectJson)).toMatchObject({ type: 'anonymous' });
    // The trace context of the exchange's SERVER span.
    const server = exporter.getFinishedSpans().find((sp) => sp.spanContext().traceId === c.traceId && sp.parentSpanContext?.spanId === c.spanId)!;
    expect(request.traceId).toBe(c.traceId);
    expect(request.spanId).toBe(server.spanContext().spanId);
  });

  it('records a refused request and the gateway\'s answer to it, the request with the decision that refused', async () => {
    const call = await callTool(gw, 'delete_everything', { all: true });
    const mine = sink.entries.filter((e) => e.rpcId === call.id);
    expect(mine).toHaveLength(2);
    // The request was never forwarded, but it is part of the exchange (replay decides it again).
    expect(mine[0]).toMatchObject({ direction: 'client_to_server', origin: 'client', kind: 'request', method: 'tools/call', name: 'delete_everything', decision: { outcome: 'deny', ruleIds: ['fixture.destructive'] } });
    expect((mine[0]!.message as any).params.arguments).toEqual({ all: true });
    expect(mine[1]).toMatchObject({ direction: 'server_to_client', origin: 'gateway', kind: 'response', method: 'tools/call', name: 'delete_everything' });
    expect(mine[1]!.decision).toBeUndefined();
    expect((mine[1]!.message as any).error.code).toBe(ErrorCode.PolicyDenied);
  });

  it('records a legacy session under its session id, notifications on the call\'s stream included', async () => {
    const session = await openLegacySession(gw.endpoint('legacy'), '2025-11-25');
    const res = await fetch(gw.endpoint('legacy'), {
      method: 'POST', headers: session.post,
      body: JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'echo', arguments: { text: 'mail ada@example.com' }, _meta: { progressToken: 'p1' } } }),
    });
    const answer = parseBody(await res.text(), res.headers.get('content-type')) as any;
    expect(answer.result.content[0].text).toContain('[MASKED:email');
    const mine = sink.entries.filter((e) => e.sessionId === session.id);
    const principal = mine[0]!.principal;
    expect(new Set(mine.map((e) => e.recording))).toEqual(new Set([recordingIdFor({ era: 'legacy', target: 'legacy', sessionId: session.id, principal })]));
    // initialize, its answer, the ack notification, then the call and its answer.
    expect(mine.filter((e) => e.method === 'initialize').map((e) => e.origin)).toEqual(['client', 'upstream']);
    expect(mine.filter((e) => e.rpcId === 7).map((e) => e.origin)).toEqual(['client', 'upstream']);
    expect(JSON.stringify(mine)).not.toContain('ada@example.com');
  });

  it('refuses a new exchange with -32092 (HTTP 503, Retry-After) while the buffer is full, forwarding nothing', async () => {
    sink.full = true;
    try {
      const before = modern.received.length;
      const res = await fetch(gw.endpoint('modern'), {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/list' },
        body: JSON.stringify({ jsonrpc: '2.0', id: 99, method: 'tools/list', params: { _meta: { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientInfo': { name: 'x', version: '1' }, 'io.modelcontextprotocol/clientCapabilities': {} } } }),
      });
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toBe('1');
      const body = await res.json() as any;
      expect(body).toMatchObject({ id: 99, error: { code: ErrorCode.RecordingUnavailable } });
      expect(modern.received.length).toBe(before);
    } finally {
      sink.full = false;
    }
  });
});

describe('recordings: a request the recorder will not keep is not forwarded', () => {
  it('admitted, then refused by the recorder (fail closed): -32092, nothing forwarded, and a legacy session it would open is never created', async () => {
    const sink = new MemorySink();
    const [modern, legacy] = await Promise.all([startModernUpstream({ modernResponse: 'json' }), startLegacyUpstream()]);
    const gw = await startTestGateway({ targets: { modern: modern.url, legacy: legacy.url }, gateway: { recordings: sink } });
    try {
      sink.refuse = true;
      const before = modern.received.length;
      const call = await callTool(gw, 'add', { a: 1, b: 2 });
      expect(call.status).toBe(503);
      expect(call.json).toMatchObject({ id: call.id, error: { code: ErrorCode.RecordingUnavailable } });
      expect(modern.received.length).toBe(before);
      // initialize is recorded once its answer names the session: refused then, the client never gets the session.
      const init = await fetch(gw.endpoint('legacy'), {
        method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'x', version: '1' } } }),
      });
      expect(init.status).toBe(503);
      expect(init.headers.get('mcp-session-id')).toBeNull();
      expect(await init.json()).toMatchObject({ id: 1, error: { code: ErrorCode.RecordingUnavailable } });
      sink.refuse = false;
      expect((await callTool(gw, 'add', { a: 1, b: 2 })).json.result).toBeDefined();
    } finally {
      await gw.close();
      await Promise.all([modern.close(), legacy.close()]);
    }
  });
});

describe('recordings without tracing', () => {
  it('records with empty trace ids, and a gateway without a sink records nothing', async () => {
    const sink = new MemorySink();
    const upstream = await startModernUpstream({ modernResponse: 'json' });
    const gw = await startTestGateway({ targets: { modern: upstream.url }, gateway: { recordings: sink } });
    try {
      const call = await callTool(gw, 'add', { a: 1, b: 2 });
      const mine = sink.entries.filter((e) => e.rpcId === call.id);
      expect(mine).toHaveLength(2);
      for (const e of mine) expect([e.traceId, e.spanId]).toEqual(['', '']);
      expect((mine[1]!.message as any).result.structuredContent.sum).not.toBe(3);
    } finally {
      await gw.close();
      await upstream.close();
    }
  });
});
