// Horizontal scale, proved with real processes: two gateway replicas (bin/portcullis.mjs) sharing
// a real redis-server, in front of real SDK servers of both lines, with SDK clients of both lines
// whose every HTTP request goes to the other replica than the one before. Then one replica is
// killed mid-session and the session carries on through the other.
import { randomUUID } from 'node:crypto';
import { Client as ClientV1 } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport as TransportV1 } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CreateMessageRequestSchema, ElicitRequestSchema, ListRootsRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { Client as ClientV2, StreamableHTTPClientTransport as TransportV2 } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLegacyUpstream, startModernUpstream, type UpstreamFixture } from '../fixtures/upstreams/index.ts';
import { startLaterUpstream, type LaterUpstream } from '../fixtures/upstreams/resumable-later.ts';
import { errorOf } from '../helpers/errors.ts';
import { bundleFor } from '../helpers/gateway.ts';
import { startRedis, type TestRedis } from '../helpers/redis.ts';
import { alternatingFetch, startGatewayProcess, type GatewayProcess, type Served } from '../helpers/replicas.ts';

const EMAIL = 'ada@example.com';
const POLICY = 'test/fixtures/rego/replicas';

interface Session {
  client: { callTool(name: string, args?: Record<string, unknown>): Promise<any>; listTools(): Promise<string[]>; getPrompt(name: string, args: Record<string, string>): Promise<any> };
  sessionId(): string;
  terminate(): Promise<void>;
  handled: string[];
  close(): Promise<void>;
}

const answers = {
  elicit: async () => ({ action: 'accept' as const, content: { answer: 'forty-two' } }),
  sample: async () => ({ model: 'test-model', role: 'assistant' as const, content: { type: 'text' as const, text: 'sampled hi' } }),
  roots: async () => ({ roots: [{ uri: 'file:///work', name: 'work' }] }),
};

async function connectV1(url: string, fetchVia: typeof fetch): Promise<Session> {
  const handled: string[] = [];
  const client = new ClientV1({ name: 'replicas-v1', version: '1.0.0' }, { capabilities: { elicitation: {}, sampling: {}, roots: {} } });
  client.setRequestHandler(ElicitRequestSchema, async () => (handled.push('elicitation/create'), answers.elicit()));
  client.setRequestHandler(CreateMessageRequestSchema, async () => (handled.push('sampling/createMessage'), answers.sample()));
  client.setRequestHandler(ListRootsRequestSchema, async () => (handled.push('roots/list'), answers.roots()));
  const transport = new TransportV1(new URL(url), { fetch: fetchVia, reconnectionOptions: { initialReconnectionDelay: 100, maxReconnectionDelay: 500, reconnectionDelayGrowFactor: 1.5, maxRetries: 20 } });
  await client.connect(transport);
  return {
    handled,
    client: {
      callTool: (name, args = {}) => client.callTool({ name, arguments: args }),
      listTools: async () => (await client.listTools()).tools.map((t) => t.name),
      getPrompt: (name, args) => client.getPrompt({ name, arguments: args }),
    },
    sessionId: () => transport.sessionId ?? '',
    terminate: () => transport.terminateSession(),
    close: () => client.close(),
  };
}

async function connectV2(url: string, fetchVia: typeof fetch): Promise<Session> {
  const handled: string[] = [];
  const client = new ClientV2(
    { name: 'replicas-v2', version: '1.0.0' },
    { capabilities: { elicitation: { form: {} }, sampling: {}, roots: {} }, versionNegotiation: { mode: 'legacy' } },
  );
  client.setRequestHandler('elicitation/create', async () => (handled.push('elicitation/create'), answers.elicit()));
  client.setRequestHandler('sampling/createMessage', async () => (handled.push('sampling/createMessage'), answers.sample()));
  client.setRequestHandler('roots/list', async () => (handled.push('roots/list'), answers.roots()));
  const transport = new TransportV2(new URL(url), { fetch: fetchVia, reconnectionOptions: { initialReconnectionDelay: 100, maxReconnectionDelay: 500, reconnectionDelayGrowFactor: 1.5, maxRetries: 20 } });
  await client.connect(transport);
  return {
    handled,
    client: {
      callTool: (name, args = {}) => client.callTool({ name, arguments: args }),
      listTools: async () => (await client.listTools()).tools.map((t) => t.name),
      getPrompt: (name, args) => client.getPrompt({ name, arguments: args }),
    },
    sessionId: () => transport.sessionId ?? '',
    terminate: () => transport.terminateSession(),
    close: () => client.close(),
  };
}

