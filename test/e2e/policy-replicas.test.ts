// `/status` and `portcullis policy verify` across replicas, with real processes: two gateway
// replicas (bin/portcullis.mjs) on one real redis-server, one of them given a different bundle.
// Each publishes its status into Redis; either one's /status lists both; verify through one URL
// checks both and exits 1 naming the replica that drifted. A killed replica's report expires, a
// stopped one's is withdrawn at once, and a listing Redis cannot give is never called a proof.
import { randomUUID } from 'node:crypto';
import { copyFile, mkdtemp, readFile, rename, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validateConfig } from '../../gateway/config/load.ts';
import { startGateway, type RunningGateway } from '../../gateway/main.ts';
import type { PolicyEvent, PolicyStatus } from '../../gateway/policy/index.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { policyCli } from '../../gateway/policy/cli.ts';
import type { ClusterStatusBody, PolicyStatusBody } from '../../gateway/policy/index.ts';
import { verifyStatus } from '../../gateway/policy/status.ts';
import { ALLOW_ALL_POLICY, bundleFor, FIXTURE_POLICY } from '../helpers/gateway.ts';
import { startRedis, type TestRedis } from '../helpers/redis.ts';
import { startGatewayProcess, type GatewayProcess } from '../helpers/replicas.ts';

const STATUS_SECRET = 'replica-status-secret-0123456789abcdef';
type Body = ClusterStatusBody<PolicyStatusBody & { targets: string[] }>;

let redis: TestRedis;
let a: GatewayProcess;
let b: GatewayProcess;
let docFor: (bundle: string) => Record<string, unknown>;

async function status(gw: GatewayProcess): Promise<Body> {
  return (await fetch(`${gw.url}/status`)).json() as Promise<Body>;
}

