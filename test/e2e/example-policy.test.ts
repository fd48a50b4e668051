// The quick start's pieces together: the example policy in front of the demo upstream.
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { startDemoUpstream, type DemoUpstream } from '../../demo/upstream.ts';
import { errorOf } from '../helpers/errors.ts';
import { EXAMPLE_POLICY, startTestGateway, type TestGateway } from '../helpers/gateway.ts';

describe.each([
  { era: 'legacy' as const, mode: 'legacy' as const },
  { era: '2026-07-28' as const, mode: { pin: '2026-07-28' } },
])('example policy, demo upstream, $era', ({ mode }) => {
  let demo: DemoUpstream;
  const gateways: TestGateway[] = [];
  const clients: Client[] = [];

  async function connectAs(groups: string[]): Promise<Client> {
    const gw = await startTestGateway({
      policy: EXAMPLE_POLICY,
      targets: { demo: demo.url },
      config: { identity: { anonymous: { sub: `user-${groups.join('-')}`, groups } } },
    });
    gateways.push(gw);
    const client = new Client({ name: 'example-test', version: '1.0.0' }, { versionNegotiation: { mode } });
    await client.connect(new StreamableHTTPClientTransport(new URL(gw.endpoint('demo'))));
    clients.push(client);
    return client;
  }

  beforeAll(async () => {
    demo = await startDemoUpstream({ port: 0 });
  });
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await Promise.all(gateways.map((g) => g.close()));
    await demo?.close();
  });

  it('shows engineering the read-only tools and run_sql (theirs once approved), and lets the read-only ones run', async () => {
    const client = await connectAs(['engineering']);
    const tools = (await client.listTools()).tools.map((t) => t.name).sort();
    expect(tools).toEqual(['get_customer', 'get_order_status', 'list_customers', 'run_sql', 'search_orders']);
    const listed = await client.callTool({ name: 'list_customers', arguments: {} });
    expect(listed.isError).toBeFalsy();
  });

  it('denies destructive tools to non-admins, and the data stays', async () => {
    const client = await connectAs(['engineering']);
    const before = JSON.stringify(demo.db);
    const err = await errorOf(client.callTool({ name: 'delete_customer', arguments: { id: 'cus_1001' } }));
    expect(err.code).toBe(-32051);
    expect(err.message).toMatch(/destructive.*admins/);
    expect(JSON.stringify(demo.db)).toBe(before);
  });

  it('requires approval for high-risk tools, even for admins', async () => {
    const client = await connectAs(['admins']);
    const err = await errorOf(client.callTool({ name: 'run_sql', arguments: { query: 'select 1' } }));
    expect(err.code).toBe(-32052);
  });

  it('masks every secret in get_customer, in structuredContent and its text copy alike', async () => {
    const client = await connectAs(['engineering']);
    const record = demo.db.customers.find((c) => c.id === 'cus_1001');
    expect(record).toBeDefined();
    const result = await client.callTool({ name: 'get_customer', arguments: { customer_id: 'cus_1001' } });
    const out = JSON.stringify(result);
    for (const secret of [record!.password, record!.api_key, record!.access_token, record!.email, record!.billing.card_number, record!.billing.card_cvc, record!.billing.iban, record!.ssn]) {
      expect(out).not.toContain(secret);
    }
    // Free text nobody enumerated: the support notes carry a bearer token.
    const bearer = /Bearer (eyJ[\w-]+\.[\w-]+\.[\w-]+)/.exec(record!.notes)?.[1];
    expect(bearer).toBeDefined();
    expect(out).not.toContain(bearer);
    const text = (result.content as Array<{ type: string; text: string }>).find((b) => b.type === 'text')!.text;
    expect(JSON.parse(text)).toEqual(result.structuredContent);
    expect(out).toContain('[MASKED:');
  });

  it('denies methods the policy does not know', async () => {
    const client = await connectAs(['engineering']);
    const err = await errorOf(client.request({ method: 'custom/frobnicate', params: {} }, z.object({})));
    expect(err.code).toBe(-32051);
    expect((err as { data?: any }).data?.portcullis?.rule_ids).toEqual(['example.method.unknown']);
    // Reasons reach the client and the audit trail verbatim: the policy quotes no input in them.
    expect(err.message).toContain('is not allowed by this policy');
    expect(err.message).not.toContain('custom/frobnicate');
  });
});