const combos = [
  { label: 'SDK v1 client, SDK v1 server', target: 'v1', connect: connectV1 },
  { label: 'SDK v2 client (legacy), SDK v2 server', target: 'v2', connect: connectV2 },
  { label: 'SDK v2 client (legacy), SDK v1 server', target: 'v1', connect: connectV2 },
  { label: 'SDK v1 client, SDK v2 server', target: 'v2', connect: connectV1 },
] as const;

let redis: TestRedis;
let v1: UpstreamFixture;
let v2: UpstreamFixture;
let later: LaterUpstream;
let doc: Record<string, unknown>;

beforeAll(async () => {
  [redis, v1, v2, later] = await Promise.all([startRedis(), startLegacyUpstream(), startModernUpstream(), startLaterUpstream()]);
  doc = {
    listen: { host: '127.0.0.1', port: 0 },
    policy: { bundle: await bundleFor(POLICY) },
    state: { backend: 'redis', redis: { url: redis.url, key_prefix: `replicas:${randomUUID()}:` } },
    targets: { v1: { url: v1.url }, v2: { url: v2.url }, later: { url: later.url } },
  };
}, 60_000);
afterAll(async () => {
  await Promise.all([v1?.close(), v2?.close(), later?.close()]);
  await redis?.close();
});

/** A raw legacy POST, to see exactly what a replica answers. */
async function rawPost(url: string, body: unknown, headers: Record<string, string> = {}, signal?: AbortSignal): Promise<Response> {
  return fetch(url, {
    method: 'POST', signal,
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-11-25', ...headers },
    body: JSON.stringify(body),
  });
}

async function rawInitialize(url: string): Promise<string> {
  const res = await rawPost(url, { jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: { roots: {} }, clientInfo: { name: 'raw', version: '1' } } });
  await res.text();
  const sessionId = res.headers.get('mcp-session-id') ?? '';
  expect(sessionId).not.toBe('');
  const ack = await rawPost(url, { jsonrpc: '2.0', method: 'notifications/initialized' }, { 'mcp-session-id': sessionId });
  await ack.text();
  return sessionId;
}

/** Reads an SSE body until `until` matches, the stream ends or `ms` pass; then stops reading. */
async function readUntil(res: Response, until: RegExp, ms: number): Promise<string> {
  const reader = res.body!.getReader();
  let text = '';
  const deadline = new Promise<'deadline'>((r) => setTimeout(() => r('deadline'), ms));
  while (!until.test(text)) {
    // One read at a time: a read abandoned to a timeout would swallow the next chunk.
    const next = await Promise.race([reader.read(), deadline]);
    if (next === 'deadline' || next.done) break;
    text += new TextDecoder().decode(next.value);
  }
  await reader.cancel().catch(() => {});
  return text;
}

