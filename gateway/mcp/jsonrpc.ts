// JSON-RPC 2.0 message shapes as MCP uses them, and strict parsing of what a client or server sent.
import { ErrorCode, GatewayError, type JsonRpcId } from '../errors.ts';
import { isObject, JsonError, parseJson } from '../json.ts';

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

/**
 * The message as the gateway forwards it: rebuilt from the members JSON-RPC defines (`jsonrpc`,
 * `id`, `method`, `params`, `result`, `error.code`, `error.message`, `error.data`). Anything else
 * a sender added is dropped, never passed on: nothing decided it (docs/wire.md).
 */
export function toWire(message: JsonRpcMessage): Record<string, unknown> {
  switch (message.kind) {
    case 'request':
      return message.params === undefined
        ? { jsonrpc: '2.0', id: message.id, method: message.method }
        : { jsonrpc: '2.0', id: message.id, method: message.method, params: message.params };
    case 'notification':
      return message.params === undefined ? { jsonrpc: '2.0', method: message.method } : { jsonrpc: '2.0', method: message.method, params: message.params };
    case 'response': {
      if (message.result !== undefined) return { jsonrpc: '2.0', id: message.id, result: message.result };
      const { code, message: text, data } = message.error!;
      return { jsonrpc: '2.0', id: message.id, error: data === undefined ? { code, message: text } : { code, message: text, data } };
    }
  }
}

/** Methods whose `params.name` or `params.uri` names what the policy decides about. */
export const NAMED_BY: Readonly<Record<string, 'name' | 'uri'>> = {
  'tools/call': 'name',
  'prompts/get': 'name',
  'resources/read': 'uri',
  'resources/subscribe': 'uri',
  'resources/unsubscribe': 'uri',
};

const OPTIONAL_NAME = new Set(['resources/subscribe', 'resources/unsubscribe']);

/** The name the policy decides about, or '' for methods that name nothing. */
export function nameOf(message: JsonRpcMessage): string {
  if (message.kind === 'response') return '';
  const field = Object.hasOwn(NAMED_BY, message.method) ? NAMED_BY[message.method] : undefined;
  const name = field === undefined ? undefined : message.params?.[field];
  return typeof name === 'string' ? name : '';
}

/**
 * Refuses what the gateway cannot screen end to end. Tasks (the `io.modelcontextprotocol/tasks`
 * extension) hand a call's result out later through `tasks/result`, a request the gateway cannot
 * tie to the call's decision and masks: a task-augmented request, or any `tasks/*` method, would
 * let a result past them. Refused (400) until the gateway understands tasks.
 */
export function refuseUnsupported(message: JsonRpcMessage): void {
  if (message.kind !== 'request' && message.kind !== 'notification') return;
  if (message.method.startsWith('tasks/')) {
    throw new GatewayError(400, ErrorCode.MethodNotFound, `Method not found: ${message.method.slice(0, 64)} is not supported through this gateway (tasks cannot be screened as their calls); nothing was forwarded`);
  }
  if (message.kind === 'request' && message.params !== undefined && Object.hasOwn(message.params, 'task')) {
    throw new GatewayError(400, ErrorCode.InvalidParams, 'Invalid params: task-augmented requests are not supported through this gateway (a task result cannot be screened as its call\'s); send the request without params.task; nothing was forwarded');
  }
}

/**
 * Parses a client's POST body: exactly one JSON-RPC message (batches were removed in 2025-06-18),
 * nested at most `maxDepth` deep, whose named methods name a string.
 */
export function parseClientBody(text: string, maxDepth: number): JsonRpcMessage {
  let value: unknown;
  try {
    value = parseJson(text, { maxDepth });
  } catch (err) {
    if (!(err instanceof JsonError)) throw err;
    const { kind, message } = err;
    // JSON.parse's own message quotes the text around the error: a body value, so it is not passed on.
    if (kind === 'syntax') throw new GatewayError(400, ErrorCode.ParseError, 'Parse error: body is not valid JSON');
    throw new GatewayError(400, ErrorCode.InvalidRequest, `Invalid Request: the body is refused: ${message}`);
  }
  if (Array.isArray(value)) {
    throw new GatewayError(400, ErrorCode.InvalidRequest, 'Invalid Request: JSON-RPC batches are not supported (removed from MCP in 2025-06-18); send one message per request');
  }
  const message = toMessage(value);
  if (typeof message === 'string') {
    throw new GatewayError(400, ErrorCode.InvalidRequest, `Invalid Request: ${message}`, { id: recoverId(value) });
  }
  if (message.kind !== 'response') {
    const field = Object.hasOwn(NAMED_BY, message.method) ? NAMED_BY[message.method]! : undefined;
    const named = field === undefined ? undefined : message.params?.[field];
    // Present, it must be a string (the policy decides on it as text); absent, only the methods
    // that cannot run without it refuse (2026-07-28 removed subscriptions: the upstream says so).
    if (field !== undefined && typeof named !== 'string' && (named !== undefined || !OPTIONAL_NAME.has(message.method))) {
      throw new GatewayError(400, ErrorCode.InvalidParams, `Invalid params: ${message.method} requires params.${field} to be a string`, { id: message.kind === 'request' ? message.id : null });
    }
  }
  return message;
}
