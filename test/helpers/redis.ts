// A real redis-server for a test: its own free port and directory, no persistence unless asked
// (AOF for the restart test), stopped afterwards. Stop and start again keep port and data dir.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestRedis {
  url: string;
  port: number;
  /** Stops the server (SIGTERM, as an operator would); data survives only with `aof`. */
  stop(): Promise<void>;
  /** Starts it again on the same port and directory. */
  start(): Promise<void>;
  /** Stops it for good and removes its directory. */
  close(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

function launch(args: string[]): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const onData = (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('Ready to accept connections')) {
        child.stdout!.off('data', onData);
        child.stdout!.resume();
        resolve(child);
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.resume();
    child.once('error', (err) => reject(new Error(`cannot run redis-server (apt-get install -y redis-server): ${err.message}`)));
    child.once('exit', (code) => reject(new Error(`redis-server exited (${code}) before it was ready:\n${out}`)));
  });
}

export async function startRedis(options: { aof?: boolean; cluster?: boolean } = {}): Promise<TestRedis> {
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-redis-'));
  const port = await freePort();
  const args = [
    '--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '',
    '--appendonly', options.aof ? 'yes' : 'no', '--appendfsync', 'always',
    '--protected-mode', 'no', '--loglevel', 'notice',
    ...(options.cluster ? ['--cluster-enabled', 'yes', '--cluster-config-file', join(dir, 'nodes.conf')] : []),
  ];
  let child: ChildProcess | undefined = await launch(args);
  const stop = async () => {
    const running = child;
    child = undefined;
    if (running === undefined || running.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      running.once('exit', () => resolve());
      running.kill('SIGTERM');
    });
  };
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    stop,
    start: async () => {
      if (child === undefined) child = await launch(args);
    },
    close: async () => {
      await stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export interface TestRedisCluster {
  /** One URL per master node. */
  urls: string[];
  close(): Promise<void>;
}

/** A real three-master Redis Cluster (no replicas), created with redis-cli --cluster create. */
export async function startRedisCluster(): Promise<TestRedisCluster> {
  const nodes = await Promise.all([0, 1, 2].map(() => startRedis({ cluster: true })));
  const created = spawn('redis-cli', ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', '0', '--cluster-yes'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  created.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  created.stderr!.on('data', (c: Buffer) => (out += c.toString()));
  const code = await new Promise<number | null>((resolve) => created.once('exit', resolve));
  if (code !== 0 || !out.includes('All 16384 slots covered')) {
    await Promise.all(nodes.map((n) => n.close()));
    throw new Error(`redis-cli --cluster create failed:\n${out}`);
  }
  // The nodes agree on the layout a moment after creation.
  for (let i = 0; i < 100; i++) {
    const info = spawn('redis-cli', ['-p', String(nodes[0]!.port), 'cluster', 'info'], { stdio: ['ignore', 'pipe', 'ignore'] });
    let text = '';
    info.stdout!.on('data', (c: Buffer) => (text += c.toString()));
    await new Promise((resolve) => info.once('exit', resolve));
    if (text.includes('cluster_state:ok')) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  return { urls: nodes.map((n) => n.url), close: async () => { await Promise.all(nodes.map((n) => n.close())); } };
}
