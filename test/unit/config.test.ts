import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, validateConfig } from '../../gateway/config/load.ts';
import { upstreamCredentialProvider } from '../../gateway/identity/index.ts';

const minimal = { policy: { bundle: 'b.tar.gz' }, targets: { demo: { url: 'http://127.0.0.1:9090/mcp' } } };

function problems(doc: unknown, env: NodeJS.ProcessEnv = {}): string[] {
  try {
    validateConfig(doc, '/etc/portcullis/gateway.yaml', env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}

describe('configuration', () => {
  it('fills defaults and resolves the bundle next to the file', () => {
    const config = validateConfig(minimal, '/etc/portcullis/gateway.yaml', {});
    expect(config.listen).toEqual({ host: '127.0.0.1', port: 8080 });
    expect(config.policy.bundle).toBe('/etc/portcullis/b.tar.gz');
    expect(config.policy.max_input_bytes).toBe(16384);
    expect(config.targets.demo?.credentials).toEqual({ type: 'none' });
  });

  it.each([
    ['a missing policy', { targets: minimal.targets }, 'policy: '],
    ['no targets', { policy: minimal.policy, targets: {} }, 'targets: at least one target is required'],
    ['a bad target name', { ...minimal, targets: { 'Bad Name': { url: 'http://x/mcp' } } }, 'targets.Bad Name: '],
    ['a non-http URL', { ...minimal, targets: { demo: { url: 'ftp://x/mcp' } } }, 'targets.demo.url: must be an http(s) URL'],
    ['an unknown key', { ...minimal, listen: { hots: 'x' } }, 'listen: '],
    ['a port out of range', { ...minimal, listen: { port: 70000 } }, 'listen.port: '],
    ['a bad sha256 pin', { ...minimal, policy: { bundle: 'b', sha256: 'abc' } }, 'policy.sha256: must be a hex sha256'],
    ['an unknown credential type', { ...minimal, targets: { demo: { url: 'http://x/mcp', credentials: { type: 'magic' } } } }, 'targets.demo.credentials.type: '],
  ])('names the key for %s', (_, doc, prefix) => {
    const found = problems(doc);
    expect(found.some((p) => p.startsWith(prefix)), found.join('\n')).toBe(true);
  });

  it('resolves upstream secrets from the environment and names a missing variable', async () => {
    const doc = { ...minimal, targets: { demo: { url: 'http://x/mcp', credentials: { type: 'header', scheme: 'Bearer', value_env: 'DEMO_TOKEN' } } } };
    expect(problems(doc)).toEqual(['targets.demo.credentials.value_env: environment variable DEMO_TOKEN is not set']);
    const env = { DEMO_TOKEN: 's3cret' };
    const config = validateConfig(doc, '/x.yaml', env);
    const demo = config.targets.demo!;
    const provider = upstreamCredentialProvider(demo.credentials, { target: 'demo', url: demo.url, env: config.env });
    expect(await provider.headers()).toEqual({ authorization: 'Bearer s3cret' });
  });

  it('reports unreadable files and invalid YAML', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'portcullis-config-'));
    await expect(loadConfig(join(dir, 'missing.yaml'))).rejects.toThrow(/cannot read file: ENOENT/);
    await writeFile(join(dir, 'bad.yaml'), 'policy: [unclosed');
    await expect(loadConfig(join(dir, 'bad.yaml'))).rejects.toThrow(/not valid YAML/);
  });
});
