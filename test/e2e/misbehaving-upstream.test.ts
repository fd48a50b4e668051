// Every wire misbehaviour of a hostile upstream (test/fixtures/misbehaving-upstream.ts), through
// the real gateway: each case asserts the exact status and JSON-RPC code the docs promise
// (docs/errors.md, docs/wire.md) and that no byte the upstream marked LEAK reached the client, in
// the body or in a header.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CARD_LITERAL, EMAIL, LEAK, SESSION, startMisbehavingUpstream } from '../fixtures/misbehaving-upstream.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';

const H = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
const META = {
  'io.modelcontextprotocol/protocolVersion': '2026-07-28',
  'io.modelcontextprotocol/clientInfo': { name: 'hostile-test', version: '1' },
  'io.modelcontextprotocol/clientCapabilities': {},
};
type Era = 'legacy' | 'stateless';

interface Answer {
  status: number;
  headers: Headers;
  text: string;
  /** The JSON body, or every SSE event's data parsed. */
  messages: any[];
  /** SSE event ids, in order. */
  ids: string[];
}

function parseAnswer(status: number, headers: Headers, text: string): Answer {
  const messages: any[] = [];
  const ids: string[] = [];
  if ((headers.get('content-type') ?? '').startsWith('text/event-stream')) {
    for (const block of text.split('\n\n')) {
      const lines = block.split('\n');
      const id = lines.find((l) => l.startsWith('id: '));
      if (id) ids.push(id.slice(4));
      const dataLines = lines.filter((l) => l.startsWith('data: ')).map((l) => l.slice(6));
      if (dataLines.length > 0 && dataLines.join('') !== '') messages.push(JSON.parse(dataLines.join('\n')));
    }
  } else if (text !== '') messages.push(JSON.parse(text));
  return { status, headers, text, messages, ids };
}

async function callMode(gw: TestGateway, mode: string, era: Era = 'legacy', id: number | string = 7, extra: Record<string, string> = {}): Promise<Answer> {
  const params = { name: 'echo', arguments: { text: mode }, ...(era === 'stateless' ? { _meta: META } : {}) };
  const headers = era === 'stateless' ? { ...H, 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/call', 'mcp-name': 'echo' } : H;
  const res = await fetch(gw.endpoint(), { method: 'POST', headers: { ...headers, ...extra }, body: JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params }) });
  return parseAnswer(res.status, res.headers, await res.text());
}

/** Nothing the upstream marked reached the client: not in the body, not in any header. */
function expectNoLeak(answer: Answer, ...also: string[]): void {
  for (const marker of [LEAK, ...also]) {
    expect(answer.text).not.toContain(marker);
    answer.headers.forEach((value, name) => {
      expect(`${name}: ${value}`).not.toContain(marker);
    });
  }
}

const ERA_CASES: Era[] = ['legacy', 'stateless'];

