// Turns an upstream's answer into the client's: JSON bodies are checked and screened whole, SSE
// streams event by event; anything that is not MCP becomes a JSON-RPC error rather than reaching
// the client. What reaches the client is always what was screened, rebuilt and re-serialized by
// the gateway: never the upstream's bytes, headers, event names, comments or event ids
// (docs/wire.md).
import { randomBytes } from 'node:crypto';
import type { SessionStore } from '../sessions/store.ts';
import { ErrorCode, GatewayError } from '../errors.ts';
import { JsonError, parseJson } from '../json.ts';
import { toMessage, toWire, type JsonRpcMessage } from './jsonrpc.ts';
import type { MessageFacts } from '../telemetry/index.ts';
import { combineMasks, shownName, type MaskDirective } from './protect.ts';
import { screen, type Exchange, type Screened, type Screening } from './screen.ts';
import { answeredUpstream } from './trail-stage.ts';
import { formatEvent, KEEP_ALIVE, SseError, SseReader, type SseItem } from './sse.ts';
import type { UpstreamResponse } from './upstream.ts';

export interface RelayLimits {
  maxResponseBytes: number;
  maxEventBytes: number;
  maxStreamBytes: number;
  /** Longest silence on a stream that carries a pending request; 0: no bound. */
  streamIdleMs: number;
  maxJsonDepth: number;
}

export interface RelayContext {
  ex: Exchange;
  screening: Screening;
  sessions: SessionStore;
  /** Ends the upstream request (client gone, or the stream had to be cut). */
  abort: AbortController;
  /** Sends a message to the upstream on the client's behalf (answers to refused server requests). */
  answerUpstream: (message: unknown) => void;
  limits: RelayLimits;
  /** The error for an answer the target's deadline (or a stream's silence, `why`) cut. */
  timeout: (why?: string) => GatewayError;
}

/** The client went away mid-answer: nobody to answer, nothing to log as a failure. */
export class ClientGone extends GatewayError {
  override name = 'ClientGone';
  constructor() {
    super(499, ErrorCode.InternalError, 'client went away');
  }
}

const encoder = new TextEncoder();

/** Every message about an upstream's misbehaviour: its text is the gateway's, never the upstream's. */
function badResponse(ex: Exchange, what: string, status = 502): GatewayError {
  return new GatewayError(status, ErrorCode.UpstreamBadResponse, `Upstream '${ex.target}' ${what}`, { id: ex.request?.id ?? null });
}