describe('two replicas sharing Redis', () => {
  let a: GatewayProcess;
  let b: GatewayProcess;
  beforeAll(async () => {
    [a, b] = await Promise.all([startGatewayProcess(doc), startGatewayProcess(doc)]);
  }, 60_000);
  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
  });

  it('both announce the shared state at start', () => {
    for (const replica of [a, b]) expect(replica.output()).toContain(`state: Redis at ${redis.url}`);
  });

  describe.each(combos)('$label', ({ target, connect }) => {
    let session: Session;
    const served: Served[] = [];
    beforeAll(async () => {
      session = await connect(`${a.url}/mcp/${target}`, alternatingFetch([a.url, b.url], served));
    });
    afterAll(async () => {
      await session?.close();
    });

    it('initializes on one replica and is served by both for every call', async () => {
      expect(await session.client.listTools()).toContain('echo');
      const echoed = await session.client.callTool('echo', { text: `write to ${EMAIL}` });
      expect(JSON.stringify(echoed)).toContain('[MASKED:email');
      expect(JSON.stringify(echoed)).not.toContain(EMAIL);
      const sum = await session.client.callTool('add', { a: 2, b: 3 });
      expect(sum.structuredContent).toEqual({ sum: 5 });
      const prompt = await session.client.getPrompt('greet', { name: EMAIL });
      expect(JSON.stringify(prompt)).not.toContain(EMAIL);
      const denied = await errorOf(session.client.callTool('delete_everything'));
      expect(denied.code).toBe(-32051);

      const init = served.find((s) => s.message === 'initialize')!;
      const inSession = served.filter((s) => s.session === session.sessionId());
      expect(new Set(inSession.map((s) => s.replica))).toEqual(new Set([0, 1]));
      // Requests of the session went to the replica that did not create it, too.
      expect(inSession.some((s) => s.replica !== init.replica && s.message === 'tools/call')).toBe(true);
      expect(inSession.some((s) => s.message === 'notifications/initialized')).toBe(true);
    });

    it('answers elicitation and sampling through the other replica', async () => {
      const from = served.length;
      const asked = await session.client.callTool('ask_user', { question: 'the answer?' });
      expect(asked.content[0].text).toBe('answer: forty-two');
      const sampled = await session.client.callTool('sample', { prompt: 'hi' });
      expect(sampled.content[0].text).toBe('sampled: sampled hi');
      const roots = await session.client.callTool('list_roots');
      expect(roots.content[0].text).toContain('file:///work');
      expect(session.handled).toEqual(expect.arrayContaining(['elicitation/create', 'sampling/createMessage', 'roots/list']));
      // Each answer (a POSTed JSON-RPC response) went to the replica that did not hold the
      // tool call's stream the server request arrived on.
      const recent = served.slice(from);
      const responses = recent.filter((s) => s.message === 'response');
      expect(responses.length).toBe(3);
      for (const response of responses) {
        const call = recent.slice(0, recent.indexOf(response)).findLast((s) => s.message === 'tools/call')!;
        expect(response.replica).not.toBe(call.replica);
      }
    });

    it('ends the session for both replicas with a DELETE through either', async () => {
      const sessionId = session.sessionId();
      await session.terminate();
      expect(served.at(-1)).toMatchObject({ method: 'DELETE' });
      for (const replica of [a, b]) {
        const res = await rawPost(`${replica.url}/mcp/${target}`, { jsonrpc: '2.0', id: 99, method: 'tools/list' }, { 'mcp-session-id': sessionId });
        expect(res.status).toBe(404);
        expect((await res.json()).error.code).toBe(-32001);
      }
    });
  });

  it('answers a server request that arrived on one replica\'s GET stream through the other', async () => {
    // GET streams on replica A, every POST on replica B.
    const servedA: Served[] = [];
    const servedB: Served[] = [];
    const viaA = alternatingFetch([a.url], servedA);
    const viaB = alternatingFetch([b.url], servedB);
    const split: typeof fetch = (input, init) => ((init?.method ?? 'GET') === 'GET' ? viaA(input, init) : viaB(input, init));
    const session = await connectV1(`${b.url}/mcp/later`, split);
    try {
      // The GET stream must be open before the server asks.
      for (let i = 0; i < 50 && !servedA.some((s) => s.method === 'GET'); i++) await new Promise((r) => setTimeout(r, 50));
      expect((await session.client.callTool('ask_later')).content[0].text).toBe('will ask');
      let seen = 'null';
      for (let i = 0; i < 60 && seen === 'null'; i++) {
        await new Promise((r) => setTimeout(r, 100));
        seen = (await session.client.callTool('roots_seen')).content[0].text;
      }
      expect(JSON.parse(seen)).toEqual(['file:///work']);
      expect(session.handled).toContain('roots/list');
      // The answer to roots/list went to B, the stream it came on was A's.
      expect(servedB.some((s) => s.message === 'response')).toBe(true);
      expect(servedA.every((s) => s.method === 'GET')).toBe(true);
      expect(servedA.length).toBeGreaterThan(0);
    } finally {
      await session.close();
    }
  });

  it('resumes on replica B, masked as replica A decided, a stream the client left on A', async () => {
    const sessionId = await rawInitialize(`${a.url}/mcp/later`);
    const abortPost = new AbortController();
    const res = await rawPost(`${a.url}/mcp/later`, { jsonrpc: '2.0', id: 41, method: 'tools/call', params: { name: 'echo', arguments: { text: `mail ${EMAIL}`, delay: 600 } } }, { 'mcp-session-id': sessionId }, abortPost.signal);
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const head = await readUntil(res, /id: \S+/, 3000);
    const lastEventId = /id: (\S+)/.exec(head)?.[1];
    expect(lastEventId).toBeTruthy();
    abortPost.abort();

    const abort = new AbortController();
    const resumed = await fetch(`${b.url}/mcp/later`, {
      method: 'GET', signal: abort.signal,
      headers: { accept: 'text/event-stream', 'mcp-session-id': sessionId, 'mcp-protocol-version': '2025-11-25', 'last-event-id': lastEventId! },
    });
    expect(resumed.status).toBe(200);
    const replay = await readUntil(resumed, /"result"/, 5000);
    abort.abort();
    expect(replay).toContain('"id":41');
    expect(replay).toContain('[MASKED:email');
    expect(replay).not.toContain(EMAIL);
  });
});

