import { describe, expect, it } from 'vitest';
import { classifyClientMessage, PROTOCOL_VERSION_META_KEY } from '../../gateway/mcp/era.ts';
import { ErrorCode, GatewayError } from '../../gateway/errors.ts';
import type { JsonRpcMessage } from '../../gateway/mcp/jsonrpc.ts';

const modernMeta = { _meta: { [PROTOCOL_VERSION_META_KEY]: '2026-07-28' } };
const request = (method: string, params?: Record<string, unknown>): JsonRpcMessage => ({ kind: 'request', id: 1, method, params });
const headers = (h: Partial<Record<'protocolVersion' | 'method' | 'name', string>> = {}) => ({
  protocolVersion: h.protocolVersion, method: h.method, name: h.name,
});

function rejection(fn: () => unknown): GatewayError {
  try {
    fn();
  } catch (err) {
    if (err instanceof GatewayError) return err;
    throw err;
  }
  throw new Error('expected a rejection');
}

describe('era classification', () => {
  it.each([
    ['initialize without headers', request('initialize', { protocolVersion: '2025-06-18' }), headers(), { era: 'legacy', protocolVersion: '2025-06-18' }],
    ['legacy request with version header', request('tools/list'), headers({ protocolVersion: '2025-11-25' }), { era: 'legacy', protocolVersion: '2025-11-25' }],
    ['legacy request without header', request('tools/list'), headers(), { era: 'legacy', protocolVersion: '' }],
    ['2026 request with all headers', request('tools/call', { name: 'echo', ...modernMeta }), headers({ protocolVersion: '2026-07-28', method: 'tools/call', name: 'echo' }), { era: 'stateless', protocolVersion: '2026-07-28' }],
    ['2026 tools/list needs no Mcp-Name', request('tools/list', modernMeta), headers({ protocolVersion: '2026-07-28', method: 'tools/list' }), { era: 'stateless', protocolVersion: '2026-07-28' }],
    ['2026 base64 Mcp-Name', request('tools/call', { name: 'héllo', ...modernMeta }), headers({ protocolVersion: '2026-07-28', method: 'tools/call', name: `=?base64?${Buffer.from('héllo').toString('base64')}?=` }), { era: 'stateless', protocolVersion: '2026-07-28' }],
    ['2026 notification without headers', { kind: 'notification', method: 'notifications/cancelled', params: modernMeta } as JsonRpcMessage, headers(), { era: 'stateless', protocolVersion: '2026-07-28' }],
  ])('%s', (_, message, h, expected) => {
    expect(classifyClientMessage(message, h)).toEqual(expected);
  });

  it.each([
    ['Mcp-Method disagrees', request('tools/call', { name: 'echo', ...modernMeta }), headers({ protocolVersion: '2026-07-28', method: 'tools/list', name: 'echo' }), ErrorCode.HeaderMismatch],
    ['Mcp-Name disagrees', request('tools/call', { name: 'echo', ...modernMeta }), headers({ protocolVersion: '2026-07-28', method: 'tools/call', name: 'delete_everything' }), ErrorCode.HeaderMismatch],
    ['Mcp-Name missing', request('tools/call', { name: 'echo', ...modernMeta }), headers({ protocolVersion: '2026-07-28', method: 'tools/call' }), ErrorCode.HeaderMismatch],
    ['Mcp-Method missing', request('tools/call', { name: 'echo', ...modernMeta }), headers({ protocolVersion: '2026-07-28', name: 'echo' }), ErrorCode.HeaderMismatch],
    ['version header missing', request('tools/list', modernMeta), headers({ method: 'tools/list' }), ErrorCode.HeaderMismatch],
    ['version header disagrees with body', request('tools/list', modernMeta), headers({ protocolVersion: '2025-11-25', method: 'tools/list' }), ErrorCode.HeaderMismatch],
    ['invalid base64 Mcp-Name', request('resources/read', { uri: 'test://x', ...modernMeta }), headers({ protocolVersion: '2026-07-28', method: 'resources/read', name: '=?base64?@@@?=' }), ErrorCode.HeaderMismatch],
    ['initialize with a 2026 header', request('initialize', {}), headers({ protocolVersion: '2026-07-28' }), ErrorCode.HeaderMismatch],
    ['2026 header without envelope', request('tools/list'), headers({ protocolVersion: '2026-07-28', method: 'tools/list' }), ErrorCode.InvalidParams],
    ['envelope version not a string', request('tools/list', { _meta: { [PROTOCOL_VERSION_META_KEY]: 7 } }), headers(), ErrorCode.InvalidParams],
  ])('rejects: %s', (_, message, h, code) => {
    const err = rejection(() => classifyClientMessage(message, h));
    expect(err.status).toBe(400);
    expect(err.code).toBe(code);
    expect(err.id).toBe(1);
  });
});
