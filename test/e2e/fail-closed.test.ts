// Ways an upstream or a client could make the gateway fail open or leak, from a security review.
// Every test asserts the secure behaviour; those marked "review finding" once failed and were fixed.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startModernUpstream, startRawUpstream, type RawHandler, type RawUpstream, type UpstreamFixture } from '../fixtures/upstreams/index.ts';
import { startResumableUpstream, type ResumableUpstream } from '../fixtures/review/resumable-upstream.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';

const H = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
const META = {
  'io.modelcontextprotocol/protocolVersion': '2026-07-28',
  'io.modelcontextprotocol/clientInfo': { name: 'review', version: '1' },
  'io.modelcontextprotocol/clientCapabilities': {},
};
const EMAIL = 'ada@example.com';

async function post(url: string, body: unknown, headers: Record<string, string> = H, signal?: AbortSignal) {
  const res = await fetch(url, { method: 'POST', headers, body: typeof body === 'string' ? body : JSON.stringify(body), signal });
  const text = await res.text();
  return { status: res.status, text, headers: res.headers };
}

/** SSE events of a body: `{ id, data }` each. */
function sseEvents(text: string): Array<{ id?: string; data: string }> {
  return text
    .split(/\n\n/)
    .filter((e) => e.trim() !== '')
    .map((e) => {
      const lines = e.split('\n');
      const id = lines.find((l) => l.startsWith('id:'))?.slice(3).trim();
      const data = lines.filter((l) => l.startsWith('data:')).map((l) => l.slice(5).replace(/^ /, '')).join('\n');
      return { ...(id !== undefined ? { id } : {}), data };
    });
}

/** A legacy (2025-11-25) session opened through the gateway; returns its headers. */
async function legacySession(gw: TestGateway): Promise<Record<string, string>> {
  const init = await post(gw.endpoint(), {
    jsonrpc: '2.0', id: 0, method: 'initialize',
    params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'review', version: '1' } },
  });
  expect(init.status).toBe(200);
  const sid = init.headers.get('mcp-session-id');
  expect(sid).toBeTruthy();
  const headers = { ...H, 'mcp-session-id': sid!, 'mcp-protocol-version': '2025-11-25' };
  const ack = await post(gw.endpoint(), { jsonrpc: '2.0', method: 'notifications/initialized' }, headers);
  expect(ack.status).toBe(202);
  return headers;
}

const echoCall = (text: string, id: number | string = 1) => ({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'echo', arguments: { text } } });

