// recordingOf: the recording of an exchange is recordingIdFor's, remembered for recent exchanges
// (it is asked for every message) and the same once forgotten.
import { describe, expect, it } from 'vitest';
import { recordingIdFor } from '../../../gateway/recordings/index.ts';
import { recordingOf } from '../../../gateway/telemetry/record.ts';

const facts = (principal: string, over: Partial<Parameters<typeof recordingOf>[0]> = {}) => ({ era: 'stateless' as const, target: 't', principal, sessionId: '', clientId: 'agent', ...over });
const direct = (f: ReturnType<typeof facts>) => recordingIdFor({ era: f.era, target: f.target, principal: f.principal, sessionId: f.sessionId, subject: { client_id: f.clientId } });

describe('recordingOf', () => {
  it('is recordingIdFor of the exchange, in both eras', () => {
    for (const f of [facts('alice'), facts('bob'), facts('alice', { clientId: 'other' }), facts('alice', { era: 'legacy' as never, sessionId: 's-1' }), facts('alice', { era: 'legacy' as never })]) {
      expect(recordingOf(f)).toBe(direct(f));
    }
    expect(recordingOf(facts('alice'))).not.toBe(recordingOf(facts('bob')));
    expect(recordingOf(facts('alice', { era: 'legacy' as never, sessionId: 's-1' }))).not.toBe(recordingOf(facts('alice', { era: 'legacy' as never, sessionId: 's-2' })));
  });

  it('stays the same for an exchange after many others filled the memory of recent ones', () => {
    const first = recordingOf(facts('carol'));
    for (let i = 0; i < 10_000; i++) expect(recordingOf(facts(`p${i}`))).toBe(direct(facts(`p${i}`)));
    expect(recordingOf(facts('carol'))).toBe(first);
  });
});
