// A real gateway shipping its decision log to a real receiver: allowed, denied and masked calls
// arrive as OPA decision-log events with the ids the client saw, the bundle revision, and none of
// the planted secret argument values; stdout-style records (the helper's sink) keep working beside it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startModernUpstream, type UpstreamFixture } from '../fixtures/upstreams/index.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { startDecisionLogReceiver, type DecisionLogReceiver } from '../helpers/decision-log-receiver.ts';

const SECRET = 'PLANTED-ARGUMENT-7d3a0b';
const META = {
  'io.modelcontextprotocol/protocolVersion': '2026-07-28',
  'io.modelcontextprotocol/clientInfo': { name: 'decision-log-test', version: '1' },
  'io.modelcontextprotocol/clientCapabilities': {},
};

/** One 2026-07-28 tools/call over raw HTTP; the JSON-RPC answer. */
async function call(gw: TestGateway, name: string, args: object): Promise<any> {
  const res = await fetch(gw.endpoint(), {
    method: 'POST',
    headers: {
      'content-type': 'application/json', accept: 'application/json, text/event-stream',
      'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/call', 'mcp-name': name,
    },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name, arguments: args, _meta: META } }),
  });
  const text = await res.text();
  if ((res.headers.get('content-type') ?? '').includes('text/event-stream')) {
    const events = text.split('\n\n').filter((e) => e.includes('data: {'));
    return JSON.parse(events.at(-1)!.slice(events.at(-1)!.indexOf('data: ') + 6));
  }
  return JSON.parse(text);
}

describe('decision log from a running gateway', () => {
  let upstream: UpstreamFixture;
  let receiver: DecisionLogReceiver;
  let gw: TestGateway;
  const answers: Record<string, any> = {};

  beforeAll(async () => {
    upstream = await startModernUpstream({ modernResponse: 'auto' });
    receiver = await startDecisionLogReceiver();
    gw = await startTestGateway({
      targets: { fixture: upstream.url },
      config: { audit: { log: 'stdout', decision_log: { url: receiver.url, batch_max_events: 3, flush_interval_ms: 600_000, labels: { cluster: 'e2e' } } } },
    });
    answers.allowed = await call(gw, 'echo', { text: `plain words ${SECRET}`, password: SECRET });
    answers.denied = await call(gw, 'delete_everything', { confirm: SECRET });
    answers.masked = await call(gw, 'echo', { text: 'mail ada@example.com', token: SECRET });
    // Close flushes the last partial batch: everything recorded is delivered before we look.
    await gw.close();
  });
  afterAll(async () => {
    await receiver?.close();
    await upstream?.close();
  });

  it('delivers one event per decision record, in order, batched', () => {
    expect(receiver.accepted().map((e) => e.decision_id)).toEqual(gw.audit.map((r) => r.decision_id));
    expect(gw.audit.length).toBeGreaterThanOrEqual(5); // two calls and their responses, one refusal
    expect(receiver.posts.length).toBe(Math.ceil(gw.audit.length / 3));
    for (const post of receiver.posts) expect(post.headers['content-encoding']).toBe('gzip');
  });

  it('carries the refusal\'s decision id, the revision, the entrypoint path and the result', () => {
    const refusal = answers.denied.error.data.portcullis;
    const event = receiver.accepted().find((e) => e.decision_id === refusal.decision_id);
    expect(event).toBeDefined();
    expect(event.path).toBe('portcullis/decision');
    expect(event.bundles).toEqual({ portcullis: { revision: gw.policy.revision } });
    expect(event.bundles.portcullis.revision).toBe(refusal.revision);
    expect(event.labels).toMatchObject({ cluster: 'e2e', id: expect.any(String), version: expect.any(String) });
    expect(event.input).toMatchObject({ method: 'tools/call', name: 'delete_everything', direction: 'client_to_server', target: 'fixture' });
    expect(event.input.protocol).toEqual({ era: 'stateless', version: '2026-07-28' });
    expect(event.result).toMatchObject({ allow: false, outcome: 'deny', rule_ids: ['fixture.destructive'], reasons: ['destructive tools are denied'], approval_required: false });
  });

  it('records the allowed call and the masked response with counts only', () => {
    expect(answers.allowed.result).toBeDefined();
    const events = receiver.accepted();
    const allowed = events.find((e) => e.input.name === 'echo' && e.input.kind === 'request');
    expect(allowed.result).toMatchObject({ allow: true, outcome: 'allow', rule_ids: ['fixture.tool'] });
    expect(answers.masked.result.content[0].text).not.toContain('ada@example.com');
    const masked = events.find((e) => e.input.kind === 'response' && e.result.masked.email === 1);
    expect(masked).toBeDefined();
    expect(masked.metrics.counter_portcullis_masked_values).toBe(1);
    expect(masked.erased).toEqual(['/input/arguments', '/input/params', '/input/result', '/input/subject']);
  });

  it('never ships an argument value, an address it masked or a subject', () => {
    const shipped = JSON.stringify(receiver.posts.map((p) => p.events));
    expect(shipped).not.toContain(SECRET);
    expect(shipped).not.toContain('ada@example.com');
    expect(shipped).not.toContain('plain words');
    for (const e of receiver.accepted()) {
      expect(Object.keys(e.input).sort()).toEqual(['contract', 'direction', 'kind', 'method', 'name', 'principal', 'protocol', 'session_id', 'target']);
    }
  });
});

describe('a gateway whose decision log needs a token that is not set', () => {
  it('refuses to start, naming the key', async () => {
    const upstream = await startModernUpstream({ modernResponse: 'auto' });
    try {
      await expect(startTestGateway({
        targets: { fixture: upstream.url },
        config: { audit: { decision_log: { url: 'http://127.0.0.1:9/logs', token_env: 'PORTCULLIS_TEST_LOG_TOKEN' } } },
      })).rejects.toThrow('audit.decision_log.token_env: environment variable PORTCULLIS_TEST_LOG_TOKEN is not set');
    } finally {
      await upstream.close();
    }
  });
});
