// Turns what openid-client, jose or fetch threw into a short, secret-free reason. Reasons reach
// callers in error messages, so a server's own words (`error_description`) are left out: only an
// OAuth error code of the registered shape is quoted (RFC 6749 §5.2), never free text.

const NETWORK_CODES: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'DNS lookup failed',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ETIMEDOUT: 'connection timed out',
  UND_ERR_SOCKET: 'connection closed by the server',
  UND_ERR_CONNECT_TIMEOUT: 'connection timed out',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'self-signed TLS certificate',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'TLS certificate not trusted',
  CERT_HAS_EXPIRED: 'TLS certificate expired',
  ERR_TLS_CERT_ALTNAME_INVALID: 'TLS certificate does not match the host',
};

/** An OAuth `error` value as RFC 6749 writes them (`invalid_client`); anything else is not quoted. */
const oauthCode = (code: string): string => (/^[a-z][a-z0-9_]{0,63}$/.test(code) ? code : 'an error code of unexpected form');

/** A one-line reason for a failed request to an authorization server; `secrets` are redacted. */
export function describeFailure(err: unknown, timeoutMs: number, secrets: readonly string[] = []): string {
  const e = err as { name?: string; message?: string; code?: unknown; error?: unknown; error_description?: unknown; status?: unknown; cause?: { code?: unknown; name?: string; message?: string } };
  let reason: string;
  if (e?.name === 'TimeoutError' || e?.cause?.name === 'TimeoutError' || e?.code === 'OAUTH_TIMEOUT') {
    reason = `no answer within ${timeoutMs} ms`;
  } else if (Array.isArray(e?.cause) && typeof (e.cause as Array<{ parameters?: { error?: unknown } }>)[0]?.parameters?.error === 'string') {
    // A WWW-Authenticate challenge (e.g. 401 invalid_client at the introspection endpoint).
    const params = (e.cause as Array<{ parameters: { error: string; error_description?: unknown } }>)[0]!.parameters;
    const status = typeof e.status === 'number' ? ` (HTTP ${e.status})` : '';
    reason = `${oauthCode(params.error)}${status}`;
  } else if (typeof e?.error === 'string') {
    // An OAuth error response (RFC 6749 §5.2): its code, not its description.
    const status = typeof e.status === 'number' ? ` (HTTP ${e.status})` : '';
    reason = `${oauthCode(e.error)}${status}`;
  } else if (typeof e?.cause?.code === 'string') {
    const code = e.cause.code;
    reason = NETWORK_CODES[code] ? `${NETWORK_CODES[code]} (${code})` : code;
  } else if (typeof e?.message === 'string' && e.message !== '') {
    reason = e.message;
  } else {
    reason = String(err);
  }
  for (const secret of secrets) if (secret.length >= 4) reason = reason.replaceAll(secret, '[redacted]');
  reason = reason.replace(/[\x00-\x1f\x7f]/g, ' ');
  return reason.length > 300 ? `${reason.slice(0, 300)}…` : reason;
}