describe('a hostile upstream, through the gateway', () => {
  let upstream: Awaited<ReturnType<typeof startMisbehavingUpstream>>;
  let gw: TestGateway;
  beforeAll(async () => {
    upstream = await startMisbehavingUpstream();
    gw = await startTestGateway({
      targets: { hostile: { url: upstream.url, timeout_ms: 1500 } },
      config: { limits: { max_event_bytes: 64 * 1024, max_stream_bytes: 256 * 1024, max_json_depth: 64, stream_idle_timeout_ms: 800 } },
    });
  });
  afterAll(async () => {
    await gw?.close();
    await upstream?.close();
  });

  describe('forwards only what it understood', () => {
    it.each(ERA_CASES)('drops members JSON-RPC does not define (%s)', async (era) => {
      const res = await callMode(gw, 'extra-members', era);
      expect(res.status).toBe(200);
      expect(Object.keys(res.messages[0]).sort()).toEqual(['id', 'jsonrpc', 'result']);
      expectNoLeak(res);
    });
    it('drops unknown members of an error, keeping code, message and data', async () => {
      const res = await callMode(gw, 'error-extra-members');
      expect(res.messages[0]).toEqual({ jsonrpc: '2.0', id: 7, error: { code: -32000, message: 'failed', data: { detail: 'd' } } });
      expectNoLeak(res);
    });
    it('writes no upstream event name, comment text or event id; drops events of another type', async () => {
      const res = await callMode(gw, 'sse-fields');
      expect(res.status).toBe(200);
      expect(res.text).not.toMatch(/^event:/m);
      expect(res.messages).toEqual([{ jsonrpc: '2.0', id: 7, result: { content: [{ type: 'text', text: 'ok' }] } }]);
      expectNoLeak(res);
    });
    it('passes only validated MCP headers and its own content type', async () => {
      const res = await callMode(gw, 'headers');
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('application/json');
      expect(res.headers.get('set-cookie')).toBeNull();
      expect(res.headers.get('mcp-protocol-version')).toBeNull();
      expectNoLeak(res);
    });
    it('refuses a session id that is not of the safe form: 502 / -32062', async () => {
      const res = await callMode(gw, 'bad-session-id');
      expect(res.status).toBe(502);
      expect(res.messages[0].error.code).toBe(-32062);
      expect(res.headers.get('mcp-session-id')).toBeNull();
      expectNoLeak(res);
    });
    it('does not quote a foreign content type: 502 / -32062', async () => {
      const res = await callMode(gw, 'foreign-content-type');
      expect(res.status).toBe(502);
      expect(res.messages[0]).toMatchObject({ id: 7, error: { code: -32062 } });
      expectNoLeak(res);
    });
  });

  describe('streams the gateway rebuilds', () => {
    it.each([['cr-only', 'cr-only answer'], ['crlf', 'crlf answer']])('keeps the final event of a stream with %s line endings', async (mode, text) => {
      const res = await callMode(gw, mode);
      expect(res.messages).toEqual([{ jsonrpc: '2.0', id: 7, result: { content: [{ type: 'text', text }] } }]);
    });
    it('replaces priming and empty-data events with its own, and relays the retry hint', async () => {
      const res = await callMode(gw, 'priming');
      expect(res.messages.at(-1).result.content[0].text).toBe('primed answer');
      expect(res.text).toContain('retry: 1000');
      expectNoLeak(res);
    });
    it.each([
      ['json-as-sse', 'inside an event'],
      ['ends-silently', 'ended its stream without answering'],
      ['binary', 'not UTF-8'],
      ['gzip', 'not UTF-8'],
      ['truncated', 'inside an event'],
      ['truncated-after-notification', 'inside an event'],
      ['not-json-event', 'not JSON'],
      ['wrong-id-sse', 'another request'],
    ])('ends a %s stream with the -32062 answer for the pending request', async (mode, why) => {
      for (const era of ERA_CASES) {
        const res = await callMode(gw, mode, era, 'req-9');
        expect(res.status).toBe(200);
        const last = res.messages.at(-1);
        expect(last).toMatchObject({ jsonrpc: '2.0', id: 'req-9', error: { code: -32062 } });
        expect(last.error.message).toContain(why);
        expect(res.messages.filter((m) => 'result' in m)).toEqual([]);
        expectNoLeak(res, EMAIL);
      }
    });
    it('relays only the first of two answers to one request', async () => {
      const res = await callMode(gw, 'two-answers');
      expect(res.messages).toEqual([{ jsonrpc: '2.0', id: 7, result: { content: [{ type: 'text', text: 'first' }] } }]);
      expectNoLeak(res);
    });
  });

  describe('every answer has the gateway shape', () => {
    it.each([
      ['redirect', 502, -32062],
      ['redirect-json', 502, -32062],
      ['500-empty', 502, -32062],
      ['503-html', 502, -32062],
      ['400-empty', 400, -32062],
      ['404-empty', 404, -32062],
      ['405-empty', 405, -32062],
      ['418-text', 502, -32062],
      ['500-foreign-json', 502, -32062],
      ['wrong-id-json', 502, -32062],
      ['notification-as-answer', 502, -32062],
      ['request-as-answer', 502, -32062],
      ['deep', 502, -32062],
      ['lone-surrogate', 502, -32062],
    ])('%s: %i / %i, nothing of the upstream in it', async (mode, status, code) => {
      const res = await callMode(gw, mode, 'legacy', 41);
      expect(res.status).toBe(status);
      expect(res.headers.get('content-type')).toBe('application/json');
      expect(res.headers.get('location')).toBeNull();
      expect(res.messages[0]).toMatchObject({ jsonrpc: '2.0', id: 41, error: { code } });
      expectNoLeak(res, EMAIL);
    });
    it('turns an empty 404 on a session into -32001 (initialize again) and forgets the session', async () => {
      const init = await fetch(gw.endpoint(), {
        method: 'POST', headers: H,
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'r', version: '1' } } }),
      });
      await init.text();
      const session = { 'mcp-session-id': SESSION, 'mcp-protocol-version': '2025-11-25' };
      const res = await callMode(gw, '404-empty', 'legacy', 12, session);
      expect(res.status).toBe(404);
      expect(res.messages[0]).toMatchObject({ id: 12, error: { code: -32001 } });
      const again = await callMode(gw, 'plain', 'legacy', 13, session);
      expect(again.status).toBe(404);
      expect(again.messages[0].error.code).toBe(-32001);
    });
    it('frees the id of a request the upstream failed, so it can be used again on the session', async () => {
      const init = await fetch(gw.endpoint(), {
        method: 'POST', headers: H,
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'r', version: '1' } } }),
      });
      await init.text();
      const session = { 'mcp-session-id': SESSION, 'mcp-protocol-version': '2025-11-25' };
      for (const mode of ['wrong-id-json', 'truncated', 'plain']) {
        const res = await callMode(gw, mode, 'legacy', 'reused', session);
        expect(res.messages.at(-1).error?.code ?? 0, mode).not.toBe(-32600);
      }
    });
    it('masks an upstream JSON-RPC error that came with HTTP 500, keeping its code', async () => {
      const res = await callMode(gw, '500-json-rpc-error');
      expect(res.status).toBe(502);
      expect(res.messages[0]).toMatchObject({ id: 7, error: { code: -32603 } });
      expectNoLeak(res, EMAIL);
    });
    it('keeps a 19-digit number exactly as the upstream wrote it', async () => {
      const res = await callMode(gw, 'big-number');
      expect(res.status).toBe(200);
      expect(res.text).toContain(`"card":${CARD_LITERAL}`);
    });
  });

  describe('everything an upstream sends is bounded', () => {
    it.each([['drip-json'], ['stall-json']])('%s: 504 / -32061 within the target timeout', async (mode) => {
      const res = await callMode(gw, mode, 'legacy', 5);
      expect(res.status).toBe(504);
      expect(res.messages[0]).toMatchObject({ id: 5, error: { code: -32061 } });
      expectNoLeak(res);
    });
    it.each(ERA_CASES)('ends a silent stream that owes an answer with -32061 after limits.stream_idle_timeout_ms (%s)', async (era) => {
      const res = await callMode(gw, 'silent-sse', era, 6);
      expect(res.status).toBe(200);
      expect(res.messages).toEqual([expect.objectContaining({ id: 6, error: expect.objectContaining({ code: -32061, message: expect.stringContaining('sent nothing on its stream for 800 ms') }) })]);
    });
    it('cuts an event over limits.max_event_bytes with -32062', async () => {
      const res = await callMode(gw, 'huge-event');
      expect(res.messages.at(-1)).toMatchObject({ id: 7, error: { code: -32062, message: expect.stringContaining('SSE event larger than 65536') } });
    });
    it('cuts a stream over limits.max_stream_bytes with -32062', async () => {
      const res = await callMode(gw, 'huge-stream');
      expect(res.messages.at(-1)).toMatchObject({ id: 7, error: { code: -32062, message: expect.stringContaining('more than 262144 bytes') } });
      expect(res.text.length).toBeLessThan(300 * 1024);
    });
  });

  describe('held-open GET streams do not starve calls', () => {
    it('answers a call while 300 GET streams to the same target are open (more than any pool cap it once had)', async () => {
      const session = { accept: 'text/event-stream', 'mcp-session-id': SESSION, 'mcp-protocol-version': '2025-11-25' };
      const init = await fetch(gw.endpoint(), {
        method: 'POST', headers: H,
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'r', version: '1' } } }),
      });
      await init.text();
      const aborts: AbortController[] = [];
      try {
        const streams = await Promise.all(Array.from({ length: 300 }, () => {
          const abort = new AbortController();
          aborts.push(abort);
          return fetch(gw.endpoint(), { method: 'GET', headers: session, signal: abort.signal });
        }));
        expect(streams.every((s) => s.status === 200)).toBe(true);
        const res = await callMode(gw, 'plain-call', 'stateless', 99);
        expect(res.status).toBe(200);
        expect(res.messages[0]).toMatchObject({ id: 99, result: { content: [{ text: 'plain' }] } });
      } finally {
        for (const a of aborts) a.abort();
      }
    }, 30_000);
  });

  describe("a call's mask covers its whole exchange", () => {
    it.each(ERA_CASES)('masks logging and progress on the call stream with the call masks (%s)', async (era) => {
      const res = await callMode(gw, 'stream-messages', era);
      expect(res.messages.map((m) => m.method ?? 'answer')).toEqual(['notifications/message', 'notifications/progress', 'answer']);
      expect(res.text).not.toContain(EMAIL);
      expect(res.text).toContain('[MASKED:email');
    });
  });

  describe('resumption', () => {
    it('issues its own event ids and maps Last-Event-ID back to the upstream id', async () => {
      const init = await fetch(gw.endpoint(), {
        method: 'POST', headers: H,
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'r', version: '1' } } }),
      });
      await init.text();
      expect(init.headers.get('mcp-session-id')).toBe(SESSION);
      const session = { 'mcp-session-id': SESSION, 'mcp-protocol-version': '2025-11-25' };
      const abort = new AbortController();
      const first = await fetch(gw.endpoint(), { method: 'GET', headers: { accept: 'text/event-stream', ...session }, signal: abort.signal });
      const reader = first.body!.getReader();
      let text = '';
      while (!text.includes('\n\n')) text += new TextDecoder().decode((await reader.read()).value);
      abort.abort();
      const id = /^id: (.+)$/m.exec(text)?.[1];
      expect(id).toBeDefined();
      expect(id).not.toContain(LEAK);
      expect(text).not.toContain(LEAK);
      const seen = upstream.lastEventIds.length;
      // Resuming from the gateway's id: the upstream hears its own id.
      const resume = new AbortController();
      const second = await fetch(gw.endpoint(), { method: 'GET', headers: { accept: 'text/event-stream', ...session, 'last-event-id': id! }, signal: resume.signal });
      expect(second.status).toBe(200);
      await new Promise((r) => setTimeout(r, 100));
      resume.abort();
      expect(upstream.lastEventIds[seen]).toBe(`${LEAK}-replay-1`);
      // An id the gateway never issued resumes nothing: no Last-Event-ID goes upstream.
      const forged = new AbortController();
      await fetch(gw.endpoint(), { method: 'GET', headers: { accept: 'text/event-stream', ...session, 'last-event-id': `${LEAK}-replay-1` }, signal: forged.signal });
      await new Promise((r) => setTimeout(r, 100));
      forged.abort();
      expect(upstream.lastEventIds[seen + 1]).toBe('');
    });
  });
});
