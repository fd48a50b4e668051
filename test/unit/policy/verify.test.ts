// Bundle signatures: real bundles built and signed by the pinned `opa build --signing-key`, then
// tampered with one way per case; each refusal names its error code. Plus OPA's own `opa sign`
// over awkward JSON, to prove the canonical hashing matches OPA's byte for byte.
import { execFile } from 'node:child_process';
import { createSecretKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import { mkdtemp, readdir, readFile, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { CompactSign } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { BundleError, parseBundle } from '../../../gateway/policy/bundle.ts';
import { prepareSnapshot } from '../../../gateway/policy/holder.ts';
import { verifyBundle, type VerificationConfig } from '../../../gateway/policy/verify.ts';
import { buildBundle, tools } from '../../../scripts/bundle.ts';
import { FIXTURE_POLICY } from '../../helpers/gateway.ts';
import { readTar, retar, writeTar, type TarEntry } from '../../helpers/tarball.ts';

const HMAC_SECRET = 'an-hmac-secret-that-is-long-enough-0123456789';
const LIMITS = { maxInputBytes: 16384, maxResultBytes: 65536 };

let dir: string;
let ci: { publicKey: KeyObject; privateKey: KeyObject };
let other: { publicKey: KeyObject; privateKey: KeyObject };
/** Signed by `ci` with keyid "ci" in the payload. */
let signed: Buffer;
let unsignedBundle: Buffer;
let hmacSigned: Buffer;
let otherSigned: Buffer;
let scoped: Buffer;
let noKeyId: Buffer;
let wrongEntrypoint: Buffer;

const rsa = () => generateKeyPairSync('rsa', { modulusLength: 2048 });
const config = (extra: Partial<VerificationConfig> = {}): VerificationConfig => ({
  keys: new Map([['ci', { algorithm: 'RS256', key: ci.publicKey }]]),
  ...extra,
});

async function build(name: string, signing?: Parameters<typeof buildBundle>[0]['signing'], source = FIXTURE_POLICY): Promise<Buffer> {
  const out = join(dir, `${name}.tar.gz`);
  await buildBundle({ source, outFile: out, signing });
  return readFile(out);
}

async function pem(name: string, key: KeyObject): Promise<string> {
  const file = join(dir, `${name}.pem`);
  await writeFile(file, key.export({ type: 'pkcs8', format: 'pem' }));
  return file;
}

/** The payload OPA signed, decoded. */
async function payloadOf(bundle: Buffer): Promise<{ files: Array<{ name: string; hash: string; algorithm: string }>; [k: string]: unknown }> {
  const sig = (await readTar(bundle)).find((e) => e.name === '/.signatures.json')!;
  const token = (JSON.parse(sig.body.toString()) as { signatures: string[] }).signatures[0]!;
  return JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString());
}

/** Replaces .signatures.json with tokens over `payload`, signed by `key`. */
async function resign(bundle: Buffer, payload: unknown, tokens = 1, key: KeyObject = ci.privateKey, alg = 'RS256'): Promise<Buffer> {
  const token = await new CompactSign(Buffer.from(JSON.stringify(payload))).setProtectedHeader({ alg, typ: 'JWT' }).sign(key);
  const body = Buffer.from(JSON.stringify({ signatures: Array.from({ length: tokens }, () => token), plugin: '_default' }));
  return retar(bundle, (es) => es.map((e) => (e.name === '/.signatures.json' ? { ...e, body } : e)));
}

const entries = (edit: (es: TarEntry[]) => TarEntry[]) => (bundle: Buffer) => retar(bundle, edit);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'portcullis-verify-'));
  ci = rsa();
  other = rsa();
  const ciPem = await pem('ci', ci.privateKey);
  const otherPem = await pem('other', other.privateKey);
  const secretFile = join(dir, 'hmac.secret');
  await writeFile(secretFile, HMAC_SECRET);
  [signed, unsignedBundle, hmacSigned, otherSigned, scoped, noKeyId, wrongEntrypoint] = await Promise.all([
    build('signed', { keyFile: ciPem, keyId: 'ci' }),
    build('unsigned'),
    build('hmac', { keyFile: secretFile, algorithm: 'HS256', keyId: 'shared' }),
    build('other', { keyFile: otherPem, keyId: 'ci' }),
    build('scoped', { keyFile: ciPem, keyId: 'ci', scope: 'write' }),
    build('nokeyid', { keyFile: ciPem }),
    (async () => {
      const out = join(dir, 'wrong-entrypoint.tar.gz');
      const src = join(dir, 'other-entrypoint');
      await mkdir(src);
      await writeFile(join(src, 'policy.rego'), 'package other\n\ndecision := {"allow": true}\n');
      await promisify(execFile)((await tools()).opa, ['build', '--bundle', '-t', 'wasm', '-e', 'other/decision', '--signing-key', ciPem, '-o', out, '.'], { cwd: src });
      return readFile(out);
    })(),
  ]);
});

