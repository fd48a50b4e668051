// JSON-RPC 2.0 message shapes as MCP uses them, and strict parsing of what a client or server sent.
import { ErrorCode, GatewayError, type JsonRpcId } from '../errors.ts';
import { isObject } from '../json.ts';

export type Params = Record<string, unknown>;

export type JsonRpcMessage =
  | { kind: 'request'; id: string | number; method: string; params: Params | undefined }
  | { kind: 'notification'; method: string; params: Params | undefined }
  | { kind: 'response'; id: string | number; result?: Record<string, unknown>; error?: { code: number; message: string; data?: unknown } };

const isId = (v: unknown): v is string | number =>
  typeof v === 'string' || (typeof v === 'number' && Number.isFinite(v));

/** Classifies one decoded JSON value; returns a description of the problem when it is not a message. */
export function toMessage(value: unknown): JsonRpcMessage | string {
  if (!isObject(value)) return 'a JSON-RPC message must be an object';
  if (value.jsonrpc !== '2.0') return 'jsonrpc must be "2.0"';
  const { id, method, params } = value;
  if (params !== undefined && !isObject(params)) return 'params must be an object';
  if (typeof method === 'string') {
    if (method.length === 0) return 'method must not be empty';
    if (id === undefined) return { kind: 'notification', method, params };
    if (!isId(id)) return 'id must be a string or a number';
    return { kind: 'request', id, method, params };
  }
  if (method !== undefined) return 'method must be a string';
  if (!isId(id)) return 'a response must carry the id of the request it answers';
  const hasResult = 'result' in value;
  const hasError = 'error' in value;
  if (hasResult === hasError) return 'a response carries exactly one of result and error';
  if (hasResult) return isObject(value.result) ? { kind: 'response', id, result: value.result } : 'result must be an object';
  const error = value.error;
  if (!isObject(error) || typeof error.code !== 'number' || typeof error.message !== 'string') {
    return 'error must be an object with a numeric code and a string message';
  }
  return { kind: 'response', id, error: error as { code: number; message: string; data?: unknown } };
}

/** The id to answer a malformed message with, when one can be recovered. */
export function recoverId(value: unknown): JsonRpcId {
  return isObject(value) && isId(value.id) ? value.id : null;
}

/** Parses a client's POST body: exactly one JSON-RPC message (batches were removed in 2025-06-18). */
export function parseClientBody(text: string): JsonRpcMessage {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new GatewayError(400, ErrorCode.ParseError, `Parse error: body is not valid JSON (${(err as Error).message})`);
  }
  if (Array.isArray(value)) {
    throw new GatewayError(400, ErrorCode.InvalidRequest, 'Invalid Request: JSON-RPC batches are not supported (removed from MCP in 2025-06-18); send one message per request');
  }
  const message = toMessage(value);
  if (typeof message === 'string') {
    throw new GatewayError(400, ErrorCode.InvalidRequest, `Invalid Request: ${message}`, { id: recoverId(value) });
  }
  return message;
}
