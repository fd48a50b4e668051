// Server-Sent Events, read and written by the gateway itself. Reading is hand-written rather than
// a library's for three reasons of its own: the stream's end must be seen (a final event ended by
// a bare `\r` is complete only once nothing follows it), an event under construction is bounded
// in size, and a stream that is not UTF-8 text is an error, not U+FFFD noise. Writing emits only
// what the gateway decided: `data` lines, its own event ids, a retry hint, empty keep-alives.

/** What one upstream stream said, item by item. */
export type SseItem =
  /** `name` is the event type ('' for the default `message`); `id` when the event set one. */
  | { kind: 'event'; name: string; id: string | undefined; data: string }
  | { kind: 'retry'; ms: number }
  | { kind: 'comment' };

export class SseError extends Error {
  override name = 'SseError';
}

/** Longest event id kept: an id is only a resumption token, and the gateway stores it. */
const MAX_ID_LENGTH = 256;

/** Incremental SSE reader (HTML Living Standard, "event stream interpretation"). */
export class SseReader {
  readonly #decoder = new TextDecoder('utf-8', { fatal: true });
  readonly #maxEventChars: number;
  #line = '';
  /** The last chunk ended in `\r`: a `\n` starting the next one belongs to it. */
  #afterCR = false;
  #data: string[] = [];
  #name = '';
  #id: string | undefined;
  #eventChars = 0;
  #out: SseItem[] = [];

  constructor(maxEventChars: number) {
    this.#maxEventChars = maxEventChars;
  }

  /** Feeds bytes; returns the items they completed. Throws SseError on text that is not UTF-8 or an event too large. */
  feed(chunk: Uint8Array): SseItem[] {
    let text: string;
    try {
      text = this.#decoder.decode(chunk, { stream: true });
    } catch {
      throw new SseError('sent a stream that is not UTF-8 text');
    }
    this.#take(text);
    return this.#drain();
  }

  /** The stream ended: a pending `\r` ends its line; an event without its blank line is discarded, as the standard says. */
  end(): SseItem[] {
    try {
      this.#take(this.#decoder.decode());
    } catch {
      throw new SseError('sent a stream that is not UTF-8 text');
    }
    if (this.#afterCR) this.#afterCR = false;
    else if (this.#line !== '') this.#field(this.#line);
    this.#line = '';
    return this.#drain();
  }

  /** Whether bytes of an event were read that no blank line has completed. */
  get partial(): boolean {
    return this.#line !== '' || this.#data.length > 0 || this.#name !== '' || this.#id !== undefined;
  }

  #drain(): SseItem[] {
    const out = this.#out;
    this.#out = [];
    return out;
  }

  #take(text: string): void {
    let start = 0;
    const n = text.length;
    if (this.#afterCR && n > 0) {
      this.#afterCR = false;
      if (text.charCodeAt(0) === 0x0a) start = 1;
    }
    // Next \n and \r at or after `start`, found with indexOf (native speed on long data lines)
    // and searched again only once passed, so a text without \r is scanned for it once.
    let lf = -2;
    let cr = -2;
    while (start < n) {
      if (lf !== -1 && lf < start) lf = text.indexOf('\n', start);
      if (cr !== -1 && cr < start) cr = text.indexOf('\r', start);
      let end = lf < 0 ? (cr < 0 ? n : cr) : cr < 0 || lf < cr ? lf : cr;
      if (end === n) {
        this.#line += text.slice(start);
        this.#grow(n - start);
        return;
      }
      const line = this.#line === '' ? text.slice(start, end) : this.#line + text.slice(start, end);
      this.#line = '';
      this.#grow(end - start);
      if (text.charCodeAt(end) === 0x0d) {
        if (end + 1 === n) this.#afterCR = true;
        else if (text.charCodeAt(end + 1) === 0x0a) end++;
      }
      start = end + 1;
      this.#field(line);
    }
  }

  #grow(chars: number): void {
    this.#eventChars += chars;
    if (this.#eventChars > this.#maxEventChars) throw new SseError(`sent an SSE event larger than ${this.#maxEventChars} bytes`);
  }

  #field(line: string): void {
    if (line === '') return this.#dispatch();
    if (line.charCodeAt(0) === 0x3a) {
      this.#out.push({ kind: 'comment' });
      return;
    }
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.charCodeAt(0) === 0x20) value = value.slice(1);
    switch (field) {
      case 'data':
        this.#data.push(value);
        break;
      case 'event':
        this.#name = value;
        break;
      case 'id':
        // An id with NUL is ignored (the standard); an overlong one is not kept either.
        if (!value.includes('\u0000') && value.length <= MAX_ID_LENGTH) this.#id = value;
        break;
      case 'retry':
        if (/^\d{1,9}$/.test(value)) this.#out.push({ kind: 'retry', ms: Number(value) });
        break;
      default:
        break; // unknown fields are ignored
    }
  }

  #dispatch(): void {
    if (this.#data.length > 0 || this.#id !== undefined) {
      this.#out.push({ kind: 'event', name: this.#name, id: this.#id, data: this.#data.join('\n') });
    }
    this.#data = [];
    this.#name = '';
    this.#id = undefined;
    this.#eventChars = 0;
  }
}

/** One event as the gateway writes it: its own id (if any) and its data, never an upstream event name. */
export function formatEvent(event: { id?: string | undefined; data: string }): string {
  let out = event.id === undefined ? '' : `id: ${event.id}\n`;
  // Re-serialized JSON has no line breaks; data from elsewhere is split as the standard reads it.
  if (!/[\r\n]/.test(event.data)) return `${out}data: ${event.data}\n\n`;
  for (const line of event.data.split(/\r\n|\r|\n/)) out += `data: ${line}\n`;
  return `${out}\n`;
}

/** A keep-alive: a comment with no text (an upstream comment's text is never passed on). */
export const KEEP_ALIVE = ':\n\n';
