// `portcullis policy verify` against a running gateway: no drift exits 0; a different revision,
// sha256 or key exits 1 with a diff; a gateway that cannot be checked (unreachable, a signed
// status that does not verify) exits 2; the signed /status is a JWS a verifier can check.
import { execFile } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { decodeProtectedHeader } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { policyCli } from '../../gateway/policy/cli.ts';
import { verifyStatus } from '../../gateway/policy/status.ts';
import { ALLOW_ALL_POLICY, bundleFor, FIXTURE_POLICY, startTestGateway, type TestGateway } from '../helpers/gateway.ts';

const STATUS_SECRET = 'status-signing-secret-0123456789abcdef';
let gw: TestGateway;
let rsaGw: TestGateway;
let rsaPublic: string;

async function cli(...args: string[]): Promise<{ code: number; out: string }> {
  const lines: string[] = [];
  const code = await policyCli(args, (l) => lines.push(l));
  return { code, out: lines.join('\n') };
}

beforeAll(async () => {
  gw = await startTestGateway({
    targets: { t: 'http://127.0.0.1:1/mcp' },
    config: { policy: { bundle: await bundleFor(FIXTURE_POLICY), status_signing: { algorithm: 'HS256', keyid: 'status-1', secret_env: 'STATUS_SECRET' } } },
    env: { STATUS_SECRET },
  });
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-verify-cli-'));
  const pair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  rsaPublic = join(dir, 'status.pub.pem');
  await writeFile(rsaPublic, pair.publicKey.export({ type: 'spki', format: 'pem' }));
  rsaGw = await startTestGateway({
    targets: { t: 'http://127.0.0.1:1/mcp' },
    config: { policy: { bundle: await bundleFor(FIXTURE_POLICY), status_signing: { algorithm: 'ES256', keyid: 'status-ec', private_key_env: 'STATUS_KEY' } } },
    env: { STATUS_KEY: pair.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string },
  });
});
afterAll(async () => {
  await gw?.close();
  await rsaGw?.close();
});

