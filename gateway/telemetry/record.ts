// Builds the RecordedMessage (gateway/recordings/entry.ts) for a message that crossed the
// gateway. A client's request is masked here, with its own decision's masks, before it is kept
// anywhere; a request whose strict mask cannot be applied is kept without its content.
import type { MaskPlanCache } from '../masking/index.ts';
import type { Decision } from '../policy/decision.ts';
import type { Era } from '../policy/input.ts';
import { recordingIdFor, type RecordedApproval, type RecordedDecision, type RecordedMessage } from '../recordings/index.ts';
import { GatewayError } from '../errors.ts';
import { isObject } from '../json.ts';
import { maskMessage, type MaskDirective } from '../mcp/protect.ts';

/** A message as it leaves the gateway, in either direction. */
export interface Crossing {
  direction: RecordedMessage['direction'];
  origin: RecordedMessage['origin'];
  /** The JSON-RPC message as sent; a client's request before masking (`mask` is applied here). */
  message: Record<string, unknown>;
  /** A client request's own decision's masks, applied to what is recorded or put on a span. */
  mask?: MaskDirective | undefined;
}

/** Placeholder content of a client request whose strict mask failed: nothing unmasked is kept. */
export const WITHHELD = '[WITHHELD: masking required but could not be applied]';

/** The message as it may be kept: masked by `mask`, or its content withheld when that fails. */
export function keepable(c: Crossing, masks: MaskPlanCache): { message: Record<string, unknown>; counts: Record<string, number> } {
  if (c.mask === undefined) return { message: c.message, counts: {} };
  try {
    const masked = maskMessage(c.message, c.mask, masks);
    return { message: masked.value, counts: masked.counts };
  } catch (err) {
    if (!(err instanceof GatewayError)) throw err;
    const { params: _params, result: _result, error: _error, ...rest } = c.message;
    return { message: { ...rest, ...(c.message.params === undefined ? {} : { params: WITHHELD }) }, counts: {} };
  }
}

/**
 * The recording of an exchange (gateway/recordings recordingIdFor), remembered for recent
 * exchanges: every message asks, and a sha256 each, two per call, was ~3% of the trail's CPU in
 * bench/trail.ts. Bounded; cleared when full. The id is the same whether remembered or not.
 */
export function recordingOf(facts: Pick<ExchangeFacts, 'era' | 'target' | 'principal' | 'sessionId' | 'clientId'>): string {
  const key = JSON.stringify([facts.era, facts.target, facts.principal, facts.sessionId, facts.clientId]);
  let id = recentRecordings.get(key);
  if (id === undefined) {
    id = recordingIdFor({ era: facts.era, target: facts.target, principal: facts.principal, sessionId: facts.sessionId, subject: { client_id: facts.clientId } });
    if (recentRecordings.size >= RECENT_RECORDINGS_MAX) recentRecordings.clear();
    recentRecordings.set(key, id);
  }
  return id;
}

const recentRecordings = new Map<string, string>();
const RECENT_RECORDINGS_MAX = 4096;

/** `params._meta["io.modelcontextprotocol/clientInfo"].name` of a 2026-07-28 request, else ''. */
export function clientNameOf(params: unknown): string {
  const meta = isObject(params) ? params._meta : undefined;
  const info = isObject(meta) ? meta['io.modelcontextprotocol/clientInfo'] : undefined;
  return isObject(info) && typeof info.name === 'string' ? info.name : '';
}

export function recordedDecision(d: Decision, masked: Record<string, number>): RecordedDecision {
  return {
    id: d.id, outcome: d.outcome, allow: d.allow, approvalRequired: d.approval?.required ?? false,
    ruleIds: d.ruleIds, reasons: d.reasons, revision: d.revision, masked,
  };
}

export interface ExchangeFacts {
  sessionId: string;
  target: string;
  era: Era;
  protocolVersion: string;
  principal: string;
  subjectJson: string;
  /** The token's client (client_id / azp); a 2026-07-28 recording is one per target, principal and client. */
  clientId: string;
  clientName: string;
  /** The exchange's own request: what a response answers. */
  method: string;
  name: string;
  startMs: number;
}

export function recordedMessage(
  facts: ExchangeFacts, c: Crossing, message: Record<string, unknown>, extra: {
    decision?: RecordedDecision | undefined; approval?: RecordedApproval | undefined; traceId: string; spanId: string; now: number;
  },
): RecordedMessage {
  const method = typeof message.method === 'string' ? message.method : undefined;
  const kind = method === undefined ? 'response' : message.id === undefined ? 'notification' : 'request';
  const params = message.params;
  const name = kind === 'response' ? facts.name
    : isObject(params) && typeof params.name === 'string' ? params.name
    : isObject(params) && typeof params.uri === 'string' ? params.uri : '';
  const id = message.id;
  return {
    recording: recordingOf(facts),
    target: facts.target, era: facts.era, protocolVersion: facts.protocolVersion, sessionId: facts.sessionId,
    time: extra.now, direction: c.direction, origin: c.origin, kind,
    method: method ?? facts.method, name,
    ...(typeof id === 'string' || typeof id === 'number' || id === null ? { rpcId: id } : {}),
    principal: facts.principal, subjectJson: facts.subjectJson, message,
    ...(extra.decision ? { decision: extra.decision } : {}),
    ...(extra.approval ? { approval: extra.approval } : {}),
    ...(kind === 'response' ? { durationMs: Math.max(0, extra.now - facts.startMs) } : {}),
    traceId: extra.traceId, spanId: extra.spanId,
  };
}
