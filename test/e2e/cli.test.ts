// The `portcullis` command refuses to start, and says why, when it cannot enforce a policy.
import { spawn } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bundleFor, FIXTURE_POLICY } from '../helpers/gateway.ts';

/**
 * Runs the command as production does. Type stripping is off: the command must run compiled
 * JavaScript (dist/), never TypeScript through a loader at start.
 */
function run(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; output: string; stop: () => void; ready: Promise<string> }> {
  const child = spawn(process.execPath, ['--no-experimental-strip-types', 'bin/portcullis.mjs', ...args], { env: { ...process.env, ...env } });
  let output = '';
  let resolveReady: (line: string) => void;
  const ready = new Promise<string>((r) => (resolveReady = r));
  const onData = (d: Buffer) => {
    output += d.toString();
    const match = /listening on (\S+)/.exec(output);
    if (match?.[1]) resolveReady(match[1]);
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  return new Promise((resolve) => {
    const stop = () => child.kill('SIGTERM');
    child.on('exit', (code) => resolve({ code, output, stop, ready }));
    void ready.then(() => resolve({ code: null, get output() { return output; }, stop, ready }));
  });
}

describe('portcullis CLI', () => {
  it('refuses to start without a configuration file', async () => {
    const { code, output } = await run([], { PORTCULLIS_CONFIG: '' });
    expect(code).toBe(1);
    expect(output).toContain('refusing to start');
    expect(output).toContain('pass --config <file> or set PORTCULLIS_CONFIG');
  });

  it('names every bad key and does not start', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'portcullis-cli-'));
    const file = join(dir, 'gw.yaml');
    await writeFile(file, 'listen: { port: "eighty" }\npolicy: { bundle: b.tar.gz }\ntargets: { demo: { url: "not a url" } }\n');
    const { code, output } = await run(['--config', file]);
    expect(code).toBe(1);
    expect(output).toContain('listen.port:');
    expect(output).toContain('targets.demo.url: must be an http(s) URL');
  });

  it('refuses to start when the bundle cannot be used', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'portcullis-cli-'));
    const file = join(dir, 'gw.yaml');
    await writeFile(file, 'policy: { bundle: missing.tar.gz }\ntargets: { demo: { url: "http://127.0.0.1:1/mcp" } }\n');
    const { code, output } = await run(['--config', file]);
    expect(code).toBe(1);
    expect(output).toMatch(/refusing to start: cannot read bundle .*missing\.tar\.gz: ENOENT/);
  });

  it('starts with a valid configuration, honours PORT=0 and serves /status', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'portcullis-cli-'));
    const file = join(dir, 'gw.yaml');
    await writeFile(file, `policy: { bundle: ${JSON.stringify(await bundleFor(FIXTURE_POLICY))} }\ntargets: { demo: { url: "http://127.0.0.1:1/mcp" } }\n`);
    const started = await run(['--config', file], { PORT: '0' });
    try {
      const url = await started.ready;
      const status = await (await fetch(`${url}/status`)).json();
      expect(status.targets).toEqual(['demo']);
    } finally {
      started.stop();
    }
  });
});
