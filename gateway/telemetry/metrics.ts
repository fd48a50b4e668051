// The instruments operators scrape from GET /metrics. Attributes stay low-cardinality: outcome,
// rule id, target, method, mask class, state; never ids, principals or values.
import type { Attributes, Counter, Histogram, Meter, UpDownCounter } from '@opentelemetry/api';
import * as S from './semconv.ts';

/** Seconds: decisions take microseconds, upstream calls and approvals up to minutes. */
const FAST = [0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05];
const SLOW = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
const WAIT = [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600];

export interface PolicyLoaded {
  revision: string;
  sha256: string;
}

export interface StateHealthReading {
  backend: string;
  ok: boolean;
}

export class GatewayMetrics {
  readonly #decisions: Counter;
  readonly #decisionRules: Counter;
  readonly #decisionDuration: Histogram;
  readonly #upstreamDuration: Histogram;
  readonly #masked: Counter;
  readonly #pending: UpDownCounter;
  readonly #approvalWait: Histogram;
  readonly #meter: Meter;
  /** For instruments other modules' counters feed at scrape time (observers.ts). */
  get meter(): Meter {
    return this.#meter;
  }

  constructor(meter: Meter) {
    this.#meter = meter;
    this.#decisions = meter.createCounter(S.METRIC_DECISIONS, { description: 'Policy decisions on MCP messages, by outcome' });
    this.#decisionRules = meter.createCounter(S.METRIC_DECISION_RULES, { description: 'Rules named by policy decisions, by outcome and rule id' });
    this.#decisionDuration = meter.createHistogram(S.METRIC_DECISION_DURATION, { unit: 's', description: 'Time to evaluate one policy decision', advice: { explicitBucketBoundaries: FAST } });
    this.#upstreamDuration = meter.createHistogram(S.METRIC_UPSTREAM_DURATION, { unit: 's', description: 'Time from sending a message upstream to its answer', advice: { explicitBucketBoundaries: SLOW } });
    this.#masked = meter.createCounter(S.METRIC_MASKED_VALUES, { description: 'Values masked, by class' });
    this.#pending = meter.createUpDownCounter(S.METRIC_APPROVALS_PENDING, { description: 'Calls this gateway holds for human approval now' });
    this.#approvalWait = meter.createHistogram(S.METRIC_APPROVAL_WAIT, { unit: 's', description: 'Time from an approval request to its decision', advice: { explicitBucketBoundaries: WAIT } });
  }

  /** `method` is bounded to the known MCP methods (else `other`): clients and upstreams choose it. */
  decision(outcome: string, ruleIds: readonly string[], target: string, method: string, seconds: number): void {
    this.#decisions.add(1, { [S.METRIC_ATTR_OUTCOME]: outcome, [S.METRIC_ATTR_TARGET]: target, [S.METRIC_ATTR_METHOD]: S.boundedMethod(method) });
    for (const rule of ruleIds) this.#decisionRules.add(1, { [S.METRIC_ATTR_OUTCOME]: outcome, [S.METRIC_ATTR_RULE_ID]: rule });
    this.#decisionDuration.record(seconds, { [S.METRIC_ATTR_OUTCOME]: outcome });
  }

  upstream(target: string, status: string, seconds: number): void {
    this.#upstreamDuration.record(seconds, { [S.METRIC_ATTR_TARGET]: target, [S.METRIC_ATTR_STATUS]: status });
  }

  masked(counts: Record<string, number>, target: string): void {
    for (const [cls, n] of Object.entries(counts)) if (n > 0) this.#masked.add(n, { [S.METRIC_ATTR_CLASS]: cls, [S.METRIC_ATTR_TARGET]: target });
  }

  holding(target: string, delta: 1 | -1): void {
    this.#pending.add(delta, { [S.METRIC_ATTR_TARGET]: target });
  }

  approvalWaited(state: string, seconds: number): void {
    this.#approvalWait.record(seconds, { [S.METRIC_ATTR_STATE]: state });
  }

  /** Gauges read at scrape time: the bundle serving (1 per revision loaded) and the state backend's health. */
  observe(policy: () => PolicyLoaded[], state: () => Promise<StateHealthReading>): void {
    this.#meter.createObservableGauge(S.METRIC_POLICY_REVISION, { description: 'Policy bundle loaded (1), by revision and sha256' }).addCallback((result) => {
      for (const p of policy()) result.observe(1, { [S.METRIC_ATTR_REVISION]: p.revision, [S.METRIC_ATTR_SHA256]: p.sha256 });
    });
    this.#meter.createObservableGauge(S.METRIC_STATE_HEALTHY, { description: 'Shared state backend reachable (1) or not (0)' }).addCallback(async (result) => {
      let reading: StateHealthReading;
      try {
        reading = await state();
      } catch {
        reading = { backend: 'unknown', ok: false };
      }
      const attrs: Attributes = { [S.METRIC_ATTR_BACKEND]: reading.backend };
      result.observe(reading.ok ? 1 : 0, attrs);
    });
  }
}
