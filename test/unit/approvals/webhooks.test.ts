// Webhooks against a real HTTP receiver: Standard Webhooks signatures (verified the way the docs
// tell receivers to), stable ids across retries, backoff, 410 disables, thin payloads, Slack.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryApprovalStore } from '../../../gateway/approvals/store.ts';
import { parseWebhookSecrets, Webhooks, type WebhookEndpoint } from '../../../gateway/approvals/webhooks.ts';
import { Approvals } from '../../../gateway/approvals/service.ts';
import { MaskPlanCache } from '../../../gateway/masking/index.ts';
import { decision, held, person, sealer } from './helpers.ts';

interface Delivery { path: string; headers: Record<string, string>; body: string }
let server: Server;
let base: string;
const deliveries: Delivery[] = [];
/** path -> statuses to answer, in order (then 200). */
const script = new Map<string, number[]>();
beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      deliveries.push({ path: req.url ?? '', headers: req.headers as Record<string, string>, body });
      const next = script.get(req.url ?? '')?.shift() ?? 200;
      res.writeHead(next).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => { await new Promise((r) => server.close(r)); });

/** What the docs tell receivers: recompute v1 over "id.timestamp.body" and compare in constant time. */
function verify(secret: string, headers: Record<string, string>, body: string): boolean {
  const key = Buffer.from(secret.slice('whsec_'.length), 'base64');
  const expected = createHmac('sha256', key).update(`${headers['webhook-id']}.${headers['webhook-timestamp']}.${body}`).digest();
  return headers['webhook-signature']!.split(' ').some((sig) => {
    const [version, value] = sig.split(',');
    const got = Buffer.from(value ?? '', 'base64');
    return version === 'v1' && got.length === expected.length && timingSafeEqual(got, expected);
  });
}

const secret = () => `whsec_${randomBytes(32).toString('base64')}`;
const until = async (ok: () => boolean) => { for (let i = 0; i < 200 && !ok(); i++) await new Promise((r) => setTimeout(r, 20)); };

function setup(endpoints: WebhookEndpoint[]) {
  const hooks = new Webhooks(endpoints, { pageUrl: (id) => `https://gw.example/approvals/${id}`, log: () => {}, baseDelayMs: 10, maxAttempts: 4 });
  const svc = new Approvals({
    store: new MemoryApprovalStore(), sealer, masks: new MaskPlanCache({ hashKey: randomBytes(32) }), replica: 'r',
    decide: () => ({ id: 'v', outcome: 'allow', allow: true, reasons: [], ruleIds: [], mask: [], maskMode: 'strict', approval: null, missingScopes: [], inspectResponse: false, revision: 'r' }),
    onEvent: (r, e) => hooks.emit(r, e),
  });
  return { hooks, svc };
}

describe('webhooks', () => {
  it('every event, signed with every rotating key, thin payload without arguments', async () => {
    const [old, current] = [secret(), secret()];
    const { hooks, svc } = setup([{ url: `${base}/all`, keys: parseWebhookSecrets(`${current} ${old}`), format: 'standard' }]);
    const args = { query: 'select password from users' };
    const { record } = await svc.open(held(person('rita', ['admins']), decision({ approvers: { groups: ['sre'] } }), args));
    await svc.vote(record.id, person('sam', ['sre']), 'approve', 'fine', 'api');
    await svc.claim(record.id);
    await svc.finish(record.id, true, 'ok');
    await until(() => deliveries.filter((d) => d.path === '/all').length >= 4);
    const got = deliveries.filter((d) => d.path === '/all');
    expect(got.map((d) => JSON.parse(d.body).type)).toEqual(['approval.requested', 'approval.approved', 'approval.claimed', 'approval.executed']);
    for (const d of got) {
      expect(verify(current, d.headers, d.body)).toBe(true);
      expect(verify(old, d.headers, d.body)).toBe(true);
      expect(verify(secret(), d.headers, d.body)).toBe(false);
      expect(verify(current, d.headers, `${d.body} `)).toBe(false);
      expect(d.body).not.toContain('password');
      expect(Math.abs(Number(d.headers['webhook-timestamp']) - Date.now() / 1000)).toBeLessThan(3600);
    }
    expect(new Set(got.map((d) => d.headers['webhook-id'])).size).toBe(4);
    expect(JSON.parse(got[0]!.body).data).toMatchObject({ approval_id: record.id, state: 'pending', tool: 'run_sql', target: 'demo', link: `https://gw.example/approvals/${record.id}`, fingerprint: record.fingerprint, requester: { sub: 'rita' } });
    hooks.close();
  });

  it('retries with the same webhook-id; 410 disables the endpoint; filters by event', async () => {
    script.set('/flaky', [500, 503]);
    script.set('/gone', [410]);
    const { hooks, svc } = setup([
      { url: `${base}/flaky`, keys: parseWebhookSecrets(secret()), format: 'standard', events: new Set(['approval.requested']) },
      { url: `${base}/gone`, keys: parseWebhookSecrets(secret()), format: 'standard' },
    ]);
    const { record } = await svc.open(held(person('rita', ['admins']), decision({ approvers: { groups: ['sre'] } }), { q: 1 }));
    await until(() => deliveries.filter((d) => d.path === '/flaky').length >= 3);
    await svc.vote(record.id, person('sam', ['sre']), 'approve', '', 'api');
    await new Promise((r) => setTimeout(r, 200));
    const flaky = deliveries.filter((d) => d.path === '/flaky');
    expect(flaky).toHaveLength(3);
    expect(new Set(flaky.map((d) => d.headers['webhook-id'])).size).toBe(1);
    expect(deliveries.filter((d) => d.path === '/gone')).toHaveLength(1);
    hooks.close();
  });

  it('slack format: a link, escaped mrkdwn, no arguments', async () => {
    const { hooks, svc } = setup([{ url: `${base}/slack`, keys: parseWebhookSecrets(secret()), format: 'slack', events: new Set(['approval.requested']) }]);
    const sneaky = person('<!channel> & <https://evil|click>', ['admins']);
    await svc.open(held(sneaky, decision({ approvers: { groups: ['sre'] } }), { q: 'secret-arg' }));
    await until(() => deliveries.some((d) => d.path === '/slack'));
    const body = deliveries.find((d) => d.path === '/slack')!.body;
    expect(body).not.toContain('<!channel>');
    expect(body).toContain('&lt;!channel&gt; &amp; &lt;https://evil|click&gt;');
    expect(body).not.toContain('secret-arg');
    expect(JSON.parse(body).blocks[1].elements[0].url).toMatch(/^https:\/\/gw\.example\/approvals\/apv_/);
    hooks.close();
  });

  it('refuses malformed secrets', () => {
    expect(() => parseWebhookSecrets('')).toThrow(/no webhook secret/);
    expect(() => parseWebhookSecrets('abc')).toThrow(/whsec_/);
    expect(() => parseWebhookSecrets('whsec_c2hvcnQ=')).toThrow(/24 bytes/);
  });
});
