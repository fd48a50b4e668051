// A real HTTP decision-log receiver for tests (OPA's `POST /logs` service API): gunzips each body,
// keeps the requests and the events, and answers with the status `respond` picks per request.
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';

export interface ReceivedPost {
  headers: IncomingHttpHeaders;
  /** The gunzipped body parsed (an array of events), or undefined when it was not. */
  events: any[] | undefined;
  status: number;
}

export interface DecisionLogReceiver {
  url: string;
  port: number;
  posts: ReceivedPost[];
  /** Events of the posts answered 2xx, in arrival order. */
  accepted(): any[];
  /** Status for the request with this index (0-based, over the receiver's life). */
  respond: (index: number) => number;
  /** Resolves once `ready()` holds, checked after every request (no polling, no timer). */
  until(ready: () => boolean): Promise<void>;
  close(): Promise<void>;
}

export async function startDecisionLogReceiver(port = 0): Promise<DecisionLogReceiver> {
  const waiters: { ready: () => boolean; resolve: () => void }[] = [];
  const check = () => {
    for (const w of [...waiters]) if (w.ready()) { waiters.splice(waiters.indexOf(w), 1); w.resolve(); }
  };
  const receiver: DecisionLogReceiver = {
    url: '', port: 0, posts: [],
    accepted: () => receiver.posts.filter((p) => p.status >= 200 && p.status < 300).flatMap((p) => p.events ?? []),
    respond: () => 204,
    until: (ready) => new Promise<void>((resolve) => {
      if (ready()) resolve();
      else waiters.push({ ready, resolve });
    }),
    close: () => new Promise<void>((resolve) => { server.close(() => resolve()); server.closeAllConnections(); }),
  };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let events: any[] | undefined;
      try {
        const body = Buffer.concat(chunks);
        const text = req.headers['content-encoding'] === 'gzip' ? gunzipSync(body).toString('utf8') : body.toString('utf8');
        events = JSON.parse(text);
      } catch {
        events = undefined;
      }
      const status = receiver.respond(receiver.posts.length);
      receiver.posts.push({ headers: req.headers, events, status });
      // A redirect points back here, so following it would show up as a second request.
      res.writeHead(status, status >= 300 && status < 400 ? { location: '/logs' } : {}).end();
      check();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  receiver.port = (server.address() as AddressInfo).port;
  receiver.url = `http://127.0.0.1:${receiver.port}/logs`;
  return receiver;
}
