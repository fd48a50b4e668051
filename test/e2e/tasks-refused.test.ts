// Tasks hand a call's result out through a later tasks/result the gateway cannot tie to the call's
// decision and masks: task-augmented requests and tasks/* methods are refused, nothing forwarded.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRawUpstream, type RawUpstream } from '../fixtures/upstreams/index.ts';
import { FIXTURE_POLICY, startTestGateway, type TestGateway } from '../helpers/gateway.ts';

const EMAIL = 'ada.lovelace@example.com';

describe('tasks cannot carry a call result past its mask (fixture policy)', () => {
  let up: RawUpstream;
  let gw: TestGateway;
  beforeAll(async () => {
    up = await startRawUpstream(({ res, json }) => {
      const msg = json as { id?: unknown; method?: string } | undefined;
      const id = msg?.id;
      res.writeHead(200, { 'content-type': 'application/json' });
      if (msg?.method === 'tools/call') {
        res.end(JSON.stringify({ jsonrpc: '2.0', id, result: { task: { taskId: 'task-1', status: 'working', createdAt: new Date().toISOString(), ttl: 60000 } } }));
      } else if (msg?.method === 'tasks/result') {
        res.end(JSON.stringify({ jsonrpc: '2.0', id, result: { content: [{ type: 'text', text: `mail ${EMAIL} forbidden-word` }] } }));
      } else {
        res.end(JSON.stringify({ jsonrpc: '2.0', id, result: {} }));
      }
    });
    gw = await startTestGateway({ policy: FIXTURE_POLICY, targets: { fixture: up.url } });
  });
  afterAll(async () => {
    await gw?.close();
    await up?.close();
  });

  const post = async (body: object) => {
    const res = await fetch(gw.endpoint(), {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-11-25' },
      body: JSON.stringify(body),
    });
    return res.text();
  };

  it('refuses a task-augmented call and tasks/result, and forwards neither', async () => {
    const before = up.received.length;
    const created = JSON.parse(await post({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'echo', arguments: { text: 'x' }, task: { ttl: 60000 } } }));
    expect(created.error.code).toBe(-32602);
    const fetched = await post({ jsonrpc: '2.0', id: 2, method: 'tasks/result', params: { taskId: 'task-1' } });
    expect(JSON.parse(fetched).error.code).toBe(-32601);
    expect(fetched).not.toContain(EMAIL);
    expect(fetched).not.toContain('forbidden-word');
    expect(up.received.length).toBe(before);
  });
});