describe('answers the screening lets through undecided (raw upstream)', () => {
  let upstream: RawUpstream;
  let gw: TestGateway;
  let handler: RawHandler = () => {};
  beforeAll(async () => {
    upstream = await startRawUpstream((x) => handler(x));
    gw = await startTestGateway({ targets: { raw: upstream.url } });
  });
  afterAll(async () => {
    await gw?.close();
    await upstream?.close();
  });

  // Regression (review finding 1, fixed): a response whose id is "1" (string) answering request id 1 (number) is not
  // recognised as the answer (screen.ts strict !==), so it passes with no response-time decision
  // and no mask; MCP SDK clients match it anyway (Protocol._onresponse uses Number(response.id)).
  it('masks a response whose id is the request id as a string (JSON answer)', async () => {
    handler = ({ res }) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ jsonrpc: '2.0', id: '1', result: { content: [{ type: 'text', text: `mail ${EMAIL}` }] } }));
    };
    const answer = await post(gw.endpoint(), echoCall('hi', 1));
    expect(answer.text).not.toContain(EMAIL);
  });

  // FINDING 1 (same root cause): the response-time denial is skipped as well, on SSE too.
  it('applies the response-time decision to a response whose id differs only in type (SSE)', async () => {
    handler = raw.sseEnd([{ jsonrpc: '2.0', id: '1', result: { content: [{ type: 'text', text: 'this has forbidden-word in it' }] } }]);
    const answer = await post(gw.endpoint(), echoCall('hi', 1));
    expect(answer.text).not.toContain('forbidden-word');
  });

  // Regression (review finding 2, fixed): a non-2xx answer carrying a JSON-RPC error is relayed verbatim (relay.ts
  // relayFailure): the request's mask is never applied to error.message / error.data.
  it('masks the error of a non-2xx JSON-RPC error answer', async () => {
    handler = ({ res }) => {
      res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ jsonrpc: '2.0', id: 1, error: { code: -32603, message: `lookup failed for ${EMAIL}`, data: { client_secret: 'hunter2-secret-value' } } }));
    };
    const answer = await post(gw.endpoint(), echoCall('hi', 1));
    expect(answer.text).not.toContain(EMAIL);
    expect(answer.text).not.toContain('hunter2-secret-value');
  });

  // FINDING 2 (same root cause): with a 4xx status, a body carrying BOTH result and error passes
  // the "is it a JSON-RPC error" check, so an unmasked, undecided result reaches the client.
  it('does not relay a result smuggled next to an error in a 4xx answer', async () => {
    handler = ({ res }) => {
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ jsonrpc: '2.0', id: 1, result: { content: [{ type: 'text', text: EMAIL }] }, error: { code: -1, message: 'x' } }));
    };
    const answer = await post(gw.endpoint(), echoCall('hi', 1));
    expect(answer.text).not.toContain(EMAIL);
  });

  // Regression (review finding 5, fixed): a "pass" relays the upstream's original bytes, but what was screened is
  // JSON.parse's reading of them. With a duplicate member the screened copy (last wins) is clean
  // while the bytes sent to the client still carry the unmasked first copy.
  it('does not relay unscreened bytes hidden behind a duplicate JSON member', async () => {
    handler = ({ res }) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(`{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"${EMAIL}"}]},"result":{"content":[{"type":"text","text":"ok"}]}}`);
    };
    const answer = await post(gw.endpoint(), echoCall('hi', 1));
    expect(answer.text).not.toContain(EMAIL);
  });

  // FINDING 6 (low): SSE comments are relayed verbatim, unscreened.
  it('does not relay SSE comments unscreened', async () => {
    handler = ({ res }) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(`: debug row ${EMAIL}\n\n`);
      res.end(`event: message\ndata: ${JSON.stringify({ jsonrpc: '2.0', id: 1, result: { content: [{ type: 'text', text: 'ok' }] } })}\n\n`);
    };
    const answer = await post(gw.endpoint(), echoCall('hi', 1));
    expect(answer.text).not.toContain(EMAIL);
  });

  // Held: a batch inside an SSE event is not JSON-RPC: the stream ends with -32062.
  it('fails closed on a batch inside an SSE event', async () => {
    handler = raw.sseEnd([[{ jsonrpc: '2.0', id: 1, result: { content: [{ type: 'text', text: EMAIL }] } }]]);
    const answer = await post(gw.endpoint(), echoCall('hi', 1));
    expect(answer.text).not.toContain(EMAIL);
    expect(answer.text).toContain('-32062');
  });

  // Held: result and error both, on a 200: refused.
  it('fails closed on a 200 answer with both result and error', async () => {
    handler = raw.json200({ jsonrpc: '2.0', id: 1, result: { content: [{ type: 'text', text: EMAIL }] }, error: { code: 1, message: 'x' } });
    const answer = await post(gw.endpoint(), echoCall('hi', 1));
    expect(answer.status).toBe(502);
    expect(answer.text).not.toContain(EMAIL);
  });

  // Held: the caller's Authorization and Cookie never go upstream; mcp-param-* do (by design).
  it('keeps Authorization and Cookie from the upstream', async () => {
    handler = raw.json200({ jsonrpc: '2.0', id: 1, result: { content: [{ type: 'text', text: 'ok' }] } });
    await post(gw.endpoint(), echoCall('hi', 1), { ...H, authorization: 'Bearer caller-token-xyz', cookie: 'sid=caller-cookie', 'proxy-authorization': 'Basic abc' });
    const got = upstream.received.at(-1)!;
    expect(JSON.stringify(got.headers)).not.toMatch(/caller-token-xyz|caller-cookie|Basic abc/);
  });

  // Held: a server request on a response stream is decided and masked.
  it('masks a server-initiated request on the POST stream', async () => {
    handler = raw.sseEnd([
      { jsonrpc: '2.0', id: 'srv-1', method: 'elicitation/create', params: { message: `mail ${EMAIL}?`, requestedSchema: { type: 'object', properties: {} } } },
      { jsonrpc: '2.0', id: 1, result: { content: [{ type: 'text', text: 'ok' }] } },
    ]);
    const answer = await post(gw.endpoint(), echoCall('hi', 1));
    expect(answer.text).not.toContain(EMAIL);
    expect(answer.text).toContain('[MASKED:email');
  });
});

