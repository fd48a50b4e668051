// The tracing scenarios, shared by the in-memory test (test/e2e/tracing.test.ts) and the Jaeger
// test (test/e2e/jaeger.test.ts): two real gateways with telemetry on, one real upstream, a real
// IdP, and four calls whose span trees and attributes the tests read back: an allowed call, a
// denial, a masked result and a call approved by a human (2026-07-28, input_required + retry).
import { randomBytes } from 'node:crypto';
import { expect } from 'vitest';
import type { GatewayOptions } from '../../gateway/app.ts';
import { ErrorCode } from '../../gateway/errors.ts';
import { semconv as S } from '../../gateway/telemetry/index.ts';
import { startModernUpstream, type UpstreamFixture } from '../fixtures/upstreams/index.ts';
import { startTestGateway, type TestGateway } from './gateway.ts';
import { freePort, parseBody } from './identity-stack.ts';
import { startTestIdp, type TestIdp } from './idp.ts';

export const APPROVALS_POLICY = 'test/fixtures/rego/approvals';
const META = { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientInfo': { name: 'tracing-e2e', version: '1' }, 'io.modelcontextprotocol/clientCapabilities': { elicitation: { url: {} } } };
const KEY = 'io.portcullis/approval';

/** A span as both readers see it (the SDK's ReadableSpan, Jaeger's JSON). */
export interface SeenSpan {
  traceId: string;
  spanId: string;
  parentId: string | undefined;
  name: string;
  kind: 'server' | 'client' | 'internal' | 'producer' | 'consumer';
  attributes: Record<string, unknown>;
}

export interface TracingStack {
  idp: TestIdp;
  upstream: UpstreamFixture;
  /** Fixture policy: allows, denies and masks by tool. */
  policy: TestGateway;
  /** Approvals policy: `echo "sre: …"` waits for one approver of group sre. */
  approvals: TestGateway;
  close(): Promise<void>;
}

export async function startTracingStack(options: {
  telemetry: (service: string) => Record<string, unknown>;
  gateway?: (service: string) => Pick<GatewayOptions, 'spanExporter' | 'recordings'>;
  services: { policy: string; approvals: string };
}): Promise<TracingStack> {
  const [idp, upstream] = await Promise.all([startTestIdp({ tokenTtlSeconds: 600 }), startModernUpstream({ modernResponse: 'json' })]);
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const gw = (service: string) => options.gateway?.(service) ?? {};
  const started: TestGateway[] = [];
  try {
    started.push(await startTestGateway({
      targets: { modern: upstream.url }, config: { telemetry: options.telemetry(options.services.policy) }, gateway: gw(options.services.policy),
    }));
    started.push(await startTestGateway({
      policy: APPROVALS_POLICY,
      targets: { modern: upstream.url },
      config: {
        listen: { host: '127.0.0.1', port },
        identity: { public_base_url: base, http_timeout_ms: 2000, issuers: [{ issuer: idp.issuer, token_format: 'jwt', groups_claim: 'groups' }] },
        approvals: { enabled: true, retry_hold_seconds: 1, sweep_interval_ms: 100 },
        telemetry: options.telemetry(options.services.approvals),
      },
      gateway: gw(options.services.approvals),
    }));
  } catch (err) {
    await Promise.all(started.map((g) => g.close()));
    await Promise.all([idp.close(), upstream.close()]);
    throw err;
  }
  const [policy, approvals] = started as [TestGateway, TestGateway];
  return {
    idp, upstream, policy, approvals,
    close: async () => {
      await policy.close();
      await approvals.close();
      await Promise.all([idp.close(), upstream.close()]);
    },
  };
}

let nextId = 1;
/** One 2026-07-28 tools/call over raw HTTP; `traceparent` in the header or in params._meta. */
export async function callTool(gw: TestGateway, name: string, args: object, o: { token?: string; header?: string; meta?: string; extra?: object } = {}) {
  const id = nextId++;
  const res = await fetch(gw.endpoint('modern'), {
    method: 'POST',
    headers: {
      'content-type': 'application/json', accept: 'application/json, text/event-stream',
      'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/call', 'mcp-name': name,
      ...(o.token ? { authorization: `Bearer ${o.token}` } : {}), ...(o.header ? { traceparent: o.header } : {}),
    },
    body: JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: args, _meta: { ...META, ...(o.meta ? { traceparent: o.meta } : {}) }, ...o.extra } }),
  });
  const text = await res.text();
  return { id, status: res.status, json: parseBody(text, res.headers.get('content-type')) as any };
}

