// Where bundles come from, and how each source feeds a PolicyHolder: a file that is watched and
// re-read when it changes (debounced), or an OPA bundle service polled by download.ts, whose last
// activated bundle is saved on disk (temp file + rename) and loaded at startup before any network
// call; a watched file's last activated bundle can be saved the same way and is used at startup
// when the file itself cannot be. Sources only read and report; the holder decides what serves.
import { watch, type FSWatcher } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { readBundleBytes } from './bundle.ts';
import { Downloader, type DownloaderOptions, type Update } from './download.ts';
import { BundleError } from './errors.ts';
import type { Activation, PolicyHolder } from './holder.ts';

export interface PolicySource {
  /** Loads the first bundle; resolves once something serves, or rejects with why nothing can. */
  start(): Promise<void>;
  stop(): void;
}

export const DEFAULT_WATCH_DEBOUNCE_MS = 250;

/** The last activated bundle on disk (and its ETag), written by temp file + rename. */
class SavedCopy {
  readonly bundle: string;
  readonly etag: string;
  constructor(dir: string, name: string) {
    this.bundle = join(dir, `${name}.tar.gz`);
    this.etag = join(dir, `${name}.etag`);
  }

  async read(): Promise<{ bytes: Buffer; etag: string | null } | undefined> {
    const bytes = await readFile(this.bundle).catch(() => undefined);
    if (bytes === undefined) return undefined;
    return { bytes, etag: (await readFile(this.etag, 'utf8').catch(() => '')) || null };
  }

  async write(holder: PolicyHolder, bytes: Buffer, etag: string | null): Promise<void> {
    try {
      await mkdir(dirname(this.bundle), { recursive: true });
      for (const [path, content] of [[this.bundle, bytes], [this.etag, etag ?? '']] as const) {
        const partial = `${path}.${process.pid}.tmp`;
        await writeFile(partial, content);
        await rename(partial, path);
      }
    } catch (err) {
      holder.tracker.failed('persist_failed', `cannot save the bundle to ${this.bundle}: ${(err as Error).message}`);
    }
  }
}

/** Throws the activation's error when nothing serves: the gateway refuses to start then. */
function mustServe(holder: PolicyHolder, activation: Activation): void {
  if (holder.active === undefined) throw activation.error ?? new BundleError('unreadable', `policy ${holder.name}: no bundle could be activated`);
}

/** A bundle file: read at start, then re-read whenever it changes (a rename over it included). */
export class FileSource implements PolicySource {
  #watcher: FSWatcher | undefined;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;
  /** The change being read now, so a burst of events makes one reload, and the last one is not lost. */
  #reading: Promise<void> | undefined;
  #again = false;

  private readonly holder: PolicyHolder;
  private readonly path: string;
  private readonly options: { watch?: boolean; debounceMs?: number; persistDir?: string };
  constructor(
    holder: PolicyHolder,
    path: string,
    options: { watch?: boolean; debounceMs?: number; persistDir?: string } = {},
  ) {
    this.holder = holder;
    this.path = path;
    this.options = options;
    this.#saved = options.persistDir === undefined ? undefined : new SavedCopy(options.persistDir, holder.name);
  }

  readonly #saved: SavedCopy | undefined;

  async start(): Promise<void> {
    const activation = await this.#load();
    if (this.holder.active === undefined && this.#saved !== undefined) {
      // The file cannot be used; the last bundle that served from it can (the error stays on the status).
      const saved = await this.#saved.read();
      if (saved !== undefined) {
        const error = activation.error;
        await this.holder.activate(saved.bytes, `${this.#saved.bundle} (saved copy of ${this.path})`);
        if (error !== undefined && this.holder.active !== undefined) this.holder.tracker.failed(error.code, error.message);
      }
    }
    mustServe(this.holder, activation);
    if (this.options.watch === false) return;
    // Watch the directory: editors and deploy tools replace the file by rename, which a watch on
    // the file itself would miss after the first swap.
    const name = basename(this.path);
    this.#watcher = watch(dirname(this.path), { persistent: false }, (_event, file) => {
      if (file === null || file === name) this.#schedule();
    });
    this.#watcher.on('error', (err) => this.holder.tracker.failed('unreadable', `watching ${this.path} failed: ${err.message}`));
  }

  /** Re-reads the file now (also what the watcher does after its debounce). */
  reload(): Promise<void> {
    if (this.#reading !== undefined) {
      this.#again = true;
      return this.#reading;
    }
    this.#reading = (async () => {
      do {
        this.#again = false;
        await this.#load();
      } while (this.#again && !this.#stopped);
    })().finally(() => (this.#reading = undefined));
    return this.#reading;
  }

  #schedule(): void {
    if (this.#stopped) return;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => void this.reload(), this.options.debounceMs ?? DEFAULT_WATCH_DEBOUNCE_MS);
  }

  async #load(): Promise<Activation> {
    this.holder.tracker.checked();
    let bytes: Buffer;
    try {
      bytes = await readBundleBytes(this.path);
    } catch (err) {
      const error = err as BundleError;
      this.holder.tracker.failed(error.code, error.message);
      this.holder.noteCheck(this.path, { code: error.code, message: error.message });
      return { result: 'failed', snapshot: this.holder.active, error };
    }
    this.holder.tracker.checkSucceeded();
    const activation = await this.holder.activate(bytes, this.path);
    if (activation.result === 'activated') await this.#saved?.write(this.holder, bytes, null);
    return activation;
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#watcher?.close();
  }
}

