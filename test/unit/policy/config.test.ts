// The `policy` section: sources, signing keys, candidate, status signing. Every bad
// combination names its key; key material is read and checked at load, before anything starts.
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, validateConfig } from '../../../gateway/config/load.ts';
import { bundleUrl, statusSigningKey, verificationConfig } from '../../../gateway/policy/config.ts';

const targets = { demo: { url: 'http://127.0.0.1:9090/mcp' } };
const SECRET = 'x'.repeat(32);
let dir: string;
let pubPem: string;
let privPem: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'portcullis-policy-config-'));
  const pair = generateKeyPairSync('rsa', { modulusLength: 2048 });
  pubPem = pair.publicKey.export({ type: 'spki', format: 'pem' }) as string;
  privPem = pair.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
  await writeFile(join(dir, 'ci.pub.pem'), pubPem);
});

function problems(policy: Record<string, unknown>, env: NodeJS.ProcessEnv = {}): string[] {
  try {
    validateConfig({ policy, targets }, join(dir, 'gateway.yaml'), env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}

describe('policy configuration', () => {
  it('a service source: URL joined with the resource, defaults as OPA has them, paths resolved', () => {
    const config = validateConfig({ policy: { service: { url: 'https://bundles.example.com/', resource: '/bundles/p.tar.gz' }, persist_dir: 'state' }, targets }, join(dir, 'gateway.yaml'), {});
    const service = config.policy.service!;
    expect(bundleUrl(service)).toBe('https://bundles.example.com/bundles/p.tar.gz');
    expect([service.min_delay_seconds, service.max_delay_seconds, service.request_timeout_ms]).toEqual([60, 120, 30000]);
    expect(config.policy.persist_dir).toBe(join(dir, 'state'));
    expect(config.policy.bundle).toBeUndefined();
  });

  it('keys from a file, from the environment and an HMAC secret become a verification config', () => {
    const config = validateConfig({
      policy: {
        bundle: 'b.tar.gz',
        signing: {
          keys: {
            file: { algorithm: 'RS256', public_key_file: 'ci.pub.pem', scope: 'write' },
            env: { algorithm: 'PS256', public_key_env: 'PUB' },
            hmac: { algorithm: 'HS256', secret_env: 'HMAC' },
          },
          keyid: 'file',
        },
        status_signing: { algorithm: 'RS256', keyid: 'status', private_key_env: 'PRIV' },
      },
      targets,
    }, join(dir, 'gateway.yaml'), { PUB: pubPem, HMAC: SECRET, PRIV: privPem });
    const v = verificationConfig(config.policy, config.env)!;
    expect([...v.keys.keys()]).toEqual(['file', 'env', 'hmac']);
    expect(v.keyId).toBe('file');
    expect(v.keys.get('file')?.scope).toBe('write');
    expect(v.keys.get('hmac')?.key).toEqual(Buffer.from(SECRET));
    expect(statusSigningKey(config.policy, config.env)).toMatchObject({ algorithm: 'RS256', keyId: 'status' });
  });

  it.each([
    ['no source', {}, 'policy: set exactly one of "bundle"'],
    ['two sources', { bundle: 'b', service: { url: 'https://x' } }, 'policy: set exactly one of "bundle"'],
    ['a candidate with no source', { bundle: 'b', candidate: {} }, 'policy.candidate: set exactly one'],
    ['a non-http service', { service: { url: 'ftp://x' } }, 'policy.service.url: must be an http(s) URL'],
    ['max delay below min delay', { service: { url: 'https://x', min_delay_seconds: 10, max_delay_seconds: 5 } }, 'policy.service.max_delay_seconds: '],
    ['an unknown service key', { service: { url: 'https://x', polling: {} } }, 'policy.service: '],
    ['an unknown algorithm', { bundle: 'b', signing: { keys: { k: { algorithm: 'none', secret_env: 'S' } } } }, 'policy.signing.keys.k.algorithm: '],
    ['HMAC with a public key', { bundle: 'b', signing: { keys: { k: { algorithm: 'HS256', public_key_file: 'ci.pub.pem' } } } }, 'policy.signing.keys.k.secret_env: HS256 needs secret_env'],
    ['RSA with a secret', { bundle: 'b', signing: { keys: { k: { algorithm: 'RS256', secret_env: 'S' } } } }, 'policy.signing.keys.k.secret_env: RS256 needs a public key'],
    ['two key sources', { bundle: 'b', signing: { keys: { k: { algorithm: 'RS256', public_key_file: 'a', public_key_env: 'B' } } } }, 'policy.signing.keys.k: set exactly one'],
    ['no keys', { bundle: 'b', signing: { keys: {} } }, 'policy.signing.keys: at least one key is required'],
    ['a keyid that names no key', { bundle: 'b', signing: { keys: { k: { algorithm: 'HS256', secret_env: 'S' } }, keyid: 'other' } }, 'policy.signing.keyid: keyid must name one of keys'],
    ['status signing without key', { bundle: 'b', status_signing: { algorithm: 'ES256', keyid: 's' } }, 'policy.status_signing: set exactly one'],
  ])('names the key for %s', (_, policy, prefix) => {
    const found = problems(policy, { S: SECRET });
    expect(found.some((p) => p.startsWith(prefix)), found.join('\n')).toBe(true);
  });

  it.each([
    ['an unset secret variable', { keys: { k: { algorithm: 'HS256', secret_env: 'NOPE' } } }, {}, 'policy.signing.keys.k: environment variable NOPE is not set'],
    ['a short HMAC secret', { keys: { k: { algorithm: 'HS256', secret_env: 'S' } } }, { S: 'short' }, 'policy.signing.keys.k: the HMAC secret in S must be at least 32 bytes'],
    ['a missing key file', { keys: { k: { algorithm: 'RS256', public_key_file: 'missing.pem' } } }, {}, 'policy.signing.keys.k: cannot read'],
    ['a key that is not PEM', { keys: { k: { algorithm: 'RS256', public_key_env: 'P' } } }, { P: 'not pem' }, 'policy.signing.keys.k: not a PEM public key'],
  ])('refuses to start with %s', (_, signing, env, prefix) => {
    const found = problems({ bundle: 'b', signing }, env);
    expect(found.some((p) => p.startsWith(prefix)), found.join('\n')).toBe(true);
  });

  it('a plain http bundle service needs signatures (else anyone on the path could swap the policy)', () => {
    expect(problems({ service: { url: 'http://bundles.internal' } })).toContain('policy.service.url: a plain http bundle service (other than loopback) needs policy.signing: anyone on the path could replace the policy');
    expect(problems({ bundle: 'b', candidate: { service: { url: 'http://bundles.internal' } } }).some((p) => p.startsWith('policy.candidate.service.url: a plain http'))).toBe(true);
    expect(problems({ service: { url: 'http://127.0.0.1:8181' } })).toEqual([]);
    expect(problems({ service: { url: 'https://bundles.example.com' } })).toEqual([]);
    expect(problems({ service: { url: 'http://bundles.internal' }, signing: { keys: { k: { algorithm: 'HS256', secret_env: 'S' } } } }, { S: SECRET })).toEqual([]);
  });

  it('status_publish_seconds: 5 s by default; below 0.1 s or above an hour is refused, naming the key', () => {
    expect(validateConfig({ policy: { bundle: 'p.tar.gz' }, targets }, join(dir, 'gateway.yaml'), {}).policy.status_publish_seconds).toBe(5);
    expect(validateConfig({ policy: { bundle: 'p.tar.gz', status_publish_seconds: 0.5 }, targets }, join(dir, 'gateway.yaml'), {}).policy.status_publish_seconds).toBe(0.5);
    for (const bad of [0, 0.05, 3601, 'soon']) {
      expect(problems({ bundle: 'p.tar.gz', status_publish_seconds: bad }).join('\n')).toMatch(/^policy\.status_publish_seconds: /m);
    }
  });

  it('an unset bearer variable is named', () => {
    expect(problems({ service: { url: 'https://x', bearer_env: 'BUNDLE_TOKEN' } })).toContain('policy.service.bearer_env: environment variable BUNDLE_TOKEN is not set');
  });
});