describe('legacy sessions with a standard SDK upstream', () => {
  let upstream: ResumableUpstream;
  let plain: ResumableUpstream;
  let gw: TestGateway;
  const aborts: AbortController[] = [];
  beforeAll(async () => {
    upstream = await startResumableUpstream();
    plain = await startResumableUpstream({ eventStore: false });
    gw = await startTestGateway({ targets: { resumable: upstream.url, plain: plain.url } });
  });
  afterEach(() => {
    for (const a of aborts.splice(0)) a.abort();
  });
  afterAll(async () => {
    await gw?.close();
    await upstream?.close();
    await plain?.close();
  });

  // Held (baseline): the answer on the POST stream is masked.
  it('masks the tool result on the POST stream', async () => {
    const headers = await legacySession(gw);
    const answer = await post(gw.endpoint(), { ...echoCall(`mail ${EMAIL}`, 2) }, headers);
    expect(answer.text).toContain('[MASKED:email');
    expect(answer.text).not.toContain(EMAIL);
  });

  // Regression (review finding 3, fixed): resuming the POST stream with GET + Last-Event-ID (standard MCP resumability,
  // and what SDK clients do automatically after a disconnect or a server-initiated close)
  // replays the tool result on a GET, where ex.request is undefined: no response-time decision,
  // no mask.
  it('masks a tool result replayed on GET with Last-Event-ID', async () => {
    const headers = await legacySession(gw);
    const answer = await post(gw.endpoint(), echoCall(`mail ${EMAIL}`, 2), headers);
    expect(answer.text).not.toContain(EMAIL);
    const priming = sseEvents(answer.text).find((e) => e.id !== undefined);
    expect(priming?.id).toBeTruthy();

    const abort = new AbortController();
    aborts.push(abort);
    const res = await fetch(gw.endpoint(), {
      method: 'GET', signal: abort.signal,
      headers: { accept: 'text/event-stream', 'mcp-session-id': headers['mcp-session-id']!, 'mcp-protocol-version': '2025-11-25', 'last-event-id': priming!.id! },
    });
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    let replay = '';
    const deadline = Date.now() + 3000;
    while (!replay.includes('"result"') && Date.now() < deadline) {
      const next = await Promise.race([reader.read(), new Promise<{ done: true; value: undefined }>((r) => setTimeout(() => r({ done: true, value: undefined }), 500))]);
      if (next.done) break;
      replay += new TextDecoder().decode(next.value);
    }
    abort.abort();
    // The answer was delivered on the POST stream already: a replay of it has nothing to be
    // screened as, so it is withheld.
    expect(replay).not.toContain(EMAIL);
  });

  it('delivers an answer on a resumed GET stream masked, as its own request decided', async () => {
    const headers = await legacySession(gw);
    // The client leaves the POST stream after the priming event, before the answer (600 ms away).
    const abortPost = new AbortController();
    const res = await fetch(gw.endpoint(), {
      method: 'POST', headers, signal: abortPost.signal,
      body: JSON.stringify({ jsonrpc: '2.0', id: 31, method: 'tools/call', params: { name: 'echo', arguments: { text: `mail ${EMAIL}`, delay: 600 } } }),
    });
    const reader = res.body!.getReader();
    let head = '';
    while (!/id: \S+/.test(head)) head += new TextDecoder().decode((await reader.read()).value);
    const lastEventId = /id: (\S+)/.exec(head)![1]!;
    abortPost.abort();

    const abort = new AbortController();
    aborts.push(abort);
    const resumed = await fetch(gw.endpoint(), {
      method: 'GET', signal: abort.signal,
      headers: { accept: 'text/event-stream', 'mcp-session-id': headers['mcp-session-id']!, 'mcp-protocol-version': '2025-11-25', 'last-event-id': lastEventId },
    });
    expect(resumed.status).toBe(200);
    const replayReader = resumed.body!.getReader();
    let replay = '';
    const deadline = Date.now() + 5000;
    while (!replay.includes('"result"') && Date.now() < deadline) {
      const next = await Promise.race([replayReader.read(), new Promise<{ done: true; value: undefined }>((r) => setTimeout(() => r({ done: true, value: undefined }), 1000))]);
      if (next.done) continue;
      replay += new TextDecoder().decode(next.value);
    }
    abort.abort();
    expect(replay).toContain('"id":31');
    expect(replay).toContain('[MASKED:email');
    expect(replay).not.toContain(EMAIL);
  });

  // Regression (review finding 4, fixed): two in-flight requests with the same id on one session. The SDK server routes by
  // id (the second POST overwrites the id->stream mapping), so the answer to the masked call
  // arrives on the second POST's stream, which carries the second call's decision and (empty)
  // mask: the result reaches the client unmasked. The gateway does not refuse the reused id.
  it('does not deliver a masked call result unmasked on another POST that reuses its id', async () => {
    const h = await legacySessionOn(gw, 'plain');
    const abortA = new AbortController();
    aborts.push(abortA);
    const first = post(gw.endpoint('plain'), { jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'echo', arguments: { text: `mail ${EMAIL}`, delay: 600 } } }, h, abortA.signal).catch(() => undefined);
    await new Promise((r) => setTimeout(r, 150));
    const abortB = new AbortController();
    aborts.push(abortB);
    setTimeout(() => abortB.abort(), 5000);
    const second = await post(gw.endpoint('plain'), { jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'slow', arguments: { ms: 2000 } } }, h, abortB.signal);
    abortA.abort();
    await first;
    expect(second.text).not.toContain(EMAIL);
  });
});

