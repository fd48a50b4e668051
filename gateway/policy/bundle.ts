// Reads an OPA bundle tarball as `opa build -t wasm` writes it: a gzip tar holding /.manifest,
// /data.json and /policy.wasm (plus the Rego sources, which the gateway ignores), and, when
// signed, /.signatures.json, checked by verify.ts before anything in the bundle is used.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { gunzipSync } from 'node:zlib';
import tar from 'tar-stream';
import { BundleError } from './errors.ts';
import { verifyBundle, type SignatureInfo, type VerificationConfig } from './verify.ts';

export { BundleError } from './errors.ts';

/** A bundle larger than this is refused before it is unpacked. */
const MAX_BUNDLE_BYTES = 64 * 1024 * 1024;

export interface PolicyBundle {
  /** Manifest revision (derived from policy content by `npm run bundle`). */
  revision: string;
  /** sha256 of the tarball as read, hex. */
  sha256: string;
  wasm: Uint8Array;
  data: unknown;
  manifest: Record<string, unknown>;
  source: string;
  /** Who signed it, when a verification key is configured (null: signatures not checked). */
  signature: SignatureInfo | null;
}

export interface ParseOptions {
  /** With keys configured, only bundles whose signature verifies are accepted. */
  verification?: VerificationConfig;
}

/** A tar entry name as OPA stores it, or why it is not one the gateway will read. */
function entryName(raw: string): string {
  const name = raw.replace(/^\/+/, '');
  // Two spellings of one file ("a/../x", "./x") would let a second copy hide behind the signed one.
  if (name === '' || name.includes('\\') || name.split('/').some((part) => part === '' || part === '.' || part === '..')) {
    throw new BundleError('bad_entry', `tar entry ${JSON.stringify(raw)} is not a plain relative path`);
  }
  return name;
}

async function untar(gz: Buffer): Promise<Map<string, Buffer>> {
  let raw: Buffer;
  try {
    raw = gunzipSync(gz, { maxOutputLength: MAX_BUNDLE_BYTES });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE' ? 'too_large' : 'not_gzip';
    throw new BundleError(code, `not a gzip tarball (${(err as Error).message})`);
  }
  const files = new Map<string, Buffer>();
  const extract = tar.extract();
  const done = new Promise<void>((resolve, reject) => {
    extract.on('entry', (header, stream, next) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c: unknown) => chunks.push(c as Buffer));
      stream.on('end', () => {
        if (header.type === 'file' || header.type === 'contiguous-file') {
          try {
            const name = entryName(header.name);
            if (files.has(name)) throw new BundleError('duplicate_file', `the bundle holds ${name} twice`);
            files.set(name, Buffer.concat(chunks));
          } catch (err) {
            extract.destroy(err as Error);
            return;
          }
        } else if (header.type !== 'directory') {
          extract.destroy(new BundleError('bad_entry', `tar entry ${JSON.stringify(header.name)} is a ${header.type}, not a file`));
          return;
        }
        next();
      });
      stream.resume();
    });
    extract.on('finish', resolve);
    extract.on('error', (err: Error) => reject(err instanceof BundleError ? err : new BundleError('corrupt_tar', `corrupt tar archive (${err.message})`)));
  });
  Readable.from([raw]).pipe(extract);
  await done;
  return files;
}

function parseJson(name: string, bytes: Buffer | undefined, fallback: unknown): unknown {
  if (bytes === undefined) return fallback;
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw new BundleError('invalid_json', `${name} is not valid JSON (${(err as Error).message})`);
  }
}

/** Parses (and, with keys configured, verifies) a bundle from bytes; `source` names it in errors and status. */
export async function parseBundle(bytes: Buffer, source: string, options: ParseOptions = {}): Promise<PolicyBundle> {
  if (bytes.byteLength > MAX_BUNDLE_BYTES) throw new BundleError('too_large', `bundle is larger than ${MAX_BUNDLE_BYTES} bytes`);
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const files = await untar(bytes);
  const signature = options.verification !== undefined && options.verification.keys.size > 0 ? await verifyBundle(files, options.verification) : null;
  const manifest = parseJson('.manifest', files.get('.manifest'), {});
  if (typeof manifest !== 'object' || manifest === null || Array.isArray(manifest)) {
    throw new BundleError('bad_manifest', '.manifest is not a JSON object');
  }
  const wasmEntries = (manifest as { wasm?: Array<{ module?: string }> }).wasm ?? [];
  if (!Array.isArray(wasmEntries)) throw new BundleError('bad_manifest', '.manifest "wasm" is not a list');
  // OPA lists one entry per entrypoint; several entrypoints may share one module.
  const modules = [...new Set(wasmEntries.map((e) => String(e?.module ?? '/policy.wasm').replace(/^\/+/, '')))];
  if (modules.length > 1) throw new BundleError('bad_manifest', 'bundles with more than one WASM module are not supported');
  const wasmPath = modules[0] ?? 'policy.wasm';
  const wasm = files.get(wasmPath);
  if (wasm === undefined) throw new BundleError('no_wasm', `no ${wasmPath} in bundle: build it with 'opa build -t wasm'`);
  const revision = (manifest as { revision?: unknown }).revision;
  return {
    revision: typeof revision === 'string' ? revision : '',
    sha256,
    wasm,
    data: parseJson('data.json', files.get('data.json'), {}),
    manifest: manifest as Record<string, unknown>,
    source,
    signature,
  };
}

/** Checks a bundle's sha256 against a configured pin. */
export function checkPin(bundle: PolicyBundle, expectedSha256: string | undefined): void {
  if (expectedSha256 !== undefined && bundle.sha256 !== expectedSha256.toLowerCase()) {
    throw new BundleError('sha256_mismatch', `bundle ${bundle.source} has sha256 ${bundle.sha256}, configuration pins ${expectedSha256}: refusing a bundle that may have been tampered with`);
  }
}

export async function readBundleBytes(path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (err) {
    throw new BundleError('unreadable', `cannot read bundle ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

export async function readBundle(path: string, expectedSha256?: string, options: ParseOptions = {}): Promise<PolicyBundle> {
  const bundle = await parseBundle(await readBundleBytes(path), path, options);
  checkPin(bundle, expectedSha256);
  return bundle;
}
