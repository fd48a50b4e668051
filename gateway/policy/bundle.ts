// Reads an OPA bundle tarball as `opa build -t wasm` writes it: a gzip tar holding /.manifest,
// /data.json and /policy.wasm (plus the Rego sources, which the gateway ignores).
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { gunzipSync } from 'node:zlib';
import tar from 'tar-stream';

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
}

export class BundleError extends Error {
  override name = 'BundleError';
}

async function untar(gz: Buffer): Promise<Map<string, Buffer>> {
  let raw: Buffer;
  try {
    raw = gunzipSync(gz, { maxOutputLength: MAX_BUNDLE_BYTES });
  } catch (err) {
    throw new BundleError(`not a gzip tarball (${(err as Error).message})`);
  }
  const files = new Map<string, Buffer>();
  const extract = tar.extract();
  const done = new Promise<void>((resolve, reject) => {
    extract.on('entry', (header, stream, next) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c: unknown) => chunks.push(c as Buffer));
      stream.on('end', () => {
        // OPA writes names with a leading '/'; normalise so lookups do not depend on it.
        if (header.type === 'file') files.set(header.name.replace(/^\/+/, ''), Buffer.concat(chunks));
        next();
      });
      stream.resume();
    });
    extract.on('finish', resolve);
    extract.on('error', (err: Error) => reject(new BundleError(`corrupt tar archive (${err.message})`)));
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
    throw new BundleError(`${name} is not valid JSON (${(err as Error).message})`);
  }
}

/** Parses a bundle from bytes; `source` names it in errors and status. */
export async function parseBundle(bytes: Buffer, source: string): Promise<PolicyBundle> {
  if (bytes.byteLength > MAX_BUNDLE_BYTES) throw new BundleError(`bundle is larger than ${MAX_BUNDLE_BYTES} bytes`);
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const files = await untar(bytes);
  const manifest = parseJson('.manifest', files.get('.manifest'), {});
  if (typeof manifest !== 'object' || manifest === null || Array.isArray(manifest)) {
    throw new BundleError('.manifest is not a JSON object');
  }
  const wasmEntries = (manifest as { wasm?: Array<{ module?: string }> }).wasm ?? [];
  const wasmPath = (wasmEntries[0]?.module ?? '/policy.wasm').replace(/^\/+/, '');
  if (wasmEntries.length > 1) throw new BundleError('bundles with more than one WASM module are not supported');
  const wasm = files.get(wasmPath);
  if (wasm === undefined) throw new BundleError(`no ${wasmPath} in bundle: build it with 'opa build -t wasm'`);
  const revision = (manifest as { revision?: unknown }).revision;
  return {
    revision: typeof revision === 'string' ? revision : '',
    sha256,
    wasm,
    data: parseJson('data.json', files.get('data.json'), {}),
    manifest: manifest as Record<string, unknown>,
    source,
  };
}

export async function readBundle(path: string, expectedSha256?: string): Promise<PolicyBundle> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (err) {
    throw new BundleError(`cannot read bundle ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const bundle = await parseBundle(bytes, path);
  if (expectedSha256 !== undefined && bundle.sha256 !== expectedSha256.toLowerCase()) {
    throw new BundleError(`bundle ${path} has sha256 ${bundle.sha256}, configuration pins ${expectedSha256}: refusing a bundle that may have been tampered with`);
  }
  return bundle;
}
