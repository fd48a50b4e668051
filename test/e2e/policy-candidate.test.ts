// An observe-only candidate in a running gateway: evaluated on live traffic, never enforced,
// disagreements counted on /status and recorded in the audit log with both decisions.
import { copyFile, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PolicyStatusBody } from '../../gateway/policy/index.ts';
import { startModernUpstream, type UpstreamFixture } from '../fixtures/upstreams/index.ts';
import { ALLOW_ALL_POLICY, bundleFor, FIXTURE_POLICY, startTestGateway, type TestGateway } from '../helpers/gateway.ts';

const META = {
  'io.modelcontextprotocol/protocolVersion': '2026-07-28',
  'io.modelcontextprotocol/clientInfo': { name: 'candidate-test', version: '1' },
  'io.modelcontextprotocol/clientCapabilities': {},
};

async function call(gw: TestGateway, name: string): Promise<{ status: number; body: { result?: unknown; error?: { code: number; data?: { portcullis?: { revision?: string } } } } }> {
  const res = await fetch(gw.endpoint(), {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/call', 'mcp-name': name },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name, arguments: { text: 'hi' }, _meta: META } }),
  });
  const text = await res.text();
  const json = text.startsWith('{') ? text : text.split('\n').find((l) => l.startsWith('data: '))!.slice(6);
  return { status: res.status, body: JSON.parse(json) };
}

const status = async (gw: TestGateway) => (await fetch(`${gw.url}/status`)).json() as Promise<PolicyStatusBody>;

let upstream: UpstreamFixture;
let gw: TestGateway;
let dir: string;
beforeAll(async () => {
  upstream = await startModernUpstream();
  dir = await mkdtemp(join(tmpdir(), 'portcullis-candidate-'));
  await copyFile(await bundleFor(ALLOW_ALL_POLICY), join(dir, 'candidate.tar.gz'));
  gw = await startTestGateway({
    targets: { fixture: upstream.url },
    config: { policy: { bundle: await bundleFor(FIXTURE_POLICY), candidate: { bundle: join(dir, 'candidate.tar.gz') } } },
  });
});
afterAll(async () => {
  await gw?.close();
  await upstream?.close();
});

describe('observe-only candidate', () => {
  it('is never enforced: the enforced policy denies what the candidate would allow, and nothing is forwarded', async () => {
    const before = upstream.received.length;
    const { body } = await call(gw, 'delete_everything');
    expect(body.error?.code).toBe(-32051);
    expect(body.error?.data?.portcullis?.revision).toBe(gw.policy.revision);
    expect(upstream.received.length).toBe(before);
  });

  it('records each disagreement with both decisions, and counts it by rule id on /status', async () => {
    await call(gw, 'delete_everything');
    const shadow = gw.audit.filter((r) => r.observe_only);
    const last = shadow.at(-1)!;
    expect(last).toMatchObject({ name: 'delete_everything', allow: true, rule_ids: ['allow_all'], enforced: { allow: false, rule_ids: ['fixture.destructive'], revision: gw.policy.revision }, differences: ['allow', 'outcome'] });
    // The enforced record is there too, under the decision id the client saw.
    const enforcedRecord = gw.audit.find((r) => !r.observe_only && r.decision_id === last.enforced!.decision_id);
    expect(enforcedRecord?.allow).toBe(false);
    // Both records of one message name one principal, as the identity layer names the caller.
    expect(last.principal).toBe(enforcedRecord!.principal);
    expect(last.principal).toBe(JSON.stringify(['anonymous', '', 'anonymous']));
    const s = await status(gw);
    expect(s.candidate).toMatchObject({ state: 'OK', revision: expect.stringMatching(/^rego-/), observed: { by_rule: { 'fixture.destructive': 2, allow_all: expect.any(Number) } } });
    expect(s.candidate!.observed.disagreements).toBeGreaterThanOrEqual(2);
    expect(s.candidate!.revision).not.toBe(s.policy.revision);
  });

  it('counts every evaluation; an effect-only difference (masks) is recorded, an agreement is not', async () => {
    const before = (await status(gw)).candidate!.observed;
    const records = gw.audit.filter((r) => r.observe_only).length;
    const { body } = await call(gw, 'echo');
    expect(body.result).toBeDefined();
    const after = (await status(gw)).candidate!.observed;
    // Request and response-time decision: two evaluations.
    expect(after.evaluations).toBe(before.evaluations + 2);
    // The request: the fixture masks echo's result and inspects it, allow-all does neither.
    const fresh = gw.audit.filter((r) => r.observe_only).slice(records);
    expect(fresh.map((r) => [r.kind, r.differences])).toEqual([['request', ['mask', 'inspect_response']]]);
    // The answer: both allow it unmasked (other rule ids, same effect): an agreement, not recorded.
    expect(after.agreements).toBe(before.agreements + 1);
  });

  it('a candidate that cannot load is reported and does not stop the gateway', async () => {
    const bad = join(dir, 'bad.tar.gz');
    await writeFile(bad, 'not a bundle');
    const other = await startTestGateway({ targets: { fixture: upstream.url }, config: { policy: { bundle: await bundleFor(FIXTURE_POLICY), candidate: { bundle: bad } } } });
    try {
      const s = await status(other);
      expect(s.policy.state).toBe('OK');
      expect(s.candidate).toMatchObject({ state: 'ERROR', revision: null, last_error: { code: 'not_gzip' }, observed: { evaluations: 0 } });
      expect((await call(other, 'echo')).body.result).toBeDefined();
      expect(other.logs.some((l) => l.includes('policy candidate') && l.includes('[not_gzip]'))).toBe(true);
    } finally {
      await other.close();
    }
  });
});
