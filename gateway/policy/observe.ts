// Observe-only candidate: a second bundle evaluated beside the enforced one on live traffic and
// never enforced. Each disagreement is counted by rule id and recorded (through the audit sink)
// with both decisions. It wraps a `decide` function, so the data path does not change: the
// enforced decision is returned untouched, and nothing the candidate does can change it.
import { isDeepStrictEqual } from 'node:util';
import { recordCandidateDecision, type AuditSink } from '../telemetry/audit.ts';
import type { Decision } from './decision.ts';
import { principalOf } from '../identity/index.ts';
import type { PolicyQuery, Subject } from './input.ts';

type Decide = (query: PolicyQuery) => Decision;

/** What differs between the two decisions; empty when they agree. */
export type Difference = 'allow' | 'outcome' | 'approval' | 'mask' | 'missing_scopes' | 'inspect_response';

export function differences(enforced: Decision, candidate: Decision): Difference[] {
  const out: Difference[] = [];
  if (enforced.allow !== candidate.allow) out.push('allow');
  if (enforced.outcome !== candidate.outcome) out.push('outcome');
  if (!isDeepStrictEqual(enforced.approval, candidate.approval)) out.push('approval');
  if (!isDeepStrictEqual(enforced.mask, candidate.mask) || enforced.maskMode !== candidate.maskMode) out.push('mask');
  if (!isDeepStrictEqual(enforced.missingScopes, candidate.missingScopes)) out.push('missing_scopes');
  if (enforced.inspectResponse !== candidate.inspectResponse) out.push('inspect_response');
  return out;
}

export interface CandidateCounters {
  evaluations: number;
  agreements: number;
  disagreements: number;
  /** Disagreements by rule id (of either decision): which rules a rollout would change. */
  by_rule: Record<string, number>;
  /** Disagreements by what differs. */
  by_difference: Record<string, number>;
  /** Candidate evaluations that threw; the enforced decision stood. */
  errors: number;
}

/** Counts and records disagreements; `wrap` makes a decide that consults the candidate too. */
export interface CandidateObserver {
  /** `enforced` decides; `candidate` (undefined while none is active) is asked beside it, never enforced. */
  wrap(enforced: Decide, candidate: () => Decide | undefined): Decide;
  counters(): CandidateCounters;
}

/**
 * The principal the enforced record of the same message names: the one the query carries (the
 * caller's `Identity.principal`), else identity's own principalOf of the subject, the same
 * function that names every identity but a subjectless per-token one. Read only when a record is
 * written, never on an agreement.
 */
export function recordedPrincipal(query: PolicyQuery): string {
  if (query.principal !== undefined) return query.principal;
  try {
    return principalOf(JSON.parse(query.subjectJson) as Subject);
  } catch {
    return principalOf({ type: 'anonymous', issuer: '', sub: '' } as Subject);
  }
}

export function candidateObserver(audit: AuditSink): CandidateObserver {
  const c = { evaluations: 0, agreements: 0, disagreements: 0, errors: 0 };
  // Maps, not objects: rule ids come from the policy and may be any string ("__proto__" too).
  const byRule = new Map<string, number>();
  const byDifference = new Map<string, number>();
  return {
    wrap(enforced, candidate) {
      return function observed(query: PolicyQuery): Decision {
        const decision = enforced(query);
        const shadowDecide = candidate();
        if (shadowDecide === undefined) return decision;
        try {
          const shadow = shadowDecide(query);
          c.evaluations++;
          const diff = differences(decision, shadow);
          if (diff.length === 0) {
            c.agreements++;
            return decision;
          }
          c.disagreements++;
          for (const rule of new Set([...decision.ruleIds, ...shadow.ruleIds])) byRule.set(rule, (byRule.get(rule) ?? 0) + 1);
          for (const d of diff) byDifference.set(d, (byDifference.get(d) ?? 0) + 1);
          // The principal is read only when a record is kept (parsing the subject costs a little).
          if (audit.enabled) recordCandidateDecision(audit, query, recordedPrincipal(query), shadow, decision, diff);
        } catch {
          c.errors++;
        }
        return decision;
      };
    },
    counters: () => ({ ...c, by_rule: Object.fromEntries(byRule), by_difference: Object.fromEntries(byDifference) }),
  };
}
