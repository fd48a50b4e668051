// A decision record keeps a client-chosen method bounded: a method may be as long as the body.
import { describe, expect, it } from 'vitest';
import { recordDecision, type DecisionRecord } from '../../../gateway/telemetry/audit.ts';
import { boundedText, RECORD_METHOD_LIMIT } from '../../../gateway/telemetry/semconv.ts';
import { failClosed } from '../../../gateway/policy/decision.ts';
import type { PolicyQuery } from '../../../gateway/policy/input.ts';

const query = (method: string): PolicyQuery => ({ era: 'stateless', protocolVersion: '2026-07-28', target: 't', sessionId: '', subjectJson: '{}', direction: 'client_to_server', kind: 'notification', method, name: '' });

describe('bounded text in decision records', () => {
  it('keeps a known method whole and cuts a 100 000-character one to the limit, marked', () => {
    const records: DecisionRecord[] = [];
    const sink = { enabled: true, record: (r: DecisionRecord) => records.push(r) };
    recordDecision(sink, query('tools/call'), 'p', failClosed('x', 'r'));
    recordDecision(sink, query(`notifications/${'x'.repeat(100_000)}`), 'p', failClosed('x', 'r'));
    expect(records[0]!.method).toBe('tools/call');
    expect(records[1]!.method).toHaveLength(RECORD_METHOD_LIMIT + 1);
    expect(records[1]!.method.endsWith('…')).toBe(true);
  });

  it('never cuts inside a surrogate pair', () => {
    const text = `${'a'.repeat(9)}😀tail`;
    expect(boundedText(text, 10)).toBe(`${'a'.repeat(9)}…`);
    expect(boundedText(text, 11)).toBe(`${'a'.repeat(9)}😀…`);
    expect(boundedText('short', 10)).toBe('short');
  });
});