describe('a replica killed mid-session', () => {
  it.each(combos)('$label: the session carries on through the other replica', async ({ target, connect }) => {
    const [a, b] = await Promise.all([startGatewayProcess(doc), startGatewayProcess(doc)]);
    const served: Served[] = [];
    const session = await connect(`${a.url}/mcp/${target}`, alternatingFetch([a.url, b.url], served));
    try {
      expect((await session.client.callTool('echo', { text: 'before' })).content[0].text).toBe('before');
      expect((await session.client.callTool('ask_user', { question: 'q' })).content[0].text).toBe('answer: forty-two');
      await a.kill();
      const killedAt = served.length;
      // Every message from now on reaches B; the session is the one A may have created.
      const sessionId = session.sessionId();
      for (let i = 0; i < 3; i++) expect((await session.client.callTool('echo', { text: `after ${i}` })).content[0].text).toBe(`after ${i}`);
      // The GET stream died with A; the client opens another, through B. Until it has, a server
      // that sends its requests on that stream (the SDK v2 server does) has nowhere to send them
      // (without an event store the upstream drops them), so wait for it as any client must.
      for (let i = 0; i < 100 && !served.slice(killedAt).some((s) => s.method === 'GET' && s.replica === 1); i++) await new Promise((r) => setTimeout(r, 100));
      expect(served.slice(killedAt).some((s) => s.method === 'GET' && s.replica === 1)).toBe(true);
      expect((await session.client.callTool('ask_user', { question: 'q' })).content[0].text).toBe('answer: forty-two');
      expect((await session.client.callTool('sample', { prompt: 'hi' })).content[0].text).toBe('sampled: sampled hi');

      expect(session.sessionId()).toBe(sessionId);
      const afterKill = served.slice(served.findLastIndex((s) => s.replica === 0) + 1);
      expect(afterKill.length).toBeGreaterThan(4);
      expect(afterKill.every((s) => s.replica === 1)).toBe(true);
      await session.terminate();
    } finally {
      await session.close().catch(() => {});
      await Promise.all([a.stop(), b.stop()]);
    }
  }, 120_000);
});
