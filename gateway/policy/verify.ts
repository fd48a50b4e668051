// Bundle signatures as `opa build --signing-key` and `opa sign` write them: `.signatures.json`
// holds exactly one compact JWS whose payload lists every file of the bundle with its digest.
// Two steps, as OPA does: check the token (key id, algorithm, signature, scope) and get the signed
// file list; then check every file against that list and demand the exact file set both ways.
import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { compactVerify, decodeProtectedHeader, errors as joseErrors } from 'jose';
import { canonicalJson } from './canonical.ts';
import { BundleError } from './errors.ts';

export const SIGNATURES_FILE = '.signatures.json';

export const SIGNING_ALGORITHMS = [
  'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'HS256', 'HS384', 'HS512',
] as const;
export type SigningAlgorithm = (typeof SIGNING_ALGORITHMS)[number];

/** One trusted key: a public key (PEM) for RS/PS/ES, a shared secret for HS. */
export interface VerificationKey {
  algorithm: SigningAlgorithm;
  key: KeyObject | Uint8Array;
  /** Scope a bundle signed by this key must carry, unless the configuration sets one. */
  scope?: string;
}

export interface VerificationConfig {
  keys: ReadonlyMap<string, VerificationKey>;
  /** Key to use whatever the token says (OPA's `signing.keyid`). */
  keyId?: string;
  /** Scope every bundle must carry (OPA's `signing.scope`); else the key's scope. */
  scope?: string;
  /** Bundle files left out of the check (OPA's `exclude_files`). */
  exclude?: readonly string[];
}

/** What a verified signature vouches for. */
export interface SignatureInfo {
  keyId: string;
  algorithm: SigningAlgorithm;
  scope: string;
  /** `iat` and `iss` of the payload, when the signer set them. */
  issuedAt?: number;
  issuer?: string;
}

interface SignedFile {
  hash: string;
  algorithm: string;
}

/**
 * Digests accepted for signed files. OPA also offers MD5, SHA-1 and SHA-224; a signature over a
 * collision-prone digest proves little, so those are refused.
 */
const DIGESTS: Record<string, string> = { 'SHA-256': 'sha256', 'SHA-384': 'sha384', 'SHA-512': 'sha512', 'SHA-512-256': 'sha512-256' };
const WEAK = new Set(['MD5', 'SHA-1', 'SHA-224', 'SHA-512-224']);

