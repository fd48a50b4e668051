// The identity interface every source of identity implements, and the development source.
import type { Subject } from '../policy/input.ts';
import type { IdentityConfig } from './config.ts';
import type { AuthError } from './errors.ts';

export interface Identity {
  subject: Subject;
  /** Serialized once: it is spliced into the policy input of every message. */
  subjectJson: string;
  /** Who this is, for decision records and session binding; never a token. */
  principal: string;
  /** When the credential stops being valid (ms since the epoch), when known. */
  expiresAt?: number;
}

export interface Authenticator {
  /** Authenticates a request to MCP target `target` (its name), or throws an AuthError. */
  authenticate(request: Request, target: string): Promise<Identity>;
  /**
   * The 403 `insufficient_scope` answer for a target (MCP step-up), when this source of identity
   * can grant scopes at all (OIDC: yes; the development subject: no).
   */
  insufficientScope?(target: string, scopes: readonly string[], description?: string): AuthError;
}

/**
 * Who a subject is, for session binding and decision records: `["user", issuer, sub]`,
 * `["service", issuer, sub or client id]` or `["anonymous", "", sub]`, as JSON. The kind keeps a
 * service named `x` from ever being the user `x`; `sub` is only unique per issuer, so the issuer
 * is part of it; JSON keeps any character in an issuer or sub from forging a separator. A
 * service token without `sub` is named by its client id: RFC 9068 §2.2 has the `sub` of a
 * client-credentials token be the client's identifier, so one client is one principal whether
 * or not its issuer writes `sub`.
 */
export function principalOf(subject: Subject): string {
  return JSON.stringify([subject.type, subject.issuer, subject.sub]);
}

/** An identity for a subject; everything derived from it is computed here, once. */
export function identityOf(subject: Subject, principal: string = principalOf(subject)): Identity {
  return { subject, subjectJson: JSON.stringify(subject), principal };
}

/** DEVELOPMENT ONLY: every caller is the configured fixed subject (or anonymous, no groups). */
export function anonymousAuthenticator(config: Pick<IdentityConfig, 'anonymous'>): Authenticator {
  const fixed = config.anonymous;
  const identity = identityOf({
    authenticated: false,
    type: 'anonymous',
    sub: fixed?.sub ?? 'anonymous',
    issuer: '',
    client_id: '',
    email: fixed?.email ?? '',
    groups: fixed?.groups ?? [],
    scopes: fixed?.scopes ?? [],
    claims: {},
  });
  return { authenticate: async () => identity };
}