/** A client's own trace context: a fresh trace id and parent span id. */
export function clientContext(): { traceId: string; spanId: string; traceparent: string } {
  const traceId = randomBytes(16).toString('hex');
  const spanId = randomBytes(8).toString('hex');
  return { traceId, spanId, traceparent: `00-${traceId}-${spanId}-01` };
}

export interface ScenarioRun {
  call: { traceId: string; parentSpanId: string; id: number };
  denial: { traceId: string; id: number };
  masked: { traceId: string; id: number; secret: string };
  approved: { traceId: string; id: number; approvalId: string; approver: string };
}

/** The four calls. Each carries its own client trace id, so each is found as one trace. */
export async function runScenarios(s: TracingStack): Promise<ScenarioRun> {
  // An allowed call, its context in the HTTP header.
  const c1 = clientContext();
  const call = await callTool(s.policy, 'add', { a: 2, b: 3 }, { header: c1.traceparent });
  expect(call.json.result).toBeDefined();
  // A denial: nothing goes upstream.
  const c2 = clientContext();
  const denial = await callTool(s.policy, 'delete_everything', {}, { header: c2.traceparent });
  expect(denial.json.error.code).toBe(ErrorCode.PolicyDenied);
  // A masked result, its context in params._meta (the 2026-07-28 way).
  const c3 = clientContext();
  const secret = 'ada.lovelace@example.com';
  const masked = await callTool(s.policy, 'echo', { text: `write to ${secret}` }, { meta: c3.traceparent });
  expect(JSON.stringify(masked.json)).not.toContain(secret);
  expect(masked.json.result.content[0].text).toContain('[MASKED:email');
  // Approved by a human: input_required, an approver's vote, the retry runs the stored call.
  const rita = await s.idp.sign(s.idp.validClaims(`${s.approvals.url}/mcp/modern`, { sub: 'rita', groups: ['admins'] }));
  const sam = await s.idp.sign(s.idp.validClaims(`${s.approvals.url}/mcp/modern`, { sub: 'sam', groups: ['sre'] }));
  const first = await callTool(s.approvals, 'echo', { text: 'sre: restart the cache' }, { token: rita });
  expect(first.json.result.resultType).toBe('input_required');
  const approvalId = first.json.result.inputRequests[KEY].params.elicitationId as string;
  const vote = await fetch(`${s.approvals.url}/api/approvals/${approvalId}/approve`, {
    method: 'POST', headers: { authorization: `Bearer ${sam}`, 'content-type': 'application/json' }, body: JSON.stringify({ comment: 'ok' }),
  });
  expect(vote.status).toBe(200);
  const c4 = clientContext();
  const retry = await callTool(s.approvals, 'echo', { text: 'sre: restart the cache' }, {
    token: rita, header: c4.traceparent,
    extra: { requestState: first.json.result.requestState, inputResponses: { [KEY]: { action: 'accept' } } },
  });
  expect(retry.json.result.content[0].text).toBe('sre: restart the cache');
  return {
    call: { traceId: c1.traceId, parentSpanId: c1.spanId, id: call.id },
    denial: { traceId: c2.traceId, id: denial.id },
    masked: { traceId: c3.traceId, id: masked.id, secret },
    approved: { traceId: c4.traceId, id: retry.id, approvalId, approver: JSON.stringify(['user', s.idp.issuer, 'sam']) },
  };
}

const server = (spans: SeenSpan[]) => {
  const roots = spans.filter((sp) => sp.kind === 'server');
  expect(roots, `one SERVER span: ${spans.map((sp) => `${sp.kind} ${sp.name}`).join(', ')}`).toHaveLength(1);
  return roots[0]!;
};
const childrenOf = (spans: SeenSpan[], parent: SeenSpan) => spans.filter((sp) => sp.parentId === parent.spanId).map((sp) => sp.name).sort();