async function readCapped(up: UpstreamResponse, ctx: RelayContext): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of up.body) {
      size += chunk.byteLength;
      if (size > ctx.limits.maxResponseBytes) {
        ctx.abort.abort();
        throw badResponse(ctx.ex, `answered with more than ${ctx.limits.maxResponseBytes} bytes`);
      }
      chunks.push(chunk);
    }
  } catch (err) {
    if (err instanceof GatewayError) throw err;
    if (up.timedOut) throw ctx.timeout();
    if (ctx.abort.signal.aborted) throw new ClientGone();
    throw badResponse(ctx.ex, 'broke off its answer');
  } finally {
    up.endDeadline();
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Parses one upstream message's text into the message the gateway will act on. */
function parseMessage(ctx: RelayContext, text: string, what: string): JsonRpcMessage {
  let value: unknown;
  try {
    value = parseJson(text, { maxDepth: ctx.limits.maxJsonDepth });
  } catch (err) {
    if (!(err instanceof JsonError) || err.kind === 'syntax') throw badResponse(ctx.ex, what);
    throw badResponse(ctx.ex, `sent a message the gateway refuses: ${err.message}`);
  }
  const message = toMessage(value);
  if (typeof message === 'string') throw badResponse(ctx.ex, `sent an invalid JSON-RPC message: ${message}`);
  return message;
}

/**
 * The exchange an upstream message is screened in. An answer is screened as the request it
 * answers: on its own POST stream that is the exchange's request; on a GET stream that resumes a
 * session it is the pending request the session remembers. Either way the pending entry is
 * released, which frees the id for reuse.
 */
async function exchangeFor(ctx: RelayContext, message: JsonRpcMessage): Promise<Exchange> {
  const { ex } = ctx;
  if (!ex.sessionId) return ex;
  if (message.kind !== 'response') {
    // A notification or server request on a GET stream may belong to any call of the session
    // (progress, logging, elicitation, even after that call's answer): it carries all their masks.
    if (ex.request !== undefined) return ex;
    const masks = await ctx.sessions.sessionMasks(ex.target, ex.sessionId);
    const streamMask = masks.reduce<MaskDirective | undefined>((mask, m) => combineMasks(mask, m), undefined);
    return streamMask === undefined ? ex : { ...ex, streamMask };
  }
  if (ex.request !== undefined) {
    if (message.id === ex.request.id) await ctx.sessions.takeClientRequest(ex.target, ex.sessionId, message.id);
    return ex;
  }
  const pending = await ctx.sessions.takeClientRequest(ex.target, ex.sessionId, message.id);
  return pending === undefined ? ex : { ...ex, request: { ...pending, id: message.id } };
}

/** Carries out a screening outcome's side effects; returns the text to send, or null to send nothing. */
async function carryOut(ctx: RelayContext, ex: Exchange, screened: Screened, wire: Record<string, unknown>): Promise<string | null> {
  switch (screened.action) {
    case 'pass':
    case 'replace':
      if (screened.remember && ex.sessionId) {
        await ctx.sessions.rememberServerRequest(ex.target, ex.sessionId, screened.remember.id, screened.remember.method);
      }
      return JSON.stringify(screened.action === 'pass' ? wire : screened.message);
    case 'drop':
      if (screened.answerUpstream !== undefined) ctx.answerUpstream(screened.answerUpstream);
      return null;
  }
}

/**
 * Screens one upstream message and carries the outcome out. A message that is not this exchange's
 * own answer (a notification, a server request, anything on a GET stream) is a message of its
 * own on the audit trail: its own span, decision and record.
 */
async function screenOne(ctx: RelayContext, message: JsonRpcMessage, rawBytes: number): Promise<string | null> {
  const base = await exchangeFor(ctx, message);
  const own = base.trail.active && (message.kind !== 'response' || ctx.ex.request === undefined);
  const ex = own ? { ...base, trail: base.trail.child(factsOf(ctx, message, base)) } : base;
  const wire = toWire(message);
  const screened = screen(ex, ctx.screening, message, wire, rawBytes);
  const out = await carryOut(ctx, ex, screened, wire);
  if (out !== null && ex.trail.active) {
    const replaced = screened.action === 'replace';
    ex.trail.crossed({
      direction: 'server_to_client', origin: replaced && screened.origin === 'gateway' ? 'gateway' : 'upstream',
      message: replaced ? (screened.message as Record<string, unknown>) : wire,
    });
  } else if (out === null && message.kind !== 'response' && ex.trail.active) {
    // A server request or notification the policy refused never reaches the client, but it is part
    // of the exchange: kept, masked by the call's masks, with the gateway's answer to it upstream.
    ex.trail.crossed({ direction: 'server_to_client', origin: 'upstream', message: wire, mask: ex.request?.mask ?? ex.streamMask });
    if (screened.action === 'drop' && typeof screened.answerUpstream === 'object' && screened.answerUpstream !== null) answeredUpstream(ex.trail, screened.answerUpstream);
  }
  if (own) ex.trail.end();
  return out;
}

/**
 * How the trail names an upstream message: an answer on a GET stream by the request it answers
 * (its name as that request's masks show it); a message the upstream starts by its method only,
 * never by a name or URI in its params (the upstream chose them, and no decision masked them yet).
 */
function factsOf(ctx: RelayContext, message: JsonRpcMessage, ex: Exchange): MessageFacts {
  if (message.kind === 'response') {
    const request = ex.request;
    const name = request === undefined ? '' : shownName(request.method, request.name, request.mask, ctx.screening.masks);
    return { kind: 'response', method: request?.method ?? '', name, id: message.id };
  }
  return { kind: message.kind, method: message.method, name: '', ...(message.kind === 'request' ? { id: message.id } : {}), params: message.params };
}

/** Whether a message is an answer to something other than the request this POST is waiting on. */
const answersAnother = (ctx: RelayContext, message: JsonRpcMessage): boolean =>
  message.kind === 'response' && ctx.ex.request !== undefined && message.id !== ctx.ex.request.id;

/** The headers the gateway answers with: its own content type, and the validated MCP headers. */
function answerHeaders(up: UpstreamResponse, contentType: string | undefined): Record<string, string> {
  const headers: Record<string, string> = {};
  if (contentType !== undefined) headers['content-type'] = contentType;
  if (up.sessionId !== undefined) headers['mcp-session-id'] = up.sessionId;
  if (up.protocolVersion !== undefined) headers['mcp-protocol-version'] = up.protocolVersion;
  return headers;
}

/** HTTP statuses of an upstream's 4xx that mean something to an MCP client; anything else is 502. */
const KEPT_STATUSES = new Set([400, 404, 405, 406, 409, 413, 415, 422, 429]);
const clientStatus = (status: number): number => (KEPT_STATUSES.has(status) ? status : 502);

/**
 * Non-2xx upstream answers reach the client only as a JSON-RPC error: the upstream's own one,
 * rebuilt from its code, message and data and screened like any answer, or the gateway's.
 */
async function relayFailure(up: UpstreamResponse, ctx: RelayContext): Promise<Response> {
  const { ex } = ctx;
  if (up.status === 401 || up.status === 403) {
    up.endDeadline();
    await up.body.dump();
    throw badResponse(ex, `rejected the gateway's own credentials (HTTP ${up.status}); check the target's credentials`);
  }
  const status = clientStatus(up.status);
  const text = await readCapped(up, ctx);
  let message: JsonRpcMessage | undefined;
  try {
    if (up.mediaType === 'application/json' && text.trim() !== '') message = parseMessage(ctx, text, '');
  } catch {
    message = undefined;
  }
  if (message?.kind !== 'response' || message.error === undefined) {
    if (up.status === 404 && ex.sessionId) {
      throw new GatewayError(404, ErrorCode.SessionNotFound, `Session not found: upstream '${ex.target}' no longer knows it; initialize a new session`, { id: ex.request?.id ?? null });
    }
    throw badResponse(ex, `answered HTTP ${up.status} without a JSON-RPC error`, status);
  }
  if (answersAnother(ctx, message) || ex.request === undefined) {
    // An error for no request of ours: there is nothing to screen it as, so only its code passes.
    throw new GatewayError(status, message.error.code, `Upstream '${ex.target}' answered HTTP ${up.status}`, { id: ex.request?.id ?? null });
  }
  const out = await screenOne(ctx, message, text.length);
  if (out === null) throw badResponse(ex, `answered HTTP ${up.status} with an error for another request`);
  return new Response(out, { status, headers: answerHeaders(up, 'application/json') });
}

async function relayJson(up: UpstreamResponse, ctx: RelayContext): Promise<Response> {
  const text = await readCapped(up, ctx);
  // An empty JSON body answers nothing, which is fine where nothing is awaited: a DELETE ending a
  // session (the Python SDK server answers it `200`, `application/json`, no body), a notification
  // or a client's response. A request still needs its answer (502 below).
  if (text.trim() === '' && ctx.ex.request === undefined) return new Response(null, { status: up.status, headers: answerHeaders(up, undefined) });
  const message = parseMessage(ctx, text, 'answered with a body that is not JSON');
  if (answersAnother(ctx, message)) throw badResponse(ctx.ex, 'answered with the id of another request');
  // A JSON body is the whole answer: for a request, it must be that request's answer.
  if (ctx.ex.request !== undefined && message.kind !== 'response') throw badResponse(ctx.ex, 'answered with a message that is not the answer to this request');
  const out = await screenOne(ctx, message, text.length);
  if (out === null) throw badResponse(ctx.ex, 'answered with a message that is not the answer to this request');
  return new Response(out, { status: up.status, headers: answerHeaders(up, 'application/json') });
}

/** Event ids the gateway issues on one stream, each remembered against the upstream's for resumption. */
function eventIds(ctx: RelayContext): ((upstreamId: string) => Promise<string>) | undefined {
  const { ex } = ctx;
  // Without a session nothing can resume: no ids at all.
  if (!ex.sessionId) return undefined;
  const stream = randomBytes(9).toString('base64url');
  let n = 0;
  return async (upstreamId) => {
    const id = `${stream}.${++n}`;
    await ctx.sessions.rememberStreamEvent(ex.target, ex.sessionId, id, upstreamId);
    return id;
  };
}

/** The state of one relayed stream: whether the request it carries has its answer. */
interface StreamState {
  answered: boolean;
  /** The upstream was silent longer than limits.stream_idle_timeout_ms and the stream was cut. */
  idle: boolean;
}

async function relayItem(ctx: RelayContext, item: SseItem, state: StreamState, issue: ReturnType<typeof eventIds>): Promise<string | null> {
  switch (item.kind) {
    case 'comment':
      return KEEP_ALIVE;
    case 'retry':
      return `retry: ${item.ms}\n\n`;
    case 'event':
      break;
  }
  // Clients deliver only `message` events as MCP messages; another type would be a new meaning.
  if (item.name !== '' && item.name !== 'message') return null;
  const id = item.id !== undefined && issue !== undefined ? await issue(item.id) : undefined;
  // Priming and keep-alive events carry an id for resumption but no message.
  if (item.data === '') return id === undefined ? null : formatEvent({ id, data: '' });
  const message = parseMessage(ctx, item.data, 'sent an SSE event that is not JSON');
  if (answersAnother(ctx, message)) throw badResponse(ctx.ex, 'answered with the id of another request');
  const out = await screenOne(ctx, message, item.data.length);
  if (message.kind === 'response' && ctx.ex.request !== undefined) state.answered = true;
  return out === null ? null : formatEvent({ id, data: out });
}

/** The relayed stream, one write per upstream item; ends once the request it carries is answered. */
async function* relayed(up: UpstreamResponse, ctx: RelayContext, state: StreamState): AsyncGenerator<string> {
  const reader = new SseReader(ctx.limits.maxEventBytes);
  const issue = eventIds(ctx);
  // A stream that owes an answer may be quiet (a slow tool) but not silent forever: any bytes,
  // keep-alive comments included, restart the clock.
  const idleMs = ctx.ex.request === undefined ? 0 : ctx.limits.streamIdleMs;
  const idle = idleMs > 0 ? setTimeout(() => {
    state.idle = true;
    ctx.abort.abort();
  }, idleMs) : undefined;
  let bytes = 0;
  try {
    for await (const chunk of up.body) {
      idle?.refresh();
      bytes += chunk.byteLength;
      if (bytes > ctx.limits.maxStreamBytes) throw badResponse(ctx.ex, `sent more than ${ctx.limits.maxStreamBytes} bytes on one stream`);
      for (const item of reader.feed(chunk)) {
        const out = await relayItem(ctx, item, state, issue);
        if (out !== null) yield out;
        // One answer per request: whatever follows it on this stream is not relayed.
        if (state.answered) return;
      }
    }
  } finally {
    clearTimeout(idle);
  }
  const partial = reader.partial;
  for (const item of reader.end()) {
    const out = await relayItem(ctx, item, state, issue);
    if (out !== null) yield out;
    if (state.answered) return;
  }
  if (ctx.ex.request !== undefined) throw badResponse(ctx.ex, partial ? 'cut its stream off inside an event' : 'ended its stream without answering');
}

function relayStream(up: UpstreamResponse, ctx: RelayContext): Response {
  up.endDeadline();
  ctx.ex.trail.endsWithStream();
  const state: StreamState = { answered: false, idle: false };
  const events = relayed(up, ctx, state);
  const stream = new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        try {
          const next = await events.next();
          if (!next.done) return controller.enqueue(encoder.encode(next.value));
        } catch (err) {
          // Headers are sent already: the error travels as the answer to the pending request,
          // unless it was answered before the stream broke.
          if ((!ctx.abort.signal.aborted || state.idle) && ctx.ex.request && !state.answered) {
            const failure = state.idle ? ctx.timeout(`sent nothing on its stream for ${ctx.limits.streamIdleMs} ms`)
              : err instanceof GatewayError ? err
              : err instanceof SseError ? badResponse(ctx.ex, err.message)
                : badResponse(ctx.ex, 'broke off its stream');
            const body = failure.body(ctx.ex.request.id);
            controller.enqueue(encoder.encode(formatEvent({ data: JSON.stringify(body) })));
            if (ctx.ex.trail.active) ctx.ex.trail.crossed({ direction: 'server_to_client', origin: 'gateway', message: body as unknown as Record<string, unknown> });
            // Answered with the gateway's error: the id is free again. (A client that left keeps it
            // pending: the answer may still come on a resumed stream.)
            await release(ctx);
          }
        }
        controller.close();
        ctx.abort.abort();
        ctx.ex.trail.end();
      },
      cancel() {
        ctx.abort.abort();
        ctx.ex.trail.end();
      },
    },
    { highWaterMark: 0 },
  );
  return new Response(stream, { status: up.status, headers: { ...answerHeaders(up, 'text/event-stream'), 'cache-control': 'no-cache' } });
}

