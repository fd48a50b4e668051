// `portcullis policy replay`: recorded traffic decided again by a real candidate bundle (built by
// the pinned OPA) that retires a tool the enforced fixture allowed, allows one it denied, holds one
// for approval and masks another differently. Sources: a JSONL file of RecordedMessage, the
// /api/sessions shape served by a small real HTTP server and by a real gateway's recordings API
// (Redis store, IdP tokens), and decision records from real calls through a test gateway. The enforced bundle replayed against its own recordings changes nothing,
// which shows the queries are rebuilt as the data path builds them. Error paths: exit 2.
import { execFile } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { policyCli } from '../../gateway/policy/cli.ts';
import type { RecordedMessage } from '../../gateway/recordings/entry.ts';
import { buildBundle } from '../../scripts/bundle.ts';
import { startModernUpstream, type UpstreamFixture } from '../fixtures/upstreams/index.ts';
import { RedisRecordingStore, Recorder } from '../../gateway/recordings/index.ts';
import { connectRedis } from '../../gateway/state/index.ts';
import { bundleFor, FIXTURE_POLICY, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { startTestIdp, type TestIdp } from '../helpers/idp.ts';
import { startRedis, type TestRedis } from '../helpers/redis.ts';
import { retar } from '../helpers/tarball.ts';

const CANDIDATE_POLICY = 'test/fixtures/rego/replay-candidate';
const AUDITOR_TOKEN = 'auditor-token-7c1';
const SUBJECT = JSON.stringify({ authenticated: true, type: 'user', sub: 'ada', issuer: 'https://idp.example', client_id: 'app', email: 'ada@example.com', groups: ['eng'], scopes: [], claims: {} });
const PRINCIPAL = JSON.stringify(['user', 'https://idp.example', 'ada']);
const NOW = Date.now();
const OLD = NOW - 2 * 86_400_000;

let dir: string;
let candidate: string;
let enforced: string;
let records: string;
let messages: RecordedMessage[];

/** One recorded message of the fixture-enforced traffic (decisions as the fixture made them). */
function recorded(recording: string, time: number, m: Pick<RecordedMessage, 'direction' | 'kind' | 'method' | 'message'> & Partial<RecordedMessage>, decision?: { allow: boolean; rules: string[]; approval?: boolean; masked?: Record<string, number> }): RecordedMessage {
  return {
    recording, target: 'fixture', era: 'legacy', protocolVersion: '2025-11-25', sessionId: recording, time, origin: m.direction === 'client_to_server' ? 'client' : 'upstream',
    name: '', principal: PRINCIPAL, subjectJson: SUBJECT, traceId: '', spanId: '', ...m,
    ...(decision === undefined ? {} : {
      decision: {
        id: `d-${Math.random()}`, outcome: decision.allow ? 'allow' : 'deny', allow: decision.allow, approvalRequired: decision.approval ?? false,
        ruleIds: decision.rules, reasons: [], revision: 'rego-fixture', masked: decision.masked ?? {},
      },
    }),
  };
}

const call = (id: number, name: string, args: Record<string, unknown>) => ({ direction: 'client_to_server' as const, kind: 'request' as const, method: 'tools/call', name, rpcId: id, message: { jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: args } } });
const answer = (id: number, name: string, result: Record<string, unknown>, origin: RecordedMessage['origin'] = 'upstream') => ({ direction: 'server_to_client' as const, kind: 'response' as const, method: 'tools/call', name, rpcId: id, origin, message: { jsonrpc: '2.0', id, result } });

async function cli(...args: string[]): Promise<{ code: number; out: string }> {
  const lines: string[] = [];
  const code = await policyCli(args, (l) => lines.push(l), { PORTCULLIS_TOKEN: AUDITOR_TOKEN });
  return { code, out: lines.join('\n') };
}

