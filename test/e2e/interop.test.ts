// Clients not written here: the real Python (`mcp` on PyPI) and Go (modelcontextprotocol/go-sdk)
// SDK clients run every flow in both eras against the real SDK upstream, through the gateway and
// direct (the control that proves each flow works without it, and that the secret was sent).
//
// The clients are small programs (test/interop/python/client.py, test/interop/go/main.go) that
// print one JSON line per flow; scripts/interop.sh installs them into ~/.cache/portcullis/interop
// and prints their paths (PORTCULLIS_INTEROP_PYTHON, PORTCULLIS_INTEROP_GO). This file uses those
// variables when set, else runs the script itself (fast when cached); when the clients cannot be
// had, every test here fails saying so. Never skipped.
//
// What the matrix shows (each flow direct and through the gateway, SDK v2 upstream; the Python
// SDK server as a second upstream for connect/list/call/mask/deny/DELETE):
//   flow            Python legacy  Python 2026-07-28  Go legacy  Go 2026-07-28
//   connect         initialize     server/discover    initialize server/discover
//   list/call/mask/deny/progress/elicitation          all pass, both routes
//   cancel          notification   closes the stream  notification notification (no _meta)
//   DELETE          200            n/a (no session)   200        n/a (no session)
// Before issue 8 two cells failed through the gateway only: Go 2026-07-28 cancel (400 for the
// `_meta`-less notification) and DELETE to the Python SDK server (502 for its empty JSON body).
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startModernUpstream, type UpstreamFixture } from '../fixtures/upstreams/index.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { freePort } from '../helpers/identity-stack.ts';

const run = promisify(execFile);
const SECRET = 'ada@example.com';

interface Clients {
  python: string;
  go: string;
}

let clients: Promise<Clients> | undefined;

