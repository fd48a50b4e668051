// Sends a client's message on to its upstream MCP server. undici's `request` rather than fetch:
// it is the same HTTP client without the WHATWG stream wrapping, which matters on every call.
import { Agent, request } from 'undici';
import { UpstreamCredentialError, type UpstreamCredentialProvider } from '../identity/index.ts';
import { ErrorCode, GatewayError } from '../errors.ts';
import { isSpanContextValid } from '@opentelemetry/api';
import { parseTraceParent, TraceState } from '@opentelemetry/core';

/**
 * Client headers an upstream may see: transport headers only (the MCP message headers are written
 * by gateway/mcp/headers.ts). Authorization and cookies never pass: the gateway is the resource
 * server for the caller's token, and the upstream gets its own credential instead. Trace context
 * is not copied: see clientTraceContext.
 */
const FORWARDED_REQUEST_HEADERS = [
  'accept', 'content-type', 'user-agent',
  'mcp-session-id', 'mcp-protocol-version',
];

// `Last-Event-ID` is not among them: the client holds the gateway's event ids, which the route
// translates to the upstream's (sessions.upstreamEventId).

export interface UpstreamTarget {
  name: string;
  url: string;
  /** What the gateway presents to this upstream (never the caller's credential). */
  credentials: UpstreamCredentialProvider;
  timeoutMs: number;
}

/**
 * An upstream's answer as the gateway reads it. Of its headers only these three survive, each
 * validated: nothing else (Set-Cookie, Location, Server, parameters of the media type) is kept.
 */
export interface UpstreamResponse {
  status: number;
  /** The media type, lowercased, without parameters; '' when absent or malformed. */
  mediaType: string;
  /** `Mcp-Session-Id`, when present and of the safe form (visible ASCII, at most 256). */
  sessionId: string | undefined;
  /** True when an `Mcp-Session-Id` was sent that is not of the safe form. */
  badSessionId: boolean;
  /** `MCP-Protocol-Version`, when of the form YYYY-MM-DD. */
  protocolVersion: string | undefined;
  body: AsyncIterable<Buffer> & { text(): Promise<string>; dump(): Promise<void> };
  /**
   * Ends the deadline that bounds the exchange (the target's timeout, from sending through a JSON
   * answer's last byte). A stream calls it once its headers are in: streams are bounded by bytes.
   */
  endDeadline(): void;
  /** Whether the deadline cut the exchange (reading the body then fails). */
  readonly timedOut: boolean;
}

export function forwardedHeaders(incoming: Headers, target: UpstreamTarget): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of FORWARDED_REQUEST_HEADERS) {
    const value = incoming.get(name);
    if (value !== null) out[name] = value;
  }
  return clientTraceContext(incoming, out);
}

/**
 * The client's W3C trace context as it may go upstream when the gateway does not trace (with
 * tracing on the route replaces it with the gateway's own): a well-formed `traceparent` unchanged,
 * its `tracestate` only beside it and re-serialized within the W3C limits (32 members, valid keys
 * and values). `baggage` never passes: it is the client's free text at a trust boundary.
 */
function clientTraceContext(incoming: Headers, out: Record<string, string>): Record<string, string> {
  const traceparent = incoming.get('traceparent');
  const parsed = traceparent === null ? null : parseTraceParent(traceparent.trim());
  if (traceparent === null || parsed === null || !isSpanContextValid(parsed)) return out;
  out.traceparent = traceparent.trim();
  const tracestate = incoming.get('tracestate');
  if (tracestate !== null) {
    const valid = new TraceState(tracestate).serialize();
    if (valid !== '') out.tracestate = valid;
  }
  return out;
}

const MEDIA_TYPE = /^[a-z0-9!#$&^_.+-]{1,64}\/[a-z0-9!#$&^_.+-]{1,64}$/;
const SESSION_ID = /^[\x21-\x7e]{1,256}$/;
const PROTOCOL_VERSION = /^\d{4}-\d{2}-\d{2}$/;

function single(value: string | string[] | undefined): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

function mediaTypeOf(value: string | undefined): string {
  if (value === undefined) return '';
  const semicolon = value.indexOf(';');
  const type = (semicolon < 0 ? value : value.slice(0, semicolon)).trim().toLowerCase();
  return MEDIA_TYPE.test(type) ? type : '';
}

const UNREACHABLE = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED']);

function upstreamFailure(target: UpstreamTarget, err: unknown, signal: AbortSignal, timedOut: boolean): GatewayError {
  const code = (err as { code?: string }).code ?? '';
  if (timedOut || code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT') return timeoutError(target);
  if (signal.aborted) return new GatewayError(499, ErrorCode.InternalError, 'client went away');
  const detail = UNREACHABLE.has(code) ? code : 'connection failed';
  return new GatewayError(502, ErrorCode.UpstreamUnavailable, `Upstream '${target.name}' is unreachable (${detail})`);
}

export function timeoutError(target: UpstreamTarget, why = `did not answer within ${target.timeoutMs} ms`): GatewayError {
  return new GatewayError(504, ErrorCode.UpstreamTimeout, `Upstream '${target.name}' ${why}`);
}

export class Upstreams {
  // No cap on connections per upstream: a cap would let held-open GET streams (one per legacy
  // session) take every connection and queue calls behind them. Each upstream connection serves
  // a client request in flight, so the clients bound their number; idle ones are reused.
  readonly #agent = new Agent({ keepAliveTimeout: 30_000, connections: null, pipelining: 1 });
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
    // One deadline from now: waiting for a pooled connection, the headers, and a JSON body's
    // last byte all count against the target's timeout (a dripping body is cut, not awaited).
    const cut = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      cut.abort();
    }, target.timeoutMs);
    // The caller's signal (client gone, stream cut) ends the exchange, deadline or not.
    signal.addEventListener('abort', () => cut.abort(), { once: true });
    const endDeadline = () => clearTimeout(timer);
    try {
      // undici's request follows no redirects (no redirect interceptor): a 3xx comes back as is.
      const res = await request(target.url, {
        method, headers: { ...headers, ...credential }, body, signal: cut.signal,
        dispatcher: this.#agent,
        headersTimeout: target.timeoutMs,
        // Time between chunks is bounded by the deadline above for JSON, by size for streams.
        bodyTimeout: 0,
      });
      // A rejected token may have been revoked early: fetch a new one next time.
      if (res.statusCode === 401) target.credentials.invalidate();
      const rawSession = single(res.headers['mcp-session-id']);
      const version = single(res.headers['mcp-protocol-version']);
      return {
        status: res.statusCode,
        mediaType: mediaTypeOf(single(res.headers['content-type'])),
        sessionId: rawSession !== undefined && SESSION_ID.test(rawSession) ? rawSession : undefined,
        badSessionId: rawSession !== undefined && !SESSION_ID.test(rawSession),
        protocolVersion: version !== undefined && PROTOCOL_VERSION.test(version) ? version : undefined,
        body: res.body,
        endDeadline,
        get timedOut() {
          return timedOut;
        },
      };
    } catch (err) {
      endDeadline();
      throw upstreamFailure(target, err, signal, timedOut);
    }
  }

  async close(): Promise<void> {
    await this.#agent.close();
  }
}
