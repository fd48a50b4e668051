// Hot swaps through a running gateway: a watched file replaced under load, a real HTTP bundle
// service (ETag, 304, bearer, long polling), signed bundles, and every way a new bundle can be
// bad (tampered, unsigned, truncated, wrong key, wrong entrypoint, slow or failing service): the
// last good bundle keeps serving, and /status says what happened.
import { generateKeyPairSync } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readFile, rename, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseBundle } from '../../gateway/policy/bundle.ts';
import type { PolicyStatusBody } from '../../gateway/policy/index.ts';
import { buildBundle } from '../../scripts/bundle.ts';
import { startModernUpstream, type UpstreamFixture } from '../fixtures/upstreams/index.ts';
import { startBundleServer, type BundleServer } from '../helpers/bundle-server.ts';
import { ALLOW_ALL_POLICY, bundleFor, FIXTURE_POLICY, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { retar } from '../helpers/tarball.ts';

const JSON_HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
const META = {
  'io.modelcontextprotocol/protocolVersion': '2026-07-28',
  'io.modelcontextprotocol/clientInfo': { name: 'swap-test', version: '1' },
  'io.modelcontextprotocol/clientCapabilities': {},
};

let dir: string;
let upstream: UpstreamFixture;
let fixtureBundle: Buffer;
let allowAllBundle: Buffer;
let fixtureRevision: string;
let allowAllRevision: string;

async function waitFor<T>(probe: () => Promise<T> | T, done: (v: T) => boolean, what: string, ms = 15_000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (done(v)) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 30));
  }
}

const status = async (gw: TestGateway): Promise<PolicyStatusBody> => (await fetch(`${gw.url}/status`)).json() as Promise<PolicyStatusBody>;

let id = 0;
/** One stateless tools/call echo; resolves to 'ok' or what went wrong. */
async function echo(gw: TestGateway): Promise<string> {
  const res = await fetch(gw.endpoint(), {
    method: 'POST',
    headers: { ...JSON_HEADERS, 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/call', 'mcp-name': 'echo' },
    body: JSON.stringify({ jsonrpc: '2.0', id: ++id, method: 'tools/call', params: { name: 'echo', arguments: { text: 'hi' }, _meta: META } }),
  });
  const text = await res.text();
  if (res.status !== 200) return `HTTP ${res.status}`;
  return text.includes('"error"') ? text : 'ok';
}

/** Runs `workers` clients calling echo until `during` resolves; returns every outcome. */
async function underLoad(gw: TestGateway, workers: number, during: (outcomes: string[]) => Promise<void>): Promise<string[]> {
  const outcomes: string[] = [];
  let running = true;
  const clients = Array.from({ length: workers }, async () => {
    while (running) outcomes.push(await echo(gw));
  });
  try {
    await during(outcomes);
  } finally {
    running = false;
    await Promise.all(clients);
  }
  return outcomes;
}

/** Writes bytes to `path` as deploy tools do: a temp file renamed over it. */
async function replace(path: string, bytes: Buffer): Promise<void> {
  const partial = `${path}.${Date.now()}.tmp`;
  await writeFile(partial, bytes);
  await rename(partial, path);
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'portcullis-swap-'));
  upstream = await startModernUpstream();
  const [f, a] = await Promise.all([bundleFor(FIXTURE_POLICY), bundleFor(ALLOW_ALL_POLICY)]);
  [fixtureBundle, allowAllBundle] = await Promise.all([readFile(f), readFile(a)]);
  fixtureRevision = (await parseBundle(fixtureBundle, 'fixture')).revision;
  allowAllRevision = (await parseBundle(allowAllBundle, 'allow-all')).revision;
});
afterAll(async () => {
  await upstream?.close();
});

