// The audit trail of one exchange: the request path calls it at each stage and each point where a
// message crosses the gateway, and it writes the spans (one SERVER span per message, child spans
// per stage), the metrics and the recording. With tracing, metrics and recording all off, the
// path gets `noTrail`, whose methods do nothing and build nothing.
import type { Identity } from '../identity/index.ts';
import type { MaskPlanCache } from '../masking/index.ts';
import type { Decision } from '../policy/decision.ts';
import type { Era, PolicyQuery } from '../policy/input.ts';
import type { RecordingSink } from '../recordings/entry.ts';
import type { ApprovalRecord } from '../approvals/index.ts';
import type { Masked } from '../mcp/protect.ts';
import type { Telemetry } from './otel.ts';
import type { Crossing } from './record.ts';
import type * as S from './semconv.ts';
import type { MessageFacts } from './attributes.ts';
import { ExchangeTrail } from './exchange-trail.ts';

export type { Crossing } from './record.ts';

/** What the trail knows of the exchange's own message once it is read. */
export interface TrailBegin extends MessageFacts {
  era: Era;
  protocolVersion: string;
  sessionId: string;
}

/** The upstream CLIENT call: what to send with it, and when it answered. */
export interface UpstreamCall {
  /** Trace context headers for the upstream request (the CLIENT span's); empty without tracing. */
  readonly headers: Record<string, string>;
  /** 2026-07-28: the same context for `params._meta`; undefined without tracing. */
  readonly meta: Record<string, string> | undefined;
  /** The upstream's HTTP answer (headers) arrived; `final`: nothing more is awaited from it. */
  responded(status: number, final: boolean): void;
  failed(err: unknown): void;
}

export interface Trail {
  /** False for noTrail: callers may skip building what only the trail would read. */
  readonly active: boolean;
  identify(identity: Identity): void;
  /** Whether a new exchange may start (the recording buffer has room, or fails open). */
  admits(): boolean;
  /** Times a stage of the path as a child span of the message span. */
  stage<T>(name: S.StageName, run: () => T): T;
  begin(facts: TrailBegin): void;
  /**
   * The message's name (tool, prompt, URI) as its decision masks it: only then does it go on the
   * spans and records (begin is given '' for a message that is yet to be decided).
   */
  named(name: string): void;
  /** A legacy session was created by this exchange (initialize): its recording is the session's. */
  session(id: string): void;
  /** One policy decision, timed as the policy stage; its provenance goes on the spans. */
  decide(query: PolicyQuery, decide: (query: PolicyQuery) => Decision): Decision;
  /** Masking, timed as the mask stage; counts go on the spans and metrics. */
  mask(run: () => Masked): Masked;
  /** The approval wait starts; `release` ends it (the call is forwarded, or the exchange ends). */
  hold(): { release(): void };
  approval(record: ApprovalRecord): void;
  upstream(upstreamUrl: string): UpstreamCall;
  /**
   * A message left the gateway (recorded; an answer's status goes on the span). False when the
   * recording refused it (buffer full, fail_closed): a request must then not be forwarded.
   */
  crossed(c: Crossing): boolean;
  /** An upstream message that is not this exchange's answer: its own span and decision. */
  child(facts: MessageFacts): Trail;
  /** The answer is a stream: the trail ends when it does (end()), not when it is handed over. */
  endsWithStream(): void;
  /** The answer is handed to the client: ends the trail, unless it ends with its stream. */
  answered(): void;
  end(error?: unknown): void;
}

const NO_UPSTREAM: UpstreamCall = { headers: {}, meta: undefined, responded: () => {}, failed: () => {} };

export const noTrail: Trail = {
  active: false,
  identify: () => {},
  admits: () => true,
  stage: (_name, run) => run(),
  begin: () => {},
  named: () => {},
  session: () => {},
  decide: (query, decide) => decide(query),
  mask: (run) => run(),
  hold: () => ({ release: () => {} }),
  approval: () => {},
  upstream: () => NO_UPSTREAM,
  crossed: () => true,
  child: () => noTrail,
  endsWithStream: () => {},
  answered: () => {},
  end: () => {},
};

export interface TrailDeps {
  telemetry: Telemetry | undefined;
  recordings: RecordingSink;
  masks: MaskPlanCache;
  /** The sha256 of the bundle that has this revision ('' when no longer known). */
  sha256Of: (revision: string) => string;
  log: (message: string) => void;
}

/** Where an exchange starts: the HTTP request as the route sees it. */
export interface TrailRequest {
  headers: Headers;
  target: string;
  clientAddress: string | undefined;
}

/** Opens trails for exchanges; noTrail when nothing is traced, measured or recorded. */
export function trails(deps: TrailDeps): (headers: Headers, target: string, clientAddress: string | undefined) => Trail {
  const t = deps.telemetry;
  if (t?.tracer === undefined && t?.metrics === undefined && !deps.recordings.enabled) return () => noTrail;
  return (headers, target, clientAddress) => new ExchangeTrail(deps, { headers, target, clientAddress }, undefined);
}
