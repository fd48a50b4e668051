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

/** `sub` is only unique per issuer, so the principal names the issuer too. */
function principalOf(subject: Subject): string {
  const who = subject.sub || subject.client_id || subject.type;
  return subject.issuer ? `${subject.issuer} ${who}` : who;
}

/** An identity for a subject; everything derived from it is computed here, once. */
export function identityOf(subject: Subject): Identity {
  return { subject, subjectJson: JSON.stringify(subject), principal: principalOf(subject) };
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

