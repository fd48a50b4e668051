// Masking through the gateway: what the policy asks masked never reaches the client, in JSON and
// SSE answers, results, prompts, resources and notifications; and it fails closed.
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startModernUpstream, type UpstreamFixture } from '../fixtures/upstreams/index.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';

const META = {
  'io.modelcontextprotocol/protocolVersion': '2026-07-28',
  'io.modelcontextprotocol/clientInfo': { name: 'masking-test', version: '1' },
  'io.modelcontextprotocol/clientCapabilities': {},
};

/** Calls a tool over raw 2026-07-28 HTTP; returns every JSON-RPC message of the answer. */
async function call(gw: TestGateway, name: string, args: object, extraMeta: object = {}): Promise<any[]> {
  const res = await fetch(gw.endpoint(), {
    method: 'POST',
    headers: {
      'content-type': 'application/json', accept: 'application/json, text/event-stream',
      'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/call', 'mcp-name': name,
    },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name, arguments: args, _meta: { ...META, ...extraMeta } } }),
  });
  const text = await res.text();
  if ((res.headers.get('content-type') ?? '').includes('text/event-stream')) {
    return text.split('\n\n').filter((e) => e.includes('data: {')).map((e) => JSON.parse(e.slice(e.indexOf('data: ') + 6)));
  }
  return [JSON.parse(text)];
}

describe('masking through the gateway', () => {
  let upstream: UpstreamFixture;
  let gw: TestGateway;
  beforeAll(async () => {
    upstream = await startModernUpstream({ modernResponse: 'auto' });
    gw = await startTestGateway({ targets: { fixture: upstream.url } });
  });
  afterAll(async () => {
    await gw?.close();
    await upstream?.close();
  });

  it('masks detector matches in a JSON answer and records counts, never values', async () => {
    const [answer] = await call(gw, 'echo', { text: 'write to ada@example.com or bob@example.org' });
    const text = answer.result.content[0].text;
    expect(text).not.toMatch(/ada@example\.com|bob@example\.org/);
    expect(text).toContain('[MASKED:email');
    const record = gw.audit.findLast((r) => r.kind === 'response' && r.name === 'echo');
    expect(record?.masked).toEqual({ email: 2 });
    expect(JSON.stringify(gw.audit)).not.toContain('ada@example.com');
  });

  it('masks JSON carried inside a text block, structurally', async () => {
    const [answer] = await call(gw, 'echo', { text: JSON.stringify({ user: 'ada', client_secret: 's3cr3t-value', nested: JSON.stringify({ db_secret: 'hunter2' }) }) });
    const text = answer.result.content[0].text;
    expect(text).not.toContain('s3cr3t-value');
    expect(text).not.toContain('hunter2');
    expect(JSON.parse(text).user).toBe('ada');
  });

  it('keeps structuredContent and its text copy the same after masking', async () => {
    const [answer] = await call(gw, 'add', { a: 40, b: 2 });
    expect(answer.result.structuredContent.sum).toBe('[MASKED:sum]');
    expect(JSON.parse(answer.result.content[0].text)).toEqual(answer.result.structuredContent);
    expect(JSON.stringify(answer)).not.toContain('42');
  });

  it('masks every event of an SSE answer, progress notifications included', async () => {
    const messages = await call(gw, 'slow', { ms: 60, steps: 3 }, { progressToken: 'pt-1' });
    const progress = messages.filter((m) => m.method === 'notifications/progress');
    expect(progress).toHaveLength(3);
    for (const p of progress) expect(p.params.message).toBe('[MASKED:progress_message]');
    expect(JSON.stringify(messages)).not.toMatch(/step \d\/3/);
    expect(messages.at(-1).result).toBeDefined();
  });

  it('refuses a result the response-time decision denies, after the upstream ran', async () => {
    const calls = upstream.toolCalls.length;
    const [answer] = await call(gw, 'echo', { text: 'this has forbidden-word in it' });
    expect(answer.error.code).toBe(-32051);
    expect(answer.error.message).toContain('the result mentions forbidden-word');
    expect(JSON.stringify(answer)).not.toContain('this has forbidden-word in it');
    expect(upstream.toolCalls.length).toBe(calls + 1);
  });

  it('masks the value a strict path reaches when it cannot descend (no needless withholding)', async () => {
    const [answer] = await call(gw, 'echo', { text: 'strict: not json, so the path cannot descend' });
    expect(answer.error).toBeUndefined();
    expect(answer.result.content[0].text).toBe('[MASKED:inner]');
    expect(JSON.stringify(answer)).not.toContain('not json, so the path cannot descend');
  });

  it('withholds content a strict mask cannot be applied to (fail closed, -32054)', async () => {
    const deep = `${'['.repeat(80)}"ada@example.com"${']'.repeat(80)}`; // deeper than the masking depth limit
    const [answer] = await call(gw, 'echo', { text: deep });
    expect(answer.error.code).toBe(-32054);
    expect(answer.error.message).toContain('fail closed');
    expect(JSON.stringify(answer)).not.toContain('ada@example.com');
  });

  it('masks the message and data of a JSON-RPC error', async () => {
    const res = await fetch(gw.endpoint(), {
      method: 'POST',
      headers: {
        'content-type': 'application/json', accept: 'application/json, text/event-stream',
        'mcp-protocol-version': '2026-07-28', 'mcp-method': 'resources/read', 'mcp-name': 'test://contacts/ada@example.com',
      },
      body: JSON.stringify({ jsonrpc: '2.0', id: 4, method: 'resources/read', params: { uri: 'test://contacts/ada@example.com', _meta: META } }),
    });
    const answer = await res.json();
    expect(answer.error).toBeDefined();
    expect(JSON.stringify(answer)).not.toContain('ada@example.com');
    expect(JSON.stringify(answer.error)).toContain('[MASKED:email');
  });

  it('masks server-initiated requests before the client sees them (legacy elicitation)', async () => {
    const seen: string[] = [];
    const client = new Client({ name: 'masking-test', version: '1' }, { capabilities: { elicitation: { form: {} } } });
    client.setRequestHandler('elicitation/create', async (request) => {
      seen.push(JSON.stringify(request.params));
      return { action: 'accept', content: { answer: 'ok' } };
    });
    await client.connect(new StreamableHTTPClientTransport(new URL(gw.endpoint())));
    try {
      await client.callTool({ name: 'ask_user', arguments: { question: 'Shall I mail carol@example.net?' } });
    } finally {
      await client.close();
    }
    expect(seen).toHaveLength(1);
    expect(seen[0]).not.toContain('carol@example.net');
    expect(seen[0]).toContain('[MASKED:email');
  });

  it('passes content with nothing to mask through unchanged', async () => {
    const [answer] = await call(gw, 'echo', { text: 'nothing sensitive here' });
    expect(answer.result.content[0].text).toBe('nothing sensitive here');
  });
});
