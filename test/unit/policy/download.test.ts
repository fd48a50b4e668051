// The downloader against a real HTTP bundle server: ETag / If-None-Match / 304, bearer token,
// long polling, typed errors for each failure, jittered delays and backoff.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Downloader } from '../../../gateway/policy/download.ts';
import { startBundleServer, type BundleServer } from '../../helpers/bundle-server.ts';

let server: BundleServer;
beforeAll(async () => {
  server = await startBundleServer({ token: 'bundle-token' });
  server.serve(Buffer.from('first bundle bytes'));
});
afterAll(() => server.close());

const bearer = () => 'bundle-token';

describe('Downloader.once', () => {
  it('GETs the bundle with the bearer token, remembers nothing itself, and sends If-None-Match once told', async () => {
    const d = new Downloader({ url: server.resource, bearer });
    const first = await d.once();
    expect(first).toMatchObject({ kind: 'bundle', etag: server.etag(), status: 200 });
    expect(first.kind === 'bundle' && first.bytes.toString()).toBe('first bundle bytes');
    expect(server.requests.at(-1)).toMatchObject({ authorization: 'Bearer bundle-token', ifNoneMatch: undefined });
    // The activator, not the downloader, decides which ETag to send.
    expect(d.etag).toBeNull();
    d.etag = server.etag();
    expect(await d.once()).toEqual({ kind: 'not_modified', status: 304 });
    expect(server.requests.at(-1)?.ifNoneMatch).toBe(server.etag());
  });

  it('a wrong or missing credential is a typed http_status error carrying 401', async () => {
    const u = await new Downloader({ url: server.resource }).once();
    expect(u.kind === 'error' && [u.error.code, u.error.status]).toEqual(['http_status', 401]);
  });

  it('server errors, unknown resources, refused connections, slow servers and oversized bundles each have their code', async () => {
    const missing = await new Downloader({ url: `${server.url}/nope`, bearer }).once();
    expect(missing.kind === 'error' && [missing.error.code, missing.error.status]).toEqual(['http_status', 404]);

    server.failWith(503);
    const down = await new Downloader({ url: server.resource, bearer }).once();
    expect(down.kind === 'error' && [down.error.code, down.error.status]).toEqual(['http_status', 503]);
    server.failWith(null);

    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    const refused = await new Downloader({ url: `http://127.0.0.1:${port}/b.tar.gz` }).once();
    expect(refused.kind === 'error' && refused.error.code).toBe('network');
    expect(refused.kind === 'error' && refused.error.message).toContain('ECONNREFUSED');

    server.delay(500);
    const slow = await new Downloader({ url: server.resource, bearer, requestTimeoutMs: 50 }).once();
    expect(slow.kind === 'error' && slow.error.code).toBe('timeout');
    server.delay(0);

    const big = await new Downloader({ url: server.resource, bearer, maxBytes: 5 }).once();
    expect(big.kind === 'error' && big.error.code).toBe('too_large');
  });

  it('long polling: Prefer: wait=<s>, and the answer arrives when the bundle changes', async () => {
    const d = new Downloader({ url: server.resource, bearer, longPollingSeconds: 10 });
    d.etag = server.etag();
    const pending = d.once();
    await new Promise((r) => setTimeout(r, 100));
    server.serve(Buffer.from('second bundle bytes'));
    const update = await pending;
    expect(update.kind === 'bundle' && update.bytes.toString()).toBe('second bundle bytes');
    expect(server.requests.at(-1)?.prefer).toBe('wait=10');
    // The server held the poll open, so the next one goes out at once.
    expect(d.nextDelayMs(false)).toBe(0);
  });
});

describe('Downloader delays', () => {
  it('after a good poll: uniformly between min and max delay', () => {
    const at = (r: number) => new Downloader({ url: server.resource, minDelaySeconds: 10, maxDelaySeconds: 20, random: () => r }).nextDelayMs(false);
    expect([at(0), at(0.5), at(0.999)]).toEqual([10_000, 15_000, 19_990]);
  });

  it('after failures: exponential from 100 ms with jitter, capped at the max delay', async () => {
    server.failWith(500);
    const d = new Downloader({ url: server.resource, minDelaySeconds: 1, maxDelaySeconds: 2, random: () => 1 });
    const delays: number[] = [];
    await new Promise<void>((resolve) => {
      let n = 0;
      d.start(() => {
        delays.push(d.nextDelayMs(true));
        if (++n === 6) {
          d.stop();
          resolve();
        }
      });
    });
    server.failWith(null);
    // The n-th failure in a row waits 100 ms · 2^(n-1) (here at the top of the jitter range), capped.
    expect(delays.slice(0, 5)).toEqual([100, 200, 400, 800, 1600].map((ms) => Math.min(ms, 2000)));
    expect(delays[5]).toBe(2000);
  }, 20_000);

  it('checks its options at construction, naming the bad one', () => {
    expect(() => new Downloader({ url: 'http://x', minDelaySeconds: -1 })).toThrow(/min_delay_seconds/);
    expect(() => new Downloader({ url: 'http://x', minDelaySeconds: 5, maxDelaySeconds: 1 })).toThrow(/max_delay_seconds \(1\) is less than min_delay_seconds \(5\)/);
  });
});
