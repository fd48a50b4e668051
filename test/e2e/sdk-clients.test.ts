// Real MCP SDK clients of both lines talk to real SDK servers through the gateway, in both eras.
import { Client as ClientV1 } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport as TransportV1 } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CreateMessageRequestSchema, ElicitRequestSchema, ListRootsRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { Client as ClientV2, StreamableHTTPClientTransport as TransportV2 } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLegacyUpstream, startModernUpstream, type UpstreamFixture } from '../fixtures/upstreams/index.ts';
import { errorOf } from '../helpers/errors.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';

/** What the tests need from a client, whichever SDK line it comes from. */
interface TestClient {
  listTools(): Promise<string[]>;
  callTool(name: string, args?: Record<string, unknown>, onProgress?: (p: number) => void): Promise<any>;
  getPrompt(name: string, args: Record<string, string>): Promise<any>;
  readResource(uri: string): Promise<any>;
  /** Server-initiated requests the client's handlers saw. */
  handled: string[];
  close(): Promise<void>;
}

const answers = {
  elicit: async () => ({ action: 'accept' as const, content: { answer: 'forty-two' } }),
  sample: async () => ({ model: 'test-model', role: 'assistant' as const, content: { type: 'text' as const, text: 'sampled hi' } }),
  roots: async () => ({ roots: [{ uri: 'file:///work', name: 'work' }] }),
};

async function connectV2(url: string, era: 'legacy' | '2026-07-28'): Promise<TestClient> {
  const handled: string[] = [];
  const client = new ClientV2(
    { name: 'portcullis-test-v2', version: '1.0.0' },
    {
      capabilities: { elicitation: { form: {} }, sampling: {}, roots: {} },
      versionNegotiation: { mode: era === 'legacy' ? 'legacy' : { pin: '2026-07-28' } },
    },
  );
  client.setRequestHandler('elicitation/create', async () => (handled.push('elicitation/create'), answers.elicit()));
  client.setRequestHandler('sampling/createMessage', async () => (handled.push('sampling/createMessage'), answers.sample()));
  client.setRequestHandler('roots/list', async () => (handled.push('roots/list'), answers.roots()));
  await client.connect(new TransportV2(new URL(url)));
  return {
    handled,
    listTools: async () => (await client.listTools()).tools.map((t) => t.name),
    callTool: (name, args = {}, onProgress) => client.callTool({ name, arguments: args }, onProgress ? { onprogress: (p) => onProgress(p.progress) } : undefined),
    getPrompt: (name, args) => client.getPrompt({ name, arguments: args }),
    readResource: (uri) => client.readResource({ uri }),
    close: () => client.close(),
  };
}

async function connectV1(url: string): Promise<TestClient> {
  const handled: string[] = [];
  const client = new ClientV1({ name: 'portcullis-test-v1', version: '1.0.0' }, { capabilities: { elicitation: {}, sampling: {}, roots: {} } });
  client.setRequestHandler(ElicitRequestSchema, async () => (handled.push('elicitation/create'), answers.elicit()));
  client.setRequestHandler(CreateMessageRequestSchema, async () => (handled.push('sampling/createMessage'), answers.sample()));
  client.setRequestHandler(ListRootsRequestSchema, async () => (handled.push('roots/list'), answers.roots()));
  await client.connect(new TransportV1(new URL(url)));
  return {
    handled,
    listTools: async () => (await client.listTools()).tools.map((t) => t.name),
    callTool: (name, args = {}, onProgress) => client.callTool({ name, arguments: args }, undefined, onProgress ? { onprogress: (p) => onProgress(p.progress) } : undefined),
    getPrompt: (name, args) => client.getPrompt({ name, arguments: args }),
    readResource: (uri) => client.readResource({ uri }),
    close: () => client.close(),
  };
}

