// What an approval is bound to: SHA-256 over the RFC 8785 (JCS) canonical JSON of exactly what
// will run and who asked, under which policy. `canonicalize` is the maintained JCS implementation
// (number formatting and key order per the RFC); it refuses lone surrogates, NaN and Infinity,
// which is right: such a call cannot be bound, so it cannot be approved.
import { createHash, createHmac } from 'node:crypto';
import canonicalize from 'canonicalize';

export interface BoundCall {
  target: string;
  method: string;
  name: string;
  arguments: unknown;
  principal: string;
  revision: string;
  /** An upstream multi-round-trip continuation this call carries (its requestState and inputResponses), if any. */
  continuation?: unknown;
}

/** Thrown when a call cannot be put in canonical form. */
export class DigestError extends Error {
  override name = 'DigestError';
}

export function canonicalJson(value: unknown): string {
  let text: string | undefined;
  try {
    text = canonicalize(value);
  } catch (err) {
    throw new DigestError(`the call cannot be canonicalized (RFC 8785): ${(err as Error).message}`);
  }
  if (text === undefined) throw new DigestError('the call cannot be canonicalized (RFC 8785): no JSON value');
  return text;
}

export function callDigest(call: BoundCall): string {
  const doc = {
    v: 1, target: call.target, method: call.method, name: call.name, arguments: call.arguments ?? {},
    principal: call.principal, revision: call.revision,
    ...(call.continuation === undefined ? {} : { continuation: call.continuation }),
  };
  return createHash('sha256').update(canonicalJson(doc)).digest('hex');
}

/**
 * A keyed fingerprint of a digest, for display and for store partitions. Approvers see masked
 * arguments; a bare SHA-256 of the real ones would let them brute-force a low-entropy secret
 * (a PIN) that the mask hid. The key is the gateway's sealing key.
 */
export function fingerprint(key: Uint8Array, digest: string): string {
  return createHmac('sha256', key).update(`portcullis approval fingerprint\0${digest}`).digest('hex').slice(0, 32);
}
