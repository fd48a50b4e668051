// The runtime is pinned in one place (scripts/node.sh) and every other place that names it agrees:
// package.json's engines, the container image, and the Node this suite runs on.
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const read = (file: string) => readFileSync(new URL(`../../${file}`, import.meta.url), 'utf8');
const nodeSh = read('scripts/node.sh');
const pinned = /^PORTCULLIS_NODE_VERSION=(\d+\.\d+\.\d+)$/m.exec(nodeSh)?.[1];
const lines = /^PORTCULLIS_NODE_LINES="([\d ]+)"$/m.exec(nodeSh)?.[1]?.split(' ');

describe('the pinned Node runtime', () => {
  it('is a 26.x release, on a supported line', () => {
    expect(pinned).toMatch(/^26\./);
    expect(lines).toEqual(['24', '26']);
  });

  it('is the version the container image is built on', () => {
    expect(read('Dockerfile')).toMatch(new RegExp(`^ARG NODE_VERSION=${pinned!.replaceAll('.', '\\.')}$`, 'm'));
  });

  it('matches package.json engines: both LTS lines, nothing older', () => {
    const engines = (JSON.parse(read('package.json')) as { engines: { node: string } }).engines.node;
    expect(engines.split('||').map((r) => r.trim().replace(/^\^/, '').split('.')[0])).toEqual(lines);
  });

  it('runs this suite: the tests never run on an unsupported Node', () => {
    expect(lines).toContain(process.versions.node.split('.')[0]);
  });

  it('is left alone when the machine already has a supported node', () => {
    // Sourcing node.sh under a supported node must not install anything or change which node runs.
    const out = execFileSync('bash', ['-c', 'source scripts/node.sh && command -v node'], {
      encoding: 'utf8',
      env: { ...process.env, PORTCULLIS_TOOLS_DIR: '/nonexistent/portcullis-tools' },
    }).trim();
    expect(out).toBe(execFileSync('bash', ['-c', 'command -v node'], { encoding: 'utf8' }).trim());
  });

  it('puts the pinned Node first on PATH when the machine has an unsupported one', () => {
    // A fake machine: its `node` says 20; the pinned build is already in the cache (no download).
    const dir = mkdtempSync(join(tmpdir(), 'portcullis-node-sh-'));
    const fake = (path: string, version: string) => {
      mkdirSync(join(dir, path), { recursive: true });
      writeFileSync(join(dir, path, 'node'), `#!/bin/sh\necho ${version}\n`);
      chmodSync(join(dir, path, 'node'), 0o755);
    };
    fake('machine', '20');
    const arch = process.arch === 'arm64' ? 'arm64' : 'x64';
    const cached = `tools/node-${pinned}/node_modules/node-linux-${arch}/bin`;
    fake(cached, '26');
    const out = execFileSync('bash', ['-c', 'source scripts/node.sh && command -v node'], {
      encoding: 'utf8',
      env: { PATH: `${join(dir, 'machine')}:/usr/bin:/bin`, HOME: dir, PORTCULLIS_TOOLS_DIR: join(dir, 'tools') },
    }).trim();
    expect(out).toBe(join(dir, cached, 'node'));
  });
});
