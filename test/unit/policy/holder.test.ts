// The holder swaps whole snapshots only after a full load and smoke evaluation; a bad bundle is
// reported and the last good one keeps serving; older loads never overwrite newer ones; a
// snapshot taken before a swap keeps deciding with its own revision.
import { readFile } from 'node:fs/promises';
import { beforeAll, describe, expect, it } from 'vitest';
import { PolicyHolder } from '../../../gateway/policy/holder.ts';
import type { PolicyQuery } from '../../../gateway/policy/input.ts';
import { ALLOW_ALL_POLICY, bundleFor, FIXTURE_POLICY } from '../../helpers/gateway.ts';

const LIMITS = { maxInputBytes: 16384, maxResultBytes: 65536 };
const logs: string[] = [];
const holder = () => new PolicyHolder({ name: 'enforced', source: 'test', limits: LIMITS, log: (l) => logs.push(l) });

const DELETE: PolicyQuery = {
  era: 'stateless', protocolVersion: '2026-07-28', direction: 'client_to_server', kind: 'request', method: 'tools/call',
  name: 'delete_everything', arguments: {}, target: 't', sessionId: '', subjectJson: '{"sub":"alice"}',
};

let fixture: Buffer;
let allowAll: Buffer;
let broken: Buffer;
beforeAll(async () => {
  [fixture, allowAll, broken] = await Promise.all([
    readFile(await bundleFor(FIXTURE_POLICY)),
    readFile(await bundleFor(ALLOW_ALL_POLICY)),
    readFile(await bundleFor('test/fixtures/rego/broken')),
  ]);
});

describe('PolicyHolder', () => {
  it('is NOT_READY and serves nothing before the first activation', () => {
    const h = holder();
    expect(h.status().state).toBe('NOT_READY');
    expect(h.active).toBeUndefined();
    expect(() => h.current()).toThrow(/no bundle is active yet/);
  });

  it('activates a bundle and reports it like OPA: state, revision, sha256, source, loaded at', async () => {
    const h = holder();
    const a = await h.activate(fixture, 'fixture.tar.gz');
    expect(a.result).toBe('activated');
    const s = h.status();
    expect(s).toMatchObject({ state: 'OK', revision: h.current().info.revision, sha256: h.current().info.sha256, source: 'fixture.tar.gz', key_id: null, last_error: null, activations: 1, failures: 0 });
    expect(s.revision).toMatch(/^rego-[0-9a-f]{16}$/);
    expect(Date.parse(s.loaded_at!)).not.toBeNaN();
    expect(h.current().decide(DELETE).allow).toBe(false);
  });

  it('refuses a bad bundle with its code, keeps the last good one serving (WARN), and recovers', async () => {
    const h = holder();
    await h.activate(fixture, 'good');
    const good = h.current();
    for (const [bytes, code] of [[Buffer.from('garbage'), 'not_gzip'], [broken, 'smoke_failed'], [fixture.subarray(0, 100), 'not_gzip']] as const) {
      const a = await h.activate(bytes, 'bad');
      expect(a.result).toBe('failed');
      expect(a.error?.code).toBe(code);
      expect(h.current()).toBe(good);
      expect(h.status()).toMatchObject({ state: 'WARN', sha256: good.info.sha256, last_error: { code } });
    }
    expect(logs.some((l) => l.includes('[smoke_failed]') && l.includes(`revision ${good.info.revision} keeps serving`))).toBe(true);
    expect(h.status().failures).toBe(3);
    await h.activate(allowAll, 'new');
    expect(h.status()).toMatchObject({ state: 'OK', last_error: null, activations: 2 });
  });

  it('is ERROR when the very first bundle fails', async () => {
    const h = holder();
    await h.activate(broken, 'bad');
    expect(h.status()).toMatchObject({ state: 'ERROR', revision: null, last_error: { code: 'smoke_failed' } });
  });

  it('reports the same bytes again as unchanged, without counting an activation', async () => {
    const h = holder();
    await h.activate(fixture, 'a');
    const first = h.current();
    expect((await h.activate(fixture, 'a')).result).toBe('unchanged');
    expect(h.current()).toBe(first);
    expect(h.status().activations).toBe(1);
  });

  it('one load at a time: an overtaken load is dropped, the newest wins', async () => {
    const h = holder();
    await h.activate(fixture, 'first');
    const results = await Promise.all([h.activate(broken, 'older'), h.activate(fixture, 'old'), h.activate(allowAll, 'newest')]);
    expect(results.map((r) => r.result)).toEqual(['superseded', 'superseded', 'activated']);
    expect(h.current().info.source).toBe('newest');
    // A failing load that was overtaken is not reported as an error either.
    expect(h.status().last_error).toBeNull();
  });

  it('a snapshot taken before a swap keeps deciding with its own revision (no mixing inside an exchange)', async () => {
    const h = holder();
    await h.activate(fixture, 'fixture');
    const pinned = h.current();
    await h.activate(allowAll, 'allow-all');
    const now = h.current();
    expect(now.info.revision).not.toBe(pinned.info.revision);
    expect(now.sequence).toBeGreaterThan(pinned.sequence);
    const before = pinned.decide(DELETE);
    const after = now.decide(DELETE);
    expect([before.allow, before.revision]).toEqual([false, pinned.info.revision]);
    expect([after.allow, after.revision]).toEqual([true, now.info.revision]);
    expect(Object.isFrozen(pinned) && Object.isFrozen(pinned.info)).toBe(true);
    // Answers decided later can find the snapshot their request was decided by.
    expect(h.bySha256(pinned.info.sha256)).toBe(pinned);
    expect(h.bySha256(now.info.sha256)).toBe(now);
  });

  it('status copies are plain JSON and do not change under the reader', async () => {
    const h = holder();
    await h.activate(fixture, 'a');
    const s = h.status();
    await h.activate(Buffer.from('x'), 'b');
    expect(s.last_error).toBeNull();
    expect(JSON.parse(JSON.stringify(h.status()))).toEqual(h.status());
  });
});
