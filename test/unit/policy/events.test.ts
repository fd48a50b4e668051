// The policy runtime's event hook (what telemetry subscribes to for its metric and span event):
// a tampered bundle arriving in the watched file fires one `refused` event with the reason while
// the last good bundle keeps serving; a good one fires `activated`; the same bytes again fire
// `checked`; a listener that throws changes nothing.
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startPolicy, type PolicyEvent, type PolicyRuntime } from '../../../gateway/policy/index.ts';
import { policyConfigSchema } from '../../../gateway/policy/config.ts';
import { discardAudit } from '../../../gateway/telemetry/audit.ts';
import { buildBundle } from '../../../scripts/bundle.ts';
import { ALLOW_ALL_POLICY, FIXTURE_POLICY } from '../../helpers/gateway.ts';
import { startBundleServer } from '../../helpers/bundle-server.ts';
import { retar } from '../../helpers/tarball.ts';

let dir: string;
let keyFile: string;
let signedFixture: Buffer;
let signedAllowAll: Buffer;
let runtime: PolicyRuntime | undefined;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'portcullis-events-'));
  const ci = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const pem = join(dir, 'ci.pem');
  keyFile = join(dir, 'ci.pub.pem');
  await writeFile(pem, ci.privateKey.export({ type: 'pkcs8', format: 'pem' }));
  await writeFile(keyFile, ci.publicKey.export({ type: 'spki', format: 'pem' }));
  const build = async (source: string, name: string) => {
    const out = join(dir, `${name}.tar.gz`);
    await buildBundle({ source, outFile: out, signing: { keyFile: pem, keyId: 'ci' } });
    return readFile(out);
  };
  [signedFixture, signedAllowAll] = await Promise.all([build(FIXTURE_POLICY, 'fixture'), build(ALLOW_ALL_POLICY, 'allow-all')]);
});
afterEach(() => runtime?.close());

async function replace(file: string, bytes: Buffer): Promise<void> {
  const partial = `${file}.${Math.random()}.tmp`;
  await writeFile(partial, bytes);
  await rename(partial, file);
}

