// Redis failure is explicit. At start: an unreachable Redis refuses the start, and --workers with
// memory state is refused. At run time: requests that need shared state get 503 -32090 and reach
// no upstream, 2026-07-28 stateless calls keep working, /readyz says why, and the gateway recovers
// without a restart. With AOF, sessions survive a Redis restart.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startModernUpstream, type UpstreamFixture } from '../fixtures/upstreams/index.ts';
import { bundleFor, FIXTURE_POLICY, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { startRedis, type TestRedis } from '../helpers/redis.ts';
import { startGatewayProcess } from '../helpers/replicas.ts';

const JSON_HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
const META = { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientInfo': { name: 't', version: '1' }, 'io.modelcontextprotocol/clientCapabilities': {} };

async function post(url: string, body: object, headers: Record<string, string>) {
  const res = await fetch(url, { method: 'POST', headers: { ...JSON_HEADERS, ...headers }, body: JSON.stringify(body) });
  const text = await res.text();
  let json: any;
  try {
    json = JSON.parse(text.startsWith('event:') || text.startsWith('id:') || text.startsWith('data:') ? /data: (.*)/.exec(text.split('\n').filter((l) => l.startsWith('data: {')).at(-1) ?? '')![1]! : text);
  } catch {
    json = undefined;
  }
  return { status: res.status, json, text, headers: res.headers };
}

const legacyHeaders = (sessionId: string) => ({ 'mcp-session-id': sessionId, 'mcp-protocol-version': '2025-11-25' });

async function legacySession(url: string): Promise<string> {
  const init = await post(url, { jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 't', version: '1' } } }, {});
  expect(init.status).toBe(200);
  const sessionId = init.headers.get('mcp-session-id')!;
  expect((await post(url, { jsonrpc: '2.0', method: 'notifications/initialized' }, legacyHeaders(sessionId))).status).toBe(202);
  return sessionId;
}

