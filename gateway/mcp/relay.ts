// Turns an upstream's answer into the client's: JSON bodies are checked and screened whole, SSE
// streams event by event; anything that is not MCP becomes a 502 rather than reaching the client.
import type { SessionStore } from '../sessions/store.ts';
import { ErrorCode, GatewayError } from '../errors.ts';
import { toMessage } from './jsonrpc.ts';
import { screen, type Exchange, type Screened, type Screening } from './screen.ts';
import { formatEvent, relaySse } from './sse.ts';
import type { UpstreamResponse } from './upstream.ts';

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

const encoder = new TextEncoder();

function badResponse(ex: Exchange, what: string): GatewayError {
  return new GatewayError(502, ErrorCode.UpstreamBadResponse, `Upstream '${ex.target}' ${what}`);
}

async function readCapped(up: UpstreamResponse, ctx: RelayContext): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of up.body) {
    size += chunk.byteLength;
    if (size > ctx.maxResponseBytes) {
      ctx.abort.abort();
      throw badResponse(ctx.ex, `answered with more than ${ctx.maxResponseBytes} bytes`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Applies a screening outcome's side effects; returns the text to send, or null to send nothing. */
async function apply(ctx: RelayContext, screened: Screened, original: string): Promise<string | null> {
  switch (screened.action) {
    case 'pass':
    case 'replace':
      if (screened.remember && ctx.ex.sessionId) {
        await ctx.sessions.rememberServerRequest(ctx.ex.target, ctx.ex.sessionId, screened.remember.id, screened.remember.method);
      }
      return screened.action === 'pass' ? original : JSON.stringify(screened.message);
    case 'drop':
      if (screened.answerUpstream !== undefined) ctx.answerUpstream(screened.answerUpstream);
      return null;
  }
}

function json(status: number, headers: Record<string, string>, text: string | null): Response {
  return new Response(text, { status, headers: text === null ? headers : { ...headers, 'content-type': 'application/json' } });
}

/** Non-2xx upstream answers pass through only when they are JSON-RPC errors (or empty). */
async function relayFailure(up: UpstreamResponse, ctx: RelayContext): Promise<Response> {
  if (up.status === 401 || up.status === 403) {
    await up.body.dump();
    throw badResponse(ctx.ex, `rejected the gateway's own credentials (HTTP ${up.status}); check the target's credentials`);
  }
  const text = await readCapped(up, ctx);
  if (text.trim() === '') return json(up.status, up.headers, null);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw badResponse(ctx.ex, `answered HTTP ${up.status} with a body that is not JSON`);
  }
  const message = toMessage(value);
  if (typeof message === 'string' || message.kind !== 'response' || message.error === undefined) {
    // Some servers answer HTTP errors with a JSON-RPC error whose id is null.
    const error = (value as { error?: { code?: unknown } } | null)?.error;
    if (typeof error?.code !== 'number') throw badResponse(ctx.ex, `answered HTTP ${up.status} without a JSON-RPC error`);
  }
  return json(up.status, up.headers, text);
}

async function relayJson(up: UpstreamResponse, ctx: RelayContext): Promise<Response> {
  const text = await readCapped(up, ctx);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw badResponse(ctx.ex, 'answered with a body that is not JSON');
  }
  const out = await apply(ctx, screen(ctx.ex, ctx.screening, value), text);
  if (out === null) throw badResponse(ctx.ex, 'answered a request with a message that is not its response');
  return json(up.status, up.headers, out);
}

function relayStream(up: UpstreamResponse, ctx: RelayContext): Response {
  const events = relaySse(up.body, async (event) => {
    // Priming and keep-alive events carry an id for resumption but no message.
    if (event.data === '') return formatEvent(event);
    let value: unknown;
    try {
      value = JSON.parse(event.data);
    } catch {
      throw badResponse(ctx.ex, 'sent an SSE event that is not JSON');
    }
    const out = await apply(ctx, screen(ctx.ex, ctx.screening, value), event.data);
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
          // Headers are sent already: the error travels as the answer to the pending request.
          const failure = err instanceof GatewayError ? err : badResponse(ctx.ex, 'broke off the stream');
          if (ctx.ex.request) controller.enqueue(encoder.encode(formatEvent({ data: JSON.stringify(failure.body(ctx.ex.request.id)) })));
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
