// The audit trail end to end, with real parts only: two gateway processes (bin/portcullis.mjs) on
// one real Redis, the demo upstream with secrets planted in every record it serves, a real IdP,
// an OTLP receiver keeping every exported byte, and a decision-log receiver. A legacy SDK session
// served by both replicas in turn is ONE recording, and its replay shows exactly what the client
// saw; a 2026-07-28 caller's calls through both replicas are one recording too. Then every byte
// the gateways wrote anywhere (Redis, spans, decision logs, their own output) is searched for the
// planted secrets: none is there, though the direct control proves the upstream sent them.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDemoUpstream, type DemoUpstream } from '../../demo/upstream.ts';
import { replayCommand } from '../../gateway/policy/replay-cli.ts';
import { runSessionsCli } from '../../gateway/recordings/cli.ts';
import type { RecordedMessage, RecordingSummary } from '../../gateway/recordings/entry.ts';
import { ALLOW_ALL_POLICY, bundleFor, EXAMPLE_POLICY } from '../helpers/gateway.ts';
import { META } from '../helpers/identity-stack.ts';
import { startTestIdp, type TestIdp } from '../helpers/idp.ts';
import { startDecisionLogReceiver, type DecisionLogReceiver } from '../helpers/decision-log-receiver.ts';
import { startRedis, type TestRedis } from '../helpers/redis.ts';
import { alternatingFetch, startGatewayProcess, type GatewayProcess, type Served } from '../helpers/replicas.ts';

const BASE = 'https://gw.audit.test';
const PREFIX = 'audit-e2e:';
// Planted in the fields the example policy masks (customer_record), unique to this run.
const SECRETS = {
  password: 'Hunter2-planted-Passw0rd!',
  api_key: 'ak_live_PLANTEDplantedPLANTED0001',
  access_token: 'eyJhbGciOiJIUzI1NiJ9.cGxhbnRlZC1hY2Nlc3MtdG9rZW4.c2lnbmF0dXJlLXBsYW50ZWQ',
  ssn: '078-05-1120',
  date_of_birth: '1961-04-12',
  card_number: '4242424242424242',
  iban: 'DE89370400440532013000',
  stripe_in_notes: 'sk_live_51PlantedNotesKeyabcdefghijkl',
  // In a call's arguments: run_sql's decision masks its arguments (high_risk_arguments).
  sql_argument: 'sk_live_51PlantedArgumentKeyzyxwvuts',
};
/** What may remain of a masked value: the last four characters some styles keep. */
const leaked = (haystack: string): string[] => Object.entries(SECRETS).filter(([, v]) => haystack.includes(v)).map(([k]) => k);

interface OtlpReceiver { url: string; bodies: Buffer[]; close(): Promise<void> }

