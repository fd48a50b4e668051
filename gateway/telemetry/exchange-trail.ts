// One exchange's trail (trail.ts says what it is for): its SERVER span and the child spans of its
// stages, its decisions and masks (metrics, and the record of the next message that crosses), and
// the recording of every message that crosses.
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Attributes, type Context, type Span, type TextMapGetter } from '@opentelemetry/api';
import type { Identity } from '../identity/index.ts';
import type { Decision } from '../policy/decision.ts';
import type { PolicyQuery } from '../policy/input.ts';
import type { RecordedApproval } from '../recordings/entry.ts';
import type { ApprovalRecord } from '../approvals/index.ts';
import { GatewayError } from '../errors.ts';
import { isObject } from '../json.ts';
import type { Masked } from '../mcp/protect.ts';
import { clientNameOf, keepable, recordedDecision, recordedMessage, type Crossing, type ExchangeFacts } from './record.ts';
import * as S from './semconv.ts';
import { approvalAttributes, contentAttribute, decisionAttributes, identityAttributes, maskedAttributes, messageAttributes, nameAttributes, serverAddress, spanName, type MessageFacts } from './attributes.ts';
import type { Trail, TrailBegin, TrailDeps, TrailRequest, UpstreamCall } from './trail.ts';

const now = (): number => performance.timeOrigin + performance.now();

const headerGetter: TextMapGetter<Headers> = { get: (h, key) => h.get(key) ?? undefined, keys: (h) => [...h.keys()] };
const metaGetter: TextMapGetter<Record<string, unknown>> = {
  get: (m, key) => (typeof m[key] === 'string' ? (m[key] as string) : undefined),
  keys: (m) => Object.keys(m),
};

export class ExchangeTrail implements Trail {
  readonly active = true;
  readonly #d: TrailDeps;
  readonly #req: TrailRequest;
  readonly #parent: ExchangeTrail | undefined;
  readonly #start = now();
  #identity: Identity | undefined;
  #facts: TrailBegin | undefined;
  #span: Span | undefined;
  #ctx: Context = ROOT_CONTEXT;
  /** Stages timed before the message span could start (authentication): replayed as children. */
  #early: Array<{ name: string; start: number; end: number; attrs: Attributes; error?: unknown }> = [];
  #provenance = false;
  #decision: Decision | undefined;
  /** The decision on the exchange's request: its answer met its masks, when it had no decision of its own. */
  #requestDecision: Decision | undefined;
  #masked: Record<string, number> = {};
  #maskedTotal: Record<string, number> = {};
  #approval: RecordedApproval | undefined;
  #held: { release(): void } | undefined;
  #client: { span: Span | undefined; start: number; status: string; open: boolean } | undefined;
  #sessionId = '';
  #ended = false;
  #streaming = false;

  constructor(d: TrailDeps, req: TrailRequest, parent: ExchangeTrail | undefined) {
    this.#d = d;
    this.#req = req;
    this.#parent = parent;
  }

