// The proof that traces arrive where operators read them: two gateways export to a real Jaeger
// (v2, memory storage), one over OTLP HTTP/protobuf and one over OTLP gRPC, and the spans of a
// call, a denial, a masked result and an approved call are read back through Jaeger's query API
// (/api/traces?service=…) and checked like the in-memory ones (test/helpers/tracing-stack.ts).
import { randomBytes } from 'node:crypto';
import { afterAll, describe, it } from 'vitest';
import { semconv as S } from '../../gateway/telemetry/index.ts';
import { startJaeger, type TestJaeger } from '../helpers/jaeger.ts';
import { checkScenarios, runScenarios, startTracingStack, type ScenarioRun, type SeenSpan, type TracingStack } from '../helpers/tracing-stack.ts';

interface JaegerSpan {
  traceID: string;
  spanID: string;
  operationName: string;
  references?: Array<{ refType: string; spanID: string }>;
  tags?: Array<{ key: string; type: string; value: unknown }>;
}

/** The attributes the gateway writes as arrays; Jaeger stores them as JSON text. */
const ARRAYS = new Set([S.ATTR_RULE_IDS, S.ATTR_REASONS, S.ATTR_GROUPS, S.ATTR_APPROVERS]);

/** Jaeger's tags back to attributes: arrays arrive as JSON text, span kinds as `span.kind`. */
function seen(span: JaegerSpan): SeenSpan {
  const attributes: Record<string, unknown> = {};
  let kind: SeenSpan['kind'] = 'internal';
  for (const tag of span.tags ?? []) {
    if (tag.key === 'span.kind') kind = tag.value as SeenSpan['kind'];
    else attributes[tag.key] = ARRAYS.has(tag.key) && typeof tag.value === 'string' ? JSON.parse(tag.value) : tag.value;
  }
  const parent = span.references?.find((r) => r.refType === 'CHILD_OF');
  return { traceId: span.traceID, spanId: span.spanID, parentId: parent?.spanID, name: span.operationName, kind, attributes };
}

describe('tracing into a real Jaeger, read back through its query API', () => {
  const tag = randomBytes(4).toString('hex');
  const services = { policy: `portcullis-policy-${tag}`, approvals: `portcullis-approvals-${tag}` };
  let jaeger: TestJaeger | undefined;
  let s: TracingStack | undefined;
  afterAll(async () => {
    await s?.close();
    await jaeger?.close();
  });

  /** The spans of every trace of a service, once the expected traces are all stored. */
  async function traces(j: TestJaeger, service: string, expected: Record<string, number>): Promise<Map<string, SeenSpan[]>> {
    let last = '';
    for (let attempt = 0; attempt < 100; attempt++) {
      const res = await fetch(`${j.query}/api/traces?service=${encodeURIComponent(service)}&limit=100&lookback=1h`);
      last = await res.text();
      if (res.ok) {
        const body = JSON.parse(last) as { data: Array<{ traceID: string; spans: JaegerSpan[] }> };
        const byTrace = new Map(body.data.map((t) => [t.traceID, t.spans.map(seen)]));
        if (Object.entries(expected).every(([id, n]) => (byTrace.get(id)?.length ?? 0) >= n)) return byTrace;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(`Jaeger never held the expected traces of ${service}: ${JSON.stringify(expected)}; last answer: ${last.slice(0, 500)}\njaeger output:\n${j.output()}`);
  }

  // One test, started inside it: a missing Jaeger binary fails this test (it is never skipped).
  it('holds the span tree and attributes of a call, a denial, a masked result and an approved call', async () => {
    const j = jaeger = await startJaeger();
    const stack = s = await startTracingStack({
      services,
      telemetry: (service) => ({
        enabled: true, service_name: service,
        traces: service === services.policy ? { protocol: 'http/protobuf', endpoint: j.otlpHttp } : { protocol: 'grpc', endpoint: j.otlpGrpc },
      }),
    });
    const run: ScenarioRun = await runScenarios(stack);
    // Closing the gateways flushes their batched spans to Jaeger.
    await stack.close();
    s = undefined;
    // Span counts: SERVER + authenticate + policy (+ answer's policy, mask, CLIENT, approval wait).
    const policy = await traces(j, services.policy, { [run.call.traceId]: 6, [run.denial.traceId]: 3, [run.masked.traceId]: 6 });
    const approvals = await traces(j, services.approvals, { [run.approved.traceId]: 5 });
    checkScenarios(run, (traceId) => policy.get(traceId) ?? approvals.get(traceId) ?? [], stack);
  }, 120_000);
});