async function until(events: PolicyEvent[], done: (e: PolicyEvent) => boolean, what: string): Promise<PolicyEvent> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const found = events.find(done);
    if (found) return found;
    if (Date.now() > deadline) throw new Error(`no ${what} event; events: ${JSON.stringify(events)}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function start(onEvent: (e: PolicyEvent) => void): Promise<{ file: string; runtime: PolicyRuntime }> {
  const file = join(await mkdtemp(join(dir, 'run-')), 'policy.tar.gz');
  await writeFile(file, signedFixture);
  const config = policyConfigSchema.parse({ bundle: file, watch: true, signing: { keys: { ci: { algorithm: 'RS256', public_key_file: keyFile } } } });
  runtime = await startPolicy(config, { env: {}, log: () => {}, audit: discardAudit, onEvent });
  return { file, runtime };
}

describe('policy events', () => {
  it('a tampered bundle in the watched file fires one refused event with its reason; the last good serves on', async () => {
    const events: PolicyEvent[] = [];
    const { file, runtime: r } = await start((e) => events.push(e));
    const serving = r.enforced.current().info;
    expect(events).toEqual([{ type: 'activated', policy: 'enforced', source: file, revision: serving.revision, sha256: serving.sha256, error: null }]);
    events.length = 0;

    const tampered = await retar(signedFixture, (es) => es.map((e) => (e.name === '/policy.wasm' ? { ...e, body: Buffer.concat([e.body, Buffer.from([0])]) } : e)));
    await replace(file, tampered);
    const refused = await until(events, (e) => e.type === 'refused', 'refused');
    expect(refused).toMatchObject({ policy: 'enforced', source: file, revision: serving.revision, sha256: serving.sha256, error: { code: 'digest_mismatch' } });
    expect(refused.error!.message).toContain('policy.wasm');
    expect(r.enforced.current().info.sha256).toBe(serving.sha256);

    // A good bundle next: activated, and the refusal was reported once, not once per file event.
    await replace(file, signedAllowAll);
    const activated = await until(events, (e) => e.type === 'activated', 'activated');
    expect(activated).toMatchObject({ policy: 'enforced', source: file, revision: r.enforced.current().info.revision, error: null });
    expect(activated.revision).not.toBe(serving.revision);
    expect(events.filter((e) => e.type === 'refused')).toHaveLength(1);
    expect(r.enforced.status()).toMatchObject({ failures: 1, last_error: null });
  });

  it('a check that finds the same bytes fires checked; an unreadable file fires checked with the error', async () => {
    const events: PolicyEvent[] = [];
    const { file, runtime: r } = await start((e) => events.push(e));
    events.length = 0;
    await r.reload();
    expect(events).toEqual([{ type: 'checked', policy: 'enforced', source: file, revision: r.enforced.current().info.revision, sha256: r.enforced.current().info.sha256, error: null }]);
    events.length = 0;
    await rm(file);
    await r.reload();
    expect(events.filter((e) => e.type === 'checked' && e.error?.code === 'unreadable')).toHaveLength(1);
  });

  it('from a bundle service: a 304 fires checked, a tampered bundle refused (again at each poll, as OPA reports it), a failed fetch checked with its error', async () => {
    const server = await startBundleServer();
    server.serve(signedFixture);
    const events: PolicyEvent[] = [];
    try {
      const config = policyConfigSchema.parse({
        service: { url: server.url, resource: 'bundles/portcullis.tar.gz', min_delay_seconds: 0.02, max_delay_seconds: 0.05, request_timeout_ms: 1000 },
        signing: { keys: { ci: { algorithm: 'RS256', public_key_file: keyFile } } },
      });
      runtime = await startPolicy(config, { env: {}, log: () => {}, audit: discardAudit, onEvent: (e) => events.push(e) });
      const serving = runtime.enforced.current().info;
      await until(events, (e) => e.type === 'checked' && e.error === null, 'checked (304)');
      expect(events[0]).toMatchObject({ type: 'activated', source: server.resource, revision: serving.revision });
      server.serve(await retar(signedFixture, (es) => es.map((e) => (e.name === '/data.json' ? { ...e, body: Buffer.from('{"tampered":true}') } : e))));
      const refused = await until(events, (e) => e.type === 'refused', 'refused');
      expect(refused).toMatchObject({ source: server.resource, revision: serving.revision, error: { code: 'digest_mismatch' } });
      server.failWith(503);
      const failed = await until(events, (e) => e.type === 'checked' && e.error !== null, 'a failed check');
      expect(failed).toMatchObject({ source: server.resource, revision: serving.revision, error: { code: 'http_status' } });
      // Every refusal is counted on the status, one event each.
      expect(events.filter((e) => e.type === 'refused')).toHaveLength(runtime.enforced.status().failures - events.filter((e) => e.type === 'checked' && e.error !== null).length);
    } finally {
      runtime?.close();
      runtime = undefined;
      await server.close();
    }
  });

  it('a listener that throws never stops a swap', async () => {
    const logs: string[] = [];
    const file = join(await mkdtemp(join(dir, 'run-')), 'policy.tar.gz');
    await writeFile(file, signedFixture);
    const config = policyConfigSchema.parse({ bundle: file, watch: false, signing: { keys: { ci: { algorithm: 'RS256', public_key_file: keyFile } } } });
    runtime = await startPolicy(config, { env: {}, log: (l) => logs.push(l), audit: discardAudit, onEvent: () => { throw new Error('listener broke'); } });
    await replace(file, signedAllowAll);
    await runtime.reload();
    expect(runtime.enforced.status()).toMatchObject({ state: 'OK', activations: 2 });
    expect(logs.filter((l) => l.includes('policy event listener failed on activated (ignored): listener broke'))).toHaveLength(2);
  });
});
