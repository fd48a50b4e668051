// Which recording a message belongs to, in both eras, in two namespaces that cannot meet:
// - legacy (2025 sessions): `ses_` + a hash of [target, session id, principal]. The session id is
//   the upstream's choice, so it never names a recording by itself: an upstream answering with
//   another target's session id, or with a 2026-07-28 recording id, gets a recording of its own.
// - 2026-07-28 (no sessions): `rec_` + a hash of [target, principal, client], where the client is
//   the token's client_id/azp, or '' without one. Never the `clientInfo.name` the caller sends:
//   a name per call would mint a recording per call (the name stays in each message).
// Both are stable across calls and replicas.
import { createHash } from 'node:crypto';
import type { Era, Subject } from '../policy/input.ts';

export interface RecordingOwner {
  /** Default `stateless` (2026-07-28). */
  era?: Era | undefined;
  target: string;
  /** identity principalOf: from the verified credential, never from the request's own claims. */
  principal: string;
  /** Legacy: the Mcp-Session-Id of the exchange (required). Ignored in 2026-07-28. */
  sessionId?: string | undefined;
  /** 2026-07-28: the token's client (client_id/azp). */
  subject?: Pick<Subject, 'client_id'> | undefined;
  /** `clientInfo.name` the client sent; shown (clientOf), never part of the id (R6). */
  clientName?: string | undefined;
}

/** The client an exchange comes from, for display: the token's client (client_id/azp), else what the client calls itself. */
export function clientOf(owner: Pick<RecordingOwner, 'subject' | 'clientName'>): string {
  return owner.subject?.client_id || owner.clientName || 'unknown';
}

export const LEGACY_PREFIX = 'ses_';
export const STATELESS_PREFIX = 'rec_';

const hashed = (prefix: string, parts: string[]) => `${prefix}${createHash('sha256').update(JSON.stringify(parts)).digest('hex').slice(0, 32)}`;

/**
 * The recording a message belongs to: `ses_` + 32 hex digits of SHA-256 over the JSON array
 * ['portcullis-recording/legacy/1', target, sessionId, principal] for a legacy session, `rec_` +
 * 32 hex over ['portcullis-recording/1', target, principal, client_id or ''] for 2026-07-28. The
 * JSON encoding is unambiguous and the prefixes differ, so landing in another target's,
 * principal's or era's recording needs a SHA-256 collision. A legacy exchange without a session
 * id has ['portcullis-recording/legacy-nosession/1', target, principal].
 */
export function recordingIdFor(owner: RecordingOwner): string {
  if (owner.era === 'legacy') {
    // An exchange with no session (a legacy server without sessions, or an initialize that failed)
    // is kept in the principal's session-less legacy recording on that target.
    if (!owner.sessionId) return hashed(LEGACY_PREFIX, ['portcullis-recording/legacy-nosession/1', owner.target, owner.principal]);
    return hashed(LEGACY_PREFIX, ['portcullis-recording/legacy/1', owner.target, owner.sessionId, owner.principal]);
  }
  return hashed(STATELESS_PREFIX, ['portcullis-recording/1', owner.target, owner.principal, owner.subject?.client_id ?? '']);
}

/** Whether an id is in the other era's namespace (a message that claims it is refused, never merged). */
export function foreignNamespace(recording: string, era: Era): boolean {
  return era === 'legacy' ? recording.startsWith(STATELESS_PREFIX) : recording.startsWith(LEGACY_PREFIX);
}

/** Ids a recording may have: what recordingIdFor makes, within visible ASCII. */
export const RECORDING_ID = /^[\x21-\x7e]{1,256}$/;

/** A page cursor (memory: a row number; Redis: a stream entry id). */
export const CURSOR = /^\d{1,20}(-\d{1,20})?$/;