const jsonl = (rows: unknown[]) => rows.map((r) => JSON.stringify(r)).join('\n') + '\n';

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'portcullis-replay-'));
  [candidate, enforced] = await Promise.all([bundleFor(CANDIDATE_POLICY), bundleFor(FIXTURE_POLICY)]);
  messages = [
    recorded('sess-1', OLD, { direction: 'client_to_server', kind: 'request', method: 'tools/list', rpcId: 1, message: { jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} } }, { allow: true, rules: ['fixture.protocol'] }),
    // echo: allowed and masked by the fixture; the candidate retires it (and so its answer).
    recorded('sess-1', OLD + 1, call(2, 'echo', { text: 'hi [MASKED:email]' }), { allow: true, rules: ['fixture.tool'], masked: { email: 1 } }),
    recorded('sess-1', OLD + 2, answer(2, 'echo', { content: [{ type: 'text', text: 'hi [MASKED:email]' }] }), { allow: true, rules: ['fixture.response'], masked: { email: 1 } }),
    // add: the fixture masks the answer's sum; the candidate masks e-mail addresses instead.
    recorded('sess-1', OLD + 3, call(3, 'add', { a: 2, b: 3, note: 'for ada@example.com' }), { allow: true, rules: ['fixture.tool'] }),
    recorded('sess-1', OLD + 4, answer(3, 'add', { content: [{ type: 'text', text: '5' }], structuredContent: { sum: '[MASKED:sum]' } }), { allow: true, rules: ['fixture.response'], masked: { sum: 1 } }),
    // slow: allowed outright by the fixture; held for approval by the candidate.
    recorded('sess-1', OLD + 5, call(4, 'slow', { seconds: 0 }), { allow: true, rules: ['fixture.tool'] }),
    // delete_everything: denied by the fixture (the gateway answered the refusal); allowed by the candidate.
    recorded('sess-1', OLD + 6, call(5, 'delete_everything', {}), { allow: false, rules: ['fixture.destructive'] }),
    recorded('sess-1', OLD + 7, answer(5, 'delete_everything', {}, 'gateway')),
    recorded('sess-1', OLD + 8, { direction: 'client_to_server', kind: 'notification', method: 'notifications/initialized', message: { jsonrpc: '2.0', method: 'notifications/initialized' } }, { allow: true, rules: ['fixture.protocol'] }),
    recorded('sess-1', OLD + 9, { direction: 'server_to_client', kind: 'notification', method: 'notifications/progress', message: { jsonrpc: '2.0', method: 'notifications/progress', params: { progressToken: 1, progress: 1 } } }),
    // A second, recent session: one echo.
    recorded('sess-2', NOW, call(1, 'echo', { text: 'again' }), { allow: true, rules: ['fixture.tool'] }),
  ];
  records = join(dir, 'recordings.jsonl');
  await writeFile(records, jsonl(messages));
}, 60_000);

