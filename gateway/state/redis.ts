// The connection to Redis: one client per process (each worker has its own), shared by every
// store. Fail fast rather than queue: a command issued while Redis is away errors at once (the
// request gets 503), and one that Redis does not answer in `commandTimeoutMs` errors then. The
// client reconnects on its own, forever, with a capped backoff.
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';

/** Redis could not be reached or used at start: the gateway refuses to start with this message. */
export class StateError extends Error {
  override name = 'StateError';
  readonly code = 'state_unreachable';
}

export interface RedisConnectionOptions {
  /** One server: redis:// or rediss:// (TLS). */
  url?: string | undefined;
  /** Redis Cluster: some of its nodes. */
  cluster?: string[] | undefined;
  username?: string | undefined;
  password?: string | undefined;
  commandTimeoutMs: number;
  connectTimeoutMs: number;
  log: (message: string) => void;
}

export type RedisClient = Redis | Cluster;

/** Reconnect backoff: quick at first, then every 2 s. */
const retryStrategy = (times: number) => Math.min(100 * times, 2000);

function common(options: RedisConnectionOptions): RedisOptions {
  return {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: options.commandTimeoutMs,
    connectTimeout: options.connectTimeoutMs,
    retryStrategy,
    ...(options.username === undefined ? {} : { username: options.username }),
    ...(options.password === undefined ? {} : { password: options.password }),
  };
}

function nodeOf(url: string): { host: string; port: number } {
  const u = new URL(url);
  return { host: u.hostname.replace(/^\[|\]$/g, ''), port: Number(u.port || 6379) };
}

/** Where the client points, for messages (never with credentials). */
export function describeRedis(options: Pick<RedisConnectionOptions, 'url' | 'cluster'>): string {
  const strip = (u: string) => { const x = new URL(u); x.username = ''; x.password = ''; return x.toString(); };
  return options.cluster ? `Redis Cluster ${options.cluster.map(strip).join(', ')}` : `Redis at ${strip(options.url ?? '')}`;
}

function client(options: RedisConnectionOptions): RedisClient {
  if (options.cluster) {
    const tls = options.cluster.some((u) => u.startsWith('rediss:'));
    const clusterOptions: ClusterOptions = {
      lazyConnect: true,
      enableOfflineQueue: false,
      clusterRetryStrategy: retryStrategy,
      redisOptions: { ...common(options), ...(tls ? { tls: {} } : {}) },
    };
    return new Cluster(options.cluster.map(nodeOf), clusterOptions);
  }
  return new Redis(options.url!, common(options));
}

/**
 * Connects and checks the server answers, or throws a StateError saying why (the gateway then
 * refuses to start). Afterwards connection changes are logged once each way.
 */
export async function connectRedis(options: RedisConnectionOptions): Promise<RedisClient> {
  const redis = client(options);
  const where = describeRedis(options);
  let failure: Error | undefined;
  const noteFailure = (err: Error) => { failure ??= err; };
  redis.on('error', noteFailure);
  try {
    await Promise.race([
      redis.connect(),
      new Promise((_, reject) => setTimeout(() => reject(failure ?? new Error(`no answer within ${options.connectTimeoutMs} ms`)), options.connectTimeoutMs).unref()),
    ]);
    await redis.ping();
  } catch (err) {
    redis.disconnect();
    const reason = (failure ?? (err as Error)).message;
    throw new StateError(`cannot use ${where} (state.redis): ${reason}`);
  }
  redis.off('error', noteFailure);
  let up = true;
  redis.on('error', () => {}); // reported through the transitions below
  redis.on('close', () => {
    if (up) options.log(`state: lost the connection to ${where}; requests that need shared state get 503 (-32090) until it is back`);
    up = false;
  });
  redis.on('ready', () => {
    if (!up) options.log(`state: reconnected to ${where}`);
    up = true;
  });
  return redis;
}

/** Whether Redis answers now: for /readyz. */
export async function pingRedis(redis: RedisClient): Promise<{ ok: boolean; detail: string }> {
  try {
    await redis.ping();
    return { ok: true, detail: 'redis: ok' };
  } catch (err) {
    return { ok: false, detail: `redis: ${(err as Error).message}` };
  }
}
