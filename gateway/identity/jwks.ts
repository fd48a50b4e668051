// One issuer's signing keys, fetched from its jwks_uri and kept in memory.
//
// - An unknown `kid` refetches the set, at most once per cooldown (so forged kids cannot make the
//   gateway hammer the issuer); a set older than max-age is refetched before use, which is how a
//   key the issuer dropped stops working: the bound on that is max-age (the cooldown only spaces
//   out refetches after a failed one).
// - When a refetch fails, keys already known keep working (an identity provider outage does not
//   break tokens we can still check) for at most max-age + stale-if-error after the last good
//   fetch; a kid we cannot look up is then "unavailable" (503), not "invalid" (401).
// - A key is known by its RFC 7638 thumbprint, not only its `kid`: an issuer that reuses a kid
//   for new key material, or publishes keys without kids, still retires the old key.
// - Only public asymmetric keys are kept: `oct` keys are ignored, private members dropped.
import { createHash } from 'node:crypto';
import { describeFailure } from './failure.ts';
import { importJWK, type CryptoKey, type JWK, type JWSHeaderParameters } from 'jose';

export class KeyNotFoundError extends Error {
  override name = 'KeyNotFoundError';
}

export class JwksUnavailableError extends Error {
  override name = 'JwksUnavailableError';
}

export interface JwksOptions {
  issuer: string;
  uri: string;
  cooldownMs: number;
  maxAgeMs: number;
  /** How long past max-age known keys still verify while the set cannot be refetched. */
  staleIfErrorMs: number;
  timeoutMs: number;
  fetch: typeof fetch;
  now: () => number;
  log: (message: string) => void;
  /** Called after a refetch with the ids (`keyId`) of the keys that disappeared. */
  onKeysRemoved?: (ids: ReadonlySet<string>) => void;
}

const MAX_JWKS_BYTES = 512 * 1024;

/** Public members per key type (RFC 7517/7518/8037); anything else is dropped. */
const PUBLIC_MEMBERS: Record<string, readonly string[]> = {
  RSA: ['kty', 'n', 'e'],
  EC: ['kty', 'crv', 'x', 'y'],
  OKP: ['kty', 'crv', 'x'],
};

function publicJwk(raw: Record<string, unknown>): JWK | undefined {
  const members = typeof raw.kty === 'string' ? PUBLIC_MEMBERS[raw.kty] : undefined;
  if (members === undefined) return undefined;
  if (raw.use !== undefined && raw.use !== 'sig') return undefined;
  if (Array.isArray(raw.key_ops) && !raw.key_ops.includes('verify')) return undefined;
  const jwk: Record<string, unknown> = {};
  for (const m of members) {
    if (typeof raw[m] !== 'string') return undefined;
    jwk[m] = raw[m];
  }
  if (typeof raw.kid === 'string') jwk.kid = raw.kid;
  if (typeof raw.alg === 'string') jwk.alg = raw.alg;
  return jwk as JWK;
}

/**
 * A key's identity: its kid and its RFC 7638 thumbprint (sha256 over the required public members
 * in lexical order; the members were checked to be strings, so this JSON is the canonical form).
 */
export function keyId(jwk: JWK): string {
  const members = [...PUBLIC_MEMBERS[jwk.kty!]!].sort();
  const canonical = `{${members.map((m) => `${JSON.stringify(m)}:${JSON.stringify((jwk as Record<string, unknown>)[m])}`).join(',')}}`;
  return `${jwk.kid ?? ''} ${createHash('sha256').update(canonical).digest('base64url')}`;
}

/** A verification key and the identity of the JWK it came from. */
export interface ResolvedKey {
  key: CryptoKey;
  id: string;
}

/** Whether a key of this type can verify `alg`. */
function fits(jwk: JWK, alg: string): boolean {
  if (jwk.alg !== undefined && jwk.alg !== alg) return false;
  switch (alg) {
    case 'RS256': case 'RS384': case 'RS512': case 'PS256': case 'PS384': case 'PS512':
      return jwk.kty === 'RSA';
    case 'ES256': return jwk.kty === 'EC' && jwk.crv === 'P-256';
    case 'ES384': return jwk.kty === 'EC' && jwk.crv === 'P-384';
    case 'ES512': return jwk.kty === 'EC' && jwk.crv === 'P-521';
    case 'EdDSA': case 'Ed25519': return jwk.kty === 'OKP' && jwk.crv === 'Ed25519';
    default: return false;
  }
}

export class RemoteJwks {
  #keys: Array<JWK & { id: string }> = [];
  #fetchedAt = -Infinity;
  #lastAttempt = -Infinity;
  #lastError: string | undefined;
  #inflight: Promise<boolean> | undefined;
  readonly #imported = new Map<string, Promise<CryptoKey>>();
  #fetches = 0;

  readonly options: JwksOptions;

  constructor(options: JwksOptions) {
    this.options = options;
  }