const echo = (id: number, text: string) => ({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'echo', arguments: { text } } });
const statelessEcho = (id: number, text: string) => ({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'echo', arguments: { text }, _meta: META } });
const statelessHeaders = { 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/call', 'mcp-name': 'echo' };

async function until<T>(what: () => Promise<T>, ok: (value: T) => boolean): Promise<T> {
  let value = await what();
  for (let i = 0; i < 100 && !ok(value); i++) {
    await new Promise((r) => setTimeout(r, 100));
    value = await what();
  }
  return value;
}

function stateConfig(redis: TestRedis) {
  return { state: { backend: 'redis', redis: { url: redis.url, key_prefix: `outage:${randomUUID()}:`, command_timeout_ms: 500 } } };
}

describe('refusing to start', () => {
  it('refuses to start when Redis cannot be reached, naming it and why', async () => {
    const gone = await startRedis();
    await gone.close();
    const doc = { listen: { host: '127.0.0.1', port: 0 }, policy: { bundle: await bundleFor(FIXTURE_POLICY) }, targets: { t: { url: 'http://127.0.0.1:9/mcp' } }, ...stateConfig(gone) };
    const err = await startGatewayProcess(doc).then(() => 'started', (e: Error) => e.message);
    expect(err).toContain('gateway exited (1) before listening');
    expect(err).toContain(`portcullis: refusing to start: cannot use Redis at ${gone.url} (state.redis): connect ECONNREFUSED`);
    expect(err).toContain('ECONNREFUSED');
  });

  it('refuses --workers 2 with memory state, saying why', async () => {
    const doc = { listen: { host: '127.0.0.1', port: 0 }, policy: { bundle: await bundleFor(FIXTURE_POLICY) }, targets: { t: { url: 'http://127.0.0.1:9/mcp' } } };
    const err = await startGatewayProcess(doc, ['--workers', '2']).then(() => 'started', (e: Error) => e.message);
    expect(err).toContain('refusing to start: --workers 2 needs state.backend: redis');
  });

  it.each(['0', '-1', 'two', '1.5'])('refuses --workers %s', async (workers) => {
    const doc = { listen: { host: '127.0.0.1', port: 0 }, policy: { bundle: await bundleFor(FIXTURE_POLICY) }, targets: { t: { url: 'http://127.0.0.1:9/mcp' } } };
    const err = await startGatewayProcess(doc, [`--workers=${workers}`]).then(() => 'started', (e: Error) => e.message);
    expect(err).toContain(`refusing to start: --workers must be a whole number from 1 to 1024, not '${workers}'`);
  });
});

describe('Redis stopped mid-run (no persistence)', () => {
  let redis: TestRedis;
  let upstream: UpstreamFixture;
  let gw: TestGateway;
  beforeAll(async () => {
    [redis, upstream] = await Promise.all([startRedis(), startModernUpstream()]);
    gw = await startTestGateway({ targets: { fixture: upstream.url }, config: stateConfig(redis) });
  });
  afterAll(async () => {
    await gw?.close();
    await upstream?.close();
    await redis?.close();
  });

  it('fails closed for stateful requests, keeps serving stateless ones, and recovers without a restart', async () => {
    const sessionId = await legacySession(gw.endpoint());
    expect((await post(gw.endpoint(), echo(1, 'up'), legacyHeaders(sessionId))).json.result.content[0].text).toBe('up');
    expect((await fetch(`${gw.url}/readyz`)).status).toBe(200);

    await redis.stop();
    const before = upstream.received.length;
    const stateful = [
      ['request', () => post(gw.endpoint(), echo(2, 'down'), legacyHeaders(sessionId)), 2],
      ['notification', () => post(gw.endpoint(), { jsonrpc: '2.0', method: 'notifications/roots/list_changed' }, legacyHeaders(sessionId)), null],
      ['response', () => post(gw.endpoint(), { jsonrpc: '2.0', id: 5, result: {} }, legacyHeaders(sessionId)), null],
      ['stateless-shaped body with a session id', () => post(gw.endpoint(), statelessEcho(3, 'x'), { ...statelessHeaders, 'mcp-session-id': sessionId }), 3],
    ] as const;
    for (const [, send, id] of stateful) {
      const res = await send();
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toBe('1');
      expect(res.json).toMatchObject({ jsonrpc: '2.0', id, error: { code: -32090 } });
      expect(res.json.error.message).toContain('shared state (Redis)');
    }
    for (const method of ['GET', 'DELETE']) {
      const res = await fetch(gw.endpoint(), { method, headers: { accept: 'text/event-stream', ...legacyHeaders(sessionId) } });
      expect(res.status).toBe(503);
      expect((await res.json()).error.code).toBe(-32090);
    }
    // None of it reached the upstream.
    expect(upstream.received.length).toBe(before);
    // A new legacy session cannot be recorded: refused (the upstream saw the initialize).
    const init = await post(gw.endpoint(), { jsonrpc: '2.0', id: 9, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 't', version: '1' } } }, {});
    expect(init.status).toBe(503);
    expect(init.json).toMatchObject({ id: 9, error: { code: -32090 } });
    expect(init.headers.get('mcp-session-id')).toBeNull();

    // 2026-07-28 needs no shared state.
    const stateless = await post(gw.endpoint(), statelessEcho(4, 'still here'), statelessHeaders);
    expect(stateless.status).toBe(200);
    expect(stateless.json.result.content[0].text).toBe('still here');

    expect((await fetch(`${gw.url}/healthz`)).status).toBe(200);
    const notReady = await fetch(`${gw.url}/readyz`);
    expect(notReady.status).toBe(503);
    expect(await notReady.json()).toMatchObject({ ready: false, state: { backend: 'redis', ok: false } });
    expect(gw.logs.some((l) => l.includes('lost the connection to Redis'))).toBe(true);

    await redis.start();
    const ready = await until(() => fetch(`${gw.url}/readyz`).then((r) => r.status), (s) => s === 200);
    expect(ready).toBe(200);
    // Without persistence the session went with Redis: told so, not served blind.
    const old = await post(gw.endpoint(), echo(6, 'old'), legacyHeaders(sessionId));
    expect(old.status).toBe(404);
    expect(old.json.error.code).toBe(-32001);
    const fresh = await legacySession(gw.endpoint());
    expect((await post(gw.endpoint(), echo(7, 'back'), legacyHeaders(fresh))).json.result.content[0].text).toBe('back');
    expect(gw.logs.some((l) => l.includes('reconnected to Redis'))).toBe(true);
  });
});

describe('Redis restarted with AOF', () => {
  let redis: TestRedis;
  let upstream: UpstreamFixture;
  let gw: TestGateway;
  beforeAll(async () => {
    [redis, upstream] = await Promise.all([startRedis({ aof: true }), startModernUpstream()]);
    gw = await startTestGateway({ targets: { fixture: upstream.url }, config: stateConfig(redis) });
  });
  afterAll(async () => {
    await gw?.close();
    await upstream?.close();
    await redis?.close();
  });

  it('keeps sessions: the same session carries on once Redis is back', async () => {
    const sessionId = await legacySession(gw.endpoint());
    expect((await post(gw.endpoint(), echo(1, 'before'), legacyHeaders(sessionId))).json.result.content[0].text).toBe('before');
    await redis.stop();
    await redis.start();
    const after = await until(() => post(gw.endpoint(), echo(2, 'after'), legacyHeaders(sessionId)), (r) => r.status !== 503);
    expect(after.status).toBe(200);
    expect(after.json.result.content[0].text).toBe('after');
  });
});
