// What every stage of the MCP route shares: its dependencies, the Hono context's variables, and
// the exchange a request opens (who asks, about which target and session, in which era), with the
// small helpers the stages use on it.
import type { HttpBindings } from '@hono/node-server';
import type { Context } from 'hono';
import type { Authenticator, Identity } from '../identity/index.ts';
import type { SessionRecord, SessionStore } from '../sessions/store.ts';
import type { Trail } from '../telemetry/index.ts';
import { ErrorCode, GatewayError, type JsonRpcId } from '../errors.ts';
import type { ApprovalFlow } from '../approvals/index.ts';
import { ClientGone, type RelayContext } from './relay.ts';
import type { Exchange, Screening } from './screen.ts';
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

export type Env = {
  Bindings: Partial<HttpBindings>;
  /** `rpcId`: the id of the client's request once read, so every error answers it. */
  Variables: { target: UpstreamTarget; identity: Identity; rpcId: JsonRpcId; trail: Trail };
};

/** A legacy session, only for the identity that created it: anyone else is told it does not exist. */
export async function knownSession(deps: McpDeps, target: UpstreamTarget, sessionId: string, principal: string): Promise<SessionRecord> {
  const session = await deps.sessions.get(target.name, sessionId);
  if (session === undefined || session.principal !== principal) {
    throw new GatewayError(404, ErrorCode.SessionNotFound, 'Session not found: it expired, was not created through this gateway, or belongs to another caller');
  }
  return session;
}

/** Sends a message to the upstream on the client's behalf, in the client's session. */
export function answerUpstreamFor(deps: McpDeps, c: Context<Env>): (message: unknown) => void {
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

export function relayContext(deps: McpDeps, c: Context<Env>, ex: Exchange, abort: AbortController): RelayContext {
  return {
    ex, screening: deps.screening, sessions: deps.sessions, abort,
    limits: deps.limits,
    timeout: (why) => timeoutError(c.get('target'), why),
    answerUpstream: answerUpstreamFor(deps, c),
  };
}

/** The exchange a request opens: who asks, about which target and session, in which era. */
export function exchange(c: Context<Env>, era: Exchange['era'], protocolVersion: string, sessionId: string, decide: Exchange['decide']): Exchange {
  const identity = c.get('identity');
  return {
    target: c.get('target').name, era, protocolVersion, sessionId, subjectJson: identity.subjectJson,
    principal: identity.principal, request: undefined, decide, trail: c.get('trail'),
  };
}

/** Ends the upstream exchange when the client goes away; for 2026-07-28 that is cancellation. */
export function abortOnDisconnect(c: Context<Env>): AbortController {
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
export async function readBody(c: Context<Env>): Promise<string> {
  try {
    return await c.req.text();
  } catch (err) {
    if (err instanceof GatewayError) throw err;
    throw new ClientGone();
  }
}
