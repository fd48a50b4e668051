// The HTTP decision log against a real receiver (node:http): OPA's event shape, gzip, batching,
// retries, refusals, the bounded buffer and close. Records come from the real recordDecision.
import { afterEach, describe, expect, it } from 'vitest';
import { ENTRYPOINT } from '../../../gateway/policy/engine.ts';
import { toDecision } from '../../../gateway/policy/decision.ts';
import type { PolicyQuery } from '../../../gateway/policy/input.ts';
import { recordDecision, recordCandidateDecision } from '../../../gateway/telemetry/audit.ts';
import { decisionLogConfigSchema } from '../../../gateway/telemetry/decision-log-config.ts';
import { httpDecisionLog, type DecisionLogSink } from '../../../gateway/telemetry/decision-log.ts';
import { startDecisionLogReceiver, type DecisionLogReceiver } from '../../helpers/decision-log-receiver.ts';

const SECRET = 'PLANTED-SECRET-5f1c9e';

function query(overrides: Partial<PolicyQuery> = {}): PolicyQuery {
  return {
    era: 'stateless', protocolVersion: '2026-07-28', direction: 'client_to_server', kind: 'request',
    method: 'tools/call', name: 'echo', arguments: { text: 'hi', password: SECRET }, target: 'fixture', sessionId: '',
    subjectJson: JSON.stringify({ sub: 'ada', email: `${SECRET}@example.com`, claims: { secret: SECRET } }),
    ...overrides,
  };
}
const allow = (revision = 'rev-1') => toDecision([{ result: { allow: true, reasons: [], rule_ids: ['t.allow'] } }], revision);
const deny = (revision = 'rev-1') => toDecision([{ result: { allow: false, reasons: ['no'], rule_ids: ['t.deny'] } }], revision);

const opened: { sink: DecisionLogSink; receiver: DecisionLogReceiver }[] = [];
afterEach(async () => {
  for (const { sink, receiver } of opened.splice(0)) {
    await sink.close();
    await receiver.close();
  }
});

async function setup(config: Record<string, unknown> = {}, log: (m: string) => void = () => {}, token?: string) {
  const receiver = await startDecisionLogReceiver();
  // A long flush interval unless a test wants one: batches go when full or on close.
  const parsed = decisionLogConfigSchema.parse({ url: receiver.url, flush_interval_ms: 600_000, retry_max_delay_ms: 20, ...config });
  const sink = httpDecisionLog({ config: parsed, log, ...(token ? { token } : {}) });
  opened.push({ sink, receiver });
  return { receiver, sink };
}

const ids = (events: any[]) => events.map((e) => e.decision_id);

describe('decision log events', () => {
  it('POSTs a gzipped JSON array of events in OPA\'s shape, with no argument or subject values', async () => {
    const { receiver, sink } = await setup({ labels: { env: 'test' } }, () => {}, 'tok-123');
    const decision = allow('rev-42');
    recordDecision(sink, query(), 'ada', decision, { email: 2, secret: 1 });
    await sink.close();
    expect(receiver.posts).toHaveLength(1);
    const [post] = receiver.posts;
    expect(post!.headers['content-type']).toBe('application/json');
    expect(post!.headers['content-encoding']).toBe('gzip');
    expect(post!.headers.authorization).toBe('Bearer tok-123');
    expect(post!.events).toHaveLength(1);
    const event = post!.events![0];
    // OPA's EventV1 JSON names (v1/plugins/logs/plugin.go), nothing else.
    expect(Object.keys(event).sort()).toEqual(['bundles', 'decision_id', 'erased', 'input', 'labels', 'metrics', 'path', 'result', 'timestamp']);
    expect(event.decision_id).toBe(decision.id);
    expect(event.labels).toEqual({ env: 'test', id: expect.stringMatching(/^[0-9a-f-]{36}$/), version: expect.any(String) });
    expect(event.bundles).toEqual({ portcullis: { revision: 'rev-42' } });
    expect(event.path).toBe(ENTRYPOINT);
    expect(event.input).toEqual({
      contract: 'portcullis/v1', protocol: { era: 'stateless', version: '2026-07-28' }, direction: 'client_to_server',
      kind: 'request', method: 'tools/call', name: 'echo', target: 'fixture', session_id: '', principal: 'ada',
    });
    expect(event.result).toEqual({ allow: true, outcome: 'allow', rule_ids: ['t.allow'], reasons: [], approval_required: false, masked: { email: 2, secret: 1 } });
    expect(event.erased).toEqual(['/input/arguments', '/input/params', '/input/result', '/input/subject']);
    expect(event.metrics).toEqual({ counter_portcullis_masked_values: 3 });
    // RFC 3339, as OPA's time.Time marshals.
    expect(event.timestamp).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/);
    expect(JSON.stringify(receiver.posts.map((p) => p.events))).not.toContain(SECRET);
    expect(sink.counters()).toMatchObject({ sent_events: 1, sent_batches: 1, retries: 0, dropped_rejected: 0, buffered: 0 });
  });

  it('leaves an empty revision out of bundles, as OPA does, and carries a candidate\'s comparison', async () => {
    const { receiver, sink } = await setup();
    const enforced = deny('');
    const candidate = allow('');
    recordCandidateDecision(sink, query(), 'ada', candidate, enforced, ['allow']);
    await sink.close();
    const [event] = receiver.accepted();
    expect(event.bundles).toEqual({ portcullis: {} });
    expect(event.result).toMatchObject({ allow: true, observe_only: true, differences: ['allow'], enforced: { decision_id: enforced.id, allow: false } });
  });
});

