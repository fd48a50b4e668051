// Reads and rewrites bundle tarballs byte for byte, so tests can tamper with real signed bundles.
import { Readable } from 'node:stream';
import { gunzipSync, gzipSync } from 'node:zlib';
import tar from 'tar-stream';

export interface TarEntry {
  name: string;
  body: Buffer;
  type?: 'file' | 'symlink' | 'directory';
  linkname?: string;
}

export async function readTar(gz: Buffer): Promise<TarEntry[]> {
  const entries: TarEntry[] = [];
  const extract = tar.extract();
  const done = new Promise<void>((resolve, reject) => {
    extract.on('entry', (header, stream, next) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c: unknown) => chunks.push(c as Buffer));
      stream.on('end', () => {
        entries.push({ name: header.name, body: Buffer.concat(chunks), type: header.type as TarEntry['type'] });
        next();
      });
    });
    extract.on('finish', resolve);
    extract.on('error', reject);
  });
  Readable.from([gunzipSync(gz)]).pipe(extract);
  await done;
  return entries;
}

export async function writeTar(entries: TarEntry[]): Promise<Buffer> {
  const pack = tar.pack();
  for (const e of entries) {
    if (e.type === 'symlink') pack.entry({ name: e.name, type: 'symlink', linkname: e.linkname ?? 'policy.wasm' });
    else if (e.type === 'directory') pack.entry({ name: e.name, type: 'directory' });
    else pack.entry({ name: e.name }, e.body);
  }
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack) chunks.push(c as Buffer);
  return gzipSync(Buffer.concat(chunks));
}

/** Rewrites a tarball through `edit`, which may change, add or drop entries. */
export async function retar(gz: Buffer, edit: (entries: TarEntry[]) => TarEntry[]): Promise<Buffer> {
  return writeTar(edit(await readTar(gz)));
}
