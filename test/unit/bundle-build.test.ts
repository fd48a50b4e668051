// Building bundles with the pinned OPA: what the gateway cannot run fails at build time, what it
// can run builds and evaluates, and host builtins behave as OPA's do.
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EvaluationClock } from '../../gateway/policy/builtins.ts';
import { readBundle } from '../../gateway/policy/bundle.ts';
import { PolicyEngine } from '../../gateway/policy/engine.ts';
import { BundleBuildError, buildBundle } from '../../scripts/bundle.ts';

const limits = { maxInputBytes: 16384, maxResultBytes: 65536 };
const query = {
  era: 'legacy', protocolVersion: '2025-11-25', direction: 'client_to_server', kind: 'request',
  method: 'tools/call', name: 'probe', target: 't', sessionId: '', subjectJson: '{}',
} as const;

async function build(source: string) {
  const out = await mkdtemp(join(tmpdir(), 'portcullis-build-'));
  return buildBundle({ source, outFile: join(out, 'bundle.tar.gz') });
}

describe('bundle build', () => {
  it.each([
    ['test/fixtures/rego/uses-http-send', 'http.send'],
    ['test/fixtures/rego/uses-crypto', 'crypto.sha256'],
  ])('refuses %s: it needs %s, which the gateway cannot run', async (source, builtin) => {
    const err = await build(source).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(BundleBuildError);
    expect((err as Error).message).toContain(`undefined function ${builtin}`);
    expect((err as Error).message).toContain(`policy uses builtins the gateway cannot run: ${builtin}`);
  });

  it('builds and evaluates a policy using a builtin from every source the gateway runs', async () => {
    const built = await build('test/fixtures/rego/uses-runnable-builtins');
    const engine = await PolicyEngine.load(await readBundle(built.file), limits);
    const result = engine.evaluateJson(JSON.stringify({ ...query, name: 'probe' }));
    expect(result.allow).toBe(true);
    expect(result.ruleIds).toEqual(['fixture.runnable_builtins']);
  });

  it('derives the revision from policy content: same sources, same revision and bytes', async () => {
    const [a, b] = await Promise.all([build('rego/allow-all'), build('rego/allow-all')]);
    expect(a.revision).toMatch(/^rego-[0-9a-f]{16}$/);
    expect(b.revision).toBe(a.revision);
    expect(b.sha256).toBe(a.sha256);
    const other = await build('test/fixtures/rego/clock');
    expect(other.revision).not.toBe(a.revision);
    expect((await readFile(`${a.file}.sha256`, 'utf8')).trim()).toContain(a.sha256);
  });
});

describe('host builtins', () => {
  it('time.now_ns is read once per evaluation, and again for the next', async () => {
    let reads = 0;
    const clock = new EvaluationClock(() => 1_700_000_000_000 + ++reads);
    const built = await build('test/fixtures/rego/clock');
    const engine = await PolicyEngine.load(await readBundle(built.file), { ...limits, clock });
    const first = engine.decide(query).reasons[0]!.split(' ');
    expect(first[0]).toBe(first[1]);
    const second = engine.decide(query).reasons[0]!.split(' ');
    expect(second[0]).toBe(second[1]);
    expect(second[0]).not.toBe(first[0]);
    expect(reads).toBe(2);
  });
});
