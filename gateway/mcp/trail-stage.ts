// The audit trail's share of the request path (route.ts): the gateway's own answers as crossings,
// the recording buffer's admission, trace context into 2026-07-28 `params._meta`, and the end of
// an exchange's trail when its answer (or its stream) ends.
import { ErrorCode, GatewayError, type JsonRpcId } from '../errors.ts';
import { isObject } from '../json.ts';
import type { Decision } from '../policy/decision.ts';
import type { Trail } from '../telemetry/index.ts';
import { withMask } from './protect.ts';

/** An answer the gateway wrote itself (a refusal, an error), as the client will see it. */
export function answeredBy(trail: Trail, message: object): void {
  if (trail.active) trail.crossed({ direction: 'server_to_client', origin: 'gateway', message: message as Record<string, unknown> });
}

/** What the gateway sent upstream on the client's behalf (its refusal of a server request). */
export function answeredUpstream(trail: Trail, message: object): void {
  if (trail.active) trail.crossed({ direction: 'client_to_server', origin: 'gateway', message: message as Record<string, unknown> });
}

/**
 * A client message the gateway answered itself instead of forwarding (refused, or answered by the
 * approval stage): part of the exchange all the same, so it is recorded, masked by its own decision.
 */
export function receivedOnly(trail: Trail, message: Record<string, unknown>, decision: Decision): void {
  if (trail.active) trail.crossed({ direction: 'client_to_server', origin: 'client', message, mask: withMask(undefined, decision) });
}

/** -32092, 503: the recording cannot keep this exchange and fails closed; nothing was forwarded. */
export function recordingUnavailable(id: JsonRpcId): GatewayError {
  return new GatewayError(503, ErrorCode.RecordingUnavailable, 'Service Unavailable: this gateway records every exchange and its recording buffer is full; nothing was forwarded. Retry shortly', { id, headers: { 'retry-after': '1' } });
}

/** Recording is on and its buffer is full (fail closed): nothing of a new exchange is forwarded. */
export function refuseUnrecorded(trail: Trail, id: JsonRpcId): void {
  if (!trail.admits()) throw recordingUnavailable(id);
}

/**
 * The message with the gateway's trace context in `params._meta` (a copy). The client's own
 * `traceparent`, `tracestate` and `baggage` members are dropped first: the upstream sees the
 * gateway's context only, never a client's tracestate or baggage beside it; other members are kept.
 */
export function withTraceMeta(wire: Record<string, unknown>, context: Record<string, string>): Record<string, unknown> {
  const params = wire.params;
  if (!isObject(params)) return wire;
  const { traceparent: _tp, tracestate: _ts, baggage: _bg, ...meta } = isObject(params._meta) ? params._meta : {};
  return { ...wire, params: { ...params, _meta: { ...meta, ...context } } };
}

/** The JSON-RPC messages of the complete SSE events in `text`, and what is left of an unfinished one. */
function sseMessages(text: string): { messages: Record<string, unknown>[]; rest: string } {
  const events = text.split(/\r?\n\r?\n/);
  const rest = events.pop() ?? '';
  const messages: Record<string, unknown>[] = [];
  for (const event of events) {
    const data = event.split(/\r?\n/).filter((l) => l.startsWith('data:')).map((l) => l.slice(5).replace(/^ /, '')).join('\n');
    if (data === '') continue;
    try {
      const value: unknown = JSON.parse(data);
      if (isObject(value)) messages.push(value);
    } catch {
      // The gateway's own stream: not JSON would be a bug, and is not recorded as a message.
    }
  }
  return { messages, rest };
}

/**
 * An event-stream answer the relay did not build (a legacy approval hold): the trail ends with it.
 * While `ownWriting()` holds (the hold has not released the call), its events are the gateway's
 * own answers and are recorded; after, what flows is the relayed call, which the relay records.
 */
export function endsWithStream(trail: Trail, res: Response, ownWriting: () => boolean = () => false): Response {
  if (res.body === null) return res;
  trail.endsWithStream();
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let pending = '';
  const watched = new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const next = await reader.read();
        if (!next.done) {
          if (ownWriting()) {
            const { messages, rest } = sseMessages(pending + decoder.decode(next.value, { stream: true }));
            pending = rest;
            for (const m of messages) answeredBy(trail, m);
          }
          return controller.enqueue(next.value);
        }
        trail.end();
        controller.close();
      } catch (err) {
        trail.end(err);
        controller.error(err);
      }
    },
    cancel(reason) {
      trail.end();
      return reader.cancel(reason);
    },
  }, { highWaterMark: 0 });
  return new Response(watched, { status: res.status, headers: res.headers });
}