/** What every scenario's trace must show; `trace(id)` gives the spans of one trace. */
export function checkScenarios(run: ScenarioRun, trace: (traceId: string) => SeenSpan[], s: TracingStack): void {
  const policyRevision = s.policy.policy.revision;

  // The call: SERVER span named by the conventions, child of the client's span, with stages.
  const call = trace(run.call.traceId);
  const callServer = server(call);
  expect(callServer.name).toBe('tools/call add');
  expect(callServer.parentId).toBe(run.call.parentSpanId);
  expect(callServer.attributes).toMatchObject({
    [S.ATTR_MCP_METHOD_NAME]: 'tools/call', [S.ATTR_GEN_AI_TOOL_NAME]: 'add', [S.ATTR_GEN_AI_OPERATION_NAME]: 'execute_tool',
    [S.ATTR_JSONRPC_REQUEST_ID]: String(run.call.id), [S.ATTR_MCP_PROTOCOL_VERSION]: '2026-07-28',
    [S.ATTR_OUTCOME]: 'allow', [S.ATTR_RULE_IDS]: ['fixture.tool'], [S.ATTR_BUNDLE_REVISION]: policyRevision,
    [S.ATTR_BUNDLE_SHA256]: s.policy.policy.sha256, [S.ATTR_SERVER_ADDRESS]: '127.0.0.1', [S.ATTR_CLIENT_ADDRESS]: '127.0.0.1',
  });
  expect(callServer.attributes[S.ATTR_MCP_SESSION_ID]).toBeUndefined();
  expect(childrenOf(call, callServer)).toEqual([S.SPAN_AUTHENTICATE, S.SPAN_MASK, S.SPAN_POLICY, S.SPAN_POLICY, 'tools/call add'].sort());
  const client = call.find((sp) => sp.kind === 'client')!;
  expect(client.name).toBe('tools/call add');
  expect(client.attributes[S.ATTR_SERVER_PORT]).toBe(Number(new URL(s.upstream.url).port));
  // The decision id on the span is the decision record's.
  const record = s.policy.audit.find((r) => r.name === 'add' && r.direction === 'client_to_server');
  expect(callServer.attributes[S.ATTR_DECISION_ID]).toBe(record?.decision_id);
  expect(callServer.attributes[S.ATTR_PRINCIPAL]).toBe(record?.principal);
  // Upstream got the gateway's CLIENT span as its parent, in the header and in params._meta.
  const sent = s.upstream.received.find((r) => (r.json as any)?.id === run.call.id)!;
  expect(sent.headers.traceparent).toBe(`00-${run.call.traceId}-${client.spanId}-01`);
  expect((sent.json as any).params._meta.traceparent).toBe(`00-${run.call.traceId}-${client.spanId}-01`);

  // The denial: provenance and the JSON-RPC code; no upstream call.
  const denial = trace(run.denial.traceId);
  const denied = server(denial);
  expect(denied.name).toBe('tools/call delete_everything');
  expect(denied.attributes).toMatchObject({
    [S.ATTR_OUTCOME]: 'deny', [S.ATTR_RULE_IDS]: ['fixture.destructive'], [S.ATTR_REASONS]: ['destructive tools are denied'],
    [S.ATTR_RPC_RESPONSE_STATUS_CODE]: String(ErrorCode.PolicyDenied), [S.ATTR_ERROR_TYPE]: String(ErrorCode.PolicyDenied),
  });
  expect(denial.some((sp) => sp.kind === 'client')).toBe(false);
  expect(childrenOf(denial, denied)).toEqual([S.SPAN_AUTHENTICATE, S.SPAN_POLICY].sort());

  // The masked result: counts per class, never the value; parent from params._meta.
  const masked = trace(run.masked.traceId);
  const maskedServer = server(masked);
  expect(maskedServer.name).toBe('tools/call echo');
  expect(maskedServer.attributes[`${S.ATTR_MASKED_PREFIX}email`]).toBe(1);
  const maskSpan = masked.find((sp) => sp.name === S.SPAN_MASK)!;
  expect(maskSpan.attributes[`${S.ATTR_MASKED_PREFIX}email`]).toBe(1);
  expect(JSON.stringify(masked)).not.toContain(run.masked.secret);
  expect(maskedServer.attributes[S.ATTR_GEN_AI_TOOL_CALL_ARGUMENTS]).toBeUndefined();
  expect(maskedServer.attributes[S.ATTR_GEN_AI_TOOL_CALL_RESULT]).toBeUndefined();

  // The approved call: who approved, the wait as its own stage, then the upstream call.
  const approved = trace(run.approved.traceId);
  const approvedServer = server(approved);
  expect(approvedServer.name).toBe('tools/call echo');
  expect(approvedServer.attributes).toMatchObject({
    [S.ATTR_APPROVAL_ID]: run.approved.approvalId, [S.ATTR_APPROVERS]: [run.approved.approver], [S.ATTR_APPROVAL_STATE]: 'approved',
    [S.ATTR_APPROVAL_REQUIRED]: true, [S.ATTR_PRINCIPAL]: JSON.stringify(['user', s.idp.issuer, 'rita']), [S.ATTR_ISSUER]: s.idp.issuer, [S.ATTR_GROUPS]: ['admins'],
  });
  expect(approvedServer.attributes[S.ATTR_APPROVAL_WAIT_MS]).toEqual(expect.any(Number));
  // The approvals policy asks for no response-time decision: one policy stage.
  expect(childrenOf(approved, approvedServer)).toEqual([S.SPAN_APPROVAL, S.SPAN_AUTHENTICATE, S.SPAN_POLICY, 'tools/call echo'].sort());
}
