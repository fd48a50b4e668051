// Races, counted at the upstream: more than a thousand concurrent attempts (retries on both
// replicas, duplicate votes, approve against deny against expiry) run each approved call exactly
// once and never a denied or expired one.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../gateway/errors.ts';
import { startApprovalsStack, type ApprovalsStack } from '../helpers/approvals-stack.ts';
import type { TestGateway } from '../helpers/gateway.ts';

const META = { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientInfo': { name: 'races', version: '1' }, 'io.modelcontextprotocol/clientCapabilities': { elicitation: { url: {} } } };
const KEY = 'io.portcullis/approval';

let s: ApprovalsStack;
let rita: string; let sam: string; let sue: string; let dan: string;
beforeAll(async () => {
  s = await startApprovalsStack({ approvals: { retry_hold_seconds: 1, max_hold_seconds: 1 } });
  [rita, sam, sue, dan] = await Promise.all([s.token('rita', ['admins']), s.token('sam', ['sre']), s.token('sue', ['sre']), s.token('dan', ['sre'])]);
}, 120_000);
afterAll(async () => { await s?.close(); });

let nextId = 1;
async function call(gw: TestGateway, text: string, extra: Record<string, unknown> = {}): Promise<any> {
  const res = await fetch(gw.endpoint('modern'), {
    method: 'POST',
    headers: { authorization: `Bearer ${rita}`, 'content-type': 'application/json', accept: 'application/json', 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/call', 'mcp-name': 'echo' },
    body: JSON.stringify({ jsonrpc: '2.0', id: nextId++, method: 'tools/call', params: { name: 'echo', arguments: { text }, _meta: META, ...extra } }),
  });
  return res.json();
}

type Plan = 'approve' | 'deny-race' | 'expire-race' | 'no-decision';
const PLANS: Plan[] = ['approve', 'deny-race', 'expire-race', 'approve', 'no-decision', 'approve'];
const RETRIES = 21;
const ROUNDS = 4;
const PER_ROUND = 12;

describe('exactly once under races', () => {
  it(`${ROUNDS * PER_ROUND * RETRIES} concurrent retries on two replicas, with duplicate and conflicting votes`, async () => {
    let attempts = 0;
    const outcomes: { text: string; plan: Plan; results: any[]; state: string }[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const requests = await Promise.all(Array.from({ length: PER_ROUND }, async (_, i) => {
        const plan = PLANS[(round * PER_ROUND + i) % PLANS.length]!;
        const text = `${plan === 'expire-race' ? 'short' : 'sre'}: race ${round}/${i}`;
        const first = await call(i % 2 ? s.a : s.b, text);
        const state = first.result.requestState as string;
        const id = first.result.inputRequests[KEY].params.elicitationId as string;
        return { text, plan, state, id };
      }));
      await Promise.all(requests.map(async ({ text, plan, state, id }) => {
        const vote = (gw: TestGateway, token: string, decision: 'approve' | 'deny') => s.api(gw, 'POST', `/api/approvals/${id}/${decision}`, token, decision === 'deny' ? { comment: 'race deny' } : {});
        const votes: Promise<unknown>[] = [];
        if (plan === 'approve') votes.push(vote(s.a, sam, 'approve'), vote(s.b, sam, 'approve'), vote(s.a, sue, 'approve'), vote(s.b, dan, 'approve'));
        if (plan === 'deny-race') votes.push(vote(s.a, sam, 'approve'), vote(s.b, sue, 'deny'), vote(s.b, sam, 'approve'));
        if (plan === 'expire-race') votes.push(new Promise((r) => setTimeout(r, 950)).then(() => Promise.all([vote(s.a, sam, 'approve'), vote(s.b, sue, 'approve')])));
        const retries = Array.from({ length: RETRIES }, (_, k) => call(k % 2 ? s.a : s.b, text, { requestState: state, inputResponses: { [KEY]: { action: 'accept' } } }));
        attempts += retries.length;
        const results = await Promise.all([...retries, ...votes]).then((all) => all.slice(0, RETRIES));
        // Whatever is still waiting after the races: a final retry settles what the client sees.
        results.push(await call(s.a, text, { requestState: state, inputResponses: { [KEY]: { action: 'accept' } } }));
        const shown = await s.api(s.a, 'GET', `/api/approvals/${id}`, rita);
        outcomes.push({ text, plan, results, state: shown.json.state });
      }));
    }
    expect(attempts).toBeGreaterThanOrEqual(1000);
    for (const { text, plan, results, state } of outcomes) {
      const ran = s.modern.toolCalls.filter((c) => c.tool === 'echo' && c.args.text === text).length;
      const got = results.filter((r) => r.result?.content?.[0]?.text === text).length;
      const codes = new Set(results.filter((r) => r.error).map((r) => r.error.code));
      if (state === 'executed') {
        expect(ran, `${text} (${plan})`).toBe(1);
        expect(got, `${text} (${plan})`).toBe(1);
        for (const code of codes) expect(code).toBe(ErrorCode.ApprovalUsed);
      } else {
        expect(ran, `${text} (${plan}) ended ${state}`).toBe(0);
        expect(got).toBe(0);
        expect(['denied', 'expired', 'pending']).toContain(state);
      }
      if (plan === 'approve') expect(state).toBe('executed');
      if (plan === 'no-decision') expect(state).toBe('pending');
    }
  }, 240_000);

  it('identical legacy-style attaches on both replicas open one request', async () => {
    const text = 'sre: one request for many';
    const all = await Promise.all(Array.from({ length: 40 }, (_, k) => call(k % 2 ? s.a : s.b, text)));
    const ids = new Set(all.map((r) => r.result.inputRequests[KEY].params.elicitationId));
    expect(ids.size).toBe(1);
  });
});

describe('limits and outages', () => {
  it('legacy: a held stream past max_hold_seconds ends with -32055 and the URL; the identical retry attaches', async () => {
    const token = await s.token('rita', ['admins'], 'legacy');
    const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
    const init = await fetch(s.a.endpoint('legacy'), { method: 'POST', headers, body: JSON.stringify({ jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'e2e', version: '1' } } }) });
    await init.text();
    const sessionId = init.headers.get('mcp-session-id')!;
    const held = async (gw: TestGateway) => {
      const res = await fetch(gw.endpoint('legacy'), { method: 'POST', headers: { ...headers, 'mcp-session-id': sessionId, 'mcp-protocol-version': '2025-11-25' }, body: JSON.stringify({ jsonrpc: '2.0', id: nextId++, method: 'tools/call', params: { name: 'echo', arguments: { text: 'sre: nobody answers' } } }) });
      const lines = (await res.text()).split('\n').filter((l) => l.startsWith('data:'));
      return JSON.parse(lines.at(-1)!.slice(5));
    };
    const first = await held(s.a);
    expect(first.error.code).toBe(ErrorCode.ApprovalPending);
    expect(first.error.message).toContain('no decision within the 1 s');
    expect(first.error.data.portcullis.approval.url).toBe(`${s.base}/approvals/${first.error.data.portcullis.approval.id}`);
    const again = await held(s.b);
    expect(again.error.data.portcullis.approval.id).toBe(first.error.data.portcullis.approval.id);
    expect(s.legacy.toolCalls.filter((c) => c.args.text === 'sre: nobody answers')).toHaveLength(0);
  });

  it('Redis down: calls that need approval fail closed with -32090; other 2026-07-28 calls still serve', async () => {
    await s.redis.stop();
    try {
      const held = await call(s.a, 'sre: while redis is down');
      expect(held.error.code).toBe(ErrorCode.StateUnavailable);
      expect(s.modern.toolCalls.filter((c) => c.args.text === 'sre: while redis is down')).toHaveLength(0);
      const plain = await call(s.b, 'plain while redis is down');
      expect(plain.result.content[0].text).toBe('plain while redis is down');
      const api = await s.api(s.a, 'GET', '/api/approvals', sam);
      expect(api).toMatchObject({ status: 503, json: { error: { code: 'state_unavailable' } } });
    } finally {
      await s.redis.start();
    }
  });
});
