// The policy's status object, shaped like OPA's bundle status: what serves (revision, sha256,
// source, signing key, when it was loaded), when the source was last asked and last answered,
// and the last error with its code. Small setters update it; readers get plain JSON copies, so
// the status can be listed across replicas through shared state unchanged.
import { CompactSign, compactVerify, type CompactVerifyResult } from 'jose';
import type { PolicyInfo } from './engine.ts';
import type { SigningAlgorithm } from './verify.ts';

/** OPA's plugin states: NOT_READY before the first activation; WARN while the last good serves after an error. */
export type PolicyState = 'NOT_READY' | 'OK' | 'ERROR' | 'WARN';

export interface PolicyStatus {
  /** 'enforced' or 'candidate'. */
  name: string;
  state: PolicyState;
  /** Where this holder takes bundles from (configured path or URL). */
  configured_source: string;
  /** The active bundle's revision, sha256, where it was read from, signing key, load time; null before the first. */
  revision: string | null;
  sha256: string | null;
  source: string | null;
  key_id: string | null;
  loaded_at: string | null;
  /** When the source was last checked (file read, HTTP request). */
  last_check: string | null;
  /** When the source last answered without error (including 304 and "unchanged"). */
  last_successful_check: string | null;
  /** When a new bundle was last received. */
  last_successful_download: string | null;
  last_successful_activation: string | null;
  /** The last HTTP status from a bundle service, when there is one. */
  http_code: number | null;
  /** The last error, cleared by the next successful activation or check. */
  last_error: { code: string; message: string; at: string } | null;
  activations: number;
  failures: number;
}

export class PolicyStatusTracker {
  readonly #s: PolicyStatus;
  constructor(name: string, source: string) {
    this.#s = {
      name, state: 'NOT_READY', configured_source: source, revision: null, sha256: null, source: null, key_id: null, loaded_at: null, last_check: null, last_successful_check: null,
      last_successful_download: null, last_successful_activation: null, http_code: null, last_error: null,
      activations: 0, failures: 0,
    };
  }

  #refresh(): void {
    this.#s.state = this.#s.sha256 === null ? (this.#s.last_error ? 'ERROR' : 'NOT_READY') : this.#s.last_error ? 'WARN' : 'OK';
  }

  checked(httpCode: number | null = null): void {
    this.#s.last_check = new Date().toISOString();
    if (httpCode !== null) this.#s.http_code = httpCode;
  }

  checkSucceeded(): void {
    this.#s.last_successful_check = new Date().toISOString();
  }

  downloaded(): void {
    const now = new Date().toISOString();
    this.#s.last_successful_check = now;
    this.#s.last_successful_download = now;
  }

  activated(info: PolicyInfo): void {
    const changed = this.#s.sha256 !== info.sha256;
    Object.assign(this.#s, { revision: info.revision, sha256: info.sha256, source: info.source, key_id: info.keyId, loaded_at: info.loadedAt });
    this.#s.last_successful_activation = new Date().toISOString();
    if (changed) this.#s.activations++;
    this.#s.last_error = null;
    this.#refresh();
  }

  failed(code: string, message: string, httpCode: number | null = null): void {
    this.#s.last_error = { code, message, at: new Date().toISOString() };
    if (httpCode !== null) this.#s.http_code = httpCode;
    this.#s.failures++;
    this.#refresh();
  }

  /** Clears an error that the source itself has recovered from (e.g. the service answers again). */
  clearError(): void {
    this.#s.last_error = null;
    this.#refresh();
  }

  snapshot(): PolicyStatus {
    return structuredClone(this.#s);
  }
}

// ---------------------------------------------------------------------------------------------
// Signed status: a compact JWS over the status body, so a verifier can trust what a replica
// says it enforces even through proxies (`GET /status/signed`, `application/jose`).

export const STATUS_JWS_TYPE = 'portcullis-status+jws';

export interface StatusSigningKey {
  algorithm: SigningAlgorithm;
  /** A private key (RS/PS/ES) or the HMAC secret (HS). */
  key: CryptoKey | Uint8Array | import('node:crypto').KeyObject;
  keyId: string;
}

/** Signs a status body; the payload is the exact JSON the unsigned /status returns, plus `iat`. */
export async function signStatus(body: Record<string, unknown>, signing: StatusSigningKey): Promise<string> {
  const payload = new TextEncoder().encode(JSON.stringify({ ...body, iat: Math.floor(Date.now() / 1000) }));
  return new CompactSign(payload).setProtectedHeader({ alg: signing.algorithm, kid: signing.keyId, typ: STATUS_JWS_TYPE }).sign(signing.key);
}

/** A signed status older than this is refused: a replayed old answer must not pass for today's. */
export const DEFAULT_STATUS_MAX_AGE_SECONDS = 300;

/** Verifies a signed status (the CLI's side): signature, type and freshness; returns the body. */
export async function verifyStatus(
  jws: string,
  key: Parameters<typeof compactVerify>[1],
  algorithm: SigningAlgorithm,
  maxAgeSeconds: number = DEFAULT_STATUS_MAX_AGE_SECONDS,
): Promise<Record<string, unknown>> {
  const result: CompactVerifyResult = await compactVerify(jws.trim(), key as Uint8Array, { algorithms: [algorithm] });
  if (result.protectedHeader.typ !== STATUS_JWS_TYPE) throw new Error(`signed status has typ ${String(result.protectedHeader.typ)}, expected ${STATUS_JWS_TYPE}`);
  const body = JSON.parse(new TextDecoder().decode(result.payload)) as Record<string, unknown>;
  const age = Date.now() / 1000 - Number(body.iat);
  // A little clock skew is allowed into the future, none beyond the maximum age into the past.
  if (!Number.isFinite(age) || age > maxAgeSeconds || age < -60) {
    throw new Error(`signed status was issued ${Number.isFinite(age) ? `${Math.round(age)} s ago` : 'at no valid time'} (at most ${maxAgeSeconds} s accepted)`);
  }
  return body;
}
