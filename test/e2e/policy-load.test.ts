// The gateway refuses to start on a bundle it cannot trust or run, and denies (never allows) when
// a loaded policy misbehaves.
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateConfig } from '../../gateway/config/load.ts';
import { createGateway } from '../../gateway/app.ts';
import { startModernUpstream, type UpstreamFixture } from '../fixtures/upstreams/index.ts';
import { bundleFor, FIXTURE_POLICY, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { opa } from '../helpers/opa.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'portcullis-load-'));
});

function configFor(bundle: string, policy: Record<string, unknown> = {}) {
  return validateConfig({ policy: { bundle, ...policy }, targets: { t: { url: 'http://127.0.0.1:1/mcp' } } }, join(dir, 'gw.yaml'), {});
}

async function refusal(bundle: string, policy: Record<string, unknown> = {}): Promise<string> {
  try {
    const gw = await createGateway(configFor(bundle, policy));
    await gw.close();
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error('expected the gateway to refuse the bundle');
}

describe('bundles the gateway refuses to start with', () => {
  it('a missing file', async () => {
    expect(await refusal(join(dir, 'nope.tar.gz'))).toMatch(/cannot read bundle .*nope\.tar\.gz: ENOENT/);
  });

  it('bytes that are not a gzip tarball', async () => {
    const file = join(dir, 'garbage.tar.gz');
    await writeFile(file, 'this is not a bundle');
    expect(await refusal(file)).toMatch(/not a gzip tarball/);
  });

  it('a truncated bundle', async () => {
    const good = await readFile(await bundleFor(FIXTURE_POLICY));
    const file = join(dir, 'truncated.tar.gz');
    await writeFile(file, good.subarray(0, Math.floor(good.length / 2)));
    expect(await refusal(file)).toMatch(/not a gzip tarball|corrupt tar archive|no policy\.wasm/);
  });

  it('a tarball without policy.wasm', async () => {
    const file = join(dir, 'empty.tar.gz');
    await writeFile(file, gzipSync(Buffer.alloc(1024)));
    expect(await refusal(file)).toMatch(/no policy\.wasm in bundle/);
  });

  it('a bundle whose sha256 differs from the pinned one (tampered)', async () => {
    const bundle = await bundleFor(FIXTURE_POLICY);
    const wrong = createHash('sha256').update('something else').digest('hex');
    expect(await refusal(bundle, { sha256: wrong })).toMatch(/has sha256 [0-9a-f]{64}, configuration pins .*tampered/);
    const right = createHash('sha256').update(await readFile(bundle)).digest('hex');
    const gw = await createGateway(configFor(bundle, { sha256: right }));
    expect(gw.policy.info.sha256).toBe(right);
    await gw.close();
  });

  it('a policy.wasm that is not WebAssembly', async () => {
    const src = join(dir, 'fake-wasm.tar.gz');
    // A well-formed archive around a module that is not WebAssembly.
    const { default: tar } = await import('tar-stream');
    const pack = tar.pack();
    pack.entry({ name: '/.manifest' }, '{"revision":"x","roots":[""],"wasm":[{"entrypoint":"portcullis/decision","module":"/policy.wasm"}]}');
    pack.entry({ name: '/policy.wasm' }, 'not wasm at all');
    pack.finalize();
    const chunks: Buffer[] = [];
    for await (const c of pack) chunks.push(c as Buffer);
    await writeFile(src, gzipSync(Buffer.concat(chunks)));
    expect(await refusal(src)).toMatch(/policy\.wasm is not a valid WebAssembly module/);
  });

  it('a bundle without the portcullis/decision entrypoint', async () => {
    const file = join(dir, 'other-entry.tar.gz');
    await opa('build', '-t', 'wasm', '-e', 'portcullis', '-o', file, 'test/fixtures/rego/broken');
    expect(await refusal(file)).toMatch(/no portcullis\/decision entrypoint/);
  });

  it('a policy that fails its smoke evaluation (no decision object for a basic request)', async () => {
    expect(await refusal(await bundleFor('test/fixtures/rego/broken'))).toMatch(/failed its smoke evaluation.*policy decision is not an object/);
  });

  it('a policy that needs a builtin the gateway does not provide', async () => {
    const file = join(dir, 'http-send.tar.gz');
    // Built without the capabilities file on purpose: the load-time check is the last line.
    await opa('build', '-t', 'wasm', '-e', 'portcullis/decision', '-o', file, 'test/fixtures/rego/uses-http-send');
    expect(await refusal(file)).toMatch(/policy needs builtins the gateway does not provide: http\.send/);
  });
});

describe('a loaded policy that misbehaves is a denial', () => {
  let upstream: UpstreamFixture;
  let gw: TestGateway;
  beforeAll(async () => {
    upstream = await startModernUpstream();
    gw = await startTestGateway({ policy: 'test/fixtures/rego/fails-at-runtime', targets: { fixture: upstream.url } });
  });
  afterAll(async () => {
    await gw?.close();
    await upstream?.close();
  });

  it('denies with -32053 when the decision is not an object, forwarding nothing', async () => {
    const before = upstream.received.length;
    const res = await fetch(gw.endpoint(), {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'x', version: '1' } } }),
    });
    const body = await res.json();
    expect(body.error.code).toBe(-32053);
    expect(body.error.message).toContain('fail closed');
    expect(body.error.message).toContain('policy decision is not an object');
    expect(upstream.received.length).toBe(before);
  });
});