/** PEM text (SPKI, PKCS#1, a certificate, or a private key whose public half is used) to a key. */
export function publicKeyFromPem(pem: string, label: string): KeyObject {
  try {
    return createPublicKey(pem);
  } catch (err) {
    throw new Error(`${label}: not a PEM public key, certificate or private key (${(err as Error).message})`);
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** OPA hashes data.json, data.yaml and .manifest (anywhere in the bundle) as canonical JSON. */
function isStructured(name: string): boolean {
  const base = name.slice(name.lastIndexOf('/') + 1);
  return base === 'data.json' || base === 'data.yaml' || base === '.manifest';
}

function digest(name: string, bytes: Uint8Array, algorithm: string): string {
  if (WEAK.has(algorithm)) throw new BundleError('weak_hash', `${name}: signed with ${algorithm}, which the gateway does not accept (use SHA-256)`);
  const node = DIGESTS[algorithm];
  if (node === undefined) throw new BundleError('weak_hash', `${name}: unknown digest algorithm ${JSON.stringify(algorithm)}`);
  if (name.endsWith('data.yaml')) {
    throw new BundleError('unsupported_file', `${name}: YAML data in a signed bundle is not supported (opa build writes data.json)`);
  }
  const hash = createHash(node);
  hash.update(isStructured(name) ? canonicalJson(bytes, name) : bytes);
  return hash.digest('hex');
}

/** Step one: the token. Returns who signed and the signed file list. */
async function verifyToken(signatures: Uint8Array, config: VerificationConfig): Promise<{ info: SignatureInfo; files: Map<string, SignedFile> }> {
  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.from(signatures).toString('utf8'));
  } catch {
    throw new BundleError('bad_signatures_file', `${SIGNATURES_FILE} is not valid JSON`);
  }
  const tokens = isRecord(doc) ? doc.signatures : undefined;
  if (!Array.isArray(tokens) || !tokens.every((t) => typeof t === 'string')) {
    throw new BundleError('bad_signatures_file', `${SIGNATURES_FILE} has no "signatures" list of strings`);
  }
  if (isRecord(doc) && doc.plugin !== undefined && doc.plugin !== '_default') {
    throw new BundleError('bad_signatures_file', `${SIGNATURES_FILE} names signing plugin ${JSON.stringify(doc.plugin)}; only OPA's default signature format is supported`);
  }
  if (tokens.length === 0) throw new BundleError('unsigned', `${SIGNATURES_FILE} holds no signature (expected exactly one)`);
  if (tokens.length > 1) throw new BundleError('multiple_signatures', `${SIGNATURES_FILE} holds ${tokens.length} signatures (expected exactly one)`);
  const token = tokens[0] as string;

  let header: ReturnType<typeof decodeProtectedHeader>;
  let claims: Record<string, unknown>;
  try {
    header = decodeProtectedHeader(token);
    const payload = token.split('.')[1] ?? '';
    const parsed: unknown = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
    if (!isRecord(parsed)) throw new Error('payload is not an object');
    claims = parsed;
  } catch (err) {
    throw new BundleError('bad_jws', `${SIGNATURES_FILE}: the signature is not a compact JWS (${(err as Error).message})`);
  }

  // Which key: the configured one, else the token's `kid`, else the payload's (deprecated)
  // `keyid`, else the only key configured.
  const only = config.keys.size === 1 ? [...config.keys.keys()][0] : undefined;
  const keyId = config.keyId ?? (typeof header.kid === 'string' ? header.kid : undefined) ?? (typeof claims.keyid === 'string' ? claims.keyid : undefined) ?? only;
  if (keyId === undefined) {
    throw new BundleError('key_id_missing', 'the bundle signature names no key and several keys are configured: set policy.signing.keyid');
  }
  const key = config.keys.get(keyId);
  if (key === undefined) throw new BundleError('unknown_key', `the bundle is signed with key ${JSON.stringify(keyId)}, which is not configured`);
  try {
    await compactVerify(token, key.key, { algorithms: [key.algorithm] });
  } catch (err) {
    const why = err instanceof joseErrors.JOSEAlgNotAllowed ? `algorithm ${String(header.alg)} is not the configured ${key.algorithm}` : (err as Error).message;
    throw new BundleError('bad_signature', `the bundle signature does not verify with key ${JSON.stringify(keyId)}: ${why}`);
  }

  const expectedScope = config.scope ?? key.scope ?? '';
  const scope = typeof claims.scope === 'string' ? claims.scope : '';
  if (scope !== expectedScope) {
    throw new BundleError('scope_mismatch', `the bundle signature has scope ${JSON.stringify(scope)}, expected ${JSON.stringify(expectedScope)}`);
  }
  if (!Array.isArray(claims.files)) throw new BundleError('bad_jws', 'the signed payload has no "files" list');
  const files = new Map<string, SignedFile>();
  for (const entry of claims.files as unknown[]) {
    if (!isRecord(entry) || typeof entry.name !== 'string' || typeof entry.hash !== 'string' || typeof entry.algorithm !== 'string') {
      throw new BundleError('bad_jws', 'the signed payload lists a file without name, hash and algorithm');
    }
    const name = entry.name.replace(/^\/+/, '');
    if (files.has(name)) throw new BundleError('bad_jws', `the signed payload lists ${name} twice`);
    files.set(name, { hash: entry.hash.toLowerCase(), algorithm: entry.algorithm });
  }
  const info: SignatureInfo = { keyId, algorithm: key.algorithm, scope };
  if (typeof claims.iat === 'number') info.issuedAt = claims.iat;
  if (typeof claims.iss === 'string') info.issuer = claims.iss;
  return { info, files };
}

/**
 * Verifies a bundle's files (names without a leading '/') against its `.signatures.json`.
 * Throws BundleError naming the first problem; returns what the signature vouches for.
 */
export async function verifyBundle(files: ReadonlyMap<string, Uint8Array>, config: VerificationConfig): Promise<SignatureInfo> {
  const signatures = files.get(SIGNATURES_FILE);
  if (signatures === undefined) throw new BundleError('unsigned', `the bundle has no ${SIGNATURES_FILE} and a verification key is configured: refusing an unsigned bundle`);
  const { info, files: signed } = await verifyToken(signatures, config);
  const excluded = new Set(config.exclude ?? []);
  for (const [name, bytes] of files) {
    if (name === SIGNATURES_FILE || excluded.has(name)) continue;
    const entry = signed.get(name);
    if (entry === undefined) throw new BundleError('file_not_signed', `${name} is in the bundle but not in its signature`);
    if (digest(name, bytes, entry.algorithm) !== entry.hash) throw new BundleError('digest_mismatch', `${name} does not match the digest its signature lists`);
    signed.delete(name);
  }
  for (const name of excluded) signed.delete(name);
  if (signed.size > 0) {
    throw new BundleError('file_missing', `the signature lists files the bundle does not hold: ${[...signed.keys()].join(', ')}`);
  }
  return info;
}
