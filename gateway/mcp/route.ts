// The MCP data path. One POST reads top to bottom: admit (which opens the exchange's audit trail
// and authenticates), parse, classify, decide, forward, relay (which decides the answer, masks and
// records). GET (legacy server stream) and DELETE (legacy session end) are the same path without a
// message of their own. The trail (gateway/telemetry/trail.ts) sees every stage and every message
// that crosses; with telemetry and recordings off it is a no-op.
import type { HttpBindings } from '@hono/node-server';
import { Hono, type Context, type Next } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { cors } from 'hono/cors';
import type { Authenticator, Identity } from '../identity/index.ts';
import type { PolicyQuery } from '../policy/input.ts';
import type { SessionRecord, SessionStore } from '../sessions/store.ts';
import { recordDecision } from '../telemetry/audit.ts';
import { semconv, type Crossing, type Trail } from '../telemetry/index.ts';
import { methodNotAllowed } from '../edge.ts';
import { classifyClientMessage } from './era.ts';
import { ErrorCode, GatewayError, jsonRpcError, type JsonRpcId } from '../errors.ts';
import { nameOf, parseClientBody, refuseUnsupported, toWire, type JsonRpcMessage } from './jsonrpc.ts';
import { isGatewayState, splitParams, type ApprovalFlow } from '../approvals/index.ts';
import type { Decision } from '../policy/decision.ts';
import { messageHeaders } from './headers.ts';
import { shownName, withMask } from './protect.ts';
import { isObject } from '../json.ts';
import { answeredBy, answeredUpstream, endsWithStream, receivedOnly, recordingUnavailable, refuseUnrecorded, withTraceMeta } from './trail-stage.ts';
import { ClientGone, relay, type RelayContext } from './relay.ts';
import { queryFor, refusal, type Exchange, type Screening } from './screen.ts';
import { forwardedHeaders, timeoutError, type Upstreams, type UpstreamTarget } from './upstream.ts';

export interface McpDeps {
  screening: Screening;
  upstreams: Upstreams;
  sessions: SessionStore;
  authenticator: Authenticator;
  limits: { maxBodyBytes: number; maxResponseBytes: number; maxJsonDepth: number; maxEventBytes: number; maxStreamBytes: number; streamIdleMs: number };
  /** Whether a request carrying this Origin header may come in. */
  isAllowedOrigin: (origin: string) => boolean;
  /** Whether a Host header value may come in (DNS-rebinding defence). */
  isAllowedHost: (host: string) => boolean;
  log: (message: string) => void;
  /** Holds calls that need human approval; without it they are refused (-32052, fail closed). */
  approvals?: ApprovalFlow;
  /** Opens the audit trail of one exchange (spans, metrics, recording); `() => noTrail` when all are off. */
  trail: (headers: Headers, target: string, clientAddress: string | undefined) => Trail;
}

type Env = {
  Bindings: Partial<HttpBindings>;
  /** `rpcId`: the id of the client's request once read, so every error answers it. */
  Variables: { target: UpstreamTarget; identity: Identity; rpcId: JsonRpcId; trail: Trail };
};

/**
 * Everything refused before a body is read: foreign Origin, rebinding Host, unknown target, and
 * a caller without a valid token for that target.
 */
function admit(deps: McpDeps) {
  return async (c: Context<Env>, next: () => Promise<void>) => {
    const origin = c.req.header('origin');
    if (origin !== undefined && !deps.isAllowedOrigin(origin)) {
      return new GatewayError(403, ErrorCode.ForbiddenOrigin, `Forbidden: Origin ${JSON.stringify(origin)} is not allowed`).toResponse();
    }
    const host = c.req.header('host') ?? '';
    if (!deps.isAllowedHost(host)) {
      return new GatewayError(403, ErrorCode.ForbiddenOrigin, `Forbidden: Host ${JSON.stringify(host)} is not allowed`).toResponse();
    }
    const target = deps.upstreams.get(c.req.param('target') ?? '');
    if (target === undefined) {
      return new GatewayError(404, ErrorCode.UnknownTarget, `Not Found: no MCP target named '${c.req.param('target')}'`).toResponse();
    }
    c.set('target', target);
    const trail = deps.trail(c.req.raw.headers, target.name, c.env?.incoming?.socket.remoteAddress);
    c.set('trail', trail);
    try {
      const identity = await trail.stage(semconv.SPAN_AUTHENTICATE, () => deps.authenticator.authenticate(c.req.raw, target.name));
      trail.identify(identity);
      c.set('identity', identity);
    } catch (err) {
      if (!(err instanceof GatewayError)) {
        trail.end(err);
        throw err;
      }
      answeredBy(trail, err.body(null));
      trail.end(err);
      return err.toResponse();
    }
    await next();
  };
}