describe('batching', () => {
  it('sends full batches as they fill and the rest on close: 10 events in 3 POSTs', async () => {
    const { receiver, sink } = await setup({ batch_max_events: 4 });
    const decisions = Array.from({ length: 10 }, () => allow());
    for (const d of decisions) recordDecision(sink, query(), 'ada', d);
    await sink.close();
    expect(receiver.posts.map((p) => p.events?.length)).toEqual([4, 4, 2]);
    expect(ids(receiver.accepted())).toEqual(decisions.map((d) => d.id));
  });

  it('caps a batch by its uncompressed bytes', async () => {
    const { receiver, sink } = await setup({ batch_max_events: 100, batch_max_bytes: 1024 });
    for (let i = 0; i < 6; i++) recordDecision(sink, query(), 'ada', allow());
    await sink.close();
    const bytes = receiver.posts.map((p) => Buffer.byteLength(JSON.stringify(p.events)));
    expect(receiver.posts.length).toBeGreaterThan(1);
    for (const b of bytes) expect(b).toBeLessThanOrEqual(1024);
    expect(receiver.accepted()).toHaveLength(6);
  });

  it('sends a partial batch on the flush interval, without close', async () => {
    const { receiver, sink } = await setup({ batch_max_events: 100, flush_interval_ms: 20 });
    const d = allow();
    recordDecision(sink, query(), 'ada', d);
    await receiver.until(() => receiver.accepted().length === 1);
    expect(ids(receiver.accepted())).toEqual([d.id]);
  });
});

