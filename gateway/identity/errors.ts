// Authentication failures, answered the way the MCP authorization spec wants them: 401 with a
// `WWW-Authenticate: Bearer` challenge pointing at the RFC 9728 metadata (plus `error="invalid_token"`
// when a token was presented), 403 `insufficient_scope` for step-up, and 503 when an identity
// provider cannot be reached (fail closed, without telling the client its token is bad).
//
// Messages never contain the token, a secret, or any string taken from the token: a description
// only says which check failed and, where useful, what this gateway expected.
import { ErrorCode, GatewayError, type JsonRpcId } from '../errors.ts';

/** JSON-RPC error codes for authentication (the gateway's table: gateway/errors.ts). */
export const AuthErrorCode = {
  /** 401: no usable bearer token (missing, malformed, expired, wrong audience, …). */
  Unauthorized: ErrorCode.Unauthorized,
  /** 403: the token is valid but lacks a scope the policy requires. */
  InsufficientScope: ErrorCode.InsufficientScope,
  /** 503: an identity provider could not be reached or answered nonsense; nothing was forwarded. */
  IdentityProviderUnavailable: ErrorCode.IdentityProviderUnavailable,
} as const;

/** RFC 6750 error codes. */
export type BearerError = 'invalid_request' | 'invalid_token' | 'insufficient_scope';

export interface ChallengeParams {
  /** RFC 9728 metadata URL of the protected resource (the MCP target). */
  resourceMetadata?: string;
  error?: BearerError;
  description?: string;
  /** Space-separated scopes (a hint on 401, the missing ones on 403). */
  scope?: string;
}

/**
 * Strips what RFC 6750 does not allow in a quoted value (`"`, `\`, controls, non-ASCII) and caps
 * the length, so a description can never break or smuggle into the header.
 */
export function quotedValue(value: string, max = 200): string {
  const clean = value.replace(/[^\x20-\x21\x23-\x5b\x5d-\x7e]/g, '');
  return clean.length > max ? clean.slice(0, max) : clean;
}

/** The value of a `WWW-Authenticate: Bearer …` header. */
export function bearerChallenge(params: ChallengeParams): string {
  const parts: string[] = [];
  if (params.error) parts.push(`error="${params.error}"`);
  if (params.description) parts.push(`error_description="${quotedValue(params.description)}"`);
  if (params.scope) parts.push(`scope="${quotedValue(params.scope, 2000)}"`);
  if (params.resourceMetadata) parts.push(`resource_metadata="${quotedValue(params.resourceMetadata, 2000)}"`);
  return parts.length === 0 ? 'Bearer' : `Bearer ${parts.join(', ')}`;
}

/**
 * A refused request. Extends GatewayError, so the MCP route's error handling answers it with the
 * JSON-RPC body and `headers` (WWW-Authenticate, Retry-After).
 */
export class AuthError extends GatewayError {
  override name = 'AuthError';
  /** Value of the WWW-Authenticate header (undefined for 503). */
  readonly wwwAuthenticate: string | undefined;
  /** RFC 6750 error code, when there is one. */
  readonly bearerError: BearerError | undefined;

  constructor(
    status: 401 | 403 | 503,
    code: number,
    message: string,
    options: { wwwAuthenticate?: string; bearerError?: BearerError; retryAfterSeconds?: number; id?: JsonRpcId } = {},
  ) {
    const headers: Record<string, string> = {};
    if (options.wwwAuthenticate !== undefined) headers['www-authenticate'] = options.wwwAuthenticate;
    if (options.retryAfterSeconds !== undefined) headers['retry-after'] = String(Math.max(1, Math.ceil(options.retryAfterSeconds)));
    super(status, code, message, { headers, ...(options.id === undefined ? {} : { id: options.id }) });
    this.wwwAuthenticate = options.wwwAuthenticate;
    this.bearerError = options.bearerError;
  }
}

/** 401 without a token (or without a Bearer one): no error code, per RFC 6750 §3.1. */
export function missingToken(resourceMetadata: string, message: string, scope?: string): AuthError {
  return new AuthError(401, AuthErrorCode.Unauthorized, `Unauthorized: ${message}`, {
    wwwAuthenticate: bearerChallenge({ resourceMetadata, ...(scope ? { scope } : {}) }),
  });
}

/** 401 `invalid_token` (or `invalid_request`): a token was presented and refused. */
export function invalidToken(resourceMetadata: string, description: string, error: 'invalid_token' | 'invalid_request' = 'invalid_token'): AuthError {
  return new AuthError(401, AuthErrorCode.Unauthorized, `Unauthorized: ${description}`, {
    wwwAuthenticate: bearerChallenge({ error, description, resourceMetadata }),
    bearerError: error,
  });
}

/**
 * 403 `insufficient_scope`: for the gateway to answer when the policy says the caller's token
 * lacks scopes. `scopes` are those the client should request (RFC 6750 §3.1, MCP step-up).
 */
export function insufficientScope(resourceMetadata: string, scopes: readonly string[], description?: string): AuthError {
  const scope = scopes.join(' ');
  const text = description ?? `the token lacks the scope${scopes.length === 1 ? '' : 's'} ${scope}`;
  return new AuthError(403, AuthErrorCode.InsufficientScope, `Forbidden: ${text}`, {
    wwwAuthenticate: bearerChallenge({ error: 'insufficient_scope', description: text, scope, resourceMetadata }),
    bearerError: 'insufficient_scope',
  });
}

/** 503: an identity provider could not be asked; fail closed, the client may retry later. */
export function providerUnavailable(message: string, retryAfterSeconds: number): AuthError {
  return new AuthError(503, AuthErrorCode.IdentityProviderUnavailable, `Service Unavailable: ${message}; the request was not forwarded`, {
    retryAfterSeconds,
  });
}
