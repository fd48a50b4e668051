// Decides every message an upstream sends towards the client, and carries out what the decisions
// require: list results are filtered to what the caller may use; call results get a response-time
// decision that sees the content; server-initiated requests, notifications and 2026-07-28
// `input_required` requests are decided; and whatever is let through is masked as required.
import type { MaskPlanCache } from '../masking/index.ts';
import type { Decision } from '../policy/decision.ts';
import type { PolicyQuery } from '../policy/input.ts';
import { recordDecision, type AuditSink } from '../telemetry/audit.ts';
import { ErrorCode, GatewayError, jsonRpcError } from '../errors.ts';
import { toMessage, type JsonRpcMessage } from './jsonrpc.ts';
import { maskMessage, withMask, type MaskDirective } from './protect.ts';

/** Everything about one HTTP exchange that policy input and audit need. */
export interface Exchange {
  target: string;
  era: PolicyQuery['era'];
  protocolVersion: string;
  sessionId: string;
  subjectJson: string;
  principal: string;
  /** The client request whose answer this stream carries (absent on a GET stream). */
  request: { id: string | number; method: string; name: string } | undefined;
  /** What the request's decision requires masked in its answer. */
  mask: MaskDirective | undefined;
}

export type Decide = (query: PolicyQuery) => Decision;

/** The gateway's policy machinery, as screening uses it. */
export interface Screening {
  decide: Decide;
  masks: MaskPlanCache;
  audit: AuditSink;
}

/** How the gateway acts on a decision: go ahead (possibly masking), or the error to answer. */
export function refusal(decision: Decision): GatewayError | undefined {
  const data = { portcullis: { reasons: decision.reasons, rule_ids: decision.ruleIds, revision: decision.revision } };
  const why = decision.reasons.length > 0 ? `: ${decision.reasons.join('; ')}` : '';
  if (decision.outcome === 'error') {
    return new GatewayError(200, ErrorCode.PolicyError, `Denied: the policy could not be evaluated (fail closed)${why}`, { data });
  }
  if (!decision.allow) return new GatewayError(200, ErrorCode.PolicyDenied, `Denied by policy${why}`, { data });
  if (decision.approval?.required) {
    return new GatewayError(200, ErrorCode.ApprovalRequired, `Approval required${why}; this gateway cannot collect approvals yet, so the call is refused (fail closed)`, { data });
  }
  return undefined;
}

export function queryFor(ex: Exchange, fields: Pick<PolicyQuery, 'direction' | 'kind' | 'method' | 'name'> & Partial<Pick<PolicyQuery, 'arguments' | 'params' | 'result'>>): PolicyQuery {
  return {
    era: ex.era, protocolVersion: ex.protocolVersion, target: ex.target, sessionId: ex.sessionId,
    subjectJson: ex.subjectJson, ...fields,
  };
}

function record(ex: Exchange, s: Screening, query: PolicyQuery, decision: Decision, masked: Record<string, number> = {}): void {
  recordDecision(s.audit, query, ex.principal, decision, masked);
}

/** For each list method: the result array, the call it stands for, and the entry field naming it. */
const LISTS: Record<string, { field: string; call: string; key: string }> = {
  'tools/list': { field: 'tools', call: 'tools/call', key: 'name' },
  'prompts/list': { field: 'prompts', call: 'prompts/get', key: 'name' },
  'resources/list': { field: 'resources', call: 'resources/read', key: 'uri' },
  'resources/templates/list': { field: 'resourceTemplates', call: 'resources/read', key: 'uriTemplate' },
};

/** Results a response-time decision sees: the ones that carry content from a named thing. */
const CALLS = new Set(['tools/call', 'resources/read', 'prompts/get']);

/** What to do with one upstream message. */
export type Screened =
  /** `remember`: a server request the client will answer; its method is needed to decide that answer. */
  | { action: 'pass'; remember?: { id: string | number; method: string } }
  | { action: 'replace'; message: unknown; remember?: { id: string | number; method: string } }
  | { action: 'drop'; answerUpstream?: unknown };

function filterList(ex: Exchange, s: Screening, method: string, result: Record<string, unknown>): Record<string, unknown> | undefined {
  const list = LISTS[method];
  const items = list ? result[list.field] : undefined;
  if (!list || !Array.isArray(items)) return undefined;
  const visible = items.filter((item) => {
    const name = (item as Record<string, unknown> | null)?.[list.key];
    if (typeof name !== 'string') return false;
    // Shown when the caller could use it: allowed outright or allowed once approved. Not audited
    // one by one: a list is one question, and its items are hypothetical calls.
    return s.decide(queryFor(ex, { direction: 'client_to_server', kind: 'list_item', method: list.call, name })).allow;
  });
  return visible.length === items.length ? undefined : { ...result, [list.field]: visible };
}