describe('delivery failures', () => {
  it('retries a 503 with backoff and loses nothing', async () => {
    const { receiver, sink } = await setup({ batch_max_events: 2 });
    receiver.respond = (i) => (i < 2 ? 503 : 204);
    const decisions = [allow(), allow(), allow()];
    for (const d of decisions) recordDecision(sink, query(), 'ada', d);
    await sink.close();
    expect(receiver.posts.map((p) => p.status)).toEqual([503, 503, 204, 204]);
    expect(ids(receiver.accepted())).toEqual(decisions.map((d) => d.id));
    expect(sink.counters()).toMatchObject({ sent_events: 3, retries: 2, dropped_rejected: 0, dropped_on_close: 0 });
  });

  it('keeps events while the receiver is down and delivers them when it comes up', async () => {
    const probe = await startDecisionLogReceiver();
    const port = probe.port;
    await probe.close(); // nothing listens on the port now: connection refused
    let failed!: () => void;
    const firstFailure = new Promise<void>((resolve) => { failed = resolve; });
    const parsed = decisionLogConfigSchema.parse({ url: `http://127.0.0.1:${port}/logs`, batch_max_events: 2, flush_interval_ms: 600_000, retry_max_delay_ms: 20 });
    const logs: string[] = [];
    const sink = httpDecisionLog({ config: parsed, log: (m) => { logs.push(m); if (m.includes('failed')) failed(); } });
    const decisions = [allow(), allow(), allow(), allow(), allow()];
    for (const d of decisions) recordDecision(sink, query(), 'ada', d);
    await firstFailure;
    const receiver = await startDecisionLogReceiver(port);
    opened.push({ sink, receiver });
    await receiver.until(() => receiver.accepted().length >= 4);
    await sink.close();
    expect(ids(receiver.accepted())).toEqual(decisions.map((d) => d.id));
    expect(sink.counters().retries).toBeGreaterThanOrEqual(1);
    expect(logs.some((m) => m.includes('accepts events again'))).toBe(true);
  });

  it('drops a batch the receiver refuses with 400 (counted, sent once) and goes on', async () => {
    const logs: string[] = [];
    const { receiver, sink } = await setup({ batch_max_events: 2 }, (m) => logs.push(m));
    receiver.respond = (i) => (i === 0 ? 400 : 204);
    const decisions = [allow(), allow(), allow(), allow()];
    for (const d of decisions) recordDecision(sink, query(), 'ada', d);
    await sink.close();
    expect(receiver.posts.map((p) => p.status)).toEqual([400, 204]);
    expect(ids(receiver.accepted())).toEqual(decisions.slice(2).map((d) => d.id));
    expect(sink.counters()).toMatchObject({ sent_events: 2, dropped_rejected: 2, retries: 0 });
    expect(logs).toContain(`decision log: ${receiver.url} refused a batch with 400: 2 events dropped`);
  });

  it.each([[408], [429], [500], [502]])('retries a %i', async (status) => {
    const { receiver, sink } = await setup();
    receiver.respond = (i) => (i === 0 ? status : 200);
    const d = allow();
    recordDecision(sink, query(), 'ada', d);
    await sink.close();
    expect(receiver.posts.map((p) => p.status)).toEqual([status, 200]);
    expect(ids(receiver.accepted())).toEqual([d.id]);
  });

  it.each([[302], [401], [413]])('drops a batch answered %i, following no redirect', async (status) => {
    const { receiver, sink } = await setup();
    receiver.respond = () => status;
    recordDecision(sink, query(), 'ada', allow());
    await sink.close();
    expect(receiver.posts.map((p) => p.status)).toEqual([status]);
    expect(sink.counters()).toMatchObject({ sent_events: 0, dropped_rejected: 1, retries: 0 });
  });

  it('drops the oldest waiting events when the buffer is full, keeping the batch in flight, and counts them', async () => {
    const { receiver, sink } = await setup({ batch_max_events: 2, buffer_max_events: 5 });
    let up = false;
    receiver.respond = () => (up ? 204 : 503);
    const decisions = Array.from({ length: 12 }, () => allow());
    for (const d of decisions) recordDecision(sink, query(), 'ada', d);
    // 1 and 2 went out (in flight) when the batch filled; of 3..12 only the newest 3 fit.
    expect(sink.counters()).toMatchObject({ dropped_buffer_full: 7, buffered: 5 });
    up = true;
    await sink.close();
    expect(ids(receiver.accepted())).toEqual([0, 1, 9, 10, 11].map((i) => decisions[i]!.id));
    expect(sink.counters()).toMatchObject({ sent_events: 5, dropped_buffer_full: 7, dropped_on_close: 0 });
  });
});

describe('close', () => {
  it('flushes what is buffered, and counts records that arrive after it', async () => {
    const { receiver, sink } = await setup({ batch_max_events: 100 });
    const decisions = [allow(), deny(), allow()];
    for (const d of decisions) recordDecision(sink, query(), 'ada', d);
    expect(receiver.posts).toHaveLength(0);
    await sink.close();
    expect(ids(receiver.accepted())).toEqual(decisions.map((d) => d.id));
    recordDecision(sink, query(), 'ada', allow());
    expect(sink.counters()).toMatchObject({ sent_events: 3, dropped_on_close: 1, buffered: 0 });
  });

  it('gives up at its deadline when the receiver stays down, and counts what was lost', async () => {
    const logs: string[] = [];
    const { receiver, sink } = await setup({ batch_max_events: 100, timeout_ms: 200 }, (m) => logs.push(m));
    receiver.respond = () => 503;
    for (let i = 0; i < 3; i++) recordDecision(sink, query(), 'ada', allow());
    await sink.close();
    expect(receiver.posts.length).toBeGreaterThanOrEqual(1);
    expect(sink.counters()).toMatchObject({ sent_events: 0, dropped_on_close: 3, buffered: 0 });
    expect(logs).toContain(`decision log: 3 events not delivered to ${receiver.url} before close; dropped`);
  });
});
