// Fetches a bundle from an OPA bundle service (the protocol OPA itself speaks): GET with
// If-None-Match, 304 meaning "nothing new", optional long polling (`Prefer: wait=<s>`), a random
// delay between polls, backoff after failures, a bearer credential read from the environment at
// each request. It hands each result to a callback and knows nothing about activation.

/** Named defaults, as OPA's bundle polling configuration has them. */
export const DEFAULT_MIN_DELAY_SECONDS = 60;
export const DEFAULT_MAX_DELAY_SECONDS = 120;
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;
export const DEFAULT_MAX_BUNDLE_BYTES = 64 * 1024 * 1024;
const BACKOFF_BASE_MS = 100;

export type DownloadErrorCode = 'http_status' | 'network' | 'timeout' | 'too_large';

/** A failed poll. `status` is the HTTP status for `http_status`. */
export class DownloadError extends Error {
  override name = 'DownloadError';
  readonly code: DownloadErrorCode;
  readonly status: number | null;
  constructor(code: DownloadErrorCode, message: string, status: number | null = null) {
    super(message);
    this.code = code;
    this.status = status;
  }
}

export type Update =
  | { kind: 'bundle'; bytes: Buffer; etag: string | null; status: number }
  | { kind: 'not_modified'; status: 304 }
  | { kind: 'error'; error: DownloadError };

export interface DownloaderOptions {
  /** The bundle's URL: `<service url>/<resource>`. */
  url: string;
  /** Returns the bearer token to send (read from the environment each time), or undefined. */
  bearer?: () => string | undefined;
  minDelaySeconds?: number;
  maxDelaySeconds?: number;
  /** Ask the server to hold a request open this long when nothing changed (`Prefer: wait=`). */
  longPollingSeconds?: number;
  requestTimeoutMs?: number;
  maxBytes?: number;
  /** Random source in [0, 1); injectable so tests can check the delays. */
  random?: () => number;
}

function positive(name: string, value: number | undefined, fallback: number): number {
  const v = value ?? fallback;
  if (!Number.isFinite(v) || v < 0) throw new TypeError(`bundle download: ${name} must be a non-negative number, got ${String(value)}`);
  return v;
}

/**
 * An ETag that can be sent back as If-None-Match, else null: a value fetch would refuse as a
 * header (control characters) must not turn every later poll into a network error.
 */
function usableEtag(etag: string | null): string | null {
  return etag !== null && etag.length <= 1024 && /^[\x20-\x7e\x80-\xff]*$/.test(etag) ? etag : null;
}

async function readCapped(res: Response, maxBytes: number): Promise<Buffer> {
  const declared = Number(res.headers.get('content-length') ?? Number.NaN);
  if (declared > maxBytes) throw new DownloadError('too_large', `bundle is ${declared} bytes, more than the ${maxBytes} allowed`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res.body ?? []) {
    size += (chunk as Uint8Array).byteLength;
    if (size > maxBytes) throw new DownloadError('too_large', `bundle is more than the ${maxBytes} bytes allowed`);
    chunks.push(Buffer.from(chunk as Uint8Array));
  }
  return Buffer.concat(chunks);
}

export class Downloader {
  readonly url: string;
  /** The ETag sent as If-None-Match; the activator sets it back to the last activated bundle's. */
  etag: string | null = null;
  readonly #o: Required<Omit<DownloaderOptions, 'bearer' | 'longPollingSeconds'>> & Pick<DownloaderOptions, 'bearer' | 'longPollingSeconds'>;
  #failures = 0;
  /** Whether the last poll was held open by the server, i.e. it speaks long polling. */
  #heldOpen = false;
  #timer: NodeJS.Timeout | undefined;
  #abort: AbortController | undefined;
  #stopped = true;