async function codeOf(work: Promise<unknown>): Promise<string> {
  try {
    await work;
  } catch (err) {
    if (err instanceof BundleError) return err.code;
    throw err;
  }
  return 'accepted';
}

describe('signed bundles the gateway accepts', () => {
  it('an RSA-signed bundle from `npm run bundle --signing-key`, naming the key that signed it', async () => {
    const bundle = await parseBundle(signed, 'signed', { verification: config() });
    expect(bundle.signature).toEqual({ keyId: 'ci', algorithm: 'RS256', scope: '' });
    const snapshot = await prepareSnapshot(signed, 'signed', { source: 'signed', limits: LIMITS, parse: { verification: config() } }, 1);
    expect(snapshot.info.keyId).toBe('ci');
  });

  it('an HMAC-signed bundle, with the secret as key', async () => {
    const bundle = await parseBundle(hmacSigned, 'hmac', { verification: { keys: new Map([['shared', { algorithm: 'HS256', key: Buffer.from(HMAC_SECRET) }]]) } });
    expect(bundle.signature?.keyId).toBe('shared');
  });

  it('a bundle signed without a key id (OPA writes keyid "default"): the configured keyid picks the key', async () => {
    const two = new Map([['ci', { algorithm: 'RS256' as const, key: ci.publicKey }], ['other', { algorithm: 'RS256' as const, key: other.publicKey }]]);
    expect((await payloadOf(noKeyId)).keyid).toBe('default');
    expect((await parseBundle(noKeyId, 'x', { verification: { keys: two, keyId: 'ci' } })).signature?.keyId).toBe('ci');
    expect((await parseBundle(noKeyId, 'x', { verification: { keys: new Map([['default', { algorithm: 'RS256', key: ci.publicKey }]]) } })).signature?.keyId).toBe('default');
    expect(await codeOf(parseBundle(noKeyId, 'x', { verification: { keys: two } }))).toBe('unknown_key');
  });

  it('a token naming no key at all: the only key configured, else key_id_missing', async () => {
    const p = await payloadOf(signed);
    delete p.keyid;
    const bare = await resign(signed, p);
    expect((await parseBundle(bare, 'x', { verification: config() })).signature?.keyId).toBe('ci');
    const two = new Map([['ci', { algorithm: 'RS256' as const, key: ci.publicKey }], ['other', { algorithm: 'RS256' as const, key: other.publicKey }]]);
    expect(await codeOf(parseBundle(bare, 'x', { verification: { keys: two } }))).toBe('key_id_missing');
  });

  it('the scope the configuration demands', async () => {
    expect((await parseBundle(scoped, 'x', { verification: config({ scope: 'write' }) })).signature?.scope).toBe('write');
    const keyScoped = { keys: new Map([['ci', { algorithm: 'RS256' as const, key: ci.publicKey, scope: 'write' }]]) };
    expect((await parseBundle(scoped, 'x', { verification: keyScoped })).signature?.scope).toBe('write');
  });

  it('data.json re-serialized with other whitespace and key order (canonical JSON hashing)', async () => {
    const reformatted = await retar(signed, (es) => es.map((e) => (e.name === '/data.json' ? { ...e, body: Buffer.from(' { \n } ') } : e)));
    expect(await codeOf(parseBundle(reformatted, 'x', { verification: config() }))).toBe('accepted');
  });

  it('without keys configured, signatures are not checked (and none is reported)', async () => {
    expect((await parseBundle(otherSigned, 'x')).signature).toBeNull();
  });
});