/** A refused embedded request refuses the whole `input_required` result. */
function refuseInputRequests(ex: Exchange, s: Screening, result: Record<string, unknown>): GatewayError | undefined {
  const requests = result.inputRequests;
  if (typeof requests !== 'object' || requests === null) return undefined;
  for (const embedded of Object.values(requests as Record<string, unknown>)) {
    const { method, params } = (embedded ?? {}) as { method?: unknown; params?: unknown };
    const query = queryFor(ex, { direction: 'server_to_client', kind: 'request', method: typeof method === 'string' ? method : '', name: '', params });
    const decision = s.decide(query);
    record(ex, s, query, decision);
    const refused = refusal(decision);
    if (refused) return refused;
  }
  return undefined;
}


function screenResponse(ex: Exchange, s: Screening, value: Record<string, unknown>, message: JsonRpcMessage & { kind: 'response' }): Screened {
  const answered = ex.request;
  if (answered === undefined || message.id !== answered.id) return { action: 'pass' };
  const result = message.result;
  if (result?.resultType === 'input_required') {
    const refused = refuseInputRequests(ex, s, result);
    if (refused) return { action: 'replace', message: refused.body(message.id) };
  }
  let current = value;
  let directive = ex.mask;
  let responseDecision: { query: PolicyQuery; decision: Decision } | undefined;
  if (CALLS.has(answered.method) && result?.resultType !== 'input_required') {
    // The response-time decision sees the content and may refuse it or ask for more masking.
    const query = queryFor(ex, { direction: 'server_to_client', kind: 'response', method: answered.method, name: answered.name, result });
    const decision = s.decide(query);
    const refused = refusal(decision);
    if (refused) {
      record(ex, s, query, decision);
      return { action: 'replace', message: refused.body(message.id) };
    }
    directive = withMask(directive, decision);
    responseDecision = { query, decision };
  } else if (result !== undefined) {
    const filtered = filterList(ex, s, answered.method, result);
    if (filtered) current = { ...current, result: filtered };
  }
  let counts: Record<string, number> = {};
  let failure: GatewayError | undefined;
  if (directive !== undefined) {
    try {
      const out = maskMessage(current, directive, s.masks);
      current = out.value;
      counts = out.counts;
    } catch (err) {
      if (!(err instanceof GatewayError)) throw err;
      failure = err;
    }
  }
  if (responseDecision) record(ex, s, responseDecision.query, responseDecision.decision, counts);
  if (failure) return { action: 'replace', message: failure.body(message.id) };
  return current === value ? { action: 'pass' } : { action: 'replace', message: current };
}

/** Screens one decoded upstream message. Throws GatewayError when it is not JSON-RPC at all. */
export function screen(ex: Exchange, s: Screening, value: unknown): Screened {
  const message = toMessage(value);
  if (typeof message === 'string') {
    throw new GatewayError(502, ErrorCode.UpstreamBadResponse, `Upstream '${ex.target}' sent an invalid JSON-RPC message: ${message}`);
  }
  if (message.kind === 'response') return screenResponse(ex, s, value as Record<string, unknown>, message);
  const kind = message.kind;
  const query = queryFor(ex, { direction: 'server_to_client', kind, method: message.method, name: '', params: message.params });
  const decision = s.decide(query);
  let refused = refusal(decision);
  let out = value as Record<string, unknown>;
  let counts: Record<string, number> = {};
  const directive = withMask(undefined, decision);
  if (!refused && directive !== undefined) {
    try {
      ({ value: out, counts } = maskMessage(out, directive, s.masks));
    } catch (err) {
      if (!(err instanceof GatewayError)) throw err;
      refused = err;
    }
  }
  record(ex, s, query, decision, counts);
  if (kind === 'notification') {
    if (refused) return { action: 'drop' };
    return out === value ? { action: 'pass' } : { action: 'replace', message: out };
  }
  if (refused) {
    // The server is waiting on an answer the client will never see: answer it on the client's behalf.
    return { action: 'drop', answerUpstream: jsonRpcError(message.id, refused.code, refused.message, refused.data) };
  }
  const remember = { id: message.id, method: message.method };
  return out === value ? { action: 'pass', remember } : { action: 'replace', message: out, remember };
}
