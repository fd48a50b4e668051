// Answers for what never reaches an MCP route: unknown paths and methods, requests Node's HTTP
// parser or the adapter cannot read (bad framing, oversized headers, a malformed Host), and
// errors that escape a route. Each is a JSON-RPC error body where the socket still allows one,
// and none logs a stack trace for what a client did.
import type { Duplex } from 'node:stream';
import type { Context } from 'hono';
import { ErrorCode, GatewayError, jsonRpcError } from './errors.ts';

export function notFound(): Response {
  return new GatewayError(404, ErrorCode.NotFound, 'Not Found: the gateway serves MCP at /mcp/<target>').toResponse();
}

export function methodNotAllowed(): Response {
  return new GatewayError(405, ErrorCode.MethodNotAllowed, 'Method Not Allowed: an MCP endpoint takes GET, POST and DELETE', {
    headers: { allow: 'GET, POST, DELETE, OPTIONS' },
  }).toResponse();
}

/** What node-server could not turn into a Request (a Host or request target it cannot parse). */
export function malformedRequest(): Response {
  return new GatewayError(400, ErrorCode.InvalidRequest, 'Bad Request: the request target or Host header cannot be parsed').toResponse();
}

/** An error no route handled: a client that left is nobody's failure; anything else is logged in one line. */
export function escapedError(log: (message: string) => void) {
  return (err: Error, c: Context): Response => {
    const incoming = (c.env as { incoming?: { destroyed?: boolean } } | undefined)?.incoming;
    if (incoming?.destroyed || c.req.raw.signal.aborted) return new Response(null, { status: 499 });
    if (err instanceof GatewayError) return err.toResponse();
    log(`internal error on ${c.req.method} ${c.req.path}: ${err.name}: ${err.message}`);
    return new GatewayError(500, ErrorCode.InternalError, 'Internal error in the gateway; the request was not forwarded or its answer was withheld').toResponse();
  };
}

const REASONS: Record<number, string> = { 400: 'Bad Request', 408: 'Request Timeout', 413: 'Payload Too Large', 431: 'Request Header Fields Too Large' };

/**
 * Node's `clientError`: the request could not be parsed (bad framing, oversized headers, a
 * timeout). Answered with a JSON-RPC error when nothing was written on the socket yet.
 */
export function answerClientError(err: Error & { code?: string }, socket: Duplex): void {
  const busy = (socket as { _httpMessage?: { headersSent?: boolean } })._httpMessage?.headersSent === true;
  if (err.code === 'ECONNRESET' || !socket.writable || busy) {
    socket.destroy();
    return;
  }
  const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431
    : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408
      : err.code === 'HPE_CHUNK_EXTENSIONS_OVERFLOW' ? 413 : 400;
  const why = status === 431 ? 'the request headers are too large' : status === 408 ? 'the request took too long to arrive' : 'the HTTP request is malformed';
  const body = JSON.stringify(jsonRpcError(null, ErrorCode.InvalidRequest, `${REASONS[status]}: ${why}`));
  socket.end(`HTTP/1.1 ${status} ${REASONS[status]}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
}
