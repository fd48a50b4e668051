// GET opens the legacy server-to-client stream; DELETE ends a legacy session. The same path as a
// POST without a message of its own: admitted, owned session checked, forwarded, relayed.
import type { Context } from 'hono';
import { semconv } from '../telemetry/index.ts';
import { refuseUnrecorded } from './trail-stage.ts';
import { relay } from './relay.ts';
import { forwardedHeaders } from './upstream.ts';
import { abortOnDisconnect, exchange, knownSession, relayContext, type Env, type McpDeps } from './context.ts';

/** GET opens the legacy server-to-client stream; DELETE ends a legacy session. */
export async function sessionRequest(deps: McpDeps, c: Context<Env>, method: 'GET' | 'DELETE'): Promise<Response> {
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
