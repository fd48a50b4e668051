// Human approval per call, end to end with real parts: two gateway replicas sharing a real Redis,
// a real IdP's tokens, real upstream SDK servers, raw HTTP in both eras (the SDK clients are in
// approvals-sdk.test.ts). Every refusal checks its exact code and that the upstream saw nothing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { runApprovalsCli } from '../../gateway/approvals/cli.ts';
import { ErrorCode } from '../../gateway/errors.ts';
import { startApprovalsStack, type ApprovalsStack } from '../helpers/approvals-stack.ts';
import { parseBody } from '../helpers/identity-stack.ts';
import type { TestGateway } from '../helpers/gateway.ts';

const META = { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientInfo': { name: 'approvals-e2e', version: '1' }, 'io.modelcontextprotocol/clientCapabilities': { elicitation: { url: {} } } };
const KEY = 'io.portcullis/approval';

let s: ApprovalsStack;
let rita: string; // requester
let sam: string; let sue: string; let dan: string; let ivy: string; let sid: string;
beforeAll(async () => {
  s = await startApprovalsStack();
  [rita, sam, sue, dan, ivy, sid] = await Promise.all([
    s.token('rita', ['admins']), s.token('sam', ['sre']), s.token('sue', ['sre']), s.token('dan', ['dba', 'sre']),
    s.token('ivy', ['sre', 'intern']), s.token('sid', ['support']),
  ]);
}, 120_000);
afterAll(async () => { await s?.close(); });

let nextId = 1;
/** A 2026-07-28 tools/call of echo through a replica. */
async function call(gw: TestGateway, token: string, text: string, extra: Record<string, unknown> = {}) {
  const res = await fetch(gw.endpoint('modern'), {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/call', 'mcp-name': 'echo' },
    body: JSON.stringify({ jsonrpc: '2.0', id: nextId++, method: 'tools/call', params: { name: 'echo', arguments: { text }, _meta: META, ...extra } }),
  });
  const text2 = await res.text();
  return { status: res.status, json: parseBody(text2, res.headers.get('content-type')) as any };
}

/** Every key and value the gateways wrote to Redis, as text (for leak checks). */
async function redisKeys(): Promise<string[]> {
  const { Redis } = await import('ioredis');
  const r = new Redis(s.redis.url);
  try { return await r.keys('*'); } finally { r.disconnect(); }
}
async function redisDump(keys: string[]): Promise<string> {
  const { Redis } = await import('ioredis');
  const r = new Redis(s.redis.url);
  try {
    const parts: string[] = [];
    for (const k of keys) {
      const type = await r.type(k);
      if (type === 'hash') parts.push(JSON.stringify(await r.hgetall(k)));
      else if (type === 'string') parts.push((await r.get(k)) ?? '');
      else if (type === 'stream') parts.push(JSON.stringify(await r.xrange(k, '-', '+')));
      else if (type === 'zset') parts.push(JSON.stringify(await r.zrange(k, '0', '-1')));
    }
    return parts.join('\n');
  } finally { r.disconnect(); }
}

const echoed = (text: string) => s.modern.toolCalls.filter((c) => c.tool === 'echo' && c.args.text === text).length;
const retry = (state: string) => ({ requestState: state, inputResponses: { [KEY]: { action: 'accept' } } });

async function held(text: string, token = rita, gw = s.a) {
  const first = await call(gw, token, text);
  expect(first.status).toBe(200);
  expect(first.json.result.resultType).toBe('input_required');
  const elicit = first.json.result.inputRequests[KEY];
  return { first, id: elicit.params.elicitationId as string, state: first.json.result.requestState as string, elicit };
}

describe('2026-07-28: input_required, sealed requestState, the retry', () => {
  it('holds the call, then forwards the stored call exactly once after approval on the other replica', async () => {
    const text = 'sre: drop the staging table';
    const { id, state, elicit } = await held(text);
    expect(elicit).toMatchObject({ method: 'elicitation/create', params: { mode: 'url', url: `${s.base}/approvals/${id}` } });
    expect(elicit.params.url).not.toContain('drop'); // no user data in the URL
    expect(state).toMatch(/^portcullis\.state\.k2\./);
    expect(echoed(text)).toBe(0);
    // Pending: the retry is answered input_required again (after a short hold), nothing forwarded.
    const pending = await call(s.b, rita, text, retry(state));
    expect(pending.json.result).toMatchObject({ resultType: 'input_required' });
    expect(echoed(text)).toBe(0);
    // The approver sees the request on replica B and approves it.
    const listed = await s.api(s.b, 'GET', '/api/approvals', sam);
    expect(listed.status).toBe(200);
    expect(listed.json.decide.map((r: any) => r.id)).toContain(id);
    const shown = listed.json.decide.find((r: any) => r.id === id);
    expect(shown).toMatchObject({ name: 'echo', target: 'modern', state: 'pending', maskedArguments: { text }, requester: { sub: 'rita' }, reason: 'test rule sre', ruleIds: ['approvals.held.sre'], may_decide: true });
    expect(shown).not.toHaveProperty('sealedCall');
    expect(shown).not.toHaveProperty('digest');
    const approved = await s.api(s.b, 'POST', `/api/approvals/${id}/approve`, sam, { comment: 'ok for staging' });
    expect(approved).toMatchObject({ status: 200, json: { state: 'approved' } });
    const done = await call(s.a, rita, text, retry(state));
    expect(done.json.result.content).toEqual([{ type: 'text', text }]);
    expect(echoed(text)).toBe(1);
    // Replayed: refused, nothing forwarded again.
    const replay = await call(s.b, rita, text, retry(state));
    expect(replay.json.error.code).toBe(ErrorCode.ApprovalUsed);
    expect(echoed(text)).toBe(1);
    const history = await s.api(s.a, 'GET', `/api/approvals/${id}`, rita);
    expect(history.json.state).toBe('executed');
    expect(history.json.history.map((e: any) => e.type)).toEqual(['approval.requested', 'approval.approved', 'approval.claimed', 'approval.executed']);
    expect(history.json.votes[0]).toMatchObject({ by: { sub: 'sam' }, decision: 'approve', comment: 'ok for staging', policy: { allow: true, ruleIds: ['approvals.vote.ok'] } });
  });

  it('a waiting retry is released by the approval (pub/sub wake-up across replicas)', async () => {
    const text = 'sre: released while waiting';
    const { id, state } = await held(text);
    // A long retry hold on replica A; the vote lands on B while it waits.
    const waiting = call(s.a, rita, text, retry(state));
    await new Promise((r) => setTimeout(r, 200));
    await s.api(s.b, 'POST', `/api/approvals/${id}/approve`, sue, {});
    const done = await waiting;
    expect(done.json.result.resultType === 'input_required' ? (await call(s.a, rita, text, retry(state))).json.result.content : done.json.result.content).toEqual([{ type: 'text', text }]);
    expect(echoed(text)).toBe(1);
  });

  it('denied: refused with the reason; the upstream never sees it', async () => {
    const text = 'sre: rm -rf /';
    const { id, state } = await held(text);
    expect((await s.api(s.b, 'POST', `/api/approvals/${id}/deny`, sam, {})).json.error.code).toBe('comment_required');
    expect((await s.api(s.b, 'POST', `/api/approvals/${id}/deny`, sam, { comment: 'never on prod' })).json.state).toBe('denied');
    const refused = await call(s.a, rita, text, retry(state));
    expect(refused.json.error).toMatchObject({ code: ErrorCode.ApprovalDenied, data: { portcullis: { approval: { id, state: 'denied' } } } });
    expect(refused.json.error.message).toContain('never on prod');
    expect((await s.api(s.b, 'POST', `/api/approvals/${id}/approve`, sue, {})).json.error.code).toBe('not_pending');
    expect(echoed(text)).toBe(0);
  });

  it('expired: the sweeper records it; the retry is refused; history outlives it', async () => {
    const text = 'short: too slow';
    const { id, state } = await held(text);
    let shown;
    for (let i = 0; i < 100; i++) {
      shown = await s.api(s.a, 'GET', `/api/approvals/${id}`, rita);
      if (shown.json.state === 'expired') break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(shown!.json.state).toBe('expired');
    expect(shown!.json.history.map((e: any) => e.type)).toEqual(['approval.requested', 'approval.expired']);
    expect((await s.api(s.b, 'POST', `/api/approvals/${id}/approve`, sam, {})).json.error.code).toBe('not_pending');
    expect((await call(s.b, rita, text, retry(state))).json.error.code).toBe(ErrorCode.ApprovalExpired);
    expect(echoed(text)).toBe(0);
  });

  it('N of M: two distinct sre approvers', async () => {
    const text = 'two-sre: restart the cluster';
    const { id, state } = await held(text);
    expect((await s.api(s.a, 'POST', `/api/approvals/${id}/approve`, sam, {})).json).toMatchObject({ state: 'pending', progress: [{ filledBy: [expect.any(String)], missing: 1 }] });
    expect((await s.api(s.b, 'POST', `/api/approvals/${id}/approve`, sam, {})).json.error.code).toBe('already_voted');
    expect((await call(s.a, rita, text, retry(state))).json.result.resultType).toBe('input_required');
    expect((await s.api(s.b, 'POST', `/api/approvals/${id}/approve`, sue, {})).json.state).toBe('approved');
    expect((await call(s.a, rita, text, retry(state))).json.result.content[0].text).toBe(text);
    expect(echoed(text)).toBe(1);
  });

  it('gates: sre AND data owner, a person in both counts once', async () => {
    const text = 'sre+dba: export customers';
    const { id } = await held(text);
    expect((await s.api(s.a, 'POST', `/api/approvals/${id}/approve`, dan, {})).json.state).toBe('pending');
    expect((await s.api(s.a, 'POST', `/api/approvals/${id}/approve`, sam, {})).json.state).toBe('approved');
  });

  it('refuses self-approval (no admin exemption), groups the rule does not accept, and votes the policy refuses', async () => {
    const selfish = await s.token('rex', ['admins', 'sre']);
    const text = 'sre: my own change';
    const { id } = await held(text, selfish);
    expect(await s.api(s.a, 'POST', `/api/approvals/${id}/approve`, selfish, {})).toMatchObject({ status: 403, json: { error: { code: 'self_approval' } } });
    // Someone in none of the gates cannot even see it.
    expect(await s.api(s.a, 'POST', `/api/approvals/${id}/approve`, sid, {})).toMatchObject({ status: 404, json: { error: { code: 'not_found' } } });
    expect(await s.api(s.a, 'POST', `/api/approvals/${id}/approve`, ivy, {})).toMatchObject({ status: 403, json: { error: { code: 'policy_refused', reasons: ['interns may not approve'] } } });
    expect((await s.api(s.a, 'GET', '/api/approvals', ivy)).json.decide.map((r: any) => r.id)).not.toContain(id);
    expect((await s.api(s.a, 'GET', `/api/approvals/${id}`, selfish)).json).toMatchObject({ may_decide: false, why_not: 'self_approval' });
    expect((await s.api(s.a, 'GET', `/api/approvals/${id}`, rex())).status).toBe(401);
    function rex() { return 'not-a-token'; }
  });

  it('window scope: identical calls by the same principal run for the window; others need their own approval', async () => {
    const text = 'window: tail the logs';
    const { id, state } = await held(text);
    await s.api(s.b, 'POST', `/api/approvals/${id}/approve`, sam, {});
    expect((await call(s.a, rita, text, retry(state))).json.result.content[0].text).toBe(text);
    // Later identical calls, even without the requestState, on either replica.
    expect((await call(s.b, rita, text)).json.result.content[0].text).toBe(text);
    expect((await call(s.a, rita, text)).json.result.content[0].text).toBe(text);
    expect(echoed(text)).toBe(3);
    expect((await call(s.a, rita, 'window: something else')).json.result.resultType).toBe('input_required');
    const other = await s.token('ron', ['admins']);
    expect((await call(s.a, other, text)).json.result.resultType).toBe('input_required');
    expect(echoed(text)).toBe(3);
  });

  it('masks what approvers see; the upstream gets the real arguments', async () => {
    const text = 'secret: password=hunter2-correct-horse';
    const { id, state } = await held(text);
    const shown = await s.api(s.b, 'GET', `/api/approvals/${id}`, sam);
    expect(JSON.stringify(shown.json)).not.toContain('hunter2');
    expect(shown.json.maskedArguments.text).toBe('[MASKED:text ...orse]');
    // Nor is it readable in Redis: the stored call is sealed.
    const keys = await redisKeys();
    const dump = await redisDump(keys);
    expect(dump).not.toContain('hunter2');
    await s.api(s.b, 'POST', `/api/approvals/${id}/approve`, sam, {});
    expect((await call(s.a, rita, text, retry(state))).json.result.content[0].text).toBe('[MASKED:text ...orse]'); // the answer is masked too
    expect(s.modern.toolCalls.filter((c) => c.args.text === text)).toHaveLength(1);
  });

  describe('forged, tampered, replayed, expired and cross-principal requestState: refused, upstream sees nothing', () => {
    it.each([
      ['tampered', (st: string) => { const p = st.split('.'); const b = Buffer.from(p[4]!, 'base64url'); b[3]! ^= 0x20; return [...p.slice(0, 4), b.toString('base64url')].join('.'); }, ErrorCode.ApprovalStateInvalid],
      ['forged with an unknown key id', (st: string) => st.replace('.k2.', '.k9.'), ErrorCode.ApprovalStateInvalid],
      ['a sealed call, not a state', (st: string) => st.replace('portcullis.state.', 'portcullis.call.'), ErrorCode.InvalidParams],
      ['truncated', (st: string) => st.slice(0, -5), ErrorCode.ApprovalStateInvalid],
      ['garbage with the prefix', () => 'portcullis.state.k2.AAAA.BBBB', ErrorCode.ApprovalStateInvalid],
    ])('%s', async (_name, mutate, code) => {
      const text = `sre: forged ${_name}`;
      const { id, state } = await held(text);
      await s.api(s.b, 'POST', `/api/approvals/${id}/approve`, sam, {});
      const refused = await call(s.a, rita, text, retry(mutate(state)));
      if (code === ErrorCode.InvalidParams) {
        // Not the gateway's state at all: to the gateway it is an upstream continuation, so this
        // is another call, which needs its own approval.
        expect(refused.json.result.resultType).toBe('input_required');
        expect(refused.json.result.inputRequests[KEY].params.elicitationId).not.toBe(id);
      } else {
        expect(refused.json.error.code).toBe(code);
      }
      expect(echoed(text)).toBe(0);
      // The genuine state still works once.
      expect((await call(s.a, rita, text, retry(state))).json.result.content[0].text).toBe(text);
      expect(echoed(text)).toBe(1);
    });

    it('presented by another principal', async () => {
      const text = 'sre: cross principal';
      const { id, state } = await held(text);
      await s.api(s.b, 'POST', `/api/approvals/${id}/approve`, sam, {});
      const mallory = await s.token('mallory', ['admins']);
      const refused = await call(s.a, mallory, text, retry(state));
      expect(refused.json.error.code).toBe(ErrorCode.ApprovalStateInvalid);
      expect(refused.json.error.message).toContain('another caller');
      expect(echoed(text)).toBe(0);
    });

    it('with a different call (the retry\'s bytes never run)', async () => {
      const text = 'sre: the approved call';
      const { id, state } = await held(text);
      await s.api(s.b, 'POST', `/api/approvals/${id}/approve`, sam, {});
      const refused = await call(s.a, rita, 'sre: something else entirely', retry(state));
      expect(refused.json.error.code).toBe(ErrorCode.ApprovalStateInvalid);
      expect(echoed('sre: something else entirely')).toBe(0);
      expect(echoed(text)).toBe(0);
    });
  });

  it('a client that declared no URL elicitation gets -32055 with the URL; its identical retry runs once approved', async () => {
    const text = 'sre: no url elicitation';
    const noUrl = { _meta: { ...META, 'io.modelcontextprotocol/clientCapabilities': { elicitation: { form: {} } } } };
    const first = await call(s.a, rita, text, noUrl);
    expect(first.json.error).toMatchObject({ code: ErrorCode.ApprovalPending, data: { portcullis: { approval: { state: 'pending' } } } });
    const { id, url } = first.json.error.data.portcullis.approval;
    expect(url).toBe(`${s.base}/approvals/${id}`);
    await s.api(s.b, 'POST', `/api/approvals/${id}/approve`, sam, {});
    expect((await call(s.b, rita, text, noUrl)).json.result.content[0].text).toBe(text);
    expect((await call(s.b, rita, text, noUrl)).json.error.code).toBe(ErrorCode.ApprovalPending); // a new request: call scope
    expect(echoed(text)).toBe(1);
  });

  it('a call that needs no approval with the gateway\'s state on it: the state never goes upstream', async () => {
    const { state } = await held('sre: for the state');
    const before = s.modern.received.length;
    const res = await call(s.a, rita, 'plain echo', retry(state));
    expect(res.json.result.content[0].text).toBe('plain echo');
    const sent = s.modern.received.slice(before).map((r) => r.body).join('\n');
    expect(sent).not.toContain('portcullis.state');
    expect(sent).not.toContain(KEY);
  });
});

describe('legacy era: the POST is held on its stream', () => {
  let rita: string; let sam: string; let sue: string;
  beforeAll(async () => {
    [rita, sam, sue] = await Promise.all([s.token('rita', ['admins'], 'legacy'), s.token('sam', ['sre'], 'legacy'), s.token('sue', ['sre'], 'legacy')]);
  });
  async function session(gw: TestGateway, token: string) {
    const res = await fetch(gw.endpoint('legacy'), {
      method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'e2e', version: '1' } } }),
    });
    await res.text();
    const sid2 = res.headers.get('mcp-session-id')!;
    await fetch(gw.endpoint('legacy'), { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-session-id': sid2, 'mcp-protocol-version': '2025-11-25' }, body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }) });
    return sid2;
  }
  async function legacyCall(gw: TestGateway, token: string, sessionId: string, text: string, accept = 'application/json, text/event-stream', meta?: Record<string, unknown>) {
    const res = await fetch(gw.endpoint('legacy'), {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept, 'mcp-session-id': sessionId, 'mcp-protocol-version': '2025-11-25' },
      body: JSON.stringify({ jsonrpc: '2.0', id: nextId++, method: 'tools/call', params: { name: 'echo', arguments: { text }, ...(meta ? { _meta: meta } : {}) } }),
    });
    return { status: res.status, type: res.headers.get('content-type'), text: await res.text() };
  }
  const legacyEchoed = (text: string) => s.legacy.toolCalls.filter((c) => c.tool === 'echo' && c.args.text === text).length;
  const pendingId = async (text: string) => {
    for (let i = 0; i < 50; i++) {
      const list = await s.api(s.b, 'GET', '/api/approvals', sam);
      const hit = list.json.decide.find((r: any) => r.maskedArguments.text === text);
      if (hit) return hit.id as string;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`no pending approval for ${text}`);
  };

  it('keep-alive progress, released by an approval on the other replica, the stored call runs once', async () => {
    const sessionId = await session(s.a, rita);
    const text = 'sre: legacy held call';
    const answer = legacyCall(s.a, rita, sessionId, text, undefined, { progressToken: 'p1' });
    const id = await pendingId(text);
    await new Promise((r) => setTimeout(r, 1200)); // at least one keep-alive
    await s.api(s.b, 'POST', `/api/approvals/${id}/approve`, sam, { comment: 'go' });
    const out = await answer;
    expect(out.type).toContain('text/event-stream');
    const events = out.text.split('\n').filter((l) => l.startsWith('data:')).map((l) => JSON.parse(l.slice(5)));
    const progress = events.filter((e) => e.method === 'notifications/progress');
    expect(progress.length).toBeGreaterThanOrEqual(1);
    expect(progress[0].params).toMatchObject({ progressToken: 'p1', progress: 1 });
    expect(progress[0].params.message).toContain(`/approvals/${id}`);
    expect(events.at(-1).result.content[0].text).toBe(text);
    expect(legacyEchoed(text)).toBe(1);
  });

  it('a JSON-only client gets -32055 with the URL; an identical retry attaches to the same approval; denial ends it', async () => {
    const sessionId = await session(s.a, rita);
    const text = 'sre: json only';
    const first = JSON.parse((await legacyCall(s.a, rita, sessionId, text, 'application/json')).text);
    expect(first.error).toMatchObject({ code: ErrorCode.ApprovalPending, data: { portcullis: { approval: { state: 'pending' } } } });
    const id = first.error.data.portcullis.approval.id;
    expect(first.error.data.portcullis.approval.url).toBe(`${s.base}/approvals/${id}`);
    const again = JSON.parse((await legacyCall(s.b, rita, sessionId, text, 'application/json')).text);
    expect(again.error.data.portcullis.approval.id).toBe(id);
    await s.api(s.a, 'POST', `/api/approvals/${id}/deny`, sue, { comment: 'no' });
    const denied = JSON.parse((await legacyCall(s.b, rita, sessionId, text, 'application/json')).text);
    expect(denied.error.code).toBe(ErrorCode.ApprovalDenied);
    expect(legacyEchoed(text)).toBe(0);
  });

  it('a held stream ends with the denial', async () => {
    const sessionId = await session(s.b, rita);
    const text = 'sre: legacy denied';
    const answer = legacyCall(s.b, rita, sessionId, text);
    const id = await pendingId(text);
    await s.api(s.a, 'POST', `/api/approvals/${id}/deny`, sam, { comment: 'not today' });
    const out = await answer;
    const last = JSON.parse(out.text.split('\n').filter((l) => l.startsWith('data:')).at(-1)!.slice(5));
    expect(last.error.code).toBe(ErrorCode.ApprovalDenied);
    expect(legacyEchoed(text)).toBe(0);
  });
});