describe('policy replay of recordings (JSONL of RecordedMessage)', () => {
  it('prints what the candidate would change, message by message, and exits 1', async () => {
    const { code, out } = await cli('replay', '--bundle', candidate, '--records', records);
    expect(out).toMatch(/^candidate rego-[0-9a-f]{16} \(sha256 [0-9a-f]{12}…, signatures not checked: no --config\) against .*recordings\.jsonl$/m);
    const line = (label: string, what: string) => new RegExp(`^${label} +\\S+  (sess-\\d)  ${what}  (.*)$`, 'm');
    expect(out).toMatch(line('newly denied', 'client->server request tools/call echo'));
    expect(out.match(line('newly denied', 'client->server request tools/call echo'))![2]).toBe('recorded allow by [fixture.tool], candidate deny by [candidate.echo_retired]: echo is retired');
    expect(out.match(line('newly allowed', 'client->server request tools/call delete_everything'))![2]).toBe('recorded deny by [fixture.destructive], candidate allow by [candidate.cleanup]');
    expect(out.match(line('approval now required', 'client->server request tools/call slow'))![2]).toBe('approval now required by [candidate.slow]');
    // Masks: the e-mail address the recording shows in add's arguments; the sum no longer masked in its answer.
    expect(out.match(line('mask differs', 'client->server request tools/call add'))![2]).toBe('would also mask email (1)');
    expect(out.match(line('mask differs', 'server->client response tools/call add'))![2]).toBe('would no longer mask sum (1 recorded)');
    expect(out).toContain('replayed 8 message(s): 6 would change (newly denied 2, newly allowed 1, approval now required 1, approval no longer required 0, mask differs 2)');
    expect(out).toContain('skipped 3: answers a request the candidate denies (1); written by the gateway (a refusal or an upstream failure), not decided (1); no decision recorded (1)');
    expect(out).toContain('note: recordings hold masked content: a rule keyed on a masked value may decide differently here than it did live');
    expect(code).toBe(1);
  });

  it('the enforced bundle against its own recordings changes nothing: exit 0', async () => {
    const { code, out } = await cli('replay', '--bundle', enforced, '--records', records);
    expect(out).toContain('replayed 9 message(s): nothing would change');
    expect(code).toBe(0);
  });

  it('--session keeps one recording, --since a time window', async () => {
    const one = await cli('replay', '--bundle', candidate, '--records', records, '--session', 'sess-2');
    expect(one.out).toContain('replayed 1 message(s): 1 would change (newly denied 1,');
    const recent = await cli('replay', '--bundle', candidate, '--records', records, '--since', '24h');
    expect(recent.out).toContain('replayed 1 message(s)');
    expect(recent.out).toMatch(/newly denied +\S+  sess-2  /);
    const all = await cli('replay', '--bundle', candidate, '--records', records, '--since', new Date(OLD - 1000).toISOString());
    expect(all.out).toContain('replayed 8 message(s)');
    const unknown = await cli('replay', '--bundle', candidate, '--records', records, '--session', 'nope');
    expect(unknown).toMatchObject({ code: 2, out: expect.stringContaining('unknown session nope') });
  });

  it('a line that is not JSON, or not a recorded message, is exit 2 naming it', async () => {
    const bad = join(dir, 'bad.jsonl');
    await writeFile(bad, `${JSON.stringify(messages[0])}\n{not json\n`);
    expect(await cli('replay', '--bundle', candidate, '--records', bad)).toMatchObject({ code: 2, out: expect.stringContaining('bad.jsonl line 2: not JSON (expected one RecordedMessage per line)') });
    await writeFile(bad, `${JSON.stringify({ hello: 'world' })}\n`);
    expect(await cli('replay', '--bundle', candidate, '--records', bad)).toMatchObject({ code: 2, out: expect.stringContaining('entry 1 is not a RecordedMessage') });
  });
});

