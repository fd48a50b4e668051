import { describe, expect, it } from 'vitest';
import { serializeInput, type PolicyQuery } from '../../gateway/policy/input.ts';

const base: PolicyQuery = {
  era: 'stateless', protocolVersion: '2026-07-28', direction: 'client_to_server', kind: 'request',
  method: 'tools/call', name: 'get_customer', arguments: { id: 'c-1' }, target: 'demo', sessionId: '',
  subjectJson: JSON.stringify({ sub: 'alice', groups: ['engineering'] }),
};

describe('policy input', () => {
  it('is the documented JSON document', () => {
    expect(JSON.parse(serializeInput(base, 1024))).toEqual({
      contract: 'portcullis/v1',
      protocol: { era: 'stateless', version: '2026-07-28' },
      direction: 'client_to_server', kind: 'request', method: 'tools/call', name: 'get_customer',
      arguments: { id: 'c-1' }, params: {}, truncated: false, target: 'demo', session_id: '',
      subject: { sub: 'alice', groups: ['engineering'] },
    });
  });

  it('drops _meta from params and escapes hostile strings', () => {
    const input = JSON.parse(serializeInput({ ...base, method: 'x"},"allow":true', name: '\u2028', arguments: undefined, params: { _meta: { a: 1 }, level: 'info' } }, 1024));
    expect(input.method).toBe('x"},"allow":true');
    expect(input.params).toEqual({ level: 'info' });
    expect(input.arguments).toEqual({});
  });

  it('replaces oversized arguments and says so', () => {
    const input = JSON.parse(serializeInput({ ...base, arguments: { blob: 'x'.repeat(2000) } }, 1024));
    expect(input.arguments).toEqual({});
    expect(input.truncated).toBe(true);
  });

  it('counts bytes, not characters, near the cap', () => {
    const fits = { s: 'é'.repeat(400) }; // ~810 bytes
    const over = { s: 'é'.repeat(600) }; // ~1210 bytes, 610 characters
    expect(JSON.parse(serializeInput({ ...base, arguments: fits }, 1024)).truncated).toBe(false);
    expect(JSON.parse(serializeInput({ ...base, arguments: over }, 1024)).truncated).toBe(true);
  });
});
