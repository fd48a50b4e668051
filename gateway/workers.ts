// `portcullis --workers N`: N worker processes share one listening port through node:cluster,
// each with its own policy engine (WASM instance), Redis connection and upstream pools.
//
// Why node:cluster rather than SO_REUSEPORT: the cluster primary hands each new connection to the
// next worker in turn (round robin) on every platform, sees a worker die and starts another, and
// lets `port: 0` mean one port for all. SO_REUSEPORT leaves balancing to the kernel's 4-tuple hash
// on Linux only (macOS and Windows do not balance), and nothing would restart a dead worker. The
// primary's cost is per connection (a handle passed over IPC), not per request.
import cluster, { type Worker } from 'node:cluster';
import type { LoadedConfig } from './config/load.ts';

export class WorkersError extends Error {
  override name = 'WorkersError';
}

/** The number of workers asked for; `--workers` takes a positive integer. */
export function parseWorkers(value: string | undefined): number {
  if (value === undefined) return 1;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 1024) throw new WorkersError(`--workers must be a whole number from 1 to 1024, not '${value}'`);
  return n;
}

/** Refuses configurations that cannot be spread over processes. */
export function checkWorkers(config: LoadedConfig, workers: number): void {
  if (workers > 1 && config.state.backend !== 'redis') {
    throw new WorkersError(
      `--workers ${workers} needs state.backend: redis. With memory state each worker would know only the sessions it created, and a legacy client's next request, handed to another worker, would be refused as an unknown session`,
    );
  }
}

/** Restart a crashed worker after this long, so a worker that dies at once does not spin. */
const RESTART_DELAY_MS = 1000;

/**
 * Runs in the primary: starts the workers and waits until all listen, or rejects with why the
 * first could not start (its own message is on stderr). Afterwards a worker that dies is replaced.
 */
export async function runWorkers(workers: number, log: (message: string) => void): Promise<{ url: string; stop(): Promise<void> }> {
  let stopping = false;
  const listening = new Set<Worker>();
  const url = await new Promise<string>((resolve, reject) => {
    let address = '';
    const started: Worker[] = [];
    const onExit = (worker: Worker, code: number | null) => {
      if (listening.has(worker)) return;
      stopping = true;
      for (const w of started) w.kill();
      reject(new WorkersError(`a worker exited (code ${code}) before it could listen`));
    };
    cluster.on('exit', onExit);
    cluster.on('listening', (worker, addr) => {
      listening.add(worker);
      const host = addr.address?.includes(':') ? `[${addr.address}]` : addr.address;
      address = `http://${host}:${addr.port}`;
      if (listening.size === workers) {
        cluster.off('exit', onExit);
        resolve(address);
      }
    });
    for (let i = 0; i < workers; i++) started.push(cluster.fork());
  });
  cluster.on('exit', (worker, code, signal) => {
    listening.delete(worker);
    if (stopping) return;
    log(`portcullis: worker ${worker.process.pid} exited (${signal ?? code}); starting another`);
    setTimeout(() => {
      // The 'listening' handler above counts it in once it listens.
      if (!stopping) cluster.fork();
    }, RESTART_DELAY_MS).unref();
  });
  return {
    url,
    stop: async () => {
      stopping = true;
      const all = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined);
      await Promise.all(all.map((w) => new Promise<void>((resolve) => {
        if (w.isDead()) return resolve();
        w.once('exit', () => resolve());
        w.kill('SIGTERM');
      })));
    },
  };
}

export const isWorker = (): boolean => cluster.isWorker;
