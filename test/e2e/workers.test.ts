// `portcullis --workers 2`: two worker processes behind one port (node:cluster hands connections
// out in turn) share legacy sessions through Redis; a worker that dies is replaced.
import { request } from 'node:http';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startModernUpstream, type UpstreamFixture } from '../fixtures/upstreams/index.ts';
import { bundleFor, FIXTURE_POLICY } from '../helpers/gateway.ts';
import { startRedis, type TestRedis } from '../helpers/redis.ts';
import { startGatewayProcess, type GatewayProcess } from '../helpers/replicas.ts';

/** One POST on a connection of its own, so node:cluster may hand it to either worker. */
function postFresh(url: string, body: object, headers: Record<string, string> = {}): Promise<{ status: number; text: string; headers: Record<string, string | string[] | undefined> }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', agent: false, headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers } }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text, headers: res.headers }));
    });
    req.on('error', reject);
    // A hang is a failure with a reason, not a test timeout.
    req.setTimeout(15_000, () => req.destroy(new Error(`no answer from ${url} within 15 s`)));
    req.end(JSON.stringify(body));
  });
}

describe('portcullis --workers 2', () => {
  let redis: TestRedis;
  let upstream: UpstreamFixture;
  let gw: GatewayProcess;
  beforeAll(async () => {
    [redis, upstream] = await Promise.all([startRedis(), startModernUpstream()]);
    gw = await startGatewayProcess({
      listen: { host: '127.0.0.1', port: 0 },
      policy: { bundle: await bundleFor(FIXTURE_POLICY) },
      state: { backend: 'redis', redis: { url: redis.url, key_prefix: `workers:${randomUUID()}:` } },
      targets: { fixture: { url: upstream.url } },
    }, ['--workers', '2']);
  }, 120_000);
  afterAll(async () => {
    await gw?.stop();
    await upstream?.close();
    await redis?.close();
  });

  it('serves one legacy session from both workers, and replaces a worker that dies', async () => {
    const pids = /with 2 workers \(pids (\d+), (\d+)\)/.exec(gw.output());
    expect(pids).not.toBeNull();
    const endpoint = `${gw.url}/mcp/fixture`;
    const init = await postFresh(endpoint, { jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 't', version: '1' } } });
    expect(init.status).toBe(200);
    const session = { 'mcp-session-id': String(init.headers['mcp-session-id']), 'mcp-protocol-version': '2025-11-25' };
    expect((await postFresh(endpoint, { jsonrpc: '2.0', method: 'notifications/initialized' }, session)).status).toBe(202);
    // Connections alternate between the workers: every one must know the session.
    for (let i = 1; i <= 6; i++) {
      const res = await postFresh(endpoint, { jsonrpc: '2.0', id: i, method: 'tools/call', params: { name: 'echo', arguments: { text: `call ${i}` } } }, session);
      expect(res.status).toBe(200);
      expect(res.text).toContain(`call ${i}`);
    }
    process.kill(Number(pids![1]), 'SIGKILL');
    // Once the primary has seen the death it hands connections to the live worker only (a
    // connection handed over in the instant of the crash dies with the worker, as on any server).
    for (let i = 0; i < 100 && !gw.output().includes('starting another'); i++) await new Promise((r) => setTimeout(r, 100));
    expect(gw.output()).toContain(`portcullis: worker ${pids![1]} exited (SIGKILL); starting another`);
    for (let i = 7; i <= 12; i++) {
      const res = await postFresh(endpoint, { jsonrpc: '2.0', id: i, method: 'tools/call', params: { name: 'echo', arguments: { text: `call ${i}` } } }, session);
      expect(res.status).toBe(200);
      expect(res.text).toContain(`call ${i}`);
    }
  }, 120_000);
});
