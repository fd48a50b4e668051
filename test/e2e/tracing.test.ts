// Tracing through real gateways, read from the SDK's in-memory exporter (one per gateway, in one
// process: nothing is registered globally). The same scenarios run against a real Jaeger in
// jaeger.test.ts; here also what only the SDK's view shows (the GET stream, failures, metrics).
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace';
import { SpanKind } from '@opentelemetry/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { semconv as S } from '../../gateway/telemetry/index.ts';
import { checkScenarios, clientContext, callTool, runScenarios, startTracingStack, type ScenarioRun, type SeenSpan, type TracingStack } from '../helpers/tracing-stack.ts';
import { startLegacyUpstream, startModernUpstream } from '../fixtures/upstreams/index.ts';
import { openLegacySession } from '../helpers/legacy-session.ts';
import { startTestGateway } from '../helpers/gateway.ts';

const KINDS: Record<number, SeenSpan['kind']> = { [SpanKind.SERVER]: 'server', [SpanKind.CLIENT]: 'client', [SpanKind.INTERNAL]: 'internal', [SpanKind.PRODUCER]: 'producer', [SpanKind.CONSUMER]: 'consumer' };

export function seen(span: ReadableSpan): SeenSpan {
  return {
    traceId: span.spanContext().traceId, spanId: span.spanContext().spanId, parentId: span.parentSpanContext?.spanId,
    name: span.name, kind: KINDS[span.kind]!, attributes: { ...span.attributes },
  };
}

describe('tracing: one SERVER span per message, child spans per stage (in-memory exporter)', () => {
  const exporters = { policy: new InMemorySpanExporter(), approvals: new InMemorySpanExporter() };
  let s: TracingStack;
  let run: ScenarioRun;
  beforeAll(async () => {
    s = await startTracingStack({
      services: { policy: 'policy', approvals: 'approvals' },
      telemetry: () => ({ enabled: true }),
      gateway: (service) => ({ spanExporter: exporters[service as 'policy' | 'approvals'] }),
    });
    run = await runScenarios(s);
  }, 60_000);
  afterAll(async () => { await s?.close(); });

  const all = () => [...exporters.policy.getFinishedSpans(), ...exporters.approvals.getFinishedSpans()].map(seen);

  it('shows the span tree and provenance of a call, a denial, a masked result and an approved call', () => {
    checkScenarios(run, (traceId) => all().filter((sp) => sp.traceId === traceId), s);
  });

  it('keeps each gateway\'s spans in its own provider', () => {
    const policyTraces = new Set(exporters.policy.getFinishedSpans().map((sp) => sp.spanContext().traceId));
    expect(policyTraces.has(run.call.traceId)).toBe(true);
    expect(policyTraces.has(run.approved.traceId)).toBe(false);
    expect(exporters.approvals.getFinishedSpans().some((sp) => sp.spanContext().traceId === run.approved.traceId)).toBe(true);
  });

  it('traces a refused authentication with its code, before any message is read', async () => {
    const c = clientContext();
    const res = await fetch(s.approvals.endpoint('modern'), { method: 'POST', headers: { traceparent: c.traceparent, 'content-type': 'application/json' }, body: '{}' });
    expect(res.status).toBe(401);
    const spans = exporters.approvals.getFinishedSpans().map(seen).filter((sp) => sp.traceId === c.traceId);
    const root = spans.find((sp) => sp.kind === 'server')!;
    expect(root.name).toBe(S.SPAN_UNREAD);
    expect(root.parentId).toBe(c.spanId);
    expect(root.attributes[S.ATTR_RPC_RESPONSE_STATUS_CODE]).toBe('-32080');
    const auth = spans.find((sp) => sp.name === S.SPAN_AUTHENTICATE)!;
    expect(auth.parentId).toBe(root.spanId);
    expect(auth.attributes[S.ATTR_ERROR_TYPE]).toBe('-32080');
  });

  it('serves the metrics operators expect on the gateway\'s own /metrics', async () => {
    const text = await (await fetch(`${s.policy.url}/metrics`)).text();
    expect(text).toMatch(/portcullis_decisions_total\{[^}]*outcome="deny"[^}]*\} [1-9]/);
    expect(text).toMatch(/portcullis_decision_rules_total\{[^}]*rule_id="fixture\.destructive"[^}]*\} 1/);
    expect(text).toMatch(/portcullis_masked_values_total\{[^}]*class="email"[^}]*\} [1-9]/);
    expect(text).toContain('portcullis_decision_duration_bucket');
    expect(text).toContain('portcullis_upstream_duration_bucket');
    expect(text).toMatch(new RegExp(`portcullis_policy_revision\\{[^}]*revision="${s.policy.policy.revision}"[^}]*sha256="${s.policy.policy.sha256}"[^}]*\\} 1`));
    expect(text).toMatch(/portcullis_state_healthy\{[^}]*backend="memory"[^}]*\} 1/);
    const approvals = await (await fetch(`${s.approvals.url}/metrics`)).text();
    expect(approvals).toContain('portcullis_approval_wait_bucket{state="approved"');
    expect(approvals).toMatch(/portcullis_approvals_pending\{[^}]*target="modern"[^}]*\} 0/);
  });
});