/** Frees the id of a request that will get no answer from the upstream (it got the gateway's error). */
async function release(ctx: RelayContext): Promise<void> {
  const { ex } = ctx;
  if (ex.sessionId && ex.request) await ctx.sessions.takeClientRequest(ex.target, ex.sessionId, ex.request.id);
}

export async function relay(up: UpstreamResponse, ctx: RelayContext): Promise<Response> {
  try {
    return await relayAnswer(up, ctx);
  } catch (err) {
    if (!(err instanceof ClientGone)) await release(ctx);
    throw err;
  }
}

async function relayAnswer(up: UpstreamResponse, ctx: RelayContext): Promise<Response> {
  if (up.badSessionId) {
    up.endDeadline();
    await up.body.dump();
    throw badResponse(ctx.ex, 'sent an Mcp-Session-Id that is not of the safe form (visible ASCII, at most 256 characters)');
  }
  if (up.status === 202 || up.status === 204) {
    up.endDeadline();
    await up.body.dump();
    return new Response(null, { status: up.status, headers: answerHeaders(up, undefined) });
  }
  if (up.status >= 300 && up.status < 400) {
    up.endDeadline();
    await up.body.dump();
    throw badResponse(ctx.ex, `answered with a redirect (HTTP ${up.status}), which the gateway never follows`);
  }
  if (up.status < 200 || up.status > 299) return relayFailure(up, ctx);
  if (up.mediaType === 'text/event-stream') return relayStream(up, ctx);
  if (up.mediaType === 'application/json') return relayJson(up, ctx);
  // A bodiless success (as some servers answer DELETE) is fine; a body must be MCP.
  if ((await readCapped(up, ctx)).trim() === '') return new Response(null, { status: up.status, headers: answerHeaders(up, undefined) });
  throw badResponse(ctx.ex, 'answered with a content type that is neither JSON nor an event stream');
}