describe('a watched bundle file', () => {
  let gw: TestGateway;
  let file: string;
  beforeAll(async () => {
    file = join(dir, 'watched', 'policy.tar.gz');
    await mkdir(join(dir, 'watched'));
    await copyFile(await bundleFor(FIXTURE_POLICY), file);
    gw = await startTestGateway({ targets: { fixture: upstream.url }, config: { policy: { bundle: file } } });
  });
  afterAll(() => gw?.close());

  it('swaps under load with no failed request, and every decision names the old or the new revision', async () => {
    expect((await status(gw)).policy).toMatchObject({ state: 'OK', revision: fixtureRevision, source: file, configured_source: file });
    const auditBefore = gw.audit.length;
    // Counted, not timed: enough calls land before, while and after the new bundle loads.
    const outcomes = await underLoad(gw, 4, async (done) => {
      await waitFor(() => done.length, (n) => n >= 20, 'calls before the swap');
      await replace(file, allowAllBundle);
      await waitFor(() => status(gw), (s) => s.policy.revision === allowAllRevision, 'the swap');
      const swappedAt = done.length;
      await waitFor(() => done.length, (n) => n >= swappedAt + 20, 'calls after the swap');
    });
    expect(outcomes.filter((o) => o !== 'ok')).toEqual([]);
    const records = gw.audit.slice(auditBefore).filter((r) => r.method === 'tools/call' && r.direction === 'client_to_server');
    const revisions = new Set(records.map((r) => r.revision));
    expect(revisions).toEqual(new Set([fixtureRevision, allowAllRevision]));
    // Ordered: once the new revision decides, the old one never decides a new request again.
    const firstNew = records.findIndex((r) => r.revision === allowAllRevision);
    expect(records.slice(firstNew).every((r) => r.revision === allowAllRevision)).toBe(true);
    expect(gw.logs.some((l) => l.includes(`activated revision ${allowAllRevision}`))).toBe(true);
  });

  it('a bad file (garbage, truncated, wrong policy) is refused and reported; the last good keeps serving', async () => {
    const good = (await status(gw)).policy;
    for (const [bytes, code] of [[Buffer.from('not a bundle'), 'not_gzip'], [fixtureBundle.subarray(0, 200), 'not_gzip']] as const) {
      const failures = (await status(gw)).policy.failures;
      await replace(file, bytes);
      const s = await waitFor(() => status(gw), (v) => v.policy.failures > failures, 'the refusal');
      expect(s.policy).toMatchObject({ state: 'WARN', revision: good.revision, sha256: good.sha256, last_error: { code } });
      expect(await echo(gw)).toBe('ok');
    }
    await replace(file, fixtureBundle);
    const back = await waitFor(() => status(gw), (v) => v.policy.revision === fixtureRevision, 'recovery');
    expect(back.policy).toMatchObject({ state: 'OK', last_error: null });
  });

  it('a deleted file is reported, and the policy that serves is unchanged', async () => {
    const { rm } = await import('node:fs/promises');
    const before = (await status(gw)).policy;
    await rm(file);
    const s = await waitFor(() => status(gw), (v) => v.policy.last_error?.code === 'unreadable', 'the report');
    expect(s.policy.sha256).toBe(before.sha256);
    expect(await echo(gw)).toBe('ok');
    await replace(file, fixtureBundle);
  });
});