  get status(): { keys: number; kids: string[]; fetchedAt: number | undefined; fetches: number; lastError: string | undefined } {
    return {
      keys: this.#keys.length,
      kids: this.#keys.map((k) => k.kid ?? ''),
      fetchedAt: Number.isFinite(this.#fetchedAt) ? this.#fetchedAt : undefined,
      fetches: this.#fetches,
      lastError: this.#lastError,
    };
  }

  /** Whether the key with this identity (`keyId`) is in the current set. */
  has(id: string): boolean {
    return this.#keys.some((k) => k.id === id);
  }

  /** Whether the set is younger than max-age (cached verifications may be reused only then). */
  fresh(): boolean {
    return this.options.now() - this.#fetchedAt <= this.options.maxAgeMs;
  }

  #coolingDown(): boolean {
    return this.options.now() - this.#lastAttempt < this.options.cooldownMs;
  }

  /**
   * Whether a stale set is refetched now: always after a good fetch (max-age alone bounds how long
   * a removed key is accepted), but only once per cooldown after a failed one (no hammering an
   * issuer that is down).
   */
  #mayRefetchStale(): boolean {
    return this.#inflight !== undefined || this.#lastError === undefined || !this.#coolingDown();
  }

  /** Fetches the set once (concurrent callers share the fetch). Resolves to success. */
  refresh(): Promise<boolean> {
    this.#inflight ??= this.#fetch().finally(() => {
      this.#inflight = undefined;
    });
    return this.#inflight;
  }

  async #fetch(): Promise<boolean> {
    const { issuer, uri } = this.options;
    this.#lastAttempt = this.options.now();
    this.#fetches++;
    try {
      const res = await this.options.fetch(uri, {
        headers: { accept: 'application/jwk-set+json, application/json' },
        redirect: 'error',
        signal: AbortSignal.timeout(this.options.timeoutMs),
      });
      if (res.status !== 200) {
        await res.body?.cancel();
        throw new Error(`HTTP ${res.status}`);
      }
      const text = await res.text();
      if (text.length > MAX_JWKS_BYTES) throw new Error(`JWKS larger than ${MAX_JWKS_BYTES} bytes`);
      const doc = JSON.parse(text) as unknown;
      const raw = (doc as { keys?: unknown } | null)?.keys;
      if (!Array.isArray(raw)) throw new Error('not a JWK set (no "keys" array)');
      const keys = raw
        .flatMap((k) => (typeof k === 'object' && k !== null ? [publicJwk(k as Record<string, unknown>)] : []))
        .filter((k): k is JWK => k !== undefined)
        .map((k) => ({ ...k, id: keyId(k) }));
      const after = new Set(keys.map((k) => k.id));
      const removed = new Set(this.#keys.map((k) => k.id).filter((id) => !after.has(id)));
      this.#keys = keys;
      this.#fetchedAt = this.options.now();
      this.#lastError = undefined;
      this.#imported.clear();
      if (removed.size > 0) this.options.onKeysRemoved?.(removed);
      return true;
    } catch (err) {
      const reason = describeFailure(err, this.options.timeoutMs);
      this.#lastError = `JWKS fetch from ${uri} failed: ${reason}`;
      this.options.log(`identity: issuer ${issuer}: ${this.#lastError}`);
      return false;
    }
  }

  #candidates(header: JWSHeaderParameters): Array<JWK & { id: string }> {
    const alg = header.alg ?? '';
    return this.#keys.filter((k) => (header.kid === undefined || k.kid === header.kid) && fits(k, alg));
  }

  /** The verification key for a token header; refetches as described above. */
  async key(header: JWSHeaderParameters): Promise<ResolvedKey> {
    let refreshed = false;
    if (!this.fresh() && this.#mayRefetchStale()) {
      await this.refresh();
      refreshed = true;
    }
    if (this.#keys.length === 0) throw new JwksUnavailableError(this.#lastError ?? `no signing keys from ${this.options.uri}`);
    const age = this.options.now() - this.#fetchedAt;
    if (age > this.options.maxAgeMs + this.options.staleIfErrorMs) {
      // The issuer has not been reachable for too long: a key it removed meanwhile must not
      // verify forever, so known keys stop working too (fail closed, 503).
      throw new JwksUnavailableError(`${this.#lastError ?? 'JWKS could not be refetched'}; the keys fetched ${Math.round(age / 1000)} s ago are too old to trust`);
    }
    let candidates = this.#candidates(header);
    if (candidates.length === 0 && !refreshed && (this.#inflight !== undefined || !this.#coolingDown())) {
      await this.refresh();
      candidates = this.#candidates(header);
    }
    if (candidates.length === 0) {
      // While the issuer cannot be asked, an unknown kid may be a key we have not seen yet.
      if (this.#lastError !== undefined) throw new JwksUnavailableError(this.#lastError);
      throw new KeyNotFoundError(header.kid === undefined ? 'no key for the token algorithm' : 'unknown signing key');
    }
    if (candidates.length > 1) throw new KeyNotFoundError('token has no key id (kid) and the issuer publishes several keys');
    const { id: keyIdentity, ...jwk } = candidates[0]!;
    const id = `${keyIdentity}\u0000${header.alg}`;
    let imported = this.#imported.get(id);
    if (imported === undefined) {
      imported = importJWK(jwk, header.alg) as Promise<CryptoKey>;
      this.#imported.set(id, imported);
      imported.catch(() => this.#imported.delete(id));
    }
    return { key: await imported, id: keyIdentity };
  }
}
