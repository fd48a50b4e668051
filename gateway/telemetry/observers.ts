// What the rest of the gateway counts on its own (the policy runtime's events and observe-only
// candidate, the recorder, the HTTP decision log), turned into metrics read at scrape time and, for
// a bundle activated or refused off the request path, a span with an event. The counting stays in
// those modules; this file only reads it, so none of them imports OpenTelemetry.
import type { Attributes, ObservableResult } from '@opentelemetry/api';
import type { PolicyEvent } from '../policy/index.ts';
import type { Telemetry } from './otel.ts';
import * as S from './semconv.ts';

export interface CountSources {
  /** The observe-only candidate's counters, when one is configured. */
  candidate?: () => { evaluations: number; disagreements: number; errors: number; by_rule: Record<string, number>; by_difference: Record<string, number> } | undefined;
  recordings?: () => { written: number; dropped: number; failed: number; refused: number; buffered: number; bufferedBytes: number };
  decisionLog?: () => { sent_events: number; retries: number; dropped_buffer_full: number; dropped_rejected: number; dropped_on_close: number; buffered: number };
}

/** Reports policy events: counted by type (and refusal code), and traced as a span with an event. */
export function policyEventReporter(telemetry: Telemetry | undefined): (event: PolicyEvent) => void {
  if (telemetry === undefined) return () => {};
  const meter = telemetry.metrics?.meter;
  const events = meter?.createCounter(S.METRIC_POLICY_EVENTS, { description: 'Policy runtime events: bundles activated, refused (the last good one keeps serving), sources checked' });
  const tracer = telemetry.tracer;
  return (event) => {
    events?.add(1, { [S.METRIC_ATTR_TYPE]: event.type, [S.METRIC_ATTR_POLICY]: event.policy, [S.METRIC_ATTR_ERROR]: event.error?.code ?? '' });
    if (tracer === undefined || event.type === 'checked') return;
    // Not part of any request: a root span of its own, so a refusal shows in the trace store too.
    const span = tracer.startSpan(S.SPAN_POLICY_EVENT, {
      attributes: {
        [S.ATTR_POLICY_HOLDER]: event.policy, [S.ATTR_POLICY_SOURCE]: event.source,
        [S.ATTR_BUNDLE_REVISION]: event.revision ?? '', [S.ATTR_BUNDLE_SHA256]: event.sha256 ?? '',
      },
    });
    if (event.type === 'refused') {
      span.addEvent(S.EVENT_BUNDLE_REFUSED, { [S.ATTR_POLICY_ERROR_CODE]: event.error?.code ?? '', [S.ATTR_POLICY_ERROR_MESSAGE]: event.error?.message ?? '' });
      span.setStatus({ code: 2, message: `bundle refused: ${event.error?.code ?? 'unknown'}` });
    } else {
      span.addEvent(S.EVENT_BUNDLE_ACTIVATED);
    }
    span.end();
  };
}

function observeEach(result: ObservableResult, rows: [number, Attributes][]): void {
  for (const [value, attrs] of rows) result.observe(value, attrs);
}

/** Registers the counters other modules keep as observable instruments, read at each scrape. */
export function observeCounts(telemetry: Telemetry | undefined, sources: CountSources): void {
  const meter = telemetry?.metrics?.meter;
  if (meter === undefined) return;
  const { candidate, recordings, decisionLog } = sources;
  if (candidate) {
    meter.createObservableCounter(S.METRIC_CANDIDATE_EVALUATIONS, { description: 'Observe-only candidate evaluations, by result (agree, disagree, error)' }).addCallback((r) => {
      const c = candidate();
      if (c) observeEach(r, [[c.evaluations - c.disagreements - c.errors, { [S.METRIC_ATTR_RESULT]: 'agree' }], [c.disagreements, { [S.METRIC_ATTR_RESULT]: 'disagree' }], [c.errors, { [S.METRIC_ATTR_RESULT]: 'error' }]]);
    });
    meter.createObservableCounter(S.METRIC_CANDIDATE_DISAGREEMENTS, { description: 'Observe-only candidate disagreements with the enforced policy, by rule id and by what differs' }).addCallback((r) => {
      const c = candidate();
      if (!c) return;
      observeEach(r, Object.entries(c.by_rule).map(([rule, n]) => [n, { [S.METRIC_ATTR_RULE_ID]: rule }]));
      observeEach(r, Object.entries(c.by_difference).map(([what, n]) => [n, { [S.METRIC_ATTR_DIFFERENCE]: what }]));
    });
  }
  if (recordings) {
    meter.createObservableCounter(S.METRIC_RECORDINGS, { description: 'Recorded messages by result: written, dropped (buffer full, drop mode), failed writes, refused (buffer full, fail_closed)' }).addCallback((r) => {
      const s = recordings();
      observeEach(r, [[s.written, { [S.METRIC_ATTR_RESULT]: 'written' }], [s.dropped, { [S.METRIC_ATTR_RESULT]: 'dropped' }], [s.failed, { [S.METRIC_ATTR_RESULT]: 'failed' }], [s.refused, { [S.METRIC_ATTR_RESULT]: 'refused' }]]);
    });
    meter.createObservableGauge(S.METRIC_RECORDINGS_BUFFERED, { description: 'Recorded messages waiting in the buffer' }).addCallback((r) => r.observe(recordings().buffered));
  }
  if (decisionLog) {
    meter.createObservableCounter(S.METRIC_DECISION_LOG, { description: 'Decision-log events by result: sent, dropped (buffer full, rejected by the receiver, unsent at close)' }).addCallback((r) => {
      const d = decisionLog();
      observeEach(r, [[d.sent_events, { [S.METRIC_ATTR_RESULT]: 'sent' }], [d.dropped_buffer_full, { [S.METRIC_ATTR_RESULT]: 'dropped_buffer_full' }], [d.dropped_rejected, { [S.METRIC_ATTR_RESULT]: 'dropped_rejected' }], [d.dropped_on_close, { [S.METRIC_ATTR_RESULT]: 'dropped_on_close' }]]);
    });
    meter.createObservableCounter(S.METRIC_DECISION_LOG_RETRIES, { description: 'Decision-log POSTs retried' }).addCallback((r) => r.observe(decisionLog().retries));
  }
}