/** A legacy session, only for the identity that created it: anyone else is told it does not exist. */
async function knownSession(deps: McpDeps, target: UpstreamTarget, sessionId: string, principal: string): Promise<SessionRecord> {
  const session = await deps.sessions.get(target.name, sessionId);
  if (session === undefined || session.principal !== principal) {
    throw new GatewayError(404, ErrorCode.SessionNotFound, 'Session not found: it expired, was not created through this gateway, or belongs to another caller');
  }
  return session;
}

/** The policy question a client message asks. */
async function clientQuery(deps: McpDeps, ex: Exchange, message: JsonRpcMessage): Promise<PolicyQuery> {
  const direction = 'client_to_server';
  if (message.kind === 'response') {
    // An answer to a server-initiated request: decided knowing what it answers.
    const method = ex.sessionId ? await deps.sessions.takeServerRequest(ex.target, ex.sessionId, message.id) : undefined;
    // Only answers to server requests the gateway forwarded are passed on: anything else answers a
    // request the policy refused, or none at all (the 2026-07-28 era has no server requests).
    if (method === undefined) {
      throw new GatewayError(400, ErrorCode.InvalidRequest, 'Invalid Request: no server request with this id is awaiting an answer on this session (the gateway forwarded none, or it was answered); nothing was forwarded');
    }
    return queryFor(ex, { direction, kind: 'response', method, name: '' });
  }
  const { method, params } = message;
  const name = nameOf(message);
  // Calls are decided on their arguments; every other method on its params.
  if (method === 'tools/call' || method === 'prompts/get') return queryFor(ex, { direction, kind: message.kind, method, name, arguments: params?.arguments });
  return queryFor(ex, { direction, kind: message.kind, method, name, params });
}