/** legacySession against a named target. */
async function legacySessionOn(gw: TestGateway, target: string): Promise<Record<string, string>> {
  const init = await post(gw.endpoint(target), {
    jsonrpc: '2.0', id: 0, method: 'initialize',
    params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'review', version: '1' } },
  });
  expect(init.status).toBe(200);
  const headers = { ...H, 'mcp-session-id': init.headers.get('mcp-session-id')!, 'mcp-protocol-version': '2025-11-25' };
  expect((await post(gw.endpoint(target), { jsonrpc: '2.0', method: 'notifications/initialized' }, headers)).status).toBe(202);
  return headers;
}

describe('2026-07-28 input_required', () => {
  let upstream: UpstreamFixture;
  let gw: TestGateway;
  beforeAll(async () => {
    upstream = await startModernUpstream();
    gw = await startTestGateway({ targets: { fixture: upstream.url } });
  });
  afterAll(async () => {
    await gw?.close();
    await upstream?.close();
  });

  // Regression (review finding 7, fixed): the embedded requests of an input_required result are decided, but the masks of
  // those decisions are dropped (screen.ts refuseInputRequests keeps only refusals). The legacy
  // twin (a server-initiated elicitation/create) is masked; the 2026-07-28 one is not.
  it('masks an embedded elicitation the way a legacy elicitation/create is masked', async () => {
    const question = 'Shall I mail carol@example.net?';
    const answer = await post(gw.endpoint(), {
      jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'ask_user', arguments: { question }, _meta: { ...META, 'io.modelcontextprotocol/clientCapabilities': { elicitation: { form: {} } } } },
    }, { ...H, 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/call', 'mcp-name': 'ask_user' });
    expect(answer.text).toContain('input_required'); // the embedded request did reach the client
    expect(answer.text).not.toContain('carol@example.net');
  });
});

describe('a decision whose mask list is invalid', () => {
  let upstream: UpstreamFixture;
  let gw: TestGateway;
  beforeAll(async () => {
    upstream = await startModernUpstream();
    gw = await startTestGateway({ policy: 'test/fixtures/review/policy', targets: { fixture: upstream.url } });
  });
  afterAll(async () => {
    await gw?.close();
    await upstream?.close();
  });

  // Regression (review finding 8, fixed): a malformed decision (mask instruction with an unknown field) is treated as an
  // allow: the call is forwarded and the tool runs; only the answer is withheld afterwards.
  it('refuses before forwarding, so the tool never runs', async () => {
    const calls = upstream.toolCalls.length;
    const answer = await post(gw.endpoint(), {
      jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'echo', arguments: { text: 'client_secret=abc' }, _meta: META },
    }, { ...H, 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/call', 'mcp-name': 'echo' });
    expect(JSON.parse(answer.text).error).toBeDefined(); // it is refused in the end...
    expect(upstream.toolCalls.length).toBe(calls); // ...but it should not have run
  });
});

const raw = {
  sseEnd(events: unknown[]): RawHandler {
    return ({ res }) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      for (const e of events) res.write(`event: message\ndata: ${JSON.stringify(e)}\n\n`);
      res.end();
    };
  },
  json200(payload: unknown): RawHandler {
    return ({ res }) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(payload));
    };
  },
};
