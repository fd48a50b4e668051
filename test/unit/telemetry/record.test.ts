// recordingIdFor: a legacy session's id, or for 2026-07-28 one id per principal and client name,
// remembered for recent callers (it is asked for every message) and the same once forgotten.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { recordingIdFor } from '../../../gateway/telemetry/record.ts';

const hashed = (principal: string, client: string) =>
  `stateless-${createHash('sha256').update(`${principal}\n${client}`).digest('base64url').slice(0, 27)}`;

describe('recordingIdFor', () => {
  it('is the legacy session id when there is one', () => {
    expect(recordingIdFor('session-1', 'alice', 'agent')).toBe('session-1');
  });

  it('is one id per principal and client name in 2026-07-28, asked again or not', () => {
    const first = recordingIdFor('', 'alice', 'agent');
    expect(first).toBe(hashed('alice', 'agent'));
    expect(recordingIdFor('', 'alice', 'agent')).toBe(first);
    expect(recordingIdFor('', 'bob', 'agent')).toBe(hashed('bob', 'agent'));
    expect(recordingIdFor('', 'alice', 'other')).not.toBe(first);
    // Principal and client are kept apart by the separator.
    expect(recordingIdFor('', 'a', 'b')).not.toBe(recordingIdFor('', 'a\nb', ''));
  });

  it('stays the same for a caller after many others filled the memory of recent callers', () => {
    const first = recordingIdFor('', 'carol', 'agent');
    for (let i = 0; i < 10_000; i++) expect(recordingIdFor('', `p${i}`, 'agent')).toBe(hashed(`p${i}`, 'agent'));
    expect(recordingIdFor('', 'carol', 'agent')).toBe(first);
  });
});
