// AEAD sealing (AES-256-GCM, node:crypto) for what the gateway hands out or keeps that nobody may
// read or forge: the stored call to execute and the 2026-07-28 `requestState`. Format:
//   portcullis.<purpose>.<kid>.<iv b64url>.<ciphertext+tag b64url>
// The purpose and kid are authenticated (additional data), so a sealed call is never accepted as a
// requestState, nor a value sealed under one key id opened as another's. Keys rotate: the first
// configured key seals, every configured key opens.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

export type SealPurpose = 'call' | 'state' | 'session' | 'login';

export interface SealingKey {
  kid: string;
  key: Uint8Array;
}

export const SEAL_PREFIX = 'portcullis.';

export class SealError extends Error {
  override name = 'SealError';
}

const KID = /^[A-Za-z0-9_-]{1,32}$/;

/** Parses `kid:base64key[,kid:base64key...]` (first seals); keys are 32 bytes. */
export function parseSealingKeys(text: string): SealingKey[] {
  const keys = text.split(',').map((part) => part.trim()).filter((p) => p !== '').map((part) => {
    const at = part.indexOf(':');
    const kid = part.slice(0, at);
    const key = Buffer.from(part.slice(at + 1), 'base64');
    if (at < 1 || !KID.test(kid)) throw new SealError('each sealing key is "kid:base64", kid of letters, digits, "-" and "_"');
    if (key.length !== 32) throw new SealError(`sealing key "${kid}" must be 32 bytes (base64 of 32 random bytes), got ${key.length}`);
    return { kid, key };
  });
  if (keys.length === 0) throw new SealError('no sealing key given');
  if (new Set(keys.map((k) => k.kid)).size !== keys.length) throw new SealError('sealing key ids must be unique');
  return keys;
}

export class Sealer {
  private readonly byKid: Map<string, Uint8Array>;
  private readonly keys: readonly SealingKey[];
  constructor(keys: readonly SealingKey[]) {
    this.keys = keys;
    if (keys.length === 0) throw new SealError('no sealing key');
    this.byKid = new Map(keys.map((k) => [k.kid, k.key]));
  }

  /** The current key, for keyed fingerprints. */
  get currentKey(): Uint8Array {
    return this.keys[0]!.key;
  }

  seal(purpose: SealPurpose, value: unknown): string {
    const { kid, key } = this.keys[0]!;
    const header = `${SEAL_PREFIX}${purpose}.${kid}`;
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', key, iv);
    cipher.setAAD(Buffer.from(header));
    const body = Buffer.concat([cipher.update(JSON.stringify(value), 'utf8'), cipher.final(), cipher.getAuthTag()]);
    return `${header}.${iv.toString('base64url')}.${body.toString('base64url')}`;
  }

  /** Opens a sealed value or throws SealError (never says which part was wrong beyond the format). */
  open(purpose: SealPurpose, sealed: string): unknown {
    if (typeof sealed !== 'string' || sealed.length > 1_000_000) throw new SealError('not a sealed value');
    const parts = sealed.split('.');
    if (parts.length !== 5 || `${parts[0]}.` !== SEAL_PREFIX || parts[1] !== purpose) throw new SealError('not a sealed value of this kind');
    const [, , kid, ivText, bodyText] = parts as [string, string, string, string, string];
    const key = this.byKid.get(kid);
    if (key === undefined) throw new SealError('sealed under an unknown key');
    const iv = Buffer.from(ivText, 'base64url');
    const body = Buffer.from(bodyText, 'base64url');
    if (iv.length !== 12 || body.length < 17 || iv.toString('base64url') !== ivText || body.toString('base64url') !== bodyText) throw new SealError('malformed sealed value');
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, iv);
      decipher.setAAD(Buffer.from(`${SEAL_PREFIX}${purpose}.${kid}`));
      decipher.setAuthTag(body.subarray(body.length - 16));
      const text = Buffer.concat([decipher.update(body.subarray(0, body.length - 16)), decipher.final()]).toString('utf8');
      return JSON.parse(text);
    } catch {
      throw new SealError('sealed value failed authentication (tampered, or sealed by another key)');
    }
  }
}