  get #tracer() {
    return this.#d.telemetry?.tracer;
  }

  identify(identity: Identity): void {
    this.#identity = identity;
  }

  admits(): boolean {
    return !this.#d.recordings.enabled || this.#d.recordings.admit();
  }

  /** Whether spans are kept: tracing is on and this trace is sampled (unknown before begin: yes). */
  get #recording(): boolean {
    return this.#tracer !== undefined && (this.#span === undefined || this.#span.isRecording());
  }

  #child(name: string, start: number, end: number, attrs: Attributes, error?: unknown, kind = SpanKind.INTERNAL): void {
    const tracer = this.#tracer;
    if (tracer === undefined) return;
    if (this.#span === undefined) {
      this.#early.push({ name, start, end, attrs, ...(error === undefined ? {} : { error }) });
      return;
    }
    // An unsampled trace keeps no spans: nothing is built for its stages.
    if (!this.#span.isRecording()) return;
    const span = tracer.startSpan(name, { kind, startTime: start, attributes: attrs }, this.#ctx);
    if (error !== undefined) failSpan(span, error);
    span.end(end);
  }

  stage<T>(name: S.StageName, run: () => T): T {
    const start = now();
    let result: T;
    try {
      result = run();
    } catch (err) {
      this.#child(name, start, now(), {}, err);
      throw err;
    }
    if (result instanceof Promise) {
      return result.then(
        (value: unknown) => (this.#child(name, start, now(), {}), value),
        (err: unknown) => { this.#child(name, start, now(), {}, err); throw err; },
      ) as T;
    }
    this.#child(name, start, now(), {});
    return result;
  }

  begin(facts: TrailBegin): void {
    if (this.#facts !== undefined) return;
    this.#facts = facts;
    this.#sessionId = facts.era === 'legacy' ? facts.sessionId : '';
    const tracer = this.#tracer;
    if (tracer === undefined) return;
    const parent = this.#parent ? this.#parent.#ctx : this.#incomingContext(facts);
    const span = tracer.startSpan(spanName(facts), { kind: SpanKind.SERVER, startTime: this.#parent ? now() : this.#start }, parent);
    this.#span = span;
    this.#ctx = trace.setSpan(parent, span);
    if (!span.isRecording()) {
      this.#early.length = 0;
      return;
    }
    // Built in place: every span of every call pays for each attribute (and its export).
    const attrs = messageAttributes(facts);
    attrs[S.ATTR_TARGET] = this.#req.target;
    if (this.#sessionId) attrs[S.ATTR_MCP_SESSION_ID] = this.#sessionId;
    if (facts.protocolVersion) attrs[S.ATTR_MCP_PROTOCOL_VERSION] = facts.protocolVersion;
    serverAddress(this.#req.headers.get('host'), attrs);
    if (this.#req.clientAddress) attrs[S.ATTR_CLIENT_ADDRESS] = this.#req.clientAddress;
    if (this.#identity) identityAttributes(this.#identity, attrs);
    span.setAttributes(attrs);
    for (const e of this.#early.splice(0)) this.#child(e.name, e.start, e.end, e.attrs, e.error);
  }

  named(name: string): void {
    const f = this.#facts;
    if (f === undefined || name === '' || f.name === name) return;
    this.#facts = { ...f, name };
    const span = this.#span;
    if (span === undefined || !span.isRecording()) return;
    const attrs: Attributes = {};
    nameAttributes(f.method, name, attrs);
    span.updateName(spanName(this.#facts)).setAttributes(attrs);
  }

  /** 2026-07-28 carries trace context in `params._meta`; otherwise (or when absent) the HTTP header. */
  #incomingContext(facts: TrailBegin): Context {
    const propagator = this.#d.telemetry!.propagator;
    const meta = isObject(facts.params) ? facts.params._meta : undefined;
    if (facts.era === 'stateless' && isObject(meta) && typeof meta.traceparent === 'string') {
      const ctx = propagator.extract(ROOT_CONTEXT, meta, metaGetter);
      if (trace.getSpanContext(ctx) !== undefined) return ctx;
    }
    return propagator.extract(ROOT_CONTEXT, this.#req.headers, headerGetter);
  }

  session(id: string): void {
    this.#sessionId ||= id;
  }

  decide(query: PolicyQuery, decide: (query: PolicyQuery) => Decision): Decision {
    const start = now();
    const decision = decide(query);
    const end = now();
    this.#decision = decision;
    this.#d.telemetry?.metrics?.decision(decision.outcome, decision.ruleIds, query.target, query.method, (end - start) / 1000);
    if (this.#recording) {
      const attrs = decisionAttributes(decision, this.#d.sha256Of(decision.revision));
      // The message span carries the decision on the message itself; later ones (the answer's)
      // sit on their own policy spans.
      if (!this.#provenance && this.#span) {
        this.#provenance = true;
        this.#span.setAttributes(attrs);
        this.#child(S.SPAN_POLICY, start, end, {});
      } else {
        this.#child(S.SPAN_POLICY, start, end, attrs);
      }
    }
    return decision;
  }

  mask(run: () => Masked): Masked {
    const start = now();
    let masked: Masked;
    try {
      masked = run();
    } catch (err) {
      this.#child(S.SPAN_MASK, start, now(), {}, err);
      throw err;
    }
    this.#child(S.SPAN_MASK, start, now(), this.#recording ? maskedAttributes(masked.counts) : {});
    addCounts(this.#masked, masked.counts);
    addCounts(this.#maskedTotal, masked.counts);
    this.#d.telemetry?.metrics?.masked(masked.counts, this.#req.target);
    return masked;
  }

  hold(): { release(): void } {
    const start = now();
    const metrics = this.#d.telemetry?.metrics;
    metrics?.holding(this.#req.target, 1);
    let released = false;
    const held = {
      release: () => {
        if (released) return;
        released = true;
        metrics?.holding(this.#req.target, -1);
        const a = this.#approval;
        this.#child(S.SPAN_APPROVAL, start, now(), a ? approvalAttributes(a) : {});
        if (a && a.state !== 'pending') metrics?.approvalWaited(a.state, a.waitMs / 1000);
      },
    };
    this.#held = held;
    return held;
  }

  approval(record: ApprovalRecord): void {
    const approvers = record.votes.filter((v) => v.decision === 'approve').map((v) => v.by.principal);
    const decided = record.votes.at(-1)?.at;
    const waitMs = record.state === 'pending' || decided === undefined ? Date.now() - record.createdAt : decided - record.createdAt;
    this.#approval = { id: record.id, state: record.state, approvers, waitMs: Math.max(0, waitMs) };
  }

  upstream(upstreamUrl: string): UpstreamCall {
    const tracer = this.#tracer;
    const start = now();
    let span: Span | undefined;
    let headers: Record<string, string> = {};
    let meta: Record<string, string> | undefined;
    if (tracer !== undefined && this.#span !== undefined && this.#facts !== undefined) {
      const { host, port } = upstreamAddress(upstreamUrl);
      const attrs: Attributes = { [S.ATTR_SERVER_ADDRESS]: host, [S.ATTR_SERVER_PORT]: port };
      if (this.#facts.method) attrs[S.ATTR_MCP_METHOD_NAME] = this.#facts.method;
      span = tracer.startSpan(spanName(this.#facts), { kind: SpanKind.CLIENT, startTime: start, attributes: attrs }, this.#ctx);
      const carrier: Record<string, string> = {};
      this.#d.telemetry!.propagator.inject(trace.setSpan(this.#ctx, span), carrier, { set: (c, k, v) => { c[k] = v; } });
      headers = carrier;
      meta = carrier;
    }
    const client = { span, start, status: '', open: true };
    this.#client = client;
    return {
      headers, meta,
      responded: (status, final) => {
        client.status = String(status);
        span?.setAttribute('http.response.status_code', status);
        if (final) this.#endClient();
      },
      failed: (err) => {
        client.status = err instanceof GatewayError ? String(err.code) : 'error';
        if (span) failSpan(span, err);
        this.#endClient();
      },
    };
  }

  #endClient(): void {
    const c = this.#client;
    if (c === undefined || !c.open) return;
    c.open = false;
    const end = now();
    c.span?.end(end);
    this.#d.telemetry?.metrics?.upstream(this.#req.target, c.status || 'answered', (end - c.start) / 1000);
  }

  crossed(c: Crossing): boolean {
    try {
      return this.#crossed(c);
    } catch (err) {
      // Tracing never breaks a request; a message that should be recorded and could not be is
      // treated as the recorder refusing it (the caller then fails closed where it still can).
      this.#d.log(`telemetry: a crossing could not be recorded: ${(err as Error).message}`);
      return !this.#d.recordings.enabled;
    }
  }

  /** The message span, started as an unread exchange when the path ends before its message is read. */
  #ensureSpan(): void {
    if (this.#span === undefined && this.#tracer !== undefined) this.begin({ kind: 'request', method: '', name: '', era: 'legacy', protocolVersion: '', sessionId: '' });
  }

  #crossed(c: Crossing): boolean {
    this.#ensureSpan();
    const isAnswer = c.message.method === undefined && c.direction === 'server_to_client';
    if (isAnswer && c.origin === 'upstream') this.#endClient();
    const span = this.#span;
    if (isAnswer && span !== undefined) {
      const error = c.message.error;
      if (isObject(error) && typeof error.code === 'number') {
        span.setAttributes({ [S.ATTR_RPC_RESPONSE_STATUS_CODE]: String(error.code), [S.ATTR_ERROR_TYPE]: String(error.code) });
        span.setStatus({ code: SpanStatusCode.ERROR });
      } else if (isObject(c.message.result) && c.message.result.isError === true) {
        span.setAttribute(S.ATTR_ERROR_TYPE, S.ERROR_TYPE_TOOL_ERROR);
      }
    }
    const recording = this.#d.recordings.enabled;
    const capture = span !== undefined && this.#d.telemetry!.captureContent;
    if (!recording && !capture) return true;
    const kept = keepable(c, this.#d.masks);
    if (capture) {
      const part = c.direction === 'client_to_server' ? kept.message.params : kept.message.result ?? kept.message.error;
      const value = isObject(part) && c.direction === 'client_to_server' ? part.arguments : part;
      if (value !== undefined) span!.setAttribute(c.direction === 'client_to_server' ? S.ATTR_GEN_AI_TOOL_CALL_ARGUMENTS : S.ATTR_GEN_AI_TOOL_CALL_RESULT, contentAttribute(value));
    }
    if (!recording) return true;
    addCounts(this.#masked, kept.counts);
    const decision = this.#decision ?? (isAnswer && c.origin === 'upstream' ? this.#requestDecision : undefined);
    if (c.direction === 'client_to_server' && c.message.method !== undefined) this.#requestDecision = this.#decision;
    const spanContext = span?.spanContext();
    const queued = this.#d.recordings.record(recordedMessage(this.#exchangeFacts(), c, kept.message, {
      decision: decision ? recordedDecision(decision, this.#masked) : undefined,
      approval: this.#approval, traceId: spanContext?.traceId ?? '', spanId: spanContext?.spanId ?? '', now: Date.now(),
    }));
    this.#decision = undefined;
    this.#masked = {};
    return queued;
  }

  #exchangeFacts(): ExchangeFacts {
    const root = this.#parent ?? this;
    const f = root.#facts;
    const identity = root.#identity;
    return {
      sessionId: root.#sessionId, target: this.#req.target, era: f?.era ?? 'legacy', protocolVersion: f?.protocolVersion ?? '',
      principal: identity?.principal ?? '', subjectJson: identity?.subjectJson ?? '', clientId: identity?.subject.client_id ?? '', clientName: clientNameOf(f?.params),
      method: f?.method ?? '', name: f?.name ?? '', startMs: root.#start,
    };
  }

  child(facts: MessageFacts): Trail {
    const child = new ExchangeTrail(this.#d, this.#req, this);
    child.#identity = this.#identity;
    const f = this.#facts;
    child.begin({ ...facts, era: f?.era ?? 'legacy', protocolVersion: f?.protocolVersion ?? '', sessionId: this.#sessionId });
    return child;
  }

  endsWithStream(): void {
    this.#streaming = true;
  }

  answered(): void {
    if (!this.#streaming) this.end();
  }

  end(error?: unknown): void {
    if (this.#ended) return;
    this.#ended = true;
    try {
      this.#held?.release();
      this.#endClient();
      if (this.#tracer === undefined) return;
      this.#ensureSpan();
      const span = this.#span!;
      if (span.isRecording()) {
        span.setAttributes(maskedAttributes(this.#maskedTotal));
        if (this.#approval) span.setAttributes(approvalAttributes(this.#approval));
        if (error !== undefined) failSpan(span, error);
      }
      span.end();
    } catch (err) {
      this.#d.log(`telemetry: an exchange could not be traced: ${(err as Error).message}`);
    }
  }
}

/** Targets' URLs parsed once: there are few, and every call names one. */
const addresses = new Map<string, { host: string; port: number }>();
function upstreamAddress(url: string): { host: string; port: number } {
  let a = addresses.get(url);
  if (a === undefined) {
    const u = new URL(url);
    a = { host: u.hostname.replace(/^\[|\]$/g, ''), port: Number(u.port || (u.protocol === 'https:' ? 443 : 80)) };
    if (addresses.size < 1024) addresses.set(url, a);
  }
  return a;
}

function addCounts(into: Record<string, number>, from: Record<string, number>): void {
  for (const [cls, n] of Object.entries(from)) into[cls] = (into[cls] ?? 0) + n;
}

/** The error's code or type only: an error's message may quote request content. */
function failSpan(span: Span, err: unknown): void {
  const type = err instanceof GatewayError ? String(err.code) : err instanceof Error ? err.name : 'error';
  span.setAttribute(S.ATTR_ERROR_TYPE, type);
  span.setStatus({ code: SpanStatusCode.ERROR, message: type });
}
