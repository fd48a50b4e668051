// Which recording a message belongs to. A legacy session is its own recording (its session id).
// 2026-07-28 has no sessions: a recording is one principal's exchanges through one client on one
// target, named by a hash of the three, so it is stable across calls and replicas.
import { createHash } from 'node:crypto';
import type { Subject } from '../policy/input.ts';

export interface RecordingOwner {
  target: string;
  /** identity principalOf: from the verified credential, never from the request's own claims. */
  principal: string;
  subject: Pick<Subject, 'client_id'>;
  /** `clientInfo.name` the client sent in `_meta` (2026-07-28 has no initialize), if any. */
  clientName?: string | undefined;
}

/** The client an exchange comes from: the token's client (client_id/azp), else what the client calls itself. */
export function clientOf(owner: Pick<RecordingOwner, 'subject' | 'clientName'>): string {
  return owner.subject.client_id || owner.clientName || 'unknown';
}

/**
 * The 2026-07-28 recording id: `rec_` and 32 hex digits of SHA-256 over the JSON array
 * [target, principal, client]. The encoding is unambiguous, so no client name (which the caller
 * chooses) can land a message in another principal's recording: that needs a SHA-256 collision.
 */
export function recordingIdFor(owner: RecordingOwner): string {
  const digest = createHash('sha256').update(JSON.stringify(['portcullis-recording/1', owner.target, owner.principal, clientOf(owner)])).digest('hex');
  return `rec_${digest.slice(0, 32)}`;
}

/** Ids a recording may have: a 2026-07-28 id, or a legacy session id (visible ASCII, as MCP says). */
export const RECORDING_ID = /^[\x21-\x7e]{1,256}$/;
