// Base64 blobs (resource contents, image and audio data): which are text, and how to read them.

/** `blob` of resource contents, or `data` of an image/audio content block. */
export const isBlobMember = (o: Record<string, unknown>, k: string): boolean =>
  k === 'blob' || (k === 'data' && (o.type === 'image' || o.type === 'audio') && typeof o.mimeType === 'string');

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
export function decodeBase64(s: string): Buffer | null {
  const t = s.replace(/[\r\n]/g, '');
  if (t.length % 4 === 1 || !BASE64.test(t)) return null;
  return Buffer.from(t, 'base64');
}

const TEXT_MIME = /^(?:text\/|application\/(?:[\w.+-]*\+)?(?:json|xml|yaml|x-yaml|toml|javascript|ecmascript|x-sh|x-shellscript|sql|csv|x-www-form-urlencoded|graphql|x-ndjson|jsonl|x-httpd-php|x-python|x-ruby|x-perl|ld\+json|x-pem-file|pem-certificate-chain|x-x509-ca-cert|pkcs8|x-pkcs12|octet-stream-text)\b|message\/|image\/svg\+xml)/i;
export const textLike = (mime: string): boolean => TEXT_MIME.test(mime.trim());

const decoder = new TextDecoder('utf-8', { fatal: true });
export function utf8(bytes: Buffer): string | null {
  try {
    return decoder.decode(bytes);
  } catch {
    return null;
  }
}

/** The text of bytes that are UTF-8 a person could read (no control characters but tab, CR, LF, FF), else null. */
export function printableText(bytes: Buffer): string | null {
  if (bytes.length === 0) return null;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    if (b < 32 && b !== 9 && b !== 10 && b !== 13 && b !== 12) return null;
    if (b === 127) return null;
  }
  return utf8(bytes);
}
