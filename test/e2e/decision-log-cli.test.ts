// The `portcullis` command (compiled dist/) with `audit.log: stdout` and `audit.decision_log` at
// once: every decision is a JSON line on stdout and an event at the receiver, with the same ids,
// and SIGTERM flushes the buffered events before the process exits.
import { spawn } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startModernUpstream, type UpstreamFixture } from '../fixtures/upstreams/index.ts';
import { bundleFor, FIXTURE_POLICY } from '../helpers/gateway.ts';
import { startDecisionLogReceiver, type DecisionLogReceiver } from '../helpers/decision-log-receiver.ts';

const SECRET = 'PLANTED-CLI-SECRET-91b2';

async function call(url: string, name: string, args: object): Promise<any> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/call', 'mcp-name': name },
    body: JSON.stringify({
      jsonrpc: '2.0', id: 1, method: 'tools/call',
      params: { name, arguments: args, _meta: { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientInfo': { name: 'cli-test', version: '1' }, 'io.modelcontextprotocol/clientCapabilities': {} } },
    }),
  });
  const text = await res.text();
  const last = text.includes('data: {') ? text.slice(text.lastIndexOf('data: ') + 6) : text;
  return JSON.parse(last);
}

describe('portcullis with stdout and HTTP decision logs', () => {
  let upstream: UpstreamFixture;
  let receiver: DecisionLogReceiver;
  let stdout = '';
  let exitCode: number | null = -1;
  let postsBeforeStop = -1;
  let denied: any;

  beforeAll(async () => {
    upstream = await startModernUpstream({ modernResponse: 'auto' });
    receiver = await startDecisionLogReceiver();
    const dir = await mkdtemp(join(tmpdir(), 'portcullis-declog-'));
    const file = join(dir, 'gw.yaml');
    await writeFile(file, [
      `policy: { bundle: ${JSON.stringify(await bundleFor(FIXTURE_POLICY))} }`,
      `targets: { fixture: { url: ${JSON.stringify(upstream.url)} } }`,
      'audit:',
      '  log: stdout',
      `  decision_log: { url: ${JSON.stringify(receiver.url)}, batch_max_events: 1000, flush_interval_ms: 600000, token_env: DECLOG_TOKEN }`,
      '',
    ].join('\n'));
    const child = spawn(process.execPath, ['--no-experimental-strip-types', 'bin/portcullis.mjs', '--config', file], { env: { ...process.env, PORT: '0', DECLOG_TOKEN: 'cli-token' } });
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    const url = await new Promise<string>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        stdout += d.toString();
        const match = /listening on (\S+)/.exec(stdout);
        if (match?.[1]) resolve(match[1]);
      });
      child.stderr.on('data', () => {});
      void exited.then((code) => reject(new Error(`exited ${code}: ${stdout}`)));
    });
    await call(`${url}/mcp/fixture`, 'echo', { text: 'hello', password: SECRET });
    denied = await call(`${url}/mcp/fixture`, 'delete_everything', { confirm: SECRET });
    postsBeforeStop = receiver.posts.length;
    child.kill('SIGTERM');
    exitCode = await exited;
  });
  afterAll(async () => {
    await receiver?.close();
    await upstream?.close();
  });

  it('flushes on SIGTERM and exits cleanly', () => {
    expect(postsBeforeStop).toBe(0);
    expect(exitCode).toBe(0);
    expect(receiver.posts).toHaveLength(1);
    expect(receiver.posts[0]!.headers.authorization).toBe('Bearer cli-token');
  });

  it('writes the same decisions to stdout and to the receiver', () => {
    const lines = stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
    expect(lines.length).toBeGreaterThanOrEqual(3);
    expect(receiver.accepted().map((e) => e.decision_id)).toEqual(lines.map((r) => r.decision_id));
    expect(lines.map((r) => r.decision_id)).toContain(denied.error.data.portcullis.decision_id);
    expect(stdout).not.toContain(SECRET);
    expect(JSON.stringify(receiver.accepted())).not.toContain(SECRET);
  });
});