/** An OTLP/HTTP trace receiver that keeps every body it is sent (protobuf strings are plain UTF-8). */
async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const bodies: Buffer[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      bodies.push(req.headers['content-encoding'] === 'gzip' ? gunzipSync(body) : body);
      res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/v1/traces`, bodies, close: () => new Promise((r) => { server.close(() => r()); server.closeAllConnections(); }) };
}

/** Every JSON-RPC message in an HTTP answer the client got: a JSON body, or each SSE `data:` event. */
function messagesIn(text: string, contentType: string | null): unknown[] {
  if (text.trim() === '') return [];
  if (contentType?.startsWith('text/event-stream')) {
    return text.split(/\r?\n\r?\n/).flatMap((event) => {
      const data = event.split(/\r?\n/).filter((l) => l.startsWith('data:')).map((l) => l.slice(5).replace(/^ /, '')).join('\n');
      return data === '' ? [] : [JSON.parse(data)];
    });
  }
  return [JSON.parse(text)];
}

/** A fetch that keeps every message the client received, in the order received. */
function seeing(inner: typeof fetch, seen: unknown[]): typeof fetch {
  return async (input, init) => {
    const res = await inner(input, init);
    const text = await res.text();
    seen.push(...messagesIn(text, res.headers.get('content-type')));
    return new Response(text, { status: res.status, statusText: res.statusText, headers: res.headers });
  };
}

/** Every value of every key under the prefix, as text: strings, hashes, sets, sorted sets, streams. */
async function everyByte(url: string, prefix: string): Promise<string> {
  const redis = new Redis(url);
  const out: string[] = [];
  try {
    for (const key of await redis.keys(`${prefix}*`)) {
      const type = await redis.type(key);
      out.push(key);
      if (type === 'string') out.push((await redis.get(key)) ?? '');
      else if (type === 'hash') out.push(JSON.stringify(await redis.hgetall(key)));
      else if (type === 'set') out.push(JSON.stringify(await redis.smembers(key)));
      else if (type === 'zset') out.push(JSON.stringify(await redis.zrange(key, '0', '-1')));
      else if (type === 'stream') out.push(JSON.stringify(await redis.xrange(key, '-', '+')));
      else if (type === 'list') out.push(JSON.stringify(await redis.lrange(key, '0', '-1')));
      else throw new Error(`key ${key} of unexpected type ${type}`);
    }
  } finally {
    redis.disconnect();
  }
  return out.join('\n');
}

let idp: TestIdp;
let redis: TestRedis;
let demo: DemoUpstream;
let otlp: OtlpReceiver;
let logs: DecisionLogReceiver;
let a: GatewayProcess;
let b: GatewayProcess;
const audience = `${BASE}/mcp/demo`;
const token = (sub: string, groups: string[], extra: Record<string, unknown> = {}) => idp.sign(idp.validClaims(audience, { sub, groups, ...extra }));

beforeAll(async () => {
  [idp, redis, demo, otlp, logs] = await Promise.all([startTestIdp({ tokenTtlSeconds: 600 }), startRedis({ aof: true }), startDemoUpstream({ port: 0 }), startOtlpReceiver(), startDecisionLogReceiver()]);
  // Secrets planted in every customer record the demo serves.
  for (const c of demo.db.customers) {
    Object.assign(c, { password: SECRETS.password, api_key: SECRETS.api_key, access_token: SECRETS.access_token, ssn: SECRETS.ssn, date_of_birth: SECRETS.date_of_birth });
    // (A CVC is planted too, but three digits occur anywhere by chance: it is not searched for.)
    Object.assign(c.billing, { card_number: SECRETS.card_number, card_cvc: '737', iban: SECRETS.iban });
    c.notes = `rotated key ${SECRETS.stripe_in_notes} after the incident`;
  }
  const doc = {
    listen: { host: '127.0.0.1', port: 0 },
    policy: { bundle: await bundleFor(EXAMPLE_POLICY) },
    targets: { demo: { url: demo.url } },
    identity: { public_base_url: BASE, issuers: [{ issuer: idp.issuer, token_format: 'jwt', groups_claim: 'groups' }] },
    state: { backend: 'redis', redis: { url: redis.url, key_prefix: PREFIX } },
    recordings: { enabled: true, auditor_groups: ['auditors'], flush_interval_ms: 5 },
    telemetry: { enabled: true, traces: { endpoint: otlp.url, capture_content: true } },
    audit: { log: 'stdout', decision_log: { url: `${logs.url}/logs`, flush_interval_ms: 10 } },
  };
  [a, b] = await Promise.all([startGatewayProcess(doc), startGatewayProcess(doc)]);
}, 90_000);

afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop()]);
  await Promise.all([idp?.close(), redis?.close(), demo?.close(), otlp?.close(), logs?.close()]);
});

async function auditorApi<T>(path: string): Promise<T> {
  const res = await fetch(`${a.url}${path}`, { headers: { authorization: `Bearer ${await token('audra', ['auditors'])}` } });
  expect(res.status, await res.clone().text()).toBe(200);
  return (await res.json()) as T;
}

/** The recording whose messages carry this session id (legacy) or this principal (2026-07-28), once `count` messages are in. */
async function recordingOf(match: (s: RecordingSummary) => boolean, count: number): Promise<RecordingSummary> {
  for (let i = 0; i < 200; i++) {
    const { sessions } = await auditorApi<{ sessions: RecordingSummary[] }>('/api/sessions');
    const found = sessions.filter(match);
    if (found.length > 1) throw new Error(`${found.length} recordings match, expected one: ${JSON.stringify(found)}`);
    if (found[0] && found[0].messages >= count) return found[0];
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error('the recording never reached its message count');
}

describe('the audit trail through two replicas', () => {
  const seen: unknown[] = [];
  const served: Served[] = [];
  let sessionId = '';

  it('the upstream sends the planted secrets (direct control)', async () => {
    const client = new Client({ name: 'direct', version: '1' });
    await client.connect(new StreamableHTTPClientTransport(new URL(demo.url)));
    const answer = JSON.stringify(await client.callTool({ name: 'get_customer', arguments: { customer_id: 'cus_1001' } }));
    await client.close();
    expect(leaked(answer).sort()).toEqual(Object.keys(SECRETS).filter((k) => k !== 'sql_argument').sort());
  });

  it('a legacy SDK session served by both replicas in turn: the client sees nothing planted', async () => {
    const bearer = await token('eve', ['support', 'admins']);
    const client = new Client({ name: 'audit-e2e', version: '1' });
    const transport = new StreamableHTTPClientTransport(new URL(`${a.url}/mcp/demo`), {
      fetch: seeing(alternatingFetch([a.url, b.url], served), seen),
      requestInit: { headers: { authorization: `Bearer ${bearer}` } },
    });
    await client.connect(transport);
    sessionId = transport.sessionId ?? '';
    expect(sessionId).not.toBe('');
    await client.listTools();
    await client.callTool({ name: 'get_customer', arguments: { customer_id: 'cus_1001' } });
    await client.callTool({ name: 'get_customer', arguments: { customer_id: 'cus_1002' } });
    await client.callTool({ name: 'get_customer', arguments: { customer_id: 'cus_9999' } }); // a tool error
    await client.readResource({ uri: 'demo://docs/runbook' });
    await client.getPrompt({ name: 'incident_summary', arguments: { incident_id: 'INC-2041' } });
    // Held for approval, and approvals are off here: refused (fail closed), and its request is
    // recorded with its arguments masked by its own decision.
    await expect(client.callTool({ name: 'run_sql', arguments: { query: `UPDATE keys SET value = '${SECRETS.sql_argument}'` } })).rejects.toThrow(/-32052|Approval required/);
    await client.close();
    expect(new Set(served.filter((s) => s.method === 'POST').map((s) => s.replica))).toEqual(new Set([0, 1]));
    expect(leaked(JSON.stringify(seen))).toEqual([]);
    expect(JSON.stringify(seen)).toContain('[MASKED');
  });

  it('is one recording, and its replay shows exactly what the client saw', async () => {
    // Every answer the client saw, in order (its notifications and requests too): what replay must show.
    const answers = seen.filter((m) => (m as { method?: string }).method === undefined);
    const recording = await recordingOf((s) => s.sessionId === sessionId, 2 * answers.length);
    expect(recording.target).toBe('demo');
    const out: string[] = [];
    const code = await runSessionsCli(['replay', recording.recording, '--url', a.url], { out: (t) => out.push(t), err: (t) => out.push(t), env: { PORTCULLIS_TOKEN: await token('audra', ['auditors']) } });
    expect(code, out.join('\n')).toBe(0);
    const replayed = out.join('\n').split('\n').filter((l) => l.startsWith('  message: ')).map((l) => JSON.parse(l.slice('  message: '.length)) as Record<string, unknown>);
    const { messages } = await auditorApi<{ messages: RecordedMessage[] }>(`/api/sessions/${encodeURIComponent(recording.recording)}`);
    expect(replayed).toEqual(messages.map((m) => m.message));
    const toClient = messages.filter((m) => m.direction === 'server_to_client').map((m) => m.message);
    expect(toClient).toEqual(answers);
    // Both directions, every exchange: each request the client sent is there, masked.
    const requests = messages.filter((m) => m.direction === 'client_to_server');
    expect(requests.map((m) => m.method)).toEqual(expect.arrayContaining(['initialize', 'tools/list', 'tools/call', 'resources/read', 'prompts/get']));
    const sql = requests.find((m) => m.name === 'run_sql')!;
    expect(JSON.stringify(sql.message)).not.toContain(SECRETS.sql_argument);
    expect(sql.decision?.approvalRequired).toBe(true);
    for (const m of messages) expect(m.traceId).toMatch(/^[0-9a-f]{32}$/);
  });

  it('`policy replay` of the recorded session against an allow-all candidate shows what would change', async () => {
    const recording = await recordingOf((s) => s.sessionId === sessionId, 1);
    const out: string[] = [];
    const code = await replayCommand(['--bundle', await bundleFor(ALLOW_ALL_POLICY), '--gateway', a.url, '--session', recording.recording], (l) => out.push(l), { PORTCULLIS_TOKEN: await token('audra', ['auditors']) });
    const text = out.join('\n');
    expect(code, text).toBe(1);
    // run_sql needed approval under the enforced policy; get_customer's answers were masked.
    expect(text).toMatch(/run_sql/);
    expect(text).toMatch(/approval/i);
    expect(text).toMatch(/get_customer/);
    expect(text).toMatch(/mask/i);
    expect(leaked(text)).toEqual([]);
  });

  it('a 2026-07-28 caller\'s calls through both replicas are one recording', async () => {
    const bearer = await token('sam', ['support'], { client_id: 'audit-agent' });
    for (const [i, replica] of [a, b, a].entries()) {
      const res = await fetch(`${replica.url}/mcp/demo`, {
        method: 'POST',
        headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/call', 'mcp-name': 'get_customer' },
        body: JSON.stringify({ jsonrpc: '2.0', id: i + 1, method: 'tools/call', params: { name: 'get_customer', arguments: { customer_id: 'cus_1003' }, _meta: META } }),
      });
      const text = await res.text();
      expect(res.status, text).toBe(200);
      expect(leaked(text)).toEqual([]);
    }
    const recording = await recordingOf((s) => s.era === 'stateless' && s.principal.includes('"sam"'), 6);
    expect(recording.messages).toBe(6);
  });

  it('nothing planted reaches Redis, the exported spans, the decision logs or the gateways\' output', async () => {
    // Spans and decision logs are exported in batches: wait until both replicas have exported.
    for (let i = 0; i < 200 && (otlp.bodies.length === 0 || logs.accepted().length === 0); i++) await new Promise((r) => setTimeout(r, 25));
    await Promise.all([a.stop(), b.stop()]); // flushes what is buffered
    const spans = otlp.bodies.map((body) => body.toString('latin1')).join('\n');
    expect(spans).toContain('get_customer');
    expect(spans).toContain('[MASKED'); // content was captured (masked), so the search means something
    const stored = await everyByte(redis.url, PREFIX);
    expect(stored).toContain('get_customer');
    const decisionLogs = JSON.stringify(logs.posts.map((p) => p.events));
    expect(decisionLogs).toContain('get_customer');
    const output = a.output() + b.output();
    expect(output).toContain('"decision_id"'); // audit.log: stdout wrote records
    expect({ redis: leaked(stored), spans: leaked(spans), decisionLogs: leaked(decisionLogs), output: leaked(output) }).toEqual({ redis: [], spans: [], decisionLogs: [], output: [] });
  });
});
