// Sessions, cancellation and upstream credentials across the gateway.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startModernUpstream, type UpstreamFixture } from '../fixtures/upstreams/index.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';

const JSON_HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
const META = {
  'io.modelcontextprotocol/protocolVersion': '2026-07-28',
  'io.modelcontextprotocol/clientInfo': { name: 'raw-test', version: '1' },
  'io.modelcontextprotocol/clientCapabilities': {},
};

async function waitFor(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (check()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('sessions, cancellation and credentials', () => {
  let upstream: UpstreamFixture;
  let gw: TestGateway;
  const SECRET = 'upstream-secret-7f3a9c';

  beforeAll(async () => {
    upstream = await startModernUpstream();
    gw = await startTestGateway({
      targets: { fixture: { url: upstream.url, credentials: { type: 'header', header: 'Authorization', scheme: 'Bearer', value_env: 'FIXTURE_TOKEN' } } },
      env: { FIXTURE_TOKEN: SECRET },
    });
  });
  afterAll(async () => {
    await gw?.close();
    await upstream?.close();
  });

  async function initialize(): Promise<string> {
    const res = await fetch(gw.endpoint(), {
      method: 'POST',
      headers: JSON_HEADERS,
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } }),
    });
    expect(res.status).toBe(200);
    await res.text();
    const session = res.headers.get('mcp-session-id');
    expect(session).toBeTruthy();
    return session!;
  }

  it('ends a legacy session on DELETE and then refuses it without forwarding', async () => {
    const session = await initialize();
    const headers = { ...JSON_HEADERS, 'mcp-session-id': session, 'mcp-protocol-version': '2025-11-25' };
    const del = await fetch(gw.endpoint(), { method: 'DELETE', headers });
    expect(del.status).toBeLessThan(300);
    expect(upstream.received.at(-1)?.method).toBe('DELETE');
    const before = upstream.received.length;
    const after = await fetch(gw.endpoint(), { method: 'POST', headers, body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/list' }) });
    expect(after.status).toBe(404);
    expect((await after.json()).error.code).toBe(-32001);
    expect(upstream.received.length).toBe(before);
  });

  it('opens the legacy GET stream for a known session only', async () => {
    const session = await initialize();
    const abort = new AbortController();
    const stream = await fetch(gw.endpoint(), {
      method: 'GET',
      headers: { accept: 'text/event-stream', 'mcp-session-id': session, 'mcp-protocol-version': '2025-11-25' },
      signal: abort.signal,
    });
    expect(stream.status).toBe(200);
    expect(stream.headers.get('content-type')).toContain('text/event-stream');
    abort.abort();
    const unknown = await fetch(gw.endpoint(), { method: 'GET', headers: { accept: 'text/event-stream', 'mcp-session-id': 'nope' } });
    expect(unknown.status).toBe(404);
  });

  it('cancels the upstream call when a 2026-07-28 client disconnects', async () => {
    const abortedBefore = upstream.abortedCalls;
    const abort = new AbortController();
    const res = await fetch(gw.endpoint(), {
      method: 'POST',
      headers: { ...JSON_HEADERS, 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/call', 'mcp-name': 'slow' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 5, method: 'tools/call', params: { name: 'slow', arguments: { ms: 10_000, steps: 20 }, _meta: { ...META, progressToken: 'p1' } } }),
      signal: abort.signal,
    });
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const reader = res.body!.getReader();
    const first = await reader.read();
    expect(new TextDecoder().decode(first.value)).toContain('notifications/progress');
    abort.abort();
    await waitFor(() => upstream.abortedCalls > abortedBefore, 'the upstream tool to see its abort signal');
    expect(upstream.completedSlowCalls).toBe(0);
  });

  it('sends the upstream its own credential and never the caller’s', async () => {
    const res = await fetch(gw.endpoint(), {
      method: 'POST',
      headers: {
        ...JSON_HEADERS, authorization: 'Bearer caller-token-should-not-pass', cookie: 'session=caller-cookie',
        'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/call', 'mcp-name': 'echo',
      },
      body: JSON.stringify({ jsonrpc: '2.0', id: 6, method: 'tools/call', params: { name: 'echo', arguments: { text: 'hi' }, _meta: META } }),
    });
    const text = await res.text();
    expect(res.status).toBe(200);
    const seen = upstream.received.at(-1)!;
    expect(seen.headers.authorization).toBe(`Bearer ${SECRET}`);
    expect(seen.headers.cookie).toBeUndefined();
    expect(JSON.stringify(upstream.received)).not.toContain('caller-token-should-not-pass');
    expect(text).not.toContain(SECRET);
    expect(gw.logs.join('\n')).not.toContain(SECRET);
  });

  it('reports the loaded policy revision and sha256 on /status', async () => {
    const status = await (await fetch(`${gw.url}/status`)).json();
    expect(status.policy.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(status.policy.sha256).toBe(gw.policy.sha256);
    expect(status.targets).toEqual(['fixture']);
    expect(JSON.stringify(status)).not.toContain(SECRET);
  });
});
