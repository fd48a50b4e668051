// `npm run bundle` signs: with a PEM key from a file or from the environment (never on a command
// line), the bundle carries a signature the gateway verifies; signing options without a key are
// refused.
import { execFile } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { parseBundle } from '../../../gateway/policy/bundle.ts';
import { FIXTURE_POLICY } from '../../helpers/gateway.ts';

const run = (args: string[], env: NodeJS.ProcessEnv = {}) =>
  promisify(execFile)(process.execPath, ['scripts/bundle.ts', ...args], { env: { ...process.env, ...env } });

describe('npm run bundle --signing-key', () => {
  it('signs with a key from the environment (ES256, key id and scope in the payload), and leaves no key file behind', async () => {
    const out = await mkdtemp(join(tmpdir(), 'portcullis-sign-'));
    const pair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const before = (await readdir(tmpdir())).filter((n) => n.startsWith('portcullis-signing-')).length;
    const { stdout } = await run(['--out-dir', out, '--signing-key-env', 'CI_KEY', '--signing-alg', 'ES256', '--signing-keyid', 'ci', '--signing-scope', 'write', FIXTURE_POLICY], {
      CI_KEY: pair.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
    });
    expect(stdout).toMatch(/revision rego-[0-9a-f]{16} {2}sha256 [0-9a-f]{64} {2}signed/);
    expect((await readdir(tmpdir())).filter((n) => n.startsWith('portcullis-signing-')).length).toBe(before);
    const bytes = await readFile(join(out, 'fixture.tar.gz'));
    const bundle = await parseBundle(bytes, 'x', { verification: { keys: new Map([['ci', { algorithm: 'ES256', key: pair.publicKey }]]), scope: 'write' } });
    expect(bundle.signature).toMatchObject({ keyId: 'ci', algorithm: 'ES256', scope: 'write' });
  });

  it('signs with a key file (RS256 by default)', async () => {
    const out = await mkdtemp(join(tmpdir(), 'portcullis-sign-'));
    const pair = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const keyFile = join(out, 'ci.pem');
    await writeFile(keyFile, pair.privateKey.export({ type: 'pkcs8', format: 'pem' }));
    await run(['--out-dir', out, '--signing-key', keyFile, FIXTURE_POLICY]);
    const bundle = await parseBundle(await readFile(join(out, 'fixture.tar.gz')), 'x', { verification: { keys: new Map([['default', { algorithm: 'RS256', key: pair.publicKey }]]) } });
    expect(bundle.signature?.keyId).toBe('default');
  });

  it('refuses signing options without a key, an unset key variable, and both key sources', async () => {
    for (const [args, env, message] of [
      [['--signing-alg', 'ES256', FIXTURE_POLICY], {}, '--signing-alg, --signing-keyid and --signing-scope need --signing-key'],
      [['--signing-key-env', 'NOPE_KEY', FIXTURE_POLICY], {}, 'environment variable NOPE_KEY is not set'],
      [['--signing-key', 'a', '--signing-key-env', 'B', FIXTURE_POLICY], {}, '--signing-key and --signing-key-env exclude each other'],
      [['--signing-key'], {}, '--signing-key needs a value'],
    ] as const) {
      const err = await run([...args], env).then(() => undefined, (e: { code: number; stderr: string }) => e);
      expect(err?.code).toBe(1);
      expect(err?.stderr).toContain(message);
    }
  });
});
