// Sends a client's message on to its upstream MCP server. undici's `request` rather than fetch:
// it is the same HTTP client without the WHATWG stream wrapping, which matters on every call.
import { Agent, request } from 'undici';
import { UpstreamCredentialError, type UpstreamCredentialProvider } from '../identity/index.ts';
import { ErrorCode, GatewayError } from '../errors.ts';

/** Client headers an upstream may see. Authorization and cookies never pass: the gateway is the
 * resource server for the caller's token, and the upstream gets its own credential instead. */
const FORWARDED_REQUEST_HEADERS = [
  'accept', 'content-type', 'last-event-id', 'user-agent',
  'mcp-session-id', 'mcp-protocol-version', 'mcp-method', 'mcp-name',
  'traceparent', 'tracestate', 'baggage',
];

/** Upstream headers a client may see; anything else (Set-Cookie, Server, …) stays behind. */
const RETURNED_RESPONSE_HEADERS = ['content-type', 'mcp-session-id', 'mcp-protocol-version', 'cache-control'];

export interface UpstreamTarget {
  name: string;
  url: string;
  /** What the gateway presents to this upstream (never the caller's credential). */
  credentials: UpstreamCredentialProvider;
  timeoutMs: number;
}

export interface UpstreamResponse {
  status: number;
  headers: Record<string, string>;
  body: AsyncIterable<Buffer> & { text(): Promise<string>; dump(): Promise<void> };
}

export function forwardedHeaders(incoming: Headers, target: UpstreamTarget): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of FORWARDED_REQUEST_HEADERS) {
    const value = incoming.get(name);
    if (value !== null) out[name] = value;
  }
  // Tools may mirror arguments into Mcp-Param-* headers; intermediaries must pass them on.
  incoming.forEach((value, name) => {
    if (name.startsWith('mcp-param-')) out[name] = value;
  });
  return out;
}

function returnedHeaders(raw: Record<string, string | string[] | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of RETURNED_RESPONSE_HEADERS) {
    const value = raw[name];
    if (typeof value === 'string') out[name] = value;
  }
  return out;
}

const UNREACHABLE = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED']);

function upstreamFailure(target: UpstreamTarget, err: unknown, signal: AbortSignal): GatewayError {
  const code = (err as { code?: string }).code ?? '';
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT') {
    return new GatewayError(504, ErrorCode.UpstreamTimeout, `Upstream '${target.name}' did not answer within ${target.timeoutMs} ms`);
  }
  if (signal.aborted) return new GatewayError(499, ErrorCode.InternalError, 'client went away');
  const detail = UNREACHABLE.has(code) ? code : 'connection failed';
  return new GatewayError(502, ErrorCode.UpstreamUnavailable, `Upstream '${target.name}' is unreachable (${detail})`);
}

export class Upstreams {
  readonly #agent = new Agent({ keepAliveTimeout: 30_000, connections: 256, pipelining: 1 });
  readonly #targets: Map<string, UpstreamTarget>;

  constructor(targets: UpstreamTarget[]) {
    this.#targets = new Map(targets.map((t) => [t.name, t]));
  }

  get(name: string): UpstreamTarget | undefined {
    return this.#targets.get(name);
  }

  async send(
    target: UpstreamTarget,
    method: 'POST' | 'GET' | 'DELETE',
    headers: Record<string, string>,
    body: string | undefined,
    signal: AbortSignal,
  ): Promise<UpstreamResponse> {
    let credential: Record<string, string>;
    try {
      credential = await target.credentials.headers();
    } catch (err) {
      if (err instanceof UpstreamCredentialError) throw new GatewayError(502, ErrorCode.UpstreamUnavailable, err.message);
      throw err;
    }
    try {
      const res = await request(target.url, {
        method, headers: { ...headers, ...credential }, body, signal, dispatcher: this.#agent,
        headersTimeout: target.timeoutMs,
        // Streams (SSE) legitimately stay open and quiet; only the time to first byte is bounded.
        bodyTimeout: 0,
      });
      // A rejected token may have been revoked early: fetch a new one next time.
      if (res.statusCode === 401) target.credentials.invalidate();
      return { status: res.statusCode, headers: returnedHeaders(res.headers), body: res.body };
    } catch (err) {
      throw upstreamFailure(target, err, signal);
    }
  }

  async close(): Promise<void> {
    await this.#agent.close();
  }
}
