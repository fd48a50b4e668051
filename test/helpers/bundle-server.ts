// A real HTTP bundle server speaking OPA's bundle service protocol, for tests: one resource,
// a strong ETag per content, If-None-Match -> 304, long polling (`Prefer: wait=<s>` holds the
// request until the content changes), an optional bearer token, and failure modes (status,
// slowness) a test can switch on. Every request is recorded.
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface BundleServerRequest {
  path: string;
  ifNoneMatch: string | undefined;
  authorization: string | undefined;
  prefer: string | undefined;
  status: number;
}

export interface BundleServer {
  url: string;
  /** Full URL of the served resource. */
  resource: string;
  requests: BundleServerRequest[];
  /** Serves new bytes (waking long-polling requests); returns their ETag. */
  serve(bytes: Buffer): string;
  etag(): string;
  /** Answer every request with this status (null: serve normally). */
  failWith(status: number | null): void;
  /** Wait this long before answering (0: answer at once). */
  delay(ms: number): void;
  close(): Promise<void>;
}

export async function startBundleServer(options: { path?: string; token?: string } = {}): Promise<BundleServer> {
  const path = options.path ?? '/bundles/portcullis.tar.gz';
  let bytes: Buffer = Buffer.alloc(0);
  let tag = '""';
  let failure: number | null = null;
  let delayMs = 0;
  const requests: BundleServerRequest[] = [];
  const waiting = new Set<() => void>();

  const answer = async (req: IncomingMessage): Promise<{ status: number; body?: Buffer; headers?: Record<string, string> }> => {
    if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
    if (failure !== null) return { status: failure };
    if (options.token !== undefined && req.headers.authorization !== `Bearer ${options.token}`) return { status: 401 };
    if (req.url !== path) return { status: 404 };
    const wait = /^wait=(\d+)$/.exec(String(req.headers.prefer ?? ''))?.[1];
    if (req.headers['if-none-match'] === tag && wait !== undefined) {
      // Long polling: hold the request until the content changes or the wait is over.
      await new Promise<void>((resolve) => {
        const wake = () => {
          clearTimeout(timer);
          waiting.delete(wake);
          resolve();
        };
        const timer = setTimeout(wake, Number(wait) * 1000);
        waiting.add(wake);
      });
    }
    if (req.headers['if-none-match'] === tag) return { status: 304, headers: { etag: tag } };
    return { status: 200, body: bytes, headers: { etag: tag, 'content-type': 'application/gzip' } };
  };

  const server: Server = createServer((req, res) => {
    void answer(req).then(({ status, body, headers }) => {
      requests.push({ path: req.url ?? '', ifNoneMatch: req.headers['if-none-match'], authorization: req.headers.authorization, prefer: req.headers.prefer === undefined ? undefined : String(req.headers.prefer), status });
      res.writeHead(status, headers);
      res.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    resource: `${url}${path}`,
    requests,
    serve(next) {
      bytes = next;
      tag = `"${createHash('sha256').update(next).digest('hex').slice(0, 32)}"`;
      for (const wake of [...waiting]) wake();
      return tag;
    },
    etag: () => tag,
    failWith: (status) => (failure = status),
    delay: (ms) => (delayMs = ms),
    close: () =>
      new Promise<void>((resolve) => {
        for (const wake of [...waiting]) wake();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
