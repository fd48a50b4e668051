// Introspection results shared by every replica: a token is introspected once per TTL across the
// fleet rather than once per process. A cache only: when Redis fails, the token is introspected
// again (fail open to the identity provider, never to the caller), so stateless calls keep working.
import type { CachedIntrospection, TokenCache } from '../identity/index.ts';
import type { StateKeys } from './keys.ts';
import type { RedisClient } from './redis.ts';

export class RedisTokenCache implements TokenCache {
  readonly #redis: RedisClient;
  readonly #keys: StateKeys;
  constructor(redis: RedisClient, keys: StateKeys) {
    this.#redis = redis;
    this.#keys = keys;
  }

  async get(key: string): Promise<CachedIntrospection | undefined> {
    try {
      const json = await this.#redis.get(this.#keys.introspection(key));
      return json === null ? undefined : (JSON.parse(json) as CachedIntrospection);
    } catch {
      return undefined;
    }
  }

  async set(key: string, value: CachedIntrospection, ttlSeconds: number): Promise<void> {
    const ms = Math.floor(ttlSeconds * 1000);
    if (ms < 1) return;
    await this.#redis.set(this.#keys.introspection(key), JSON.stringify(value), 'PX', ms).catch(() => {});
  }
}