describe('tracing: what is off costs nothing, and telemetry never breaks a call', () => {
  it('serves no /metrics and adds no trace context when telemetry is off', async () => {
    const upstream = await startModernUpstream({ modernResponse: 'json' });
    const gw = await startTestGateway({ targets: { modern: upstream.url } });
    try {
      expect((await fetch(`${gw.url}/metrics`)).status).toBe(404);
      const c = clientContext();
      const call = await callTool(gw, 'add', { a: 1, b: 1 }, { header: c.traceparent });
      expect(call.json.result).toBeDefined();
      // The client's own context passes through unchanged: the gateway made no span of its own.
      const sent = upstream.received.find((r) => (r.json as any)?.id === call.id)!;
      expect(sent.headers.traceparent).toBe(c.traceparent);
    } finally {
      await gw.close();
      await upstream.close();
    }
  });

  it('answers calls while its OTLP collector is unreachable', async () => {
    const upstream = await startModernUpstream({ modernResponse: 'json' });
    const gw = await startTestGateway({ targets: { modern: upstream.url }, config: { telemetry: { enabled: true, traces: { endpoint: 'http://127.0.0.1:9/v1/traces' } } } });
    try {
      for (let i = 0; i < 3; i++) expect((await callTool(gw, 'add', { a: i, b: 1 })).json.result.structuredContent).toBeDefined();
    } finally {
      await gw.close();
      await upstream.close();
    }
  });

  it('gives each notification on a legacy call\'s stream its own SERVER span, a child of the call\'s', async () => {
    const exporter = new InMemorySpanExporter();
    const upstream = await startLegacyUpstream();
    const gw = await startTestGateway({ targets: { legacy: upstream.url }, config: { telemetry: { enabled: true } }, gateway: { spanExporter: exporter } });
    try {
      const session = await openLegacySession(gw.endpoint('legacy'), '2025-11-25');
      const c = clientContext();
      const res = await fetch(gw.endpoint('legacy'), {
        method: 'POST', headers: { ...session.post, traceparent: c.traceparent },
        body: JSON.stringify({ jsonrpc: '2.0', id: 5, method: 'tools/call', params: { name: 'slow', arguments: { ms: 10, steps: 2 }, _meta: { progressToken: 'p' } } }),
      });
      expect(res.headers.get('content-type')).toContain('text/event-stream');
      expect(await res.text()).toContain('"id":5');
      const spans = exporter.getFinishedSpans().map(seen).filter((sp) => sp.traceId === c.traceId);
      const call = spans.find((sp) => sp.kind === 'server' && sp.name === 'tools/call slow')!;
      expect(call.attributes).toMatchObject({ [S.ATTR_MCP_SESSION_ID]: session.id, [S.ATTR_MCP_PROTOCOL_VERSION]: '2025-11-25', [S.ATTR_JSONRPC_REQUEST_ID]: '5' });
      const progress = spans.filter((sp) => sp.name === 'notifications/progress');
      expect(progress).toHaveLength(2);
      for (const p of progress) {
        expect(p.kind).toBe('server');
        expect(p.parentId).toBe(call.spanId);
        expect(p.attributes[S.ATTR_OUTCOME]).toBe('allow');
        expect(spans.some((sp) => sp.parentId === p.spanId && sp.name === S.SPAN_POLICY)).toBe(true);
      }
    } finally {
      await gw.close();
      await upstream.close();
    }
  });

  it('samples by sample_ratio whatever the client\'s sampled flag, keeping its trace id; trust_incoming_sampling follows it', async () => {
    const exporter = new InMemorySpanExporter();
    const upstream = await startModernUpstream({ modernResponse: 'json' });
    const gw = await startTestGateway({ targets: { modern: upstream.url }, config: { telemetry: { enabled: true, traces: { sample_ratio: 0 } } }, gateway: { spanExporter: exporter } });
    const trusting = await startTestGateway({ targets: { modern: upstream.url }, config: { telemetry: { enabled: true, traces: { sample_ratio: 0, trust_incoming_sampling: true } } }, gateway: { spanExporter: exporter } });
    try {
      const unsampled = await callTool(gw, 'add', { a: 1, b: 1 });
      expect(unsampled.json.result).toBeDefined();
      expect(exporter.getFinishedSpans()).toHaveLength(0);
      // Still one trace upstream: the context goes on, marked not sampled.
      const sent = upstream.received.find((r) => (r.json as any)?.id === unsampled.id)!;
      expect(sent.headers.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/);
      // A sampled client parent does not force tracing: the ratio (0) decides; the trace id goes on.
      const c = clientContext();
      const forced = await callTool(gw, 'add', { a: 2, b: 2 }, { header: c.traceparent });
      expect(exporter.getFinishedSpans()).toHaveLength(0);
      const forcedSent = upstream.received.find((r) => (r.json as any)?.id === forced.id)!;
      expect(forcedSent.headers.traceparent).toMatch(new RegExp(`^00-${c.traceId}-[0-9a-f]{16}-00$`));
      await callTool(trusting, 'add', { a: 2, b: 2 }, { header: c.traceparent });
      expect(exporter.getFinishedSpans().map(seen).filter((sp) => sp.traceId === c.traceId).map((sp) => sp.kind).sort()).toEqual(['client', 'internal', 'internal', 'internal', 'internal', 'server']);
    } finally {
      await gw.close();
      await trusting.close();
      await upstream.close();
    }
  });

  it('puts arguments and results on spans only when opted in, and then masked', async () => {
    const exporter = new InMemorySpanExporter();
    const upstream = await startModernUpstream({ modernResponse: 'json' });
    const gw = await startTestGateway({ targets: { modern: upstream.url }, config: { telemetry: { enabled: true, traces: { capture_content: true } } }, gateway: { spanExporter: exporter } });
    try {
      const c = clientContext();
      await callTool(gw, 'echo', { text: 'mail grace@example.com' }, { header: c.traceparent });
      const root = exporter.getFinishedSpans().map(seen).find((sp) => sp.traceId === c.traceId && sp.kind === 'server')!;
      const args = String(root.attributes[S.ATTR_GEN_AI_TOOL_CALL_ARGUMENTS]);
      const result = String(root.attributes[S.ATTR_GEN_AI_TOOL_CALL_RESULT]);
      expect(args).toContain('[MASKED:email');
      expect(result).toContain('[MASKED:email');
      expect(JSON.stringify(exporter.getFinishedSpans().map(seen))).not.toContain('grace@example.com');
    } finally {
      await gw.close();
      await upstream.close();
    }
  });
});
