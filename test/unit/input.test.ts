import { describe, expect, it } from 'vitest';
import { serializeInput, type PolicyQuery } from '../../gateway/policy/input.ts';

const limits = { maxInputBytes: 1024, maxResultBytes: 4096 };

const base: PolicyQuery = {
  era: 'stateless', protocolVersion: '2026-07-28', direction: 'client_to_server', kind: 'request',
  method: 'tools/call', name: 'get_customer', arguments: { id: 'c-1' }, target: 'demo', sessionId: '',
  subjectJson: JSON.stringify({ sub: 'alice', groups: ['engineering'] }),
};

describe('policy input', () => {
  it('is the documented JSON document', () => {
    expect(JSON.parse(serializeInput(base, limits))).toEqual({
      contract: 'portcullis/v1',
      protocol: { era: 'stateless', version: '2026-07-28' },
      direction: 'client_to_server', kind: 'request', method: 'tools/call', name: 'get_customer',
      arguments: { id: 'c-1' }, params: {}, result: {}, truncated: false, result_truncated: false, target: 'demo', session_id: '',
      subject: { sub: 'alice', groups: ['engineering'] },
    });
  });

  it('drops _meta from params and escapes hostile strings', () => {
    const input = JSON.parse(serializeInput({ ...base, method: 'x"},"allow":true', name: '\u2028', arguments: undefined, params: { _meta: { a: 1 }, level: 'info' } }, limits));
    expect(input.method).toBe('x"},"allow":true');
    expect(input.params).toEqual({ level: 'info' });
    expect(input.arguments).toEqual({});
  });

  it('replaces oversized arguments and says so', () => {
    const input = JSON.parse(serializeInput({ ...base, arguments: { blob: 'x'.repeat(2000) } }, limits));
    expect(input.arguments).toEqual({});
    expect(input.truncated).toBe(true);
  });

  it('carries a call result for the response-time decision, capped without serializing it whole', () => {
    const small = JSON.parse(serializeInput({ ...base, kind: 'response', direction: 'server_to_client', result: { content: [{ type: 'text', text: 'hi' }] } }, limits));
    expect(small.result).toEqual({ content: [{ type: 'text', text: 'hi' }] });
    expect(small.result_truncated).toBe(false);
    const big = JSON.parse(serializeInput({ ...base, result: { content: Array.from({ length: 1000 }, () => ({ type: 'text', text: 'x'.repeat(100) })) } }, limits));
    expect(big.result).toEqual({});
    expect(big.result_truncated).toBe(true);
    expect(big.truncated).toBe(false);
  });

  it('counts bytes, not characters, near the cap', () => {
    const fits = { s: 'é'.repeat(400) }; // ~810 bytes
    const over = { s: 'é'.repeat(600) }; // ~1210 bytes, 610 characters
    expect(JSON.parse(serializeInput({ ...base, arguments: fits }, limits)).truncated).toBe(false);
    expect(JSON.parse(serializeInput({ ...base, arguments: over }, limits)).truncated).toBe(true);
  });
});
