// Where bundles come from, and how each source feeds a PolicyHolder: a file that is watched and
// re-read when it changes (debounced), or an OPA bundle service polled by download.ts, whose last
// activated bundle is saved on disk (temp file + rename) and loaded at startup before any network
// call. Sources only read and report; the holder decides what serves.
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

  constructor(
    private readonly holder: PolicyHolder,
    private readonly path: string,
    private readonly options: { watch?: boolean; debounceMs?: number } = {},
  ) {}

  async start(): Promise<void> {
    const activation = await this.#load();
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
      return { result: 'failed', snapshot: this.holder.active, error };
    }
    this.holder.tracker.checkSucceeded();
    return this.holder.activate(bytes, this.path);
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
  #firstPoll: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(
    private readonly holder: PolicyHolder,
    private readonly options: ServiceSourceOptions,
  ) {
    this.downloader = new Downloader(options);
  }

  get #persisted(): { bundle: string; etag: string } | undefined {
    const dir = this.options.persistDir;
    if (dir === undefined) return undefined;
    return { bundle: join(dir, `${this.holder.name}.tar.gz`), etag: join(dir, `${this.holder.name}.etag`) };
  }

  async start(): Promise<void> {
    const persisted = this.#persisted;
    if (persisted !== undefined) {
      const bytes = await readFile(persisted.bundle).catch(() => undefined);
      if (bytes !== undefined) {
        const activation = await this.holder.activate(bytes, `${persisted.bundle} (saved copy of ${this.options.url})`);
        if (activation.result === 'activated') {
          this.#activeEtag = (await readFile(persisted.etag, 'utf8').catch(() => '')) || null;
          this.downloader.etag = this.#activeEtag;
        }
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
      return;
    }
    tracker.checked(update.status);
    if (update.kind === 'not_modified') {
      tracker.checkSucceeded();
      // The service holds what serves (the ETag sent is the active bundle's): nothing is wrong.
      if (this.holder.active !== undefined) tracker.clearError();
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
    if (activation.result === 'activated') await this.#persist(update.bytes, update.etag);
  }

  async #persist(bytes: Buffer, etag: string | null): Promise<void> {
    const persisted = this.#persisted;
    if (persisted === undefined) return;
    try {
      await mkdir(dirname(persisted.bundle), { recursive: true });
      const partial = `${persisted.bundle}.${process.pid}.tmp`;
      await writeFile(partial, bytes);
      await rename(partial, persisted.bundle);
      const partialEtag = `${persisted.etag}.${process.pid}.tmp`;
      await writeFile(partialEtag, etag ?? '');
      await rename(partialEtag, persisted.etag);
    } catch (err) {
      this.holder.tracker.failed('persist_failed', `cannot save the bundle to ${persisted.bundle}: ${(err as Error).message}`);
    }
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#firstPoll);
    this.downloader.stop();
  }
}
