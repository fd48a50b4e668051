// The approval stage's share of the route (gateway/approvals holds the calls): which requests
// it takes, and how it forwards what it releases.
import type { Context } from 'hono';
import { ErrorCode, GatewayError } from '../errors.ts';
import type { JsonRpcMessage } from './jsonrpc.ts';
import { isGatewayState, splitParams, type ApprovalFlow } from '../approvals/index.ts';
import type { Decision } from '../policy/decision.ts';
import type { Exchange } from './screen.ts';
import { abortOnDisconnect, type Env } from './context.ts';

/** The approval stage's share of the route: which requests it takes, and how it forwards. */
export function approvalStage(flow: ApprovalFlow, c: Context<Env>, ex: Exchange, message: JsonRpcMessage, decision: Decision, refused: GatewayError | undefined) {
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
