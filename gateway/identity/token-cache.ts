// Caches keyed by a hash of the token, never the token itself.
//
// - `TokenCache` (async) holds introspection results; the memory implementation is the default
//   and a shared one (Redis) can replace it later. Values are plain JSON.
// - `VerifiedTokens` (sync, in-process) remembers JWTs whose signature and claims were verified,
//   so a client that reuses its access token pays for the signature once.
import { createHash } from 'node:crypto';
import type { Identity } from './identity.ts';

/** sha256 of the token, base64url. The only form in which a token is ever stored. */
export function tokenHash(token: string): string {
  return createHash('sha256').update(token).digest('base64url');
}

/** An introspection result as cached: inactive, or active with the response's claims. */
export type CachedIntrospection = { active: false } | { active: true; claims: Record<string, unknown> };

export interface TokenCache {
  get(key: string): Promise<CachedIntrospection | undefined>;
  /** `ttlSeconds` > 0; the entry must not outlive it. */
  set(key: string, value: CachedIntrospection, ttlSeconds: number): Promise<void>;
}

interface Expiring<T> {
  value: T;
  expiresAt: number;
}

/** A bounded map with per-entry expiry; the oldest entry goes first when full. */
class BoundedMap<T> {
  readonly #entries = new Map<string, Expiring<T>>();
  readonly maxEntries: number;
  readonly now: () => number;
  constructor(maxEntries: number, now: () => number) {
    this.maxEntries = maxEntries;
    this.now = now;
  }

  get(key: string): T | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.expiresAt <= this.now()) {
      this.#entries.delete(key);
      return undefined;
    }
    return entry.value;
  }

  set(key: string, value: T, expiresAt: number): void {
    if (this.maxEntries <= 0) return;
    this.#entries.delete(key);
    while (this.#entries.size >= this.maxEntries) {
      const oldest = this.#entries.keys().next();
      if (oldest.done) break;
      this.#entries.delete(oldest.value);
    }
    this.#entries.set(key, { value, expiresAt });
  }

  delete(key: string): void {
    this.#entries.delete(key);
  }

  deleteWhere(predicate: (value: T) => boolean): number {
    let n = 0;
    for (const [key, entry] of this.#entries) {
      if (predicate(entry.value)) {
        this.#entries.delete(key);
        n++;
      }
    }
    return n;
  }

  get size(): number {
    return this.#entries.size;
  }
}

export class MemoryTokenCache implements TokenCache {
  readonly #map: BoundedMap<CachedIntrospection>;
  constructor(options: { maxEntries?: number; now?: () => number } = {}) {
    this.#map = new BoundedMap(options.maxEntries ?? 10_000, options.now ?? Date.now);
  }
  async get(key: string): Promise<CachedIntrospection | undefined> {
    return this.#map.get(key);
  }
  async set(key: string, value: CachedIntrospection, ttlSeconds: number): Promise<void> {
    if (ttlSeconds > 0) this.#map.set(key, value, this.#map.now() + ttlSeconds * 1000);
  }
  get size(): number {
    return this.#map.size;
  }
}

export interface VerifiedToken {
  issuer: string;
  /** Position of the issuer in the configuration. */
  issuerIndex: number;
  /** The key that verified it (jwks.ts `keyId`): forgotten when the issuer drops that key. */
  keyId: string;
  /** `exp` in ms (or earlier: when the token reaches the maximum token age). */
  expiresAt: number;
  audiences: ReadonlySet<string>;
  /** `iat` in seconds, when the token has one (re-checked against the maximum token age). */
  issuedAt?: number;
  identity: Identity;
}

/** In-process cache of verified JWTs (by token hash). Entries also expire at `exp` + skew. */
export class VerifiedTokens {
  readonly #map: BoundedMap<VerifiedToken>;
  readonly skewMs: number;
  constructor(maxEntries: number, now: () => number, skewMs: number) {
    this.#map = new BoundedMap(maxEntries, now);
    this.skewMs = skewMs;
  }
  get(key: string): VerifiedToken | undefined {
    return this.#map.get(key);
  }
  set(key: string, value: VerifiedToken): void {
    this.#map.set(key, value, value.expiresAt + this.skewMs);
  }
  /** Forgets tokens signed by keys an issuer no longer publishes. */
  forgetKeys(issuer: string, keyIds: ReadonlySet<string>): number {
    return this.#map.deleteWhere((v) => v.issuer === issuer && keyIds.has(v.keyId));
  }
  get size(): number {
    return this.#map.size;
  }
}