/** Polls a replica's /status until `done` holds (reports arrive on the publish interval). */
async function statusUntil(gw: GatewayProcess, done: (b: Body) => boolean, what: string): Promise<Body> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const body = await status(gw);
    if (done(body)) return body;
    if (Date.now() > deadline) throw new Error(`${what}: not seen; last /status: ${JSON.stringify(body)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function cli(...args: string[]): Promise<{ code: number; out: string }> {
  const lines: string[] = [];
  const code = await policyCli(args, (l) => lines.push(l));
  return { code, out: lines.join('\n') };
}

const ids = (body: Body) => body.replicas.map((r) => r.replica.id);
const label = (body: Body) => `${body.replica.hostname}/${body.replica.id}`;

beforeAll(async () => {
  redis = await startRedis();
  const prefix = `policy-replicas:${randomUUID()}:`;
  docFor = (bundle) => ({
    listen: { host: '127.0.0.1', port: 0 },
    policy: { bundle, status_publish_seconds: 0.2, status_signing: { algorithm: 'HS256', keyid: 'status-1', secret_env: 'STATUS_SECRET' } },
    state: { backend: 'redis', redis: { url: redis.url, key_prefix: prefix } },
    targets: { t: { url: 'http://127.0.0.1:1/mcp' } },
  });
  [a, b] = await Promise.all([
    startGatewayProcess(docFor(await bundleFor(FIXTURE_POLICY)), [], { STATUS_SECRET }),
    startGatewayProcess(docFor(await bundleFor(ALLOW_ALL_POLICY)), [], { STATUS_SECRET }),
  ]);
}, 60_000);
afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop()]);
  await redis?.close();
});

describe('/status across replicas sharing Redis', () => {
  let aBody: Body;
  let bBody: Body;
  it('each replica lists itself and the other, with ids, report times and policies', async () => {
    aBody = await statusUntil(a, (s) => s.replicas.length === 2, 'both replicas on A');
    bBody = await statusUntil(b, (s) => s.replicas.length === 2, 'both replicas on B');
    expect(new Set(ids(aBody))).toEqual(new Set([aBody.replica.id, bBody.replica.id]));
    expect(ids(aBody)).toEqual(ids(bBody));
    const bOnA = aBody.replicas.find((r) => r.replica.id === bBody.replica.id)!;
    expect(bOnA).toMatchObject({ replica: { pid: b.pid }, policy: { state: 'OK', revision: bBody.policy.revision, sha256: bBody.policy.sha256 }, targets: ['t'] });
    expect(Date.parse(bOnA.reported_at)).not.toBeNaN();
    expect(aBody.policy.revision).not.toBe(bBody.policy.revision);
    // This replica's own entry is its live status, the same as the top of the body.
    expect(aBody.replicas.find((r) => r.replica.id === aBody.replica.id)!.policy).toEqual(aBody.policy);
  });

  it('verify through one replica checks both and exits 1 naming the one with another bundle', async () => {
    const { code, out } = await cli('verify', '--gateway', a.url, '--bundle', await bundleFor(FIXTURE_POLICY));
    expect(code).toBe(1);
    expect(out).toContain(`OK    ${a.url}  replica ${label(aBody)}  revision ${aBody.policy.revision}`);
    expect(out).toContain(`DRIFT ${a.url}  replica ${label(bBody)}  revision ${bBody.policy.revision}`);
    expect(out).toMatch(new RegExp(`- revision ${aBody.policy.revision}\\n\\s+\\+ revision ${bBody.policy.revision}`));
    expect(out).toContain(`DRIFT: 1 of 2 replica(s) differ from the expected policy: ${label(bBody)}`);
  });

  it('verify through both URLs checks each replica once', async () => {
    const { code, out } = await cli('verify', '--gateway', a.url, '--gateway', b.url, '--bundle', await bundleFor(ALLOW_ALL_POLICY));
    expect(code).toBe(1);
    expect(out).toContain(`DRIFT: 1 of 2 replica(s) differ from the expected policy: ${label(aBody)}`);
  });

  it('the signed status signs the whole body, every replica included; verify uses it', async () => {
    const jws = await (await fetch(`${a.url}/status/signed`)).text();
    const body = (await verifyStatus(jws, Buffer.from(STATUS_SECRET), 'HS256')) as unknown as Body;
    expect(new Set(ids(body))).toEqual(new Set([aBody.replica.id, bBody.replica.id]));
    process.env.PORTCULLIS_TEST_REPLICA_SECRET = STATUS_SECRET;
    try {
      const { code, out } = await cli('verify', '--gateway', b.url, '--bundle', await bundleFor(ALLOW_ALL_POLICY), '--status-secret-env', 'PORTCULLIS_TEST_REPLICA_SECRET');
      expect(code).toBe(1);
      expect(out).toContain(`DRIFT ${b.url}  replica ${label(aBody)}`);
    } finally {
      delete process.env.PORTCULLIS_TEST_REPLICA_SECRET;
    }
  });

  it('a replica stopped cleanly leaves the listing at once; a killed one when its report expires', async () => {
    const c = await startGatewayProcess(docFor(await bundleFor(FIXTURE_POLICY)), [], { STATUS_SECRET });
    const cBody = await statusUntil(c, (s) => s.replicas.length === 3, 'three replicas');
    await c.stop();
    expect(ids(await status(a))).not.toContain(cBody.replica.id);

    // Killed: nothing withdraws its report; it expires three publish intervals after the last.
    await b.kill();
    const alone = await statusUntil(a, (s) => s.replicas.length === 1, 'the killed replica to expire');
    expect(ids(alone)).toEqual([aBody.replica.id]);
    const { code, out } = await cli('verify', '--gateway', a.url, '--bundle', await bundleFor(FIXTURE_POLICY));
    expect(out).toContain('no drift: 1 replica(s)');
    expect(code).toBe(0);
  });

  it('when Redis cannot list the replicas, /status says so and verify exits 2: unproven is not proven', async () => {
    await redis.stop();
    try {
      const body = await status(a);
      expect(body.replicas_error).toMatch(/^the other replicas could not be read from shared state: /);
      expect(ids(body)).toEqual([aBody.replica.id]);
      const { code, out } = await cli('verify', '--gateway', a.url, '--bundle', await bundleFor(FIXTURE_POLICY));
      expect(code).toBe(2);
      expect(out).toContain(`ERROR ${a.url}: cannot check: it cannot list every replica: the other replicas could not be read from shared state`);
    } finally {
      await redis.start();
    }
  });
});

describe('a swap is published at once, and the gateway tells its subscriber', () => {
  it("another replica's /status shows the new revision without waiting for the interval; onPolicyEvent hears the swap and a refusal", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'portcullis-replica-swap-'));
    const file = join(dir, 'policy.tar.gz');
    await copyFile(await bundleFor(FIXTURE_POLICY), file);
    const prefix = `policy-swap:${randomUUID()}:`;
    // An hour between publishes: only the swap itself can make the other replica see it.
    const config = (bundle: string) => validateConfig({
      listen: { host: '127.0.0.1', port: 0 },
      policy: { bundle, status_publish_seconds: 3600 },
      state: { backend: 'redis', redis: { url: redis.url, key_prefix: prefix } },
      targets: { t: { url: 'http://127.0.0.1:1/mcp' } },
    }, join(dir, 'gateway.yaml'), {});
    const events: PolicyEvent[] = [];
    const watcher: RunningGateway = await startGateway(config(file), { log: () => {}, onPolicyEvent: (e) => events.push(e) });
    const other: RunningGateway = await startGateway(config(await bundleFor(FIXTURE_POLICY)), { log: () => {} });
    try {
      type Listed = Array<{ replica: { id: string }; policy: PolicyStatus }>;
      const listed = async () => ((await (await fetch(`${other.url}/status`)).json()) as Body).replicas as unknown as Listed;
      const deadline = Date.now() + 20_000;
      const until = async (done: (r: Listed) => boolean, what: string) => {
        for (;;) {
          const r = await listed();
          if (done(r)) return r;
          if (Date.now() > deadline) throw new Error(`${what}: ${JSON.stringify(r)}`);
          await new Promise((res) => setTimeout(res, 50));
        }
      };
      const id = watcher.policies.status().replica.id;
      await until((r) => r.some((x) => x.replica.id === id), 'the first report');
      const swapTo = await readFile(await bundleFor(ALLOW_ALL_POLICY));
      await writeFile(`${file}.tmp`, swapTo);
      await rename(`${file}.tmp`, file);
      const after = await until((r) => r.find((x) => x.replica.id === id)?.policy.revision === watcher.policies.enforced.status().revision && watcher.policies.enforced.status().revision !== watcher.policy.revision, 'the swap on the other replica');
      expect(after.find((x) => x.replica.id === id)!.policy).toMatchObject({ state: 'OK', activations: 2 });
      expect(events.filter((e) => e.type === 'activated').map((e) => e.revision)).toEqual([watcher.policy.revision, watcher.policies.enforced.status().revision]);

      // A truncated bundle: refused, told once, and the refusal is on the other replica's /status too.
      await writeFile(`${file}.tmp`, swapTo.subarray(0, 200));
      await rename(`${file}.tmp`, file);
      const refused = await until((r) => r.find((x) => x.replica.id === id)?.policy.last_error?.code === 'not_gzip', 'the refusal on the other replica');
      expect(refused.find((x) => x.replica.id === id)!.policy).toMatchObject({ state: 'WARN', failures: 1 });
      expect(events.filter((e) => e.type === 'refused')).toEqual([expect.objectContaining({ policy: 'enforced', source: file, error: expect.objectContaining({ code: 'not_gzip' }) })]);
    } finally {
      await watcher.close();
      await other.close();
    }
  });
});