export interface ServiceSourceOptions extends DownloaderOptions {
  /** Directory where the last activated bundle is kept, and read from at startup. */
  persistDir?: string;
}

/** An OPA bundle service, polled; activation failures reset the ETag to the last activated bundle's. */
export class ServiceSource implements PolicySource {
  readonly downloader: Downloader;
  /** ETag of the bundle that serves, as the service named it. */
  #activeEtag: string | null = null;
  readonly #saved: SavedCopy | undefined;
  #firstPoll: NodeJS.Timeout | undefined;
  #stopped = false;

  private readonly holder: PolicyHolder;
  private readonly options: ServiceSourceOptions;
  constructor(
    holder: PolicyHolder,
    options: ServiceSourceOptions,
  ) {
    this.holder = holder;
    this.options = options;
    this.downloader = new Downloader(options);
    this.#saved = options.persistDir === undefined ? undefined : new SavedCopy(options.persistDir, holder.name);
  }

  async start(): Promise<void> {
    const saved = await this.#saved?.read();
    if (saved !== undefined) {
      const activation = await this.holder.activate(saved.bytes, `${this.#saved!.bundle} (saved copy of ${this.options.url})`);
      if (activation.result === 'activated') {
        this.#activeEtag = saved.etag;
        this.downloader.etag = saved.etag;
      }
    }
    if (this.holder.active === undefined) {
      // Nothing saved (or the saved copy is no good): the first download must succeed to start.
      await this.handle(await this.downloader.once());
      if (this.holder.active === undefined) {
        const last = this.holder.status().last_error;
        throw new BundleError('unreadable', `policy ${this.holder.name}: no bundle from ${this.options.url}${last ? ` (${last.code}: ${last.message})` : ''}`);
      }
      this.#firstPoll = setTimeout(() => this.#poll(), this.downloader.nextDelayMs(false));
      this.#firstPoll.unref();
    } else {
      this.#poll();
    }
  }

  #poll(): void {
    if (!this.#stopped) this.downloader.start((u) => this.handle(u));
  }

  /** Acts on one poll's result (public so tests and `portcullis` can drive a poll by hand). */
  async handle(update: Update): Promise<void> {
    const tracker = this.holder.tracker;
    if (update.kind === 'error') {
      tracker.checked(update.error.status);
      tracker.failed(update.error.code, update.error.message, update.error.status);
      this.holder.noteCheck(this.options.url, { code: update.error.code, message: update.error.message });
      return;
    }
    tracker.checked(update.status);
    if (update.kind === 'not_modified') {
      tracker.checkSucceeded();
      // The service holds what serves (the ETag sent is the active bundle's): nothing is wrong.
      if (this.holder.active !== undefined) tracker.clearError();
      this.holder.noteCheck(this.options.url);
      return;
    }
    tracker.downloaded();
    const activation = await this.holder.activate(update.bytes, this.options.url);
    if (activation.result === 'failed' || activation.result === 'superseded') {
      // OPA's rule: ask again with the last activated bundle's ETag, so the broken revision is
      // fetched (and refused, and reported) again rather than hidden behind a 304.
      this.downloader.etag = this.#activeEtag;
      return;
    }
    this.#activeEtag = update.etag;
    this.downloader.etag = update.etag;
    if (activation.result === 'activated') await this.#saved?.write(this.holder, update.bytes, update.etag);
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#firstPoll);
    this.downloader.stop();
  }
}
