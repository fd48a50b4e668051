import { describe, expect, it } from 'vitest';
import { ErrorCode, GatewayError } from '../../gateway/errors.ts';
import { parseClientBody, toMessage } from '../../gateway/mcp/jsonrpc.ts';

describe('JSON-RPC parsing', () => {
  it('classifies requests, notifications and responses', () => {
    expect(toMessage({ jsonrpc: '2.0', id: 1, method: 'ping' })).toEqual({ kind: 'request', id: 1, method: 'ping', params: undefined });
    expect(toMessage({ jsonrpc: '2.0', method: 'notifications/initialized' })).toMatchObject({ kind: 'notification' });
    expect(toMessage({ jsonrpc: '2.0', id: 'a', result: {} })).toMatchObject({ kind: 'response', id: 'a', result: {} });
    expect(toMessage({ jsonrpc: '2.0', id: 'a', error: { code: -1, message: 'x' } })).toMatchObject({ kind: 'response', error: { code: -1 } });
  });

  it.each([
    ['not an object', 5],
    ['wrong version', { jsonrpc: '1.0', id: 1, method: 'ping' }],
    ['params not an object', { jsonrpc: '2.0', id: 1, method: 'ping', params: [1] }],
    ['empty method', { jsonrpc: '2.0', id: 1, method: '' }],
    ['null id on a request', { jsonrpc: '2.0', id: null, method: 'ping' }],
    ['object id', { jsonrpc: '2.0', id: {}, method: 'ping' }],
    ['both result and error', { jsonrpc: '2.0', id: 1, result: {}, error: { code: 1, message: 'x' } }],
    ['neither result nor error', { jsonrpc: '2.0', id: 1 }],
    ['malformed error', { jsonrpc: '2.0', id: 1, error: { code: 'x' } }],
  ])('rejects %s', (_, value) => {
    expect(typeof toMessage(value)).toBe('string');
  });

  it.each([
    ['not JSON', '{"jsonrpc":', 400, ErrorCode.ParseError],
    ['a batch', '[{"jsonrpc":"2.0","id":1,"method":"ping"}]', 400, ErrorCode.InvalidRequest],
    ['invalid JSON-RPC', '{"jsonrpc":"2.0","id":7,"method":5}', 400, ErrorCode.InvalidRequest],
  ])('refuses a body that is %s', (_, text, status, code) => {
    let error: unknown;
    try {
      parseClientBody(text, 64);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(GatewayError);
    expect((error as GatewayError).status).toBe(status);
    expect((error as GatewayError).code).toBe(code);
  });

  it('keeps the id of an invalid request for the error answer', () => {
    try {
      parseClientBody('{"jsonrpc":"2.0","id":7,"method":5}', 64);
    } catch (err) {
      expect((err as GatewayError).id).toBe(7);
      return;
    }
    throw new Error('expected a rejection');
  });
});