describe('CLI: portcullis approvals, on the API', () => {
  const cli = async (args: string[], token?: string) => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await runApprovalsCli(args, { out: (t) => out.push(t), err: (t) => err.push(t), env: { PORTCULLIS_URL: s.b.url, ...(token ? { PORTCULLIS_TOKEN: token } : {}) } });
    return { code, out: out.join('\n'), err: err.join('\n') };
  };

  it('list, show, approve; the held call then runs', async () => {
    const text = 'secret: cli token=abcdef-123456';
    const { id, state } = await held(text);
    const list = await cli(['list'], sam);
    expect(list.code).toBe(0);
    expect(list.out).toContain(id);
    expect(list.out).not.toContain('abcdef');
    const show = await cli(['show', id], sam);
    expect(show.out).toContain('echo on modern');
    expect(show.out).toContain('you may decide: yes');
    expect(show.out).toContain('rita');
    const approved = await cli(['approve', id, '--comment', 'cli ok'], sam);
    expect(approved.code).toBe(0);
    expect(approved.out).toContain('[approved]');
    expect((await call(s.a, rita, text, retry(state))).json.result.content).toHaveLength(1);
    expect(echoed(text)).toBe(1);
  });

  it('refusals exit 1 with the stable code; usage errors exit 2', async () => {
    const { id } = await held('sre: cli refusals');
    expect(await cli(['approve', id], rita)).toMatchObject({ code: 1, err: expect.stringContaining('self_approval') });
    expect(await cli(['deny', id], sam)).toMatchObject({ code: 2, err: expect.stringContaining('--comment is required') });
    expect(await cli(['deny', id, '--comment', 'no'], sam)).toMatchObject({ code: 0, out: expect.stringContaining('[denied]') });
    expect(await cli(['approve', id], sue)).toMatchObject({ code: 1, err: expect.stringContaining('not_pending') });
    expect(await cli(['show', 'apv_nope'], sam)).toMatchObject({ code: 1, err: expect.stringContaining('not_found') });
    expect(await cli(['list'])).toMatchObject({ code: 2, err: expect.stringContaining('no token') });
    expect(await cli(['list'], 'garbage')).toMatchObject({ code: 1, err: expect.stringContaining('unauthorized') });
    expect(await cli(['frobnicate'], sam)).toMatchObject({ code: 2 });
  });

  it('escapes control characters a requester put in the arguments', async () => {
    const text = 'sre: \u001b[2J\u001b]0;pwned\u0007 hidden';
    const { id } = await held(text);
    const show = await cli(['show', id], sam);
    expect(show.out).not.toContain('\u001b');
    expect(show.out).toContain('\\u001b');
  });

  it('the installed command dispatches to it', async () => {
    const child = spawn(process.execPath, ['bin/portcullis.mjs', 'approvals', 'list', '--url', s.b.url], { env: { ...process.env, PORTCULLIS_TOKEN: sam } });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(output).toContain('request(s) you may decide');
    expect(code).toBe(0);
  });
});

describe('the approval URL', () => {
  it('serves a page that reveals nothing about the call, with a strict CSP and no script', async () => {
    const text = 'secret: page must not show token=s3cr3t-value';
    const { elicit } = await held(text);
    const res = await fetch(elicit.params.url.replace(s.base, s.b.url));
    const body = await res.text();
    expect(res.status).toBe(200);
    expect(res.headers.get('content-security-policy')).toBe("default-src 'none'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'");
    expect(body).toContain(elicit.params.elicitationId);
    expect(body).not.toContain('s3cr3t');
    expect(body).not.toContain('echo');
    expect(body).not.toMatch(/<script/i);
    const bad = await fetch(`${s.b.url}/approvals/${encodeURIComponent('<script>alert(1)</script>')}`);
    expect(bad.status).toBe(404);
    expect(await bad.text()).not.toContain('<script>alert');
  });
});
