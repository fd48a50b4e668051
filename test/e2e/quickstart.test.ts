// The quick start (`npm start`, demo/quickstart.ts) demonstrates human approval as its printed
// instructions say: run_sql by the dev agent waits; the dev approver approves it with the CLI; the
// retry runs the call once. The approvers' page sends people to the development login form.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startQuickstart, type Quickstart } from '../../demo/quickstart.ts';
import { runApprovalsCli } from '../../gateway/approvals/cli.ts';
import { bundleFor, EXAMPLE_POLICY } from '../helpers/gateway.ts';

const META = {
  'io.modelcontextprotocol/protocolVersion': '2026-07-28',
  'io.modelcontextprotocol/clientInfo': { name: 'quickstart-test', version: '1' },
  'io.modelcontextprotocol/clientCapabilities': { elicitation: { url: {} } },
};
const QUERY = { query: 'select count(*) from customers' };

describe('the quick start: run_sql waits for the dev approver', () => {
  let qs: Quickstart;
  beforeAll(async () => {
    qs = await startQuickstart({ port: 0, bundle: await bundleFor(EXAMPLE_POLICY) });
  });
  afterAll(async () => {
    await qs?.close();
  });

  const runSql = async (token: string, id: number, extra: Record<string, unknown> = {}) => {
    const res = await fetch(qs.resource, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream',
        'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/call', 'mcp-name': 'run_sql',
      },
      body: JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'run_sql', arguments: QUERY, ...extra, _meta: META } }),
    });
    return (await res.json()) as { result?: Record<string, any>; error?: { code: number; message: string } };
  };

  const cli = async (token: string, ...argv: string[]) => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await runApprovalsCli(argv, { out: (t) => out.push(t), err: (t) => err.push(t), env: { PORTCULLIS_URL: qs.base, PORTCULLIS_TOKEN: token } });
    return { code, out: out.join('\n'), err: err.join('\n') };
  };

  it('holds the call, the dev approver approves it with the CLI, and the retry runs it once', async () => {
    const agent = await qs.idp.token('agent', qs.resource);
    const held = await runSql(agent, 1);
    expect(held.result?.resultType).toBe('input_required');
    const url: string = held.result!.inputRequests['io.portcullis/approval'].params.url;
    expect(url.startsWith(`${qs.base}/approvals/`)).toBe(true);
    const id = decodeURIComponent(url.slice(`${qs.base}/approvals/`.length));

    // The agent cannot approve its own call; the dev approver (sre, dba) can.
    const approver = await qs.idp.personToken('dev-approver', qs.resource);
    const listed = await cli(approver, 'list');
    expect(listed.code).toBe(0);
    expect(listed.out).toContain(id);
    expect(listed.out).toContain('run_sql on demo');
    const approved = await cli(approver, 'approve', id, '--comment', 'counting is fine');
    expect(approved.code).toBe(0);
    expect(approved.out).toContain('[approved]');

    const ran = await runSql(agent, 2, { requestState: held.result!.requestState });
    expect(ran.error).toBeUndefined();
    expect(ran.result?.resultType).not.toBe('input_required');
    expect(JSON.stringify(ran.result?.content)).toMatch(/\d/);
    // Once: the same approval does not run it again.
    const again = await runSql(agent, 3, { requestState: held.result!.requestState });
    expect(again.error?.code).toBe(-32059);
  });

  it('refuses approval by someone outside sre and dba', async () => {
    const agent = await qs.idp.token('agent', qs.resource);
    const held = await runSql(agent, 4);
    const url: string = held.result!.inputRequests['io.portcullis/approval'].params.url;
    const id = decodeURIComponent(url.slice(`${qs.base}/approvals/`.length));
    const nobody = await qs.idp.personToken('dev-visitor', qs.resource);
    const refused = await cli(nobody, 'approve', id);
    expect(refused.code).not.toBe(0);
    const approver = await qs.idp.personToken('dev-approver', qs.resource);
    expect((await cli(approver, 'show', id)).out).toContain('[pending]');
  });

  it('sends a person opening the approvals page to the development login form', async () => {
    const res = await fetch(`${qs.base}/approvals/login`, { redirect: 'manual' });
    expect(res.status).toBe(303);
    const location = new URL(res.headers.get('location')!);
    expect(location.origin).toBe(qs.idp.issuer);
    expect(location.searchParams.get('client_id')).toBe('dev-approvals');
    expect(location.searchParams.get('code_challenge_method')).toBe('S256');
    // The provider starts an interaction there and serves its login form for it.
    const auth = await fetch(location, { redirect: 'manual' });
    expect([302, 303]).toContain(auth.status);
    const cookies = auth.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
    const form = await fetch(new URL(auth.headers.get('location')!, qs.idp.issuer), { headers: { cookie: cookies } });
    const text = await form.text();
    expect(form.status).toBe(200);
    expect(text).toMatch(/<form[^>]*>/i);
    expect(text).toMatch(/name="login"/);
  });
});