/** The interop clients' paths: from the environment, else from scripts/interop.sh. */
function interopClients(): Promise<Clients> {
  clients ??= (async () => {
    let python = process.env.PORTCULLIS_INTEROP_PYTHON;
    let go = process.env.PORTCULLIS_INTEROP_GO;
    if (!python || !go) {
      let stdout: string;
      try {
        ({ stdout } = await run('bash', ['scripts/interop.sh'], { maxBuffer: 1 << 20, timeout: 15 * 60_000 }));
      } catch (err) {
        const e = err as { stderr?: string; message: string };
        throw new Error(`the Python and Go SDK interop clients are not installed and scripts/interop.sh failed; run \`bash scripts/interop.sh\` (needs python3 >= 3.10 and Go) and see its output:\n${(e.stderr ?? e.message).slice(-2000)}`);
      }
      const vars = Object.fromEntries(stdout.split('\n').filter((l) => l.includes('=')).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
      python ||= vars.PORTCULLIS_INTEROP_PYTHON;
      go ||= vars.PORTCULLIS_INTEROP_GO;
    }
    if (!python || !go) throw new Error('scripts/interop.sh printed no PORTCULLIS_INTEROP_PYTHON / PORTCULLIS_INTEROP_GO; run `bash scripts/interop.sh`');
    return { python, go };
  })();
  return clients;
}

type Line = Record<string, any> & { flow: string };
interface HttpExchange { method: string; status?: number; mcp_method?: string | null; error?: string }

interface Run {
  lines: Map<string, Line>;
  /** What the upstream saw during this run. */
  upstream: { toolCalls: string[]; deletes: number; aborted: number; cancelledPosts: number; handshakes: string[] };
  http: HttpExchange[];
  stderr: string;
}

/** What a run can learn from an upstream fixture; the Python SDK server records nothing. */
const NO_RECORDS = { toolCalls: [], received: [], abortedCalls: 0 } as unknown as UpstreamFixture;

async function runClient(command: string[], url: string, era: string, upstream: UpstreamFixture, flows: string[] = []): Promise<Run> {
  const before = { calls: upstream.toolCalls.length, received: upstream.received.length, aborted: upstream.abortedCalls };
  const [file, ...args] = command as [string, ...string[]];
  let stdout = '';
  let stderr = '';
  try {
    ({ stdout, stderr } = await run(file, [...args, url, era, ...(flows.length > 0 ? [flows.join(',')] : [])], { maxBuffer: 8 << 20, timeout: 90_000 }));
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    stdout = e.stdout ?? '';
    stderr = `${e.message}\n${e.stderr ?? ''}`;
  }
  const lines = new Map<string, Line>();
  for (const text of stdout.split('\n')) {
    if (text.trim() === '') continue;
    const line = JSON.parse(text) as Line;
    lines.set(line.flow, line);
  }
  const received = upstream.received.slice(before.received);
  return {
    lines,
    upstream: {
      toolCalls: upstream.toolCalls.slice(before.calls).map((c) => c.tool),
      deletes: received.filter((r) => r.method === 'DELETE').length,
      aborted: upstream.abortedCalls - before.aborted,
      cancelledPosts: received.filter((r) => (r.json as { method?: string } | undefined)?.method === 'notifications/cancelled').length,
      handshakes: received.map((r) => (r.json as { method?: string } | undefined)?.method ?? '').filter((m) => m === 'initialize' || m === 'server/discover'),
    },
    http: (lines.get('http')?.http ?? []) as HttpExchange[],
    stderr,
  };
}

/**
 * How each client is started; `mode` is the era argument it gets. For 2026-07-28 both discover
 * (`server/discover`): the Python client in its default `auto` mode (its pinned `2026-07-28`
 * mode adopts the version without discovering), the Go client with that ProtocolVersion.
 */
const SDKS = [
  { sdk: 'Python mcp 2.3.0', command: (c: Clients) => [c.python, 'test/interop/python/client.py'], mode: (era: string) => (era === 'legacy' ? 'legacy' : 'auto') },
  { sdk: 'Go go-sdk v1.8.0', command: (c: Clients) => [c.go], mode: (era: string) => era },
] as const;
const ERAS = [
  { era: 'legacy', version: '2025-11-25' },
  { era: '2026-07-28', version: '2026-07-28' },
] as const;
/**
 * How each SDK cancels (seen direct): a `notifications/cancelled` POST, or, the Python SDK in the
 * 2026-07-28 era, closing the call's HTTP stream (the spec's stateless cancellation).
 */
const CANCELS_BY_NOTIFICATION: Record<string, boolean> = {
  'Python mcp 2.3.0 legacy': true,
  'Python mcp 2.3.0 2026-07-28': false,
  'Go go-sdk v1.8.0 legacy': true,
  'Go go-sdk v1.8.0 2026-07-28': true,
};
const MATRIX = SDKS.flatMap((s) => ERAS.map((e) => ({ ...s, ...e, label: `${s.sdk}, ${e.era}`, notifies: CANCELS_BY_NOTIFICATION[`${s.sdk} ${e.era}`]! })));

let upstream: UpstreamFixture;
let gw: TestGateway;
beforeAll(async () => {
  upstream = await startModernUpstream();
  gw = await startTestGateway({ targets: { fixture: upstream.url } });
});
afterAll(async () => {
  await gw?.close();
  await upstream?.close();
});

describe.each(MATRIX)('$label', ({ command, mode, era, version, notifies }) => {
  let direct: Run;
  let gated: Run;
  /** Why the clients could not run: every test fails with it (rather than being skipped). */
  let failure: unknown;
  const flow = (r: Run, name: string): Line => {
    if (failure !== undefined) throw failure;
    const line = r.lines.get(name);
    if (line === undefined) throw new Error(`the client printed no "${name}" line; stderr:\n${r.stderr.slice(-3000)}`);
    return line;
  };

  beforeAll(async () => {
    try {
      const cmd = command(await interopClients());
      // One after the other: the upstream's counters are read per run.
      direct = await runClient(cmd, upstream.url, mode(era), upstream);
      gated = await runClient(cmd, gw.endpoint(), mode(era), upstream);
    } catch (err) {
      failure = err;
    }
  }, 240_000);

  it(`${era === 'legacy' ? 'initializes' : 'discovers'} ${version}, direct and through the gateway`, () => {
    for (const r of [direct, gated]) {
      expect(flow(r, 'connect'), r.stderr).toEqual({ flow: 'connect', protocolVersion: version });
      expect(flow(r, 'done')).toBeTruthy();
      expect(r.upstream.handshakes).toEqual(era === 'legacy' ? ['initialize'] : ['server/discover']);
    }
    // Nothing the gateway answered was an HTTP error (a denial is a JSON-RPC error in a 200).
    expect(gated.http.filter((h) => h.error !== undefined || (h.status ?? 0) >= 400)).toEqual([]);
  });

  it('lists tools: the gateway hides the denied one', () => {
    expect(flow(direct, 'list').tools).toContain('delete_everything');
    const tools = flow(gated, 'list').tools as string[];
    expect(tools).toContain('echo');
    expect(tools).not.toContain('delete_everything');
  });

  it('calls a tool', () => {
    for (const r of [direct, gated]) expect(flow(r, 'call')).toEqual({ flow: 'call', texts: ['through the gate'] });
  });

  it('a masked result: the e-mail address reaches the client only direct', () => {
    expect(flow(direct, 'masked').texts).toEqual([`write to ${SECRET}`]);
    const masked = JSON.stringify(flow(gated, 'masked'));
    expect(masked).not.toContain(SECRET);
    expect(flow(gated, 'masked').texts).toEqual(['write to [MASKED:email]']);
  });

  it('a denial: -32051 through the gateway, and the upstream never ran the tool', () => {
    expect(flow(direct, 'denial')).toMatchObject({ texts: ['deleted'] });
    expect(direct.upstream.toolCalls).toContain('delete_everything');
    expect(flow(gated, 'denial')).toEqual({ flow: 'denial', error: { code: -32051, message: 'Denied by policy: destructive tools are denied' } });
    expect(gated.upstream.toolCalls).not.toContain('delete_everything');
  });

  it('progress notifications arrive', () => {
    for (const r of [direct, gated]) expect(flow(r, 'progress')).toEqual({ flow: 'progress', progress: [1, 2, 3], texts: ['slept 300ms'] });
  });

  it("elicitation: the server's question reaches the client's handler and its answer the tool", () => {
    for (const r of [direct, gated]) expect(flow(r, 'elicitation')).toEqual({ flow: 'elicitation', texts: ['answer: forty-two'], elicited: 1 });
  });

  it('cancellation: the upstream call is aborted, and the next call works', () => {
    for (const r of [direct, gated]) {
      expect(flow(r, 'cancel')).toMatchObject({ cancelled: true, after: ['after cancel'] });
      expect(r.upstream.aborted, 'the upstream saw the cancellation').toBeGreaterThanOrEqual(1);
    }
    // A notifications/cancelled the client posts was accepted by the gateway and reached the
    // upstream, exactly as direct (the Go SDK's comes without _meta in the 2026-07-28 era: a 400
    // there made it close the connection). Python in 2026-07-28 closes the stream instead.
    expect(direct.upstream.cancelledPosts).toBe(notifies ? 1 : 0);
    expect(gated.upstream.cancelledPosts).toBe(direct.upstream.cancelledPosts);
    for (const h of gated.http.filter((x) => x.mcp_method === 'notifications/cancelled')) expect(h.status).toBe(202);
  });

  if (era === 'legacy') {
    it('DELETE ends the session: answered 2xx through the gateway, and the upstream got it', () => {
      for (const r of [direct, gated]) {
        const statuses = flow(r, 'delete').statuses as number[];
        expect(statuses).toHaveLength(1);
        expect(statuses[0]).toBeGreaterThanOrEqual(200);
        expect(statuses[0]).toBeLessThan(300);
        expect(r.upstream.deletes).toBe(1);
      }
    });
  } else {
    it('DELETE: the stateless era has no session, so the client sends none (direct and gated alike)', () => {
      for (const r of [direct, gated]) {
        expect(flow(r, 'delete').statuses).toEqual([]);
        expect(r.upstream.deletes).toBe(0);
      }
    });
  }
});

// The Python SDK server as the upstream (test/interop/python/server.py): it answers a legacy
// DELETE `200` with an empty `application/json` body, which the gateway used to turn into a 502.
describe('a Python SDK server upstream', () => {
  let server: ChildProcess;
  let url: string;
  let gwPy: TestGateway;
  const output: string[] = [];
  let failure: unknown;

  beforeAll(async () => {
    let python: string;
    try {
      ({ python } = await interopClients());
    } catch (err) {
      failure = err;
      return;
    }
    const port = await freePort();
    server = spawn(python, ['test/interop/python/server.py', String(port)], { stdio: ['ignore', 'pipe', 'pipe'] });
    server.stderr!.on('data', (d: Buffer) => output.push(d.toString()));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the Python SDK server did not start:\n${output.join('')}`)), 60_000);
      server.stdout!.on('data', (d: Buffer) => {
        if (d.toString().includes('listening')) {
          clearTimeout(timer);
          resolve();
        }
      });
      server.once('exit', (code) => reject(new Error(`the Python SDK server exited (${code}):\n${output.join('')}`)));
    });
    url = `http://127.0.0.1:${port}/mcp`;
    gwPy = await startTestGateway({ targets: { pyserver: url } });
  }, 120_000);
  afterAll(async () => {
    await gwPy?.close();
    if (server && server.exitCode === null) {
      const exited = new Promise((resolve) => server.once('exit', resolve));
      server.kill('SIGTERM');
      await exited;
    }
  });

  describe.each(MATRIX)('$label client', ({ command, mode, era, version }) => {
    let direct: Run;
    let gated: Run;
    const FLOWS = ['list', 'call', 'masked', 'denial'];
    beforeAll(async () => {
      if (failure !== undefined) return;
      const cmd = command(await interopClients());
      direct = await runClient(cmd, url, mode(era), NO_RECORDS, FLOWS);
      gated = await runClient(cmd, gwPy.endpoint(), mode(era), NO_RECORDS, FLOWS);
    }, 240_000);
    const flow = (r: Run, name: string): Line => {
      if (failure !== undefined) throw failure;
      const line = r.lines.get(name);
      if (line === undefined) throw new Error(`the client printed no "${name}" line; stderr:\n${r.stderr.slice(-3000)}`);
      return line;
    };

    it('connects, calls, is masked and denied through the gateway; the control shows the secret', () => {
      for (const r of [direct, gated]) {
        expect(flow(r, 'connect'), r.stderr).toEqual({ flow: 'connect', protocolVersion: version });
        expect(flow(r, 'call')).toEqual({ flow: 'call', texts: ['through the gate'] });
      }
      expect(flow(direct, 'masked').texts).toEqual([`write to ${SECRET}`]);
      expect(flow(gated, 'masked').texts).toEqual(['write to [MASKED:email]']);
      expect(flow(direct, 'denial')).toMatchObject({ texts: ['deleted'] });
      expect(flow(gated, 'denial')).toMatchObject({ error: { code: -32051 } });
      expect(flow(gated, 'list').tools).toEqual(['echo']);
      expect(gated.http.filter((h) => h.error !== undefined || (h.status ?? 0) >= 400)).toEqual([]);
    });

    it(era === 'legacy' ? 'DELETE: its 200 with an empty JSON body reaches the client as 200' : 'DELETE: none in the stateless era', () => {
      const expected = era === 'legacy' ? [200] : [];
      expect(flow(direct, 'delete').statuses).toEqual(expected);
      expect(flow(gated, 'delete').statuses).toEqual(expected);
    });
  });
});
