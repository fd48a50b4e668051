// Real SDK clients of both lines and both eras wait for an approval given on the other replica;
// the call runs once and its result reaches the waiting client.
import { Client as ClientV1 } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport as TransportV1 } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { Client as ClientV2, StreamableHTTPClientTransport as TransportV2 } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApprovalsStack, type ApprovalsStack } from '../helpers/approvals-stack.ts';

let s: ApprovalsStack;
beforeAll(async () => { s = await startApprovalsStack(); }, 120_000);
afterAll(async () => { await s?.close(); });

const auth = (token: string) => ({ requestInit: { headers: { authorization: `Bearer ${token}` } } });

/** Approves, as `approver` on replica B, the pending request whose arguments echo `text`. */
async function approveWhenPending(target: string, text: string, approver = 'sam'): Promise<string> {
  const token = await s.token(approver, ['sre'], target);
  for (let i = 0; i < 200; i++) {
    const list = await s.api(s.b, 'GET', '/api/approvals', token);
    const hit = list.json.decide?.find((r: any) => r.maskedArguments?.text === text);
    if (hit) {
      const out = await s.api(s.b, 'POST', `/api/approvals/${hit.id}/approve`, token, { comment: 'approved by the SDK test' });
      expect(out.json.state).toBe('approved');
      return hit.id;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nothing pending for ${text}`);
}

const ran = (fixture: { toolCalls: { tool: string; args: Record<string, unknown> }[] }, text: string) => fixture.toolCalls.filter((c) => c.tool === 'echo' && c.args.text === text).length;

describe('SDK v2 client, 2026-07-28: URL elicitation, retry with requestState', () => {
  it('the elicitation names the approval page; once approved the retry gets the result', async () => {
    const token = await s.token('rita', ['admins'], 'modern');
    const client = new ClientV2({ name: 'approvals-v2', version: '1' }, { capabilities: { elicitation: { form: {}, url: {} } }, versionNegotiation: { mode: { pin: '2026-07-28' } } });
    const seen: any[] = [];
    const text = 'sre: v2 stateless';
    client.setRequestHandler('elicitation/create', async (request: any) => {
      seen.push(request.params);
      await approveWhenPending('modern', text);
      return { action: 'accept' as const };
    });
    await client.connect(new TransportV2(new URL(s.a.endpoint('modern')), auth(token)));
    try {
      const result: any = await client.callTool({ name: 'echo', arguments: { text } });
      expect(result.content).toEqual([{ type: 'text', text }]);
      expect(seen).toHaveLength(1);
      expect(seen[0]).toMatchObject({ mode: 'url', url: expect.stringMatching(new RegExp(`^${s.base}/approvals/apv_`)) });
      expect(ran(s.modern, text)).toBe(1);
    } finally {
      await client.close();
    }
  });
});

describe.each([
  { label: 'SDK v1 client, legacy sessions, SDK v1 server', target: 'legacy', v: 1 },
  { label: 'SDK v2 client, legacy sessions, SDK v1 server', target: 'legacy', v: 2 },
  { label: 'SDK v2 client, legacy sessions, SDK v2 server', target: 'modern', v: 2 },
])('$label: the POST is held, progress keeps it alive, the approval releases it', ({ target, v }) => {
  it('runs once and the result reaches the waiting client', async () => {
    const token = await s.token('rita', ['admins'], target);
    const text = `sre: held for ${v}/${target}`;
    const progress: number[] = [];
    let call: () => Promise<any>;
    let close: () => Promise<void>;
    if (v === 1) {
      const client = new ClientV1({ name: 'approvals-v1', version: '1' }, { capabilities: {} });
      await client.connect(new TransportV1(new URL(s.a.endpoint(target)), auth(token)));
      call = () => client.callTool({ name: 'echo', arguments: { text } }, undefined, { onprogress: (p) => progress.push(p.progress), resetTimeoutOnProgress: true });
      close = () => client.close();
    } else {
      const client = new ClientV2({ name: 'approvals-v2', version: '1' }, { capabilities: {}, versionNegotiation: { mode: 'legacy' } });
      await client.connect(new TransportV2(new URL(s.a.endpoint(target)), auth(token)));
      call = () => client.callTool({ name: 'echo', arguments: { text } }, { onprogress: (p) => progress.push(p.progress), resetTimeoutOnProgress: true });
      close = () => client.close();
    }
    try {
      const result = call();
      // Let at least one keep-alive through before the approval lands on the other replica.
      await new Promise((r) => setTimeout(r, 1300));
      await approveWhenPending(target, text);
      expect((await result).content).toEqual([{ type: 'text', text }]);
      expect(progress.length).toBeGreaterThanOrEqual(1);
      expect(ran(target === 'legacy' ? s.legacy : s.modern, text)).toBe(1);
    } finally {
      await close();
    }
  });
});
