// Shared by the approvals unit tests: identities, decisions and a service over a given store.
import { randomBytes } from 'node:crypto';
import { identityOf } from '../../../gateway/identity/index.ts';
import { MaskPlanCache } from '../../../gateway/masking/index.ts';
import { parseApproval } from '../../../gateway/approvals/obligation.ts';
import { Approvals, type HeldCall } from '../../../gateway/approvals/service.ts';
import { Sealer } from '../../../gateway/approvals/seal.ts';
import type { ApprovalStore } from '../../../gateway/approvals/store.ts';
import type { Decision } from '../../../gateway/policy/decision.ts';
import type { PolicyQuery } from '../../../gateway/policy/input.ts';

export const ISSUER = 'https://idp.test';

export function person(sub: string, groups: string[], issuer = ISSUER) {
  return identityOf({ authenticated: true, type: 'user', sub, issuer, client_id: 'c', email: `${sub}@example.com`, groups, scopes: [], claims: {} });
}

export function decision(approval: Record<string, unknown>, extra: Partial<Decision> = {}): Decision {
  const parsed = parseApproval({ required: true, ...approval });
  if (parsed === null || typeof parsed === 'string') throw new Error(`bad approval in test: ${parsed}`);
  return {
    id: 'd1', outcome: 'allow', allow: true, reasons: ['needs approval'], ruleIds: ['t.approval'], mask: [], maskMode: 'strict',
    approval: parsed, missingScopes: [], inspectResponse: false, revision: 'rev-1', ...extra,
  };
}

export function held(requester = person('rita', ['admins']), d: Decision = decision({ approvers: { groups: ['sre'], count: 1 } }), args: Record<string, unknown> = { query: 'select 1' }): HeldCall {
  return {
    target: 'demo', era: 'stateless', protocolVersion: '2026-07-28', method: 'tools/call', name: 'run_sql',
    arguments: args, params: { name: 'run_sql', arguments: args }, identity: requester, decision: d,
  };
}

export const sealer = new Sealer([{ kid: 'k1', key: randomBytes(32) }]);

/** A service whose vote policy allows everyone unless `refuse` says otherwise. */
export function service(store: ApprovalStore, options: { now?: () => number; refuse?: (q: PolicyQuery) => boolean; replica?: string } = {}): Approvals {
  return new Approvals({
    store, sealer, masks: new MaskPlanCache({ hashKey: randomBytes(32) }), replica: options.replica ?? 'r1',
    ...(options.now ? { now: options.now } : {}),
    decide: (q) => ({
      id: 'v', outcome: 'allow', allow: !(options.refuse?.(q) ?? false), reasons: ['vote policy'], ruleIds: ['t.vote'], mask: [], maskMode: 'strict',
      approval: null, missingScopes: [], inspectResponse: false, revision: 'rev-1',
    }),
  });
}