  constructor(options: DownloaderOptions) {
    this.url = options.url;
    const min = positive('min_delay_seconds', options.minDelaySeconds, DEFAULT_MIN_DELAY_SECONDS);
    const max = positive('max_delay_seconds', options.maxDelaySeconds, DEFAULT_MAX_DELAY_SECONDS);
    if (max < min) throw new TypeError(`bundle download: max_delay_seconds (${max}) is less than min_delay_seconds (${min})`);
    this.#o = {
      url: options.url,
      bearer: options.bearer,
      longPollingSeconds: options.longPollingSeconds === undefined ? undefined : positive('long_polling_timeout_seconds', options.longPollingSeconds, 0),
      minDelaySeconds: min,
      maxDelaySeconds: max,
      requestTimeoutMs: positive('request_timeout_ms', options.requestTimeoutMs, DEFAULT_REQUEST_TIMEOUT_MS),
      maxBytes: positive('max_bytes', options.maxBytes, DEFAULT_MAX_BUNDLE_BYTES),
      random: options.random ?? Math.random,
    };
  }

  /** One poll. Never throws: a failure is an `error` update. */
  async once(): Promise<Update> {
    const headers: Record<string, string> = { accept: 'application/gzip, application/octet-stream;q=0.9, */*;q=0.1' };
    if (this.etag !== null) headers['if-none-match'] = this.etag;
    const wait = this.#o.longPollingSeconds;
    if (wait !== undefined && wait > 0) headers.prefer = `wait=${Math.floor(wait)}`;
    const token = this.#o.bearer?.();
    if (token !== undefined) headers.authorization = `Bearer ${token}`;
    const abort = new AbortController();
    this.#abort = abort;
    const timeoutMs = this.#o.requestTimeoutMs + (wait ?? 0) * 1000;
    const timer = setTimeout(() => abort.abort(new DownloadError('timeout', `no answer from ${this.url} within ${timeoutMs} ms`)), timeoutMs);
    const started = Date.now();
    this.#heldOpen = false;
    try {
      const res = await fetch(this.url, { headers, signal: abort.signal, redirect: 'follow' });
      if (res.status === 304) {
        await res.body?.cancel();
        this.#heldOpen = wait !== undefined && wait > 0 && Date.now() - started >= (wait * 1000) / 2;
        return { kind: 'not_modified', status: 304 };
      }
      if (res.status !== 200) {
        await res.body?.cancel();
        return { kind: 'error', error: new DownloadError('http_status', `bundle service answered ${res.status} ${res.statusText} for ${this.url}`, res.status) };
      }
      const bytes = await readCapped(res, this.#o.maxBytes);
      // Under long polling, ask again at once after news (a server that does not hold requests
      // open answers that with an immediate 304, which falls back to the ordinary delay).
      this.#heldOpen = wait !== undefined && wait > 0;
      return { kind: 'bundle', bytes, etag: usableEtag(res.headers.get('etag')), status: 200 };
    } catch (err) {
      const reason = abort.signal.reason;
      if (err instanceof DownloadError) return { kind: 'error', error: err };
      if (reason instanceof DownloadError) return { kind: 'error', error: reason };
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      return { kind: 'error', error: new DownloadError('network', `cannot fetch ${this.url}: ${cause?.code ?? cause?.message ?? (err as Error).message}`) };
    } finally {
      clearTimeout(timer);
      this.#abort = undefined;
    }
  }

  /** How long to wait before the next poll, given how the last one went. */
  nextDelayMs(lastFailed: boolean): number {
    const random = this.#o.random();
    if (lastFailed) {
      // Exponential from 100 ms, capped at the maximum delay, with jitter so replicas spread out.
      const cap = this.#o.maxDelaySeconds * 1000;
      const base = Math.min(cap, BACKOFF_BASE_MS * 2 ** Math.min(Math.max(this.#failures - 1, 0), 30));
      return Math.round(base * (0.5 + random / 2));
    }
    // A server that held the request open has already waited: ask again straight away. One that
    // answered 304 at once does not long-poll, and gets the ordinary delay (no busy loop).
    if (this.#heldOpen) return 0;
    const { minDelaySeconds: min, maxDelaySeconds: max } = this.#o;
    return Math.round((min + (max - min) * random) * 1000);
  }

  /** Polls until stopped, awaiting `onUpdate` before scheduling the next poll. */
  start(onUpdate: (update: Update) => Promise<void> | void): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    const loop = async () => {
      if (this.#stopped) return;
      const update = await this.once();
      // A poll cut short by stop() is not a failure to report.
      if (this.#stopped) return;
      this.#failures = update.kind === 'error' ? this.#failures + 1 : 0;
      try {
        await onUpdate(update);
      } catch {
        // The callback reports its own failures; polling goes on.
      }
      if (this.#stopped) return;
      this.#timer = setTimeout(() => void loop(), this.nextDelayMs(update.kind === 'error'));
      this.#timer.unref?.();
    };
    void loop();
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#abort?.abort(new DownloadError('network', 'stopped'));
  }
}