describe('an OPA bundle service, with signed bundles', () => {
  let server: BundleServer;
  let gw: TestGateway;
  let signedFixture: Buffer;
  let signedAllowAll: Buffer;
  let wrongKey: Buffer;
  let persistDir: string;
  let keyFile: string;
  const TOKEN = 'bundle-service-token-5e1';

  const serviceConfig = (extra: Record<string, unknown> = {}) => ({
    policy: {
      service: { url: server.url, resource: 'bundles/portcullis.tar.gz', bearer_env: 'BUNDLE_TOKEN', min_delay_seconds: 0.05, max_delay_seconds: 0.1, request_timeout_ms: 1000, ...extra },
      persist_dir: persistDir,
      signing: { keys: { ci: { algorithm: 'RS256', public_key_file: keyFile } } },
    },
  });

  beforeAll(async () => {
    const ci = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const ciPem = join(dir, 'ci.pem');
    const otherPem = join(dir, 'other.pem');
    keyFile = join(dir, 'ci.pub.pem');
    await writeFile(ciPem, ci.privateKey.export({ type: 'pkcs8', format: 'pem' }));
    await writeFile(otherPem, other.privateKey.export({ type: 'pkcs8', format: 'pem' }));
    await writeFile(keyFile, ci.publicKey.export({ type: 'spki', format: 'pem' }));
    const build = async (source: string, name: string, key: string) => {
      const out = join(dir, `${name}.tar.gz`);
      await buildBundle({ source, outFile: out, signing: { keyFile: key, keyId: 'ci' } });
      return readFile(out);
    };
    [signedFixture, signedAllowAll, wrongKey] = await Promise.all([
      build(FIXTURE_POLICY, 'signed-fixture', ciPem),
      build(ALLOW_ALL_POLICY, 'signed-allow-all', ciPem),
      build(ALLOW_ALL_POLICY, 'wrong-key', otherPem),
    ]);
    persistDir = join(dir, 'persist');
    server = await startBundleServer({ token: TOKEN });
    server.serve(signedFixture);
    gw = await startTestGateway({ targets: { fixture: upstream.url }, config: serviceConfig(), env: { BUNDLE_TOKEN: TOKEN } });
  });
  let closed = false;
  afterAll(async () => {
    if (!closed) await gw?.close();
    await server?.close();
  });

  it('starts from the service, verifies the signature, and reports key, source and checks', async () => {
    const s = await status(gw);
    expect(s.policy).toMatchObject({ state: 'OK', revision: fixtureRevision, key_id: 'ci', source: server.resource, configured_source: server.resource });
    expect(server.requests[0]).toMatchObject({ authorization: `Bearer ${TOKEN}`, ifNoneMatch: undefined, status: 200 });
    // Later polls ask with the ETag and get 304.
    await waitFor(() => server.requests.filter((r) => r.status === 304).length, (n) => n >= 2, 'conditional polls');
    expect(server.requests.filter((r) => r.status === 304).every((r) => r.ifNoneMatch === server.etag())).toBe(true);
    expect((await status(gw)).policy.last_successful_check).not.toBeNull();
    expect(JSON.stringify(await status(gw))).not.toContain(TOKEN);
  });

  it('swaps when the service serves a new signed bundle, and saves it (temp file + rename)', async () => {
    const tag = server.serve(signedAllowAll);
    await waitFor(() => status(gw), (s) => s.policy.revision === allowAllRevision, 'the swap');
    expect(await echo(gw)).toBe('ok');
    await waitFor(() => readFile(join(persistDir, 'enforced.tar.gz')).catch(() => Buffer.alloc(0)), (b) => b.equals(signedAllowAll), 'the saved copy');
    expect((await readFile(join(persistDir, 'enforced.etag'), 'utf8'))).toBe(tag);
  });

  const BAD: Array<[string, () => Promise<Buffer> | Buffer, string]> = [
    ['tampered (policy.wasm changed)', () => retar(signedFixture, (es) => es.map((e) => (e.name === '/policy.wasm' ? { ...e, body: Buffer.concat([e.body, Buffer.from([0])]) } : e))), 'digest_mismatch'],
    ['tampered (a file added)', () => retar(signedFixture, (es) => [...es, { name: '/extra.rego', body: Buffer.from('package x\n') }]), 'file_not_signed'],
    ['unsigned', () => fixtureBundle, 'unsigned'],
    ['signed with the wrong key', () => wrongKey, 'bad_signature'],
    ['truncated', () => signedFixture.subarray(0, 300), 'not_gzip'],
  ];

  it.each(BAD.map(([name, make, code]) => ({ name, make, code })))('$name is refused with $code; the last good serves; the ETag goes back to the active bundle', async ({ make, code }) => {
    const active = await status(gw);
    const activeTag = server.etag();
    const failures = active.policy.failures;
    const badTag = server.serve(await make());
    const s = await waitFor(() => status(gw), (v) => v.policy.failures >= failures + 2, 'two refusals');
    expect(s.policy).toMatchObject({ state: 'WARN', revision: active.policy.revision, sha256: active.policy.sha256, last_error: { code } });
    // OPA's rule: after a failed activation the next poll carries the *active* bundle's ETag, so
    // the bad one is fetched and refused again rather than hidden behind a 304.
    const afterBad = server.requests.filter((r) => r.status === 200 && r.ifNoneMatch !== badTag);
    expect(afterBad.at(-1)?.ifNoneMatch).toBe(activeTag);
    expect(server.requests.filter((r) => r.ifNoneMatch === badTag)).toEqual([]);
    expect(await echo(gw)).toBe('ok');
    server.serve(signedAllowAll);
    await waitFor(() => status(gw), (v) => v.policy.state === 'OK', 'recovery');
  });

  it('a failing or slow service is reported with its code and HTTP status; the last good serves', async () => {
    const active = (await status(gw)).policy;
    server.failWith(503);
    let s = await waitFor(() => status(gw), (v) => v.policy.last_error?.code === 'http_status', 'the 503');
    expect(s.policy).toMatchObject({ state: 'WARN', http_code: 503, sha256: active.sha256 });
    server.failWith(null);
    server.delay(1500);
    s = await waitFor(() => status(gw), (v) => v.policy.last_error?.code === 'timeout', 'the timeout');
    expect(s.policy.sha256).toBe(active.sha256);
    expect(await echo(gw)).toBe('ok');
    server.delay(0);
    await waitFor(() => status(gw), (v) => v.policy.state === 'OK', 'recovery');
  });

  it('restarts from the saved copy while the service is down', async () => {
    await gw.close();
    closed = true;
    server.failWith(500);
    const again = await startTestGateway({ targets: { fixture: upstream.url }, config: serviceConfig(), env: { BUNDLE_TOKEN: TOKEN } });
    try {
      const s = await status(again);
      expect(s.policy.revision).toBe(allowAllRevision);
      expect(s.policy.source).toContain('saved copy');
      expect(await echo(again)).toBe('ok');
      await waitFor(() => status(again), (v) => v.policy.http_code === 500, 'the failing poll');
    } finally {
      await again.close();
      server.failWith(null);
    }
  });

  it('long polling delivers a new bundle without waiting for the poll interval', async () => {
    server.serve(signedFixture);
    const lp = await startTestGateway({
      targets: { fixture: upstream.url },
      config: { policy: { ...serviceConfig({ min_delay_seconds: 60, max_delay_seconds: 60, long_polling_timeout_seconds: 20 }).policy, persist_dir: join(dir, 'persist-lp') } },
      env: { BUNDLE_TOKEN: TOKEN },
    });
    try {
      expect((await status(lp)).policy.revision).toBe(fixtureRevision);
      // The poll interval is 60 s: only a request the service holds open can bring the change
      // within the test's 10 s.
      const asked = server.requests.length;
      await new Promise((r) => setTimeout(r, 300));
      server.serve(signedAllowAll);
      await waitFor(() => status(lp), (v) => v.policy.revision === allowAllRevision, 'the long-polled swap', 10_000);
      const held = server.requests.slice(asked).find((r) => r.prefer === 'wait=20');
      expect(held).toBeDefined();
    } finally {
      await lp.close();
    }
  });
});