describe('portcullis policy verify', () => {
  it('no drift against the Rego sources (rebuilt with the pinned OPA): exit 0', async () => {
    const { code, out } = await cli('verify', '--gateway', gw.url, '--source', FIXTURE_POLICY);
    expect(out).toContain(`OK    ${gw.url}`);
    expect(out).toContain(`revision ${gw.policy.revision}`);
    expect(out).toContain('no drift: 1 replica(s)');
    expect(code).toBe(0);
  });

  it('no drift against the deployed bundle file (revision and sha256): exit 0', async () => {
    const { code, out } = await cli('verify', '--gateway', gw.url, '--bundle', await bundleFor(FIXTURE_POLICY));
    expect(out).toContain(`sha256 ${gw.policy.sha256}`);
    expect(code).toBe(0);
  });

  it('drift: the repository holds another policy: exit 1 with a diff of revisions', async () => {
    const { code, out } = await cli('verify', '--gateway', gw.url, '--source', ALLOW_ALL_POLICY);
    expect(code).toBe(1);
    expect(out).toMatch(/DRIFT http:\/\/127\.0\.0\.1:\d+ {2}replica /);
    expect(out).toMatch(new RegExp(`- revision rego-[0-9a-f]{16}\\n\\s+\\+ revision ${gw.policy.revision}`));
    expect(out).toContain('DRIFT: 1 of 1 replica(s) differ');
  });

  it('drift: another artifact (sha256) and an unsigned bundle where a key was expected', async () => {
    const other = await cli('verify', '--gateway', gw.url, '--bundle', await bundleFor(ALLOW_ALL_POLICY));
    expect(other.code).toBe(1);
    expect(other.out).toMatch(/- sha256 [0-9a-f]{64}\n\s+\+ sha256 [0-9a-f]{64}/);
    const key = await cli('verify', '--gateway', gw.url, '--source', FIXTURE_POLICY, '--key-id', 'ci');
    expect(key.code).toBe(1);
    expect(key.out).toContain('+ key_id (signatures not verified)');
  });

  it('the signed status: verified with the HMAC secret (exit 0), refused with a wrong one (exit 2)', async () => {
    const ok = await cli('verify', '--gateway', gw.url, '--source', FIXTURE_POLICY, '--status-secret-env', 'PORTCULLIS_TEST_STATUS_SECRET');
    expect(ok.code).toBe(2);
    expect(ok.out).toContain('PORTCULLIS_TEST_STATUS_SECRET is not set');
    process.env.PORTCULLIS_TEST_STATUS_SECRET = STATUS_SECRET;
    try {
      expect((await cli('verify', '--gateway', gw.url, '--source', FIXTURE_POLICY, '--status-secret-env', 'PORTCULLIS_TEST_STATUS_SECRET')).code).toBe(0);
      process.env.PORTCULLIS_TEST_STATUS_SECRET = 'a-different-secret-0123456789abcdef!!';
      const bad = await cli('verify', '--gateway', gw.url, '--source', FIXTURE_POLICY, '--status-secret-env', 'PORTCULLIS_TEST_STATUS_SECRET');
      expect(bad.code).toBe(2);
      expect(bad.out).toContain('does not verify');
    } finally {
      delete process.env.PORTCULLIS_TEST_STATUS_SECRET;
    }
  });

  it('the signed status with an EC key: a JWS whose payload is the status, verified by public key', async () => {
    const res = await fetch(`${rsaGw.url}/status/signed`);
    expect(res.headers.get('content-type')).toBe('application/jose');
    const jws = await res.text();
    expect(decodeProtectedHeader(jws)).toEqual({ alg: 'ES256', kid: 'status-ec', typ: 'portcullis-status+jws' });
    const { createPublicKey } = await import('node:crypto');
    const { readFile } = await import('node:fs/promises');
    const body = await verifyStatus(jws, createPublicKey(await readFile(rsaPublic, 'utf8')), 'ES256');
    expect(body).toMatchObject({ policy: { revision: rsaGw.policy.revision, sha256: rsaGw.policy.sha256 }, targets: ['t'] });
    expect(typeof body.iat).toBe('number');
    expect((await cli('verify', '--gateway', rsaGw.url, '--source', FIXTURE_POLICY, '--status-key', rsaPublic, '--status-alg', 'ES256')).code).toBe(0);
    // Without status_signing there is no signed variant.
    expect((await fetch(`${(await startlessUrl())}/status/signed`)).status).toBe(404);
  });

  it('a signed status that is stale (replayed), of another type, or tampered is refused', async () => {
    const { CompactSign } = await import('jose');
    const key = Buffer.from(STATUS_SECRET);
    const sign = (body: Record<string, unknown>, typ = 'portcullis-status+jws') => new CompactSign(Buffer.from(JSON.stringify(body))).setProtectedHeader({ alg: 'HS256', typ }).sign(key);
    const now = Math.floor(Date.now() / 1000);
    await expect(verifyStatus(await sign({ policy: {}, iat: now - 3600 }), key, 'HS256')).rejects.toThrow(/issued 36\d\d s ago \(at most 300 s accepted\)/);
    await expect(verifyStatus(await sign({ policy: {} }), key, 'HS256')).rejects.toThrow(/at no valid time/);
    await expect(verifyStatus(await sign({ policy: {}, iat: now }, 'JWT'), key, 'HS256')).rejects.toThrow(/typ JWT/);
    const good = await sign({ policy: {}, iat: now });
    const [h, , sig] = good.split('.');
    const forged = `${h}.${Buffer.from(JSON.stringify({ policy: { revision: 'forged' }, iat: now })).toString('base64url')}.${sig}`;
    await expect(verifyStatus(forged, key, 'HS256')).rejects.toThrow(/signature verification failed/);
    await expect(verifyStatus(good, key, 'HS256')).resolves.toMatchObject({ iat: now });
  });

  it('a gateway that cannot be checked is exit 2, never a pass', async () => {
    const { code, out } = await cli('verify', '--gateway', 'http://127.0.0.1:1', '--source', FIXTURE_POLICY);
    expect(code).toBe(2);
    expect(out).toContain('ERROR http://127.0.0.1:1: cannot check');
  });

  it('usage errors are exit 2 with the usage', async () => {
    for (const args of [['verify', '--source', FIXTURE_POLICY], ['verify', '--gateway', gw.url], ['verify', '--gateway', gw.url, '--bundle', 'a', '--source', 'b'], ['verify', '--nope'], ['frobnicate']]) {
      const { code, out } = await cli(...args);
      expect(code).toBe(2);
      expect(out).toContain('usage: portcullis policy');
    }
  });

  it('runs as the `portcullis policy verify` command, with its exit code', async () => {
    const run = promisify(execFile);
    const ok = await run(process.execPath, ['bin/portcullis.mjs', 'policy', 'verify', '--gateway', gw.url, '--bundle', await bundleFor(FIXTURE_POLICY)]);
    expect(ok.stdout).toContain('no drift');
    const drift = await run(process.execPath, ['bin/portcullis.mjs', 'policy', 'verify', '--gateway', gw.url, '--bundle', await bundleFor(ALLOW_ALL_POLICY)]).catch((err: { code: number; stdout: string }) => err);
    expect((drift as { code: number }).code).toBe(1);
  });
});

/** A gateway without status signing, for the 404 check. */
let plain: TestGateway | undefined;
async function startlessUrl(): Promise<string> {
  plain ??= await startTestGateway({ targets: { t: 'http://127.0.0.1:1/mcp' } });
  return plain.url;
}
afterAll(async () => {
  await plain?.close();
});