const flip = (b: Buffer) => {
  const c = Buffer.from(b);
  c.writeUInt8(c.readUInt8(c.length >> 1) ^ 1, c.length >> 1);
  return c;
};

const TAMPERING: Array<[string, (b: Buffer) => Promise<Buffer> | Buffer, string, Partial<VerificationConfig>?]> = [
  ['a file added', entries((es) => [...es, { name: '/extra.rego', body: Buffer.from('package extra\n') }]), 'file_not_signed'],
  ['a signed file removed', entries((es) => es.filter((e) => !e.name.endsWith('.rego'))), 'file_missing'],
  ['policy.wasm changed', entries((es) => es.map((e) => (e.name === '/policy.wasm' ? { ...e, body: flip(e.body) } : e))), 'digest_mismatch'],
  ['data.json changed in meaning', entries((es) => es.map((e) => (e.name === '/data.json' ? { ...e, body: Buffer.from('{"allow_everything":true}') } : e))), 'digest_mismatch'],
  ['.manifest revision changed', entries((es) => es.map((e) => (e.name === '/.manifest' ? { ...e, body: Buffer.from(e.body.toString().replace(/"revision":"[^"]*"/, '"revision":"forged"')) } : e))), 'digest_mismatch'],
  ['data.json not JSON', entries((es) => es.map((e) => (e.name === '/data.json' ? { ...e, body: Buffer.from('{"a":') } : e))), 'invalid_json'],
  ['signed by another key under the trusted key id', () => otherSigned, 'bad_signature'],
  ['signed with a key id that is not configured', async (b) => resign(b, { ...(await payloadOf(b)), keyid: 'mallory' }), 'unknown_key'],
  ['the wrong scope', () => scoped, 'scope_mismatch', { scope: 'read' }],
  ['a scope where none is expected', () => scoped, 'scope_mismatch'],
  ['no scope where one is expected', (b) => b, 'scope_mismatch', { scope: 'write' }],
  ['unsigned', () => unsignedBundle, 'unsigned'],
  ['.signatures.json with no token', entries((es) => es.map((e) => (e.name === '/.signatures.json' ? { ...e, body: Buffer.from('{"signatures":[]}') } : e))), 'unsigned'],
  ['two signatures', async (b) => resign(b, await payloadOf(b), 2), 'multiple_signatures'],
  ['.signatures.json that is not JSON', entries((es) => es.map((e) => (e.name === '/.signatures.json' ? { ...e, body: Buffer.from('nope') } : e))), 'bad_signatures_file'],
  ['a signing plugin the gateway does not know', entries((es) => es.map((e) => (e.name === '/.signatures.json' ? { ...e, body: Buffer.from(e.body.toString().replace('"_default"', '"vault"')) } : e))), 'bad_signatures_file'],
  ['a token that is not a JWS', entries((es) => es.map((e) => (e.name === '/.signatures.json' ? { ...e, body: Buffer.from('{"signatures":["a.b"]}') } : e))), 'bad_jws'],
  ['HS256 with the RSA public key as secret (algorithm confusion)', async (b) => {
    const secret = createSecretKey(Buffer.from(ci.publicKey.export({ type: 'spki', format: 'pem' }) as string));
    return resign(b, await payloadOf(b), 1, secret, 'HS256');
  }, 'bad_signature'],
  ['files hashed with MD5', async (b) => {
    const p = await payloadOf(b);
    return resign(b, { ...p, files: p.files.map((f) => ({ ...f, algorithm: 'MD5' })) });
  }, 'weak_hash'],
  ['a signed file listed twice', async (b) => {
    const p = await payloadOf(b);
    return resign(b, { ...p, files: [...p.files, p.files[0]] });
  }, 'bad_jws'],
  ['a second copy of policy.wasm appended', entries((es) => [...es, { name: '/policy.wasm', body: Buffer.from('evil') }]), 'duplicate_file'],
  ['policy.wasm under a second spelling', entries((es) => [...es, { name: './policy.wasm', body: Buffer.from('evil') }]), 'bad_entry'],
  ['a symlink entry', entries((es) => [...es, { name: '/link', body: Buffer.alloc(0), type: 'symlink' }]), 'bad_entry'],
  ['a truncated tarball', (b) => b.subarray(0, b.length >> 1), 'not_gzip'],
  ['not gzip at all', () => Buffer.from('just text'), 'not_gzip'],
];

describe('tampered bundles are refused, each with its code', () => {
  it.each(TAMPERING.map(([name, tamper, code, extra]) => ({ name, tamper, code, extra })))('$name -> $code', async ({ tamper, code, extra }) => {
    const bytes = await tamper(signed);
    expect(await codeOf(parseBundle(bytes, 'tampered', { verification: config(extra) }))).toBe(code);
  });

  it('a correctly signed bundle without the portcullis/decision entrypoint -> wrong_entrypoint', async () => {
    const verification = config({ keyId: 'ci' });
    expect(await codeOf(parseBundle(wrongEntrypoint, 'x', { verification }))).toBe('accepted');
    expect(await codeOf(prepareSnapshot(wrongEntrypoint, 'x', { source: 'x', limits: LIMITS, parse: { verification } }, 1))).toBe('wrong_entrypoint');
  });

  it('the same tampering passes unnoticed without keys (so the table tests the verifier, not the parser)', async () => {
    const added = await TAMPERING[0]![1](signed);
    expect(await codeOf(parseBundle(added, 'x'))).toBe('accepted');
  });
});

describe('canonical hashing matches `opa sign` on awkward JSON', () => {
  it('verifies a directory signed by OPA whose data.json has odd numbers, escapes, unicode keys and duplicates', async () => {
    const root = join(dir, 'awkward');
    await mkdir(join(root, 'nested'), { recursive: true });
    const awkward = '{ "b" : 1.0, "a":[1e2, -0, 12345678901234567890123, 0.10, "x<y&>\\u2028\\u2029 \\u00e9 \\ud83d\\ude00 \\u0001\\b\\f\\t\\/ \\ud800"],' +
      ' "\\u00e9":1, "z":1, "Z":2, "\u{1F600}":3, "\uFFFD": 4, "\uFF5E": 5, "dup": 1, "dup": 2, "nested":{"k":null,"t":true,"f":false, "e": {}, "l": []}}';
    await writeFile(join(root, 'data.json'), awkward);
    await writeFile(join(root, 'nested', 'data.json'), '[ ]');
    await writeFile(join(root, '.manifest'), '{"revision": "awkward", "roots": [""]}');
    await writeFile(join(root, 'p.rego'), 'package p\n\nx := 1\n');
    // Run inside the directory: OPA names signed files by the path it was given.
    await promisify(execFile)((await tools()).opa, ['sign', '--signing-key', join(dir, 'hmac.secret'), '--signing-alg', 'HS256', '--bundle', '.'], { cwd: root });
    const files = new Map<string, Buffer>();
    for (const entry of await readdir(root, { recursive: true, withFileTypes: true })) {
      if (entry.isFile()) files.set(relative(root, join(entry.parentPath, entry.name)), await readFile(join(entry.parentPath, entry.name)));
    }
    expect([...files.keys()].sort()).toEqual(['.manifest', '.signatures.json', 'data.json', 'nested/data.json', 'p.rego']);
    const verification = { keys: new Map([['k', { algorithm: 'HS256' as const, key: Buffer.from(HMAC_SECRET) }]]) };
    await expect(verifyBundle(files, verification)).resolves.toMatchObject({ keyId: 'k' });
    // One literal changed ("1.0" -> "1"): equal as numbers, different as OPA hashes them.
    files.set('data.json', Buffer.from(awkward.replace('1.0', '1')));
    expect(await codeOf(verifyBundle(files, verification))).toBe('digest_mismatch');
    // And a bundle tarball made from the same files verifies too.
    files.set('data.json', Buffer.from(awkward));
    const gz = await writeTar([...files].map(([name, body]) => ({ name: `/${name}`, body })));
    expect(await codeOf(verifyBundle(new Map((await readTar(gz)).map((e) => [e.name.slice(1), e.body])), verification))).toBe('accepted');
  });
});
