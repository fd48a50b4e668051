// startPolicy as the app uses it: a watched file feeds the enforced holder; `pin()` keeps one
// exchange on one revision across a swap while `decide` follows the swap; a burst of changes
// ends on the last one.
import { copyFile, mkdtemp, readFile, rename, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startPolicy, type PolicyRuntime } from '../../../gateway/policy/index.ts';
import type { PolicyQuery } from '../../../gateway/policy/input.ts';
import { policyConfigSchema } from '../../../gateway/policy/config.ts';
import { discardAudit } from '../../../gateway/telemetry/audit.ts';
import { ALLOW_ALL_POLICY, bundleFor, FIXTURE_POLICY } from '../../helpers/gateway.ts';

const DELETE: PolicyQuery = {
  era: 'stateless', protocolVersion: '2026-07-28', direction: 'client_to_server', kind: 'request', method: 'tools/call',
  name: 'delete_everything', arguments: {}, target: 't', sessionId: '', subjectJson: '{}',
};

let fixture: Buffer;
let allowAll: Buffer;
let runtime: PolicyRuntime | undefined;
beforeAll(async () => {
  fixture = await readFile(await bundleFor(FIXTURE_POLICY));
  allowAll = await readFile(await bundleFor(ALLOW_ALL_POLICY));
});
afterEach(() => runtime?.close());

async function start(watch: boolean): Promise<{ runtime: PolicyRuntime; file: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-runtime-'));
  const file = join(dir, 'policy.tar.gz');
  await copyFile(await bundleFor(FIXTURE_POLICY), file);
  runtime = await startPolicy(policyConfigSchema.parse({ bundle: file, watch }), { env: {}, log: () => {}, audit: discardAudit });
  return { runtime, file };
}

async function replace(file: string, bytes: Buffer): Promise<void> {
  const partial = `${file}.${Math.random()}.tmp`;
  await writeFile(partial, bytes);
  await rename(partial, file);
}

describe('startPolicy', () => {
  it('pin() keeps an exchange on its revision across a swap; decide follows the swap', async () => {
    const { runtime: r, file } = await start(false);
    const pinned = r.pin();
    const before = pinned.snapshot.info.revision;
    await replace(file, allowAll);
    await r.reload();
    expect(r.enforced.current().info.revision).not.toBe(before);
    // The exchange that pinned before the swap: request, answer and approval by the old revision.
    expect([pinned.decide(DELETE).allow, pinned.decide(DELETE).revision]).toEqual([false, before]);
    // Everything else: the new one.
    expect(r.decide(DELETE)).toMatchObject({ allow: true, revision: r.enforced.current().info.revision });
    expect(r.pin().decide(DELETE).allow).toBe(true);
    expect(r.enforced.bySha256(pinned.snapshot.info.sha256)).toBe(pinned.snapshot);
  });

  it('a burst of changes to the watched file ends on the last one', async () => {
    const { runtime: r, file } = await start(true);
    for (const bytes of [allowAll, fixture, allowAll, fixture, allowAll]) await replace(file, bytes);
    const until = Date.now() + 10_000;
    while (r.enforced.status().sha256 !== (await import('node:crypto')).createHash('sha256').update(allowAll).digest('hex')) {
      if (Date.now() > until) throw new Error(`the last change was lost: ${JSON.stringify(r.enforced.status())}`);
      await new Promise((res) => setTimeout(res, 50));
    }
    expect(r.decide(DELETE).allow).toBe(true);
  });

  it('with persist_dir, a corrupt file at startup falls back to the last bundle that served from it (WARN)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'portcullis-runtime-'));
    const file = join(dir, 'policy.tar.gz');
    const config = policyConfigSchema.parse({ bundle: file, watch: false, persist_dir: join(dir, 'saved') });
    await writeFile(file, allowAll);
    const first = await startPolicy(config, { env: {}, log: () => {}, audit: discardAudit });
    first.close();
    expect(await readFile(join(dir, 'saved', 'enforced.tar.gz'))).toEqual(allowAll);
    await writeFile(file, allowAll.subarray(0, 50));
    runtime = await startPolicy(config, { env: {}, log: () => {}, audit: discardAudit });
    expect(runtime.enforced.status()).toMatchObject({ state: 'WARN', source: expect.stringContaining('saved copy of'), last_error: { code: 'not_gzip' } });
    expect(runtime.decide(DELETE).allow).toBe(true);
  });

  it('refuses to start when the first bundle cannot serve, with the code', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'portcullis-runtime-'));
    const file = join(dir, 'bad.tar.gz');
    await writeFile(file, 'nope');
    await expect(startPolicy(policyConfigSchema.parse({ bundle: file }), { env: {}, log: () => {}, audit: discardAudit })).rejects.toMatchObject({ code: 'not_gzip' });
  });
});