const combos = [
  { label: 'SDK v2 client, 2025-11-25 sessions, SDK v2 server', era: 'legacy', upstream: startModernUpstream, connect: (u: string) => connectV2(u, 'legacy') },
  { label: 'SDK v2 client, 2026-07-28 stateless, SDK v2 server', era: '2026-07-28', upstream: startModernUpstream, connect: (u: string) => connectV2(u, '2026-07-28') },
  { label: 'SDK v1 client, legacy sessions, SDK v1 server', era: 'legacy', upstream: startLegacyUpstream, connect: connectV1 },
  { label: 'SDK v2 client, legacy sessions, SDK v1 server', era: 'legacy', upstream: startLegacyUpstream, connect: (u: string) => connectV2(u, 'legacy') },
] as const;

describe.each(combos)('$label', ({ era, upstream: start, connect }) => {
  let upstream: UpstreamFixture;
  let gw: TestGateway;
  let client: TestClient;

  beforeAll(async () => {
    upstream = await start();
    gw = await startTestGateway({ targets: { fixture: upstream.url } });
    client = await connect(gw.endpoint());
  });
  afterAll(async () => {
    await client?.close();
    await gw?.close();
    await upstream?.close();
  });

  it('lists only the tools the caller may use', async () => {
    const tools = await client.listTools();
    expect(tools).toContain('echo');
    expect(tools).not.toContain('delete_everything');
  });

  it('forwards an allowed call and returns its result', async () => {
    const result = await client.callTool('echo', { text: 'through the gate' });
    expect(result.content[0]).toEqual({ type: 'text', text: 'through the gate' });
    expect(upstream.toolCalls.at(-1)).toMatchObject({ tool: 'echo', args: { text: 'through the gate' } });
  });

  it('denies a forbidden call with -32051 and the upstream never sees it', async () => {
    const before = upstream.received.length;
    const err = await errorOf(client.callTool('delete_everything'));
    expect(err.code).toBe(-32051);
    expect(err.message).toContain('destructive tools are denied');
    expect(upstream.received.length).toBe(before);
    expect(upstream.toolCalls.some((c) => c.tool === 'delete_everything')).toBe(false);
  });

  it('refuses calls that need approval the gateway cannot collect yet (fail closed)', async () => {
    const before = upstream.received.length;
    const err = await errorOf(client.callTool('approve_me'));
    expect(err.code).toBe(-32052);
    expect(err.message).toContain('needs a second pair of eyes');
    expect(upstream.received.length).toBe(before);
  });

  it('denies with -32053 when the policy errors, naming the error', async () => {
    const err = await errorOf(client.callTool('clock', { when: 'not a timestamp' }));
    expect(err.code).toBe(-32053);
    expect(err.message).toContain('time.parse_rfc3339_ns');
  });

  it('passes prompts and resources the policy allows, masked as it requires', async () => {
    const prompt = await client.getPrompt('greet', { name: 'ada@example.com' });
    expect(JSON.stringify(prompt.messages)).not.toContain('ada@example.com');
    expect(JSON.stringify(prompt.messages)).toContain('[MASKED:email');
    const resource = await client.readResource('test://hello');
    expect(resource.contents[0].text).toBe('[MASKED:resource_text]');
  });

  it('streams progress notifications through', async () => {
    const seen: number[] = [];
    const result = await client.callTool('slow', { ms: 200, steps: 3 }, (p) => seen.push(p));
    expect(result.isError).toBeFalsy();
    expect(seen.length).toBe(3);
  });

  it('lets allowed server requests reach the client and answers denied ones for it', async () => {
    const asked = await client.callTool('ask_user', { question: 'the answer?' });
    expect(asked.content[0].text).toBe('answer: forty-two');
    expect(client.handled).toContain('elicitation/create');
    const roots = await client.callTool('list_roots');
    expect(roots.content[0].text).toContain('file:///work');
    // The fixture policy denies sampling: the client's handler must never run.
    const sampled = await client.callTool('sample', { prompt: 'hi' }).catch((err: { code: number }) => err);
    expect(client.handled).not.toContain('sampling/createMessage');
    const text = JSON.stringify(sampled);
    expect(text).toMatch(/-32051|sampling is not allowed/);
  });
});
