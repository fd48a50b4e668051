// The MCP data path. One POST reads top to bottom: admit (which opens the exchange's audit trail
// and authenticates), parse, classify, decide, forward, relay (which decides the answer, masks and
// records). GET (legacy server stream) and DELETE (legacy session end) are the same path without a
// message of their own. The trail (gateway/telemetry/trail.ts) sees every stage and every message
// that crosses; with telemetry and recordings off it is a no-op.
//
// Stages, each in its own file: door.ts (admit, limitBody, guarded), approval-stage.ts (calls held
// for approval), trail-stage.ts (the audit trail's crossings), relay.ts and screen.ts (the answer),
// session-requests.ts (GET and DELETE); context.ts holds what they share.
import { Hono, type Context } from 'hono';
import { cors } from 'hono/cors';
import type { PolicyQuery } from '../policy/input.ts';
import { recordDecision } from '../telemetry/audit.ts';
import type { Crossing } from '../telemetry/index.ts';
import { methodNotAllowed } from '../edge.ts';
import { classifyClientMessage } from './era.ts';
import { ErrorCode, GatewayError, jsonRpcError } from '../errors.ts';
import { nameOf, parseClientBody, refuseUnsupported, toWire, type JsonRpcMessage } from './jsonrpc.ts';
import type { Decision } from '../policy/decision.ts';
import { messageHeaders } from './headers.ts';
import { shownName, withMask } from './protect.ts';
import { isObject } from '../json.ts';
import { answeredBy, answeredUpstream, endsWithStream, receivedOnly, recordingUnavailable, refuseUnrecorded, withTraceMeta } from './trail-stage.ts';
import { relay } from './relay.ts';
import { queryFor, refusal, type Exchange } from './screen.ts';
import { forwardedHeaders } from './upstream.ts';
import { abortOnDisconnect, answerUpstreamFor, exchange, knownSession, readBody, relayContext, type Env, type McpDeps } from './context.ts';
import { admit, guarded, limitBody } from './door.ts';
import { sessionRequest } from './session-requests.ts';
import { approvalStage } from './approval-stage.ts';

export type { McpDeps } from './context.ts';

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
