// Who is calling. Today the only source is the configured development subject (or an anonymous
// caller without groups); OIDC token validation plugs in here, behind the same interface.
import type { Config } from '../config/schema.ts';
import type { Subject } from '../policy/input.ts';

export interface Identity {
  subject: Subject;
  /** Serialized once: it is spliced into the policy input of every message. */
  subjectJson: string;
}

export interface Authenticator {
  authenticate(request: Request): Promise<Identity>;
}

function identityOf(subject: Subject): Identity {
  return { subject, subjectJson: JSON.stringify(subject) };
}

export function anonymousAuthenticator(config: Config['identity']): Authenticator {
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
