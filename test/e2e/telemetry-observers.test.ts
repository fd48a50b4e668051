// What the gateway counts outside the request path reaches /metrics and the trace store: a bundle
// refused off the request path (a metric by refusal code and a span with an event, while the last
// good bundle keeps serving), an observe-only candidate's disagreements by rule id, the recorder's
// written messages and the HTTP decision log's sent events.
import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { semconv as S } from '../../gateway/telemetry/index.ts';
import { startModernUpstream, type UpstreamFixture } from '../fixtures/upstreams/index.ts';
import { ALLOW_ALL_POLICY, bundleFor, FIXTURE_POLICY, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { statelessCall } from '../helpers/identity-stack.ts';
import { startDecisionLogReceiver, type DecisionLogReceiver } from '../helpers/decision-log-receiver.ts';

/** The value of one Prometheus sample line whose labels include all of `labels`; undefined when none. */
function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}

describe('telemetry of what the gateway counts off the request path', () => {
  let dir: string;
  let bundleFile: string;
  let up: UpstreamFixture;
  let gw: TestGateway;
  let receiver: DecisionLogReceiver;
  const spans = new InMemorySpanExporter();
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'portcullis-observers-'));
    bundleFile = join(dir, 'enforced.tar.gz');
    await copyFile(await bundleFor(FIXTURE_POLICY), bundleFile);
    [up, receiver] = await Promise.all([startModernUpstream(), startDecisionLogReceiver()]);
    gw = await startTestGateway({
      targets: { demo: up.url },
      config: {
        // The enforced bundle comes from a file the test rewrites; the allow-all candidate disagrees
        // with the fixture policy's denials.
        policy: { bundle: bundleFile, watch: false, candidate: { bundle: await bundleFor(ALLOW_ALL_POLICY) } },
        telemetry: { enabled: true },
        recordings: { enabled: true, flush_interval_ms: 1 },
        audit: { decision_log: { url: `${receiver.url}/logs`, flush_interval_ms: 10 } },
      },
      gateway: { spanExporter: spans },
    });
  }, 60_000);
  afterAll(async () => {
    await gw?.close();
    await Promise.all([up?.close(), receiver?.close()]);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const call = async (name: string, id: number) => {
    const { headers, body } = statelessCall(name, { text: 'hi' }, id);
    const res = await fetch(gw.endpoint(), { method: 'POST', headers, body: JSON.stringify(body) });
    return (await res.json()) as { result?: unknown; error?: { code: number } };
  };

  it('counts a refused bundle by its code and traces it as a span with an event; the last good keeps serving', async () => {
    const before = (await call('echo', 1)).result;
    expect(before).toBeDefined();
    const revision = gw.policies.enforced.current().info.revision;
    await writeFile(bundleFile, Buffer.from('this is not a gzip tar'));
    await gw.policies.reload();
    expect(gw.policies.enforced.current().info.revision).toBe(revision);
    expect((await call('echo', 2)).result).toBeDefined();

    const metrics = await (await fetch(`${gw.url}/metrics`)).text();
    const refused = metrics.split('\n').find((l) => l.startsWith('portcullis_policy_events_total') && l.includes('type="refused"'));
    expect(refused, metrics).toBeDefined();
    expect(refused).toMatch(/policy="enforced"/);
    expect(refused).toMatch(/error="[a-z_]+"/);
    expect(Number(refused!.slice(refused!.lastIndexOf(' ') + 1))).toBe(1);

    const span = spans.getFinishedSpans().find((s) => s.name === S.SPAN_POLICY_EVENT && s.events.some((e) => e.name === S.EVENT_BUNDLE_REFUSED));
    expect(span).toBeDefined();
    expect(span!.attributes[S.ATTR_POLICY_SOURCE]).toContain('enforced.tar.gz');
    expect(span!.attributes[S.ATTR_BUNDLE_REVISION]).toBe(revision);
    expect(span!.events.find((e) => e.name === S.EVENT_BUNDLE_REFUSED)!.attributes![S.ATTR_POLICY_ERROR_CODE]).toMatch(/^[a-z_]+$/);
  });

  it('counts the candidate\'s disagreements by rule id, the recorder\'s writes and the decision log\'s sent events', async () => {
    // The fixture policy denies this tool; the allow-all candidate would allow it.
    expect((await call('not_a_listed_tool', 3)).error?.code).toBe(-32051);
    await receiver.until(() => receiver.accepted().length >= 3);
    const metrics = await (await fetch(`${gw.url}/metrics`)).text();
    expect(sample(metrics, 'portcullis_policy_candidate_evaluations_total', { result: 'disagree' }), metrics).toBeGreaterThanOrEqual(1);
    const byRule = metrics.split('\n').filter((l) => l.startsWith('portcullis_policy_candidate_disagreements_total') && l.includes('rule_id="'));
    expect(byRule.length, metrics).toBeGreaterThanOrEqual(1);
    expect(sample(metrics, 'portcullis_policy_candidate_disagreements_total', { difference: 'allow' })).toBeGreaterThanOrEqual(1);
    expect(sample(metrics, 'portcullis_recordings_messages_total', { result: 'written' })).toBeGreaterThanOrEqual(2);
    expect(sample(metrics, 'portcullis_recordings_messages_total', { result: 'refused' })).toBe(0);
    expect(sample(metrics, 'portcullis_decision_log_events_total', { result: 'sent' })).toBeGreaterThanOrEqual(3);
    expect(sample(metrics, 'portcullis_decision_log_events_total', { result: 'dropped_buffer_full' })).toBe(0);
  });
});