describe('policy replay from a gateway (/api/sessions)', () => {
  let server: Server;
  let url: string;
  const seen: string[] = [];
  beforeAll(async () => {
    // The recordings API's shape (gateway/recordings/entry.ts), served by a real HTTP server.
    server = createServer((req, res) => {
      seen.push(`${req.method} ${req.url}`);
      const send = (status: number, body: unknown) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
      if (req.headers.authorization !== `Bearer ${AUDITOR_TOKEN}`) return send(401, { error: 'unauthorized' });
      const u = new URL(req.url ?? '/', 'http://x');
      const ids = [...new Set(messages.map((m) => m.recording))];
      const summary = (id: string) => {
        const own = messages.filter((m) => m.recording === id);
        return { recording: id, target: 'fixture', era: 'legacy', sessionId: id, principal: PRINCIPAL, firstTime: own[0]!.time, lastTime: own.at(-1)!.time, messages: own.length };
      };
      if (u.pathname === '/api/sessions') {
        const since = Number(u.searchParams.get('since') ?? 0);
        return send(200, { sessions: ids.map(summary).filter((s) => s.lastTime >= since).reverse() });
      }
      const id = decodeURIComponent(u.pathname.slice('/api/sessions/'.length));
      if (!u.pathname.startsWith('/api/sessions/') || !ids.includes(id)) return send(404, { error: 'not_found' });
      return send(200, { session: summary(id), messages: messages.filter((m) => m.recording === id) });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('reads every recording (or those since a time) with the auditor token', async () => {
    const all = await cli('replay', '--bundle', candidate, '--gateway', url);
    expect(all.out).toContain('replayed 8 message(s): 6 would change');
    expect(all.code).toBe(1);
    expect(seen).toContain('GET /api/sessions?limit=1000');
    seen.length = 0;
    const recent = await cli('replay', '--bundle', candidate, '--gateway', `${url}/`, '--since', '1h');
    expect(recent.out).toContain('replayed 1 message(s)');
    expect(seen[0]).toMatch(/^GET \/api\/sessions\?limit=1000&since=\d+$/);
    expect(seen).toEqual([seen[0], 'GET /api/sessions/sess-2']);
  });

  it('an unknown session is the 404 it gets, exit 2; a token refused is exit 2 saying whose it must be', async () => {
    const unknown = await cli('replay', '--bundle', candidate, '--gateway', url, '--session', 'no such/session');
    expect(unknown.code).toBe(2);
    expect(unknown.out).toContain(`portcullis policy: unknown session no such/session: ${url} answered 404`);
    expect(seen).toContain('GET /api/sessions/no%20such%2Fsession');
    const lines: string[] = [];
    const code = await policyCli(['replay', '--bundle', candidate, '--gateway', url, '--token-env', 'WRONG'], (l) => lines.push(l), { WRONG: 'not-an-auditor' });
    expect(code).toBe(2);
    expect(lines.join('\n')).toContain(`${url}/api/sessions?limit=1000 answered 401: the token must be an auditor's`);
    const none = await policyCli(['replay', '--bundle', candidate, '--gateway', url], (l) => lines.push(l), {});
    expect(none).toBe(2);
    expect(lines.at(-1)).toContain('no token: set PORTCULLIS_TOKEN');
  });
});

describe("policy replay from a real gateway's recordings API (Redis store, IdP tokens)", () => {
  const BASE = 'https://gw.example.test';
  const PREFIX = `replay-e2e:${Date.now()}:`;
  let idp: TestIdp;
  let redis: TestRedis;
  let gw: TestGateway;
  let auditor: string;
  beforeAll(async () => {
    [idp, redis] = await Promise.all([startTestIdp({ tokenTtlSeconds: 600 }), startRedis()]);
    gw = await startTestGateway({
      targets: { fixture: 'http://127.0.0.1:9/mcp' },
      config: {
        identity: { public_base_url: BASE, http_timeout_ms: 2000, issuers: [{ issuer: idp.issuer, token_format: 'jwt', groups_claim: 'groups' }] },
        state: { backend: 'redis', redis: { url: redis.url, key_prefix: PREFIX } },
        recordings: { enabled: true, auditor_groups: ['auditors'] },
      },
    });
    // Written by a recorder on the same Redis and prefix, as a replica's request path writes them.
    const client = await connectRedis({ url: redis.url, commandTimeoutMs: 1000, connectTimeoutMs: 2000, log: () => {} });
    const writer = new Recorder({ store: new RedisRecordingStore(client, PREFIX, { retentionMs: 3600_000, maxMessages: 1000, maxRecordings: 1000 }), whenFull: 'fail_closed', bufferMessages: 100, bufferBytes: 1 << 20, flushIntervalMs: 10, flushBatch: 100, closeTimeoutMs: 2000, log: () => {} });
    // Retention is an hour: the recordings are moved into it, keeping their order.
    for (const m of messages) writer.record({ ...m, time: m.time === NOW ? NOW : NOW - 60_000 + (m.time - OLD) });
    await writer.close();
    client.disconnect();
    auditor = await idp.sign(idp.validClaims(`${BASE}/mcp/fixture`, { sub: 'audra', groups: ['auditors'] }));
  }, 60_000);
  afterAll(async () => {
    await gw?.close();
    await Promise.all([idp?.close(), redis?.close()]);
  });

  const run = (env: NodeJS.ProcessEnv, ...args: string[]) => {
    const lines: string[] = [];
    return policyCli(['replay', '--bundle', candidate, '--gateway', gw.url, ...args], (l) => lines.push(l), env).then((code) => ({ code, out: lines.join('\n') }));
  };

  it('replays every recording the API lists, as from the file', async () => {
    const { code, out } = await run({ PORTCULLIS_TOKEN: auditor });
    expect(out).toContain('replayed 8 message(s): 6 would change (newly denied 2, newly allowed 1, approval now required 1, approval no longer required 0, mask differs 2)');
    expect(code).toBe(1);
    const one = await run({ PORTCULLIS_TOKEN: auditor }, '--session', 'sess-1');
    expect(one.out).toContain('replayed 7 message(s): 5 would change');
  });

  it("an unknown session is the API's 404; a token outside the auditor groups its 403: exit 2", async () => {
    expect(await run({ PORTCULLIS_TOKEN: auditor }, '--session', 'sess-404')).toMatchObject({ code: 2, out: expect.stringContaining(`unknown session sess-404: ${gw.url} answered 404`) });
    const outsider = await idp.sign(idp.validClaims(`${BASE}/mcp/fixture`, { sub: 'eve', groups: ['eng'] }));
    expect(await run({ PORTCULLIS_TOKEN: outsider })).toMatchObject({ code: 2, out: expect.stringContaining(`${gw.url}/api/sessions?limit=1000 answered 403: the token must be an auditor's`) });
  });
});

describe('policy replay of decision records', () => {
  let upstream: UpstreamFixture;
  let decisions: string;
  beforeAll(async () => {
    // Real calls through a gateway enforcing the fixture: its decision records are the input.
    upstream = await startModernUpstream();
    const gw = await startTestGateway({ targets: { fixture: upstream.url } });
    try {
      for (const [name, args] of [['echo', { text: 'hi' }], ['add', { a: 2, b: 3 }], ['slow', { ms: 0 }], ['delete_everything', {}]] as const) {
        const res = await fetch(gw.endpoint(), {
          method: 'POST',
          headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/call', 'mcp-name': name },
          body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name, arguments: args, _meta: { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientInfo': { name: 'replay-test', version: '1' }, 'io.modelcontextprotocol/clientCapabilities': {} } } }),
        });
        await res.text();
      }
      decisions = join(dir, 'decisions.jsonl');
      await writeFile(decisions, jsonl(gw.audit));
      expect(gw.audit.filter((r) => r.direction === 'client_to_server').map((r) => [r.name, r.allow])).toEqual([['echo', true], ['add', true], ['slow', true], ['delete_everything', false]]);
    } finally {
      await gw.close();
    }
  }, 60_000);
  afterAll(() => upstream?.close());

  it('re-decides each record by method, name and principal, and says what it cannot see', async () => {
    const { code, out } = await cli('replay', '--bundle', candidate, '--decisions', decisions);
    expect(out).toMatch(/^newly denied +\S+  \(no session\)  client->server request tools\/call echo  recorded allow by \[fixture\.tool\], candidate deny by \[candidate\.echo_retired\]/m);
    expect(out).toMatch(/^newly allowed +\S+  \(no session\)  client->server request tools\/call delete_everything  /m);
    expect(out).toMatch(/^approval now required +\S+  \(no session\)  client->server request tools\/call slow  /m);
    expect(out).toContain('note: decision records hold no arguments, params, results or subject claims');
    expect(code).toBe(1);
  });

  it('the enforced bundle against its own decision records changes nothing', async () => {
    const { code, out } = await cli('replay', '--bundle', enforced, '--decisions', decisions);
    expect(out).toMatch(/replayed \d+ message\(s\): nothing would change/);
    expect(code).toBe(0);
  });
});

describe('policy replay: the candidate is loaded as the gateway loads a bundle', () => {
  let config: string;
  let signed: Buffer;
  beforeAll(async () => {
    const ci = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const pem = join(dir, 'ci.pem');
    await writeFile(pem, ci.privateKey.export({ type: 'pkcs8', format: 'pem' }));
    await writeFile(join(dir, 'ci.pub.pem'), ci.publicKey.export({ type: 'spki', format: 'pem' }));
    await buildBundle({ source: CANDIDATE_POLICY, outFile: join(dir, 'signed.tar.gz'), signing: { keyFile: pem, keyId: 'ci' } });
    signed = await readFile(join(dir, 'signed.tar.gz'));
    // The gateway's configuration: replay takes its policy section (keys relative to the file).
    config = join(dir, 'gateway.yaml');
    await writeFile(config, JSON.stringify({ policy: { bundle: 'enforced.tar.gz', signing: { keys: { ci: { algorithm: 'RS256', public_key_file: 'ci.pub.pem' } } } }, targets: { fixture: { url: 'http://127.0.0.1:1/mcp' } } }));
  }, 60_000);

  it('a signed candidate verifies with the configured keys', async () => {
    const { code, out } = await cli('replay', '--bundle', join(dir, 'signed.tar.gz'), '--records', records, '--config', config);
    expect(out).toMatch(/^candidate rego-[0-9a-f]{16} \(sha256 [0-9a-f]{12}…, signed by ci\)/);
    expect(code).toBe(1);
  });

  it('a tampered, an unsigned or a missing candidate is refused with its code: exit 2', async () => {
    const tampered = join(dir, 'tampered.tar.gz');
    await writeFile(tampered, await retar(signed, (es) => es.map((e) => (e.name === '/policy.wasm' ? { ...e, body: Buffer.concat([e.body, Buffer.from([0])]) } : e))));
    const t = await cli('replay', '--bundle', tampered, '--records', records, '--config', config);
    expect(t.code).toBe(2);
    expect(t.out).toContain(`portcullis policy: the candidate ${tampered} is refused [digest_mismatch]`);
    const u = await cli('replay', '--bundle', candidate, '--records', records, '--config', config);
    expect(u).toMatchObject({ code: 2, out: expect.stringContaining('is refused [unsigned]') });
    const m = await cli('replay', '--bundle', join(dir, 'missing.tar.gz'), '--records', records);
    expect(m).toMatchObject({ code: 2, out: expect.stringContaining('is refused [unreadable]') });
    // Nothing was replayed in any of them.
    expect([t.out, u.out, m.out].some((o) => o.includes('replayed'))).toBe(false);
  });

  it('usage errors are exit 2 with the replay usage', async () => {
    for (const args of [
      ['replay', '--records', records],
      ['replay', '--bundle', candidate],
      ['replay', '--bundle', candidate, '--records', records, '--decisions', records],
      ['replay', '--bundle', candidate, '--records', records, '--session', 'a', '--since', '1h'],
      ['replay', '--bundle', candidate, '--records', records, '--since', 'yesterday'],
      ['replay', '--bundle', candidate, '--records', records, '--token-env', 'X'],
      ['replay', '--nope'],
    ]) {
      const { code, out } = await cli(...args);
      expect(code, args.join(' ')).toBe(2);
      expect(out, args.join(' ')).toContain('usage: portcullis policy replay --bundle');
    }
  });

  it('runs as the `portcullis policy replay` command, with its exit codes', async () => {
    const run = promisify(execFile);
    const same = await run(process.execPath, ['bin/portcullis.mjs', 'policy', 'replay', '--bundle', enforced, '--records', records]);
    expect(same.stdout).toContain('nothing would change');
    const changed = await run(process.execPath, ['bin/portcullis.mjs', 'policy', 'replay', '--bundle', candidate, '--records', records]).catch((err: { code: number; stdout: string }) => err);
    expect((changed as { code: number }).code).toBe(1);
    expect((changed as { stdout: string }).stdout).toContain('newly denied');
  });
});
