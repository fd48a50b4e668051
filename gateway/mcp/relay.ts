// Turns an upstream's answer into the client's: JSON bodies are checked and screened whole, SSE
// streams event by event; anything that is not MCP becomes a 502 rather than reaching the client.
// What reaches the client is always what was screened, re-serialized: never the upstream's bytes,
// which a different JSON parser might read differently (duplicate keys).
import type { SessionStore } from '../sessions/store.ts';
import { ErrorCode, GatewayError } from '../errors.ts';
import { screen, type Exchange, type Screened, type Screening } from './screen.ts';
import { formatEvent, relaySse } from './sse.ts';
import type { UpstreamResponse } from './upstream.ts';
import { isObject } from '../json.ts';

export interface RelayContext {
  ex: Exchange;
  screening: Screening;
  sessions: SessionStore;
  /** Ends the upstream request (client gone, or the stream had to be cut). */
  abort: AbortController;
  /** Sends a message to the upstream on the client's behalf (answers to refused server requests). */
  answerUpstream: (message: unknown) => void;
  maxResponseBytes: number;
}

/** The client went away mid-answer: nobody to answer, nothing to log as a failure. */
export class ClientGone extends GatewayError {
  override name = 'ClientGone';
  constructor() {
    super(499, ErrorCode.InternalError, 'client went away');
  }
}

const encoder = new TextEncoder();

function badResponse(ex: Exchange, what: string): GatewayError {
  return new GatewayError(502, ErrorCode.UpstreamBadResponse, `Upstream '${ex.target}' ${what}`, { id: ex.request?.id ?? null });
}

async function readCapped(up: UpstreamResponse, ctx: RelayContext): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of up.body) {
      size += chunk.byteLength;
      if (size > ctx.maxResponseBytes) {
        ctx.abort.abort();
        throw badResponse(ctx.ex, `answered with more than ${ctx.maxResponseBytes} bytes`);
      }
      chunks.push(chunk);
    }
  } catch (err) {
    if (err instanceof GatewayError) throw err;
    if (ctx.abort.signal.aborted) throw new ClientGone();
    throw badResponse(ctx.ex, 'broke off its answer');
  }
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * The exchange an upstream message is screened in. An answer is screened as the request it
 * answers: on its own POST stream that is the exchange's request; on a GET stream that resumes a
 * session it is the pending request the session remembers. Either way the pending entry is
 * released, which frees the id for reuse.
 */
async function exchangeFor(ctx: RelayContext, value: unknown): Promise<Exchange> {
  const { ex } = ctx;
  if (!ex.sessionId || !isObject(value) || 'method' in value || (typeof value.id !== 'string' && typeof value.id !== 'number')) return ex;
  const pending = await ctx.sessions.takeClientRequest(ex.target, ex.sessionId, value.id);
  if (ex.request !== undefined || pending === undefined) return ex;
  return { ...ex, request: { ...pending, id: value.id } };
}

/** Carries out a screening outcome's side effects; returns the text to send, or null to send nothing. */
async function carryOut(ctx: RelayContext, ex: Exchange, screened: Screened, value: unknown): Promise<string | null> {
  switch (screened.action) {
    case 'pass':
    case 'replace':
      if (screened.remember && ex.sessionId) {
        await ctx.sessions.rememberServerRequest(ex.target, ex.sessionId, screened.remember.id, screened.remember.method);
      }
      return JSON.stringify(screened.action === 'pass' ? value : screened.message);
    case 'drop':
      if (screened.answerUpstream !== undefined) ctx.answerUpstream(screened.answerUpstream);
      return null;
  }
}

async function screenOne(ctx: RelayContext, value: unknown, rawBytes: number): Promise<string | null> {
  const ex = await exchangeFor(ctx, value);
  return carryOut(ctx, ex, screen(ex, ctx.screening, value, rawBytes), value);
}

function parse(ctx: RelayContext, text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw badResponse(ctx.ex, what);
  }
}

function json(status: number, headers: Record<string, string>, text: string | null): Response {
  return new Response(text, { status, headers: text === null ? headers : { ...headers, 'content-type': 'application/json' } });
}

/**
 * Non-2xx upstream answers reach the client only as a JSON-RPC error, rebuilt from its code,
 * message and data (nothing else the body carried) and screened like any answer.
 */