/** Sends a message to the upstream on the client's behalf, in the client's session. */
function answerUpstreamFor(deps: McpDeps, c: Context<Env>): (message: unknown) => void {
  const target = c.get('target');
  return (message) => {
    const headers = { ...forwardedHeaders(c.req.raw.headers, target), 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
    deps.upstreams
      .send(target, 'POST', headers, JSON.stringify(message), new AbortController().signal)
      .then((res) => {
        res.endDeadline();
        return res.body.dump();
      })
      .catch((err: Error) => deps.log(`could not answer the upstream on the client's behalf on '${target.name}': ${err.message}`));
  };
}

function relayContext(deps: McpDeps, c: Context<Env>, ex: Exchange, abort: AbortController): RelayContext {
  return {
    ex, screening: deps.screening, sessions: deps.sessions, abort,
    limits: deps.limits,
    timeout: (why) => timeoutError(c.get('target'), why),
    answerUpstream: answerUpstreamFor(deps, c),
  };
}

/** The exchange a request opens: who asks, about which target and session, in which era. */
function exchange(c: Context<Env>, era: Exchange['era'], protocolVersion: string, sessionId: string, decide: Exchange['decide']): Exchange {
  const identity = c.get('identity');
  return {
    target: c.get('target').name, era, protocolVersion, sessionId, subjectJson: identity.subjectJson,
    principal: identity.principal, request: undefined, decide, trail: c.get('trail'),
  };
}

/** Ends the upstream exchange when the client goes away; for 2026-07-28 that is cancellation. */
function abortOnDisconnect(c: Context<Env>): AbortController {
  const abort = new AbortController();
  const outgoing = c.env?.outgoing;
  if (outgoing) {
    // Node's own response object: cheaper than materialising the Request's AbortSignal.
    outgoing.once('close', () => {
      if (!outgoing.writableFinished) abort.abort();
    });
  } else {
    c.req.raw.signal.addEventListener('abort', () => abort.abort(), { once: true });
  }
  return abort;
}

/** The client's body; a client that goes away mid-upload has nobody left to answer. */
async function readBody(c: Context<Env>): Promise<string> {
  try {
    return await c.req.text();
  } catch (err) {
    if (err instanceof GatewayError) throw err;
    throw new ClientGone();
  }
}

async function post(deps: McpDeps, c: Context<Env>): Promise<Response> {
  const target = c.get('target');
  const headers = c.req.raw.headers;
  const message = parseClientBody(await readBody(c), deps.limits.maxJsonDepth);
  const { era, protocolVersion } = classifyClientMessage(message, {
    protocolVersion: headers.get('mcp-protocol-version') ?? undefined,
    method: headers.get('mcp-method') ?? undefined,
    name: headers.get('mcp-name') ?? undefined,
  });
  const rpcId = message.kind === 'request' ? message.id : null;
  c.set('rpcId', rpcId);
  refuseUnsupported(message);
  const trail = c.get('trail');
  refuseUnrecorded(trail, rpcId);
  // Any session id presented is checked, whatever era the body claims: a 2026-07-28-shaped
  // message must not carry another caller's session id to a legacy upstream.
  const presented = headers.get('mcp-session-id') ?? '';
  const sessionId = era === 'legacy' ? presented : '';
  // One policy snapshot decides this request and everything its answer carries.
  const ex = exchange(c, era, protocolVersion, sessionId, deps.screening.pin());
  const session = presented ? await knownSession(deps, target, presented, ex.principal) : undefined;
  ex.protocolVersion ||= session?.protocolVersion ?? '';

  const query = await clientQuery(deps, ex, message);
  // Named once decided: what leaves the gateway in the trail is the name as the decision masks it.
  if (trail.active) trail.begin({ kind: message.kind, method: query.method, name: '', id: rpcId, params: message.kind === 'response' ? undefined : message.params, era, protocolVersion: ex.protocolVersion, sessionId });
  const decision = trail.decide(query, ex.decide);
  const audit = deps.screening.audit;
  const shown = query.name !== '' && (trail.active || audit.enabled) ? shownName(query.method, query.name, withMask(undefined, decision), deps.screening.masks) : query.name;
  trail.named(shown);
  recordDecision(audit, shown === query.name ? query : { ...query, name: shown }, ex.principal, decision);
  const refused = refusal(decision);
  if (refused && decision.missingScopes.length > 0 && deps.authenticator.insufficientScope) {
    // The policy says which scopes would allow this: ask the client to step up (MCP authorization).
    const stepUp = deps.authenticator.insufficientScope(target.name, decision.missingScopes, decision.reasons.join('; '));
    receivedOnly(trail, toWire(message), decision);
    answeredBy(trail, stepUp.body(rpcId));
    return stepUp.toResponse(rpcId);
  }
  // Approval stage (gateway/approvals): a tools/call the policy allows once approved is held
  // there instead of refused; what it forwards, once approved, is the stored call.
  const approval = deps.approvals === undefined ? undefined : approvalStage(deps.approvals, c, ex, message, decision, refused);
  if (refused && approval === undefined) {
    // A refused answer to a server request: the server is still waiting, so it hears the refusal.
    // Requests get their JSON-RPC error; a refused notification or response has no id to answer.
    receivedOnly(trail, toWire(message), decision);
    if (message.kind === 'response') {
      const answer = jsonRpcError(message.id, refused.code, refused.message, refused.data);
      answeredUpstream(trail, answer);
      answerUpstreamFor(deps, c)(answer);
    }
    answeredBy(trail, refused.body(message.kind === 'request' ? rpcId : null));
    return message.kind === 'request' ? refused.toResponse(rpcId) : refused.toResponse(null, 403);
  }

  // What goes upstream is a message the gateway built: the one it read and decided, rebuilt, or
  // (approval) the stored call it released.
  let forwarded = false;
  let held = false;
  const send = (wire: Record<string, unknown>) => {
    forwarded = true;
    // A call released from a hold is the stored call the gateway sends, not the client's message.
    return forwardRequest(deps, c, ex, message, wire, query.name, decision, held ? 'gateway' : 'client');
  };
  if (!approval) return send(toWire(message));
  const answer = await approval(send);
  if (!trail.active || forwarded) return answer;
  const type = answer.headers.get('content-type') ?? '';
  // A legacy hold: its stream carries the wait and then the call, so the trail ends with it. The
  // client's request is recorded now, and what the hold itself writes until the call is released.
  if (type.startsWith('text/event-stream')) {
    held = true;
    receivedOnly(trail, toWire(message), decision);
    return endsWithStream(trail, answer, () => !forwarded);
  }
  // The approval stage's own JSON answers (input_required, pending) are the gateway's: recorded.
  if (type.startsWith('application/json')) {
    try {
      const body: unknown = JSON.parse(await answer.clone().text());
      receivedOnly(trail, toWire(message), decision);
      if (isObject(body)) answeredBy(trail, body);
    } catch {
      // The trail watches; an answer it cannot read is still the client's.
    }
  }
  return answer;
}

/** The approval stage's share of the route: which requests it takes, and how it forwards. */
function approvalStage(flow: ApprovalFlow, c: Context<Env>, ex: Exchange, message: JsonRpcMessage, decision: Decision, refused: GatewayError | undefined) {
  if (message.kind !== 'request' || message.method !== 'tools/call') return undefined;
  const params = message.params ?? {};
  // Only what refusal() refused for want of approval is held; any other refusal stands.
  const held = refused?.code === ErrorCode.ApprovalRequired && decision.allow && decision.approval?.required === true;
  if (refused && !held) return undefined;
  if (!held && !isGatewayState(params.requestState)) return undefined;
  return (send: (wire: Record<string, unknown>) => Promise<Response>): Promise<Response> => {
    const rebuilt = (p: Record<string, unknown>) => send({ jsonrpc: '2.0', id: message.id, method: message.method, params: p });
    // No approval needed (any more): the gateway's own state is taken off, the rest goes on.
    if (!held) return rebuilt(splitParams(params).call);
    // The wait is its own stage: it ends when the approved call is forwarded, or the exchange ends.
    const wait = ex.trail.hold();
    return flow.handle({
      id: message.id, era: ex.era, protocolVersion: ex.protocolVersion, target: ex.target, params,
      identity: c.get('identity'), decision,
      acceptsSse: (c.req.header('accept') ?? '').includes('text/event-stream'),
      signal: abortOnDisconnect(c).signal,
      observe: (record) => ex.trail.approval(record),
      forward: (p) => {
        wait.release();
        return rebuilt(p);
      },
    });
  };
}

/** Forwards a request (or notification, or response) upstream and relays the answer. */
async function forwardRequest(deps: McpDeps, c: Context<Env>, ex: Exchange, message: JsonRpcMessage, wire: Record<string, unknown>, name: string, decision: Decision, origin: 'client' | 'gateway' = 'client'): Promise<Response> {
  const target = c.get('target');
  const headers = c.req.raw.headers;
  const { sessionId, era } = ex;
  const forwarded = { ...forwardedHeaders(headers, target), ...messageHeaders(wire, era, headers) };
  // The stateless era has no sessions: nothing session-shaped goes upstream with it.
  if (era === 'stateless') delete forwarded['mcp-session-id'];
  // What the decision requires of the answer travels with the exchange, and with the session, so
  // an answer that arrives on a resumed stream is screened the same way.
  if (message.kind === 'request') {
    const pending = { method: message.method, name, mask: withMask(undefined, decision), inspectResponse: decision.inspectResponse };
    ex.request = { ...pending, id: message.id };
    if (sessionId && !(await deps.sessions.rememberClientRequest(target.name, sessionId, message.id, pending))) {
      // Thrown, not answered: an approved call that could not be sent must not count as run.
      throw new GatewayError(200, ErrorCode.InvalidRequest, `Invalid Request: id ${JSON.stringify(message.id)} is still unanswered on this session; use a new id`, { id: message.id });
    }
  }

  // The upstream call is the trail's CLIENT span: its trace context goes upstream the way the
  // client's came in (the header; in 2026-07-28 also params._meta).
  const call = ex.trail.upstream(target.url);
  // Traced: the gateway's context replaces the client's whole (no client tracestate beside it).
  if (call.headers.traceparent !== undefined) {
    delete forwarded.traceparent;
    delete forwarded.tracestate;
  }
  Object.assign(forwarded, call.headers);
  const sent = call.meta !== undefined && era === 'stateless' ? withTraceMeta(wire, call.meta) : wire;
  const crossing: Crossing | undefined = ex.trail.active ? { direction: 'client_to_server', origin, message: sent, mask: withMask(undefined, decision) } : undefined;
  // Recorded before it is forwarded: a message the recording cannot keep (fail closed) does not go.
  // A legacy initialize is recorded once its answer names the session it belongs to.
  const opensSession = era === 'legacy' && message.kind === 'request' && message.method === 'initialize';
  const rpcId = message.kind === 'request' ? message.id : null;
  if (crossing && !opensSession && !ex.trail.crossed(crossing)) {
    const refused = recordingUnavailable(rpcId);
    call.failed(refused);
    if (sessionId && message.kind === 'request') await deps.sessions.takeClientRequest(target.name, sessionId, message.id);
    throw refused;
  }
  const abort = abortOnDisconnect(c);
  let up;
  try {
    up = await deps.upstreams.send(target, 'POST', forwarded, JSON.stringify(sent), abort.signal);
  } catch (err) {
    call.failed(err);
    if (crossing && opensSession) ex.trail.crossed(crossing);
    // Nothing will answer it: free the id.
    if (sessionId && message.kind === 'request') await deps.sessions.takeClientRequest(target.name, sessionId, message.id);
    throw err;
  }
  call.responded(up.status, message.kind !== 'request');
  const upstreamSession = up.sessionId;
  const created = opensSession && up.status === 200 && upstreamSession !== undefined;
  if (created) {
    await deps.sessions.create(target.name, upstreamSession, { target: target.name, protocolVersion: ex.protocolVersion, principal: ex.principal, createdAt: Date.now() });
    ex.trail.session(upstreamSession);
  }
  if (crossing && opensSession && !ex.trail.crossed(crossing)) {
    // The session would start unrecorded: the client never learns of it.
    up.endDeadline();
    await up.body.dump();
    if (created) await deps.sessions.delete(target.name, upstreamSession);
    throw recordingUnavailable(rpcId);
  }
  if (up.status === 404 && sessionId) await deps.sessions.delete(target.name, sessionId);
  return relay(up, relayContext(deps, c, ex, abort));
}

/** GET opens the legacy server-to-client stream; DELETE ends a legacy session. */
async function sessionRequest(deps: McpDeps, c: Context<Env>, method: 'GET' | 'DELETE'): Promise<Response> {
  const target = c.get('target');
  const headers = c.req.raw.headers;
  const sessionId = headers.get('mcp-session-id') ?? '';
  // A GET stream may stay open across bundle swaps: each message on it meets the live policy.
  const ex = exchange(c, 'legacy', headers.get('mcp-protocol-version') ?? '', sessionId, deps.screening.decide);
  // Only a session the caller owns names the trail: a stranger's id must not file this under it.
  const session = sessionId ? await knownSession(deps, target, sessionId, ex.principal) : undefined;
  ex.protocolVersion ||= session?.protocolVersion ?? '';
  ex.trail.begin({ kind: 'request', method: '', name: '', span: method === 'GET' ? semconv.SPAN_STREAM : semconv.SPAN_SESSION_END, era: 'legacy', protocolVersion: ex.protocolVersion, sessionId });
  // A stream or a session's end the recording cannot follow is not opened (fail closed).
  refuseUnrecorded(ex.trail, null);
  const forwarded = forwardedHeaders(headers, target);
  const call = ex.trail.upstream(target.url);
  Object.assign(forwarded, call.headers);
  // Resumption names an event id the gateway issued; the upstream hears its own. An id the
  // gateway never issued (or forgot) resumes nothing: the stream starts fresh.
  const lastEventId = headers.get('last-event-id');
  if (method === 'GET' && sessionId && lastEventId !== null) {
    const upstreamId = await deps.sessions.upstreamEventId(target.name, sessionId, lastEventId);
    if (upstreamId !== undefined) forwarded['last-event-id'] = upstreamId;
  }
  const abort = abortOnDisconnect(c);
  let up;
  try {
    up = await deps.upstreams.send(target, method, forwarded, undefined, abort.signal);
  } catch (err) {
    call.failed(err);
    throw err;
  }
  // A stream's lifetime is not the upstream call's: the CLIENT span ends with the headers.
  call.responded(up.status, true);
  if (sessionId && (up.status === 404 || (method === 'DELETE' && up.status < 300))) {
    await deps.sessions.delete(target.name, sessionId);
  }
  return relay(up, relayContext(deps, c, ex, abort));
}

function guarded(deps: McpDeps, handler: (c: Context<Env>) => Promise<Response>) {
  return async (c: Context<Env>) => {
    const trail = c.get('trail');
    try {
      const res = await handler(c);
      trail.answered();
      return res;
    } catch (err) {
      if (err instanceof ClientGone) {
        trail.end(err);
        return new Response(null, { status: 499 });
      }
      let failure = err;
      if (!(err instanceof GatewayError)) {
        deps.log(`internal error on ${c.req.method} ${c.req.path}: ${(err as Error).stack ?? String(err)}`);
        failure = new GatewayError(500, ErrorCode.InternalError, 'Internal error in the gateway; the request was not forwarded or its answer was withheld');
      }
      const error = failure as GatewayError;
      const id = error.id ?? c.get('rpcId') ?? null;
      answeredBy(trail, error.body(id));
      trail.end(err);
      return error.toResponse(id);
    }
  };
}

/**
 * Refuses bodies over the limit. A declared Content-Length is checked up front (Node's parser
 * holds the body to it), which keeps the body on node-server's direct read path; only chunked
 * bodies are counted while streaming, by Hono's bodyLimit.
 */
function limitBody(maxBytes: number) {
  const tooLarge = () => new GatewayError(413, ErrorCode.PayloadTooLarge, `Payload Too Large: the body exceeds ${maxBytes} bytes`).toResponse();
  const streaming = bodyLimit({ maxSize: maxBytes, onError: tooLarge });
  return async (c: Context<Env>, next: Next) => {
    const declared = c.req.header('content-length');
    if (declared === undefined) return streaming(c, next);
    if (Number(declared) > maxBytes) return tooLarge();
    await next();
  };
}

export function mcpRoutes(deps: McpDeps): Hono<Env> {
  const app = new Hono<Env>();
  // Browsers on allowed origins: preflights are answered before admission (they carry no token),
  // and the headers an MCP client must read are exposed. Other origins get no CORS headers.
  app.use('/mcp/:target', cors({
    origin: (origin) => (deps.isAllowedOrigin(origin) ? origin : null),
    allowMethods: ['GET', 'POST', 'DELETE'],
    // Request headers are reflected (tools may send any Mcp-Param-*); what goes upstream is an
    // allowlist regardless.
    exposeHeaders: ['mcp-session-id', 'mcp-protocol-version', 'www-authenticate'],
    maxAge: 600,
  }));
  app.use('/mcp/:target', admit(deps));
  app.post('/mcp/:target', limitBody(deps.limits.maxBodyBytes), guarded(deps, (c) => post(deps, c)));
  // Hono routes HEAD to GET handlers; a HEAD must not open an upstream stream.
  app.get('/mcp/:target', guarded(deps, (c) => (c.req.method === 'HEAD' ? Promise.resolve(methodNotAllowed()) : sessionRequest(deps, c, 'GET'))));
  app.delete('/mcp/:target', guarded(deps, (c) => sessionRequest(deps, c, 'DELETE')));
  app.all('/mcp/:target', methodNotAllowed);
  return app;
}
