// Shared state: where what a replica needs to serve a request it did not start lives. `memory`
// keeps it in this process (one replica); `redis` shares it with every replica and worker.
// Design, keys and TTLs: docs/state.md.
import type { LoadedConfig } from '../config/load.ts';
import type { TokenCache } from '../identity/index.ts';
import { MemorySessionStore, type SessionStore } from '../sessions/store.ts';
import { StateKeys } from './keys.ts';
import { connectRedis, describeRedis, pingRedis, type RedisClient } from './redis.ts';
import { RedisSessionStore } from './redis-sessions.ts';
import { RedisTokenCache } from './redis-token-cache.ts';
import { ReplicaStatusBoard } from './replica-status.ts';

export { StateError } from './redis.ts';
export { RedisSessionStore, stateUnavailable } from './redis-sessions.ts';
export { RedisTokenCache } from './redis-token-cache.ts';
export { StateKeys } from './keys.ts';
export { ReplicaPublisher, ReplicaStatusBoard, type ReplicaReport } from './replica-status.ts';
export { connectRedis, type RedisClient } from './redis.ts';
export { defineLuaScripts, type ScriptCall } from './scripts.ts';

export interface StateHealth {
  backend: 'memory' | 'redis';
  ok: boolean;
  detail: string;
}

export interface SharedState {
  backend: 'memory' | 'redis';
  /** One line for the start-up log. */
  description: string;
  sessions: SessionStore;
  /** Introspection results, shared when configured; undefined keeps the identity module's per-process cache. */
  introspectionCache: TokenCache | undefined;
  /** The Redis connection, for modules that keep their own records there (approvals); undefined with memory. */
  redis: RedisClient | undefined;
  /** Every replica's /status report (Redis); undefined with memory, where this process is the only replica. */
  replicaStatus: ReplicaStatusBoard | undefined;
  /** The configured key prefix (Redis). */
  keyPrefix: string;
  health(): Promise<StateHealth>;
  close(): Promise<void>;
}

/** Opens the configured state; with Redis, throws StateError when it cannot be used. */
export async function openState(config: LoadedConfig, log: (message: string) => void): Promise<SharedState> {
  const { state } = config;
  const idleMs = state.session_idle_seconds * 1000;
  if (state.backend === 'memory' || state.redis === undefined) {
    return {
      backend: 'memory',
      description: 'state: memory (this process only: run a single replica, or configure state.backend: redis)',
      sessions: new MemorySessionStore({ idleMs, maxSessions: state.max_sessions }),
      introspectionCache: undefined,
      redis: undefined,
      replicaStatus: undefined,
      keyPrefix: '',
      health: async () => ({ backend: 'memory', ok: true, detail: 'memory: ok' }),
      close: async () => {},
    };
  }
  const where = { url: state.redis.url, cluster: state.redis.cluster };
  const redis = await connectRedis({
    ...where,
    ...config.redisAuth,
    commandTimeoutMs: state.redis.command_timeout_ms,
    connectTimeoutMs: state.redis.connect_timeout_ms,
    log,
  });
  const keys = new StateKeys(state.redis.key_prefix);
  return {
    backend: 'redis',
    description: `state: ${describeRedis(where)}, keys under '${state.redis.key_prefix}', sessions idle out after ${state.session_idle_seconds} s`,
    sessions: new RedisSessionStore(redis, keys, idleMs, log),
    introspectionCache: state.redis.share_introspection ? new RedisTokenCache(redis, keys) : undefined,
    redis,
    replicaStatus: new ReplicaStatusBoard(redis, keys),
    keyPrefix: state.redis.key_prefix,
    health: async () => ({ backend: 'redis', ...(await pingRedis(redis)) }),
    close: async () => {
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}