async function relayFailure(up: UpstreamResponse, ctx: RelayContext): Promise<Response> {
  if (up.status === 401 || up.status === 403) {
    await up.body.dump();
    throw badResponse(ctx.ex, `rejected the gateway's own credentials (HTTP ${up.status}); check the target's credentials`);
  }
  const text = await readCapped(up, ctx);
  if (text.trim() === '') return json(up.status, up.headers, null);
  const value = parse(ctx, text, `answered HTTP ${up.status} with a body that is not JSON`);
  const error = isObject(value) ? value.error : undefined;
  if (!isObject(error) || typeof error.code !== 'number' || typeof error.message !== 'string') {
    throw badResponse(ctx.ex, `answered HTTP ${up.status} without a JSON-RPC error`);
  }
  const id = isObject(value) && (typeof value.id === 'string' || typeof value.id === 'number') ? value.id : null;
  const rebuilt = { jsonrpc: '2.0', id, error: { code: error.code, message: error.message, ...(error.data === undefined ? {} : { data: error.data }) } };
  // An error with no id answers no request: there is nothing to screen it as, so only its code and
  // a generic message pass.
  if (id === null) return json(up.status, up.headers, JSON.stringify({ ...rebuilt, error: { code: error.code, message: `Upstream '${ctx.ex.target}' answered HTTP ${up.status}` } }));
  const out = await screenOne(ctx, rebuilt, text.length);
  if (out === null) throw badResponse(ctx.ex, `answered HTTP ${up.status} with an error for another request`);
  return json(up.status, up.headers, out);
}

async function relayJson(up: UpstreamResponse, ctx: RelayContext): Promise<Response> {
  const text = await readCapped(up, ctx);
  // (issue 8) An empty JSON body answers nothing, which is fine where nothing is awaited: a DELETE
  // ending a session (the Python SDK server answers it `200`, `application/json`, no body), a
  // notification or a client's response. A request still needs its answer (502 below).
  if (text.trim() === '' && ctx.ex.request === undefined) {
    const { 'content-type': _, ...headers } = up.headers;
    return new Response(null, { status: up.status, headers });
  }
  const out = await screenOne(ctx, parse(ctx, text, 'answered with a body that is not JSON'), text.length);
  if (out === null) throw badResponse(ctx.ex, 'answered with a message that is not the answer to this request');
  return json(up.status, up.headers, out);
}

function relayStream(up: UpstreamResponse, ctx: RelayContext): Response {
  let answered = false;
  const events = relaySse(up.body, async (event) => {
    // Priming and keep-alive events carry an id for resumption but no message.
    if (event.data === '') return formatEvent(event);
    const value = parse(ctx, event.data, 'sent an SSE event that is not JSON');
    const out = await screenOne(ctx, value, event.data.length);
    if (out !== null && isObject(value) && ctx.ex.request !== undefined && value.id === ctx.ex.request.id && !('method' in value)) answered = true;
    return out === null ? null : formatEvent({ id: event.id, event: event.event, data: out });
  });
  const stream = new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        try {
          const next = await events.next();
          if (next.done) controller.close();
          else controller.enqueue(encoder.encode(next.value));
        } catch (err) {
          // Headers are sent already: the error travels as the answer to the pending request,
          // unless it was answered before the stream broke.
          if (!ctx.abort.signal.aborted && ctx.ex.request && !answered) {
            const failure = err instanceof GatewayError ? err : badResponse(ctx.ex, 'broke off the stream');
            controller.enqueue(encoder.encode(formatEvent({ data: JSON.stringify(failure.body(ctx.ex.request.id)) })));
          }
          controller.close();
          ctx.abort.abort();
        }
      },
      cancel() {
        ctx.abort.abort();
      },
    },
    { highWaterMark: 0 },
  );
  return new Response(stream, { status: up.status, headers: { ...up.headers, 'cache-control': 'no-cache' } });
}

export async function relay(up: UpstreamResponse, ctx: RelayContext): Promise<Response> {
  if (up.status === 202 || up.status === 204) {
    await up.body.dump();
    return new Response(null, { status: up.status, headers: up.headers });
  }
  if (up.status < 200 || up.status > 299) return relayFailure(up, ctx);
  const type = up.headers['content-type'] ?? '';
  if (type.startsWith('text/event-stream')) return relayStream(up, ctx);
  if (type.startsWith('application/json')) return relayJson(up, ctx);
  // A bodiless success (as some servers answer DELETE) is fine; a body must be MCP.
  if ((await readCapped(up, ctx)).trim() === '') return new Response(null, { status: up.status, headers: up.headers });
  throw badResponse(ctx.ex, `answered with content type '${type || '(none)'}', neither JSON nor an event stream`);
}
