// JSON-RPC error codes the gateway answers with, and the error that carries one with its HTTP
// status. Shared by every part of the data path; docs/errors.md is the reader's copy of this table.

export const ErrorCode = {
  // JSON-RPC 2.0
  ParseError: -32700,
  InvalidRequest: -32600,
  MethodNotFound: -32601,
  InvalidParams: -32602,
  InternalError: -32603,
  // MCP
  SessionNotFound: -32001,
  HeaderMismatch: -32020,
  UnsupportedProtocolVersion: -32022,
  // Portcullis: policy
  PolicyDenied: -32051,
  ApprovalRequired: -32052,
  PolicyError: -32053,
  MaskingFailed: -32054,
  // Portcullis: approvals (gateway/approvals, docs/approvals.md)
  ApprovalPending: -32055,
  ApprovalDenied: -32056,
  ApprovalExpired: -32057,
  ApprovalStateInvalid: -32058,
  ApprovalUsed: -32059,
  // Portcullis: upstream
  UpstreamUnavailable: -32060,
  UpstreamTimeout: -32061,
  UpstreamBadResponse: -32062,
  // Portcullis: identity (raised by gateway/identity as AuthError, with their challenge headers)
  Unauthorized: -32080,
  InsufficientScope: -32081,
  IdentityProviderUnavailable: -32082,
  // Portcullis: request refused at the door
  ForbiddenOrigin: -32070,
  PayloadTooLarge: -32071,
  UnknownTarget: -32072,
  NotFound: -32073,
  MethodNotAllowed: -32074,
  // Portcullis: shared state (Redis) could not be read or written: fail closed
  StateUnavailable: -32090,
  // Portcullis: audit trail (gateway/recordings): the recording buffer is full and the
  // configuration says to fail closed, so the call is refused before anything is forwarded
  RecordingUnavailable: -32092,
} as const;

export type ErrorCodeValue = (typeof ErrorCode)[keyof typeof ErrorCode];

export type JsonRpcId = string | number | null;

export interface JsonRpcErrorBody {
  jsonrpc: '2.0';
  id: JsonRpcId;
  error: { code: number; message: string; data?: unknown };
}

export function jsonRpcError(id: JsonRpcId, code: number, message: string, data?: unknown): JsonRpcErrorBody {
  return { jsonrpc: '2.0', id, error: data === undefined ? { code, message } : { code, message, data } };
}

/** An error answered before or instead of forwarding: HTTP status plus a JSON-RPC error body. */
export class GatewayError extends Error {
  override name = 'GatewayError';
  readonly data: unknown;
  /** The id of the message this answers, when it could be read. */
  readonly id: JsonRpcId;
  /** HTTP headers the answer must carry (e.g. WWW-Authenticate, Retry-After). */
  readonly headers: Readonly<Record<string, string>>;
  readonly status: number;
  readonly code: number;
  constructor(status: number, code: number, message: string, options: { data?: unknown; id?: JsonRpcId; headers?: Record<string, string> } = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.data = options.data;
    this.id = options.id ?? null;
    this.headers = options.headers ?? {};
  }
  body(id: JsonRpcId = this.id): JsonRpcErrorBody {
    return jsonRpcError(id, this.code, this.message, this.data);
  }
  /** The HTTP answer: the JSON-RPC error body, its status and headers. */
  toResponse(id: JsonRpcId = this.id, status: number = this.status): Response {
    return new Response(JSON.stringify(this.body(id)), { status, headers: { 'content-type': 'application/json', ...this.headers } });
  }
}
