// Speaks HTTP/1.1 by hand, for what fetch will not send: a forged Host, bad framing, oversized
// headers, a body cut off mid-upload.
import { connect } from 'node:net';

export interface RawHttpAnswer {
  /** Everything the server wrote before closing (status line, headers, body). */
  text: string;
  status: number | undefined;
  /** The body after the blank line (chunked framing, if any, left as is). */
  body: string;
}

/** Writes `request` (or the parts, with `pauseMs` between them) and reads until the server closes. */
export function rawHttp(url: string, request: string | string[], options: { pauseMs?: number; destroyAfterWrite?: boolean; timeoutMs?: number } = {}): Promise<RawHttpAnswer> {
  const { port, hostname } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    let text = '';
    const done = () => {
      const at = text.indexOf('\r\n\r\n');
      const status = /^HTTP\/1\.1 (\d{3})/.exec(text)?.[1];
      resolve({ text, status: status === undefined ? undefined : Number(status), body: at < 0 ? '' : text.slice(at + 4) });
    };
    const timer = setTimeout(() => socket.destroy(), options.timeoutMs ?? 5000);
    socket.on('data', (d: Buffer) => (text += d.toString('latin1')));
    socket.on('close', () => {
      clearTimeout(timer);
      done();
    });
    socket.on('error', (err) => (text === '' && !options.destroyAfterWrite ? reject(err) : undefined));
    const parts = typeof request === 'string' ? [request] : request;
    void (async () => {
      for (const part of parts) {
        socket.write(part);
        if (options.pauseMs) await new Promise((r) => setTimeout(r, options.pauseMs));
      }
      if (options.destroyAfterWrite) socket.destroy();
    })();
  });
}

/** A POST of `body` to `path` with the given Host (and any extra header lines). */
export function postWithHost(path: string, host: string, body: string, extra = ''): string {
  return `POST ${path} HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\n${extra}Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`;
}
