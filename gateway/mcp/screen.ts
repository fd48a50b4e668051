// Decides every message an upstream sends towards the client: list results are filtered to what
// the caller may use, server-initiated requests and notifications are decided, and 2026-07-28
// `input_required` results have each embedded request decided.
import type { Decision } from '../policy/decision.ts';
import type { PolicyQuery } from '../policy/input.ts';
import { ErrorCode, GatewayError, jsonRpcError } from './errors.ts';
import { toMessage, type JsonRpcMessage } from './jsonrpc.ts';

/** Everything about one HTTP exchange that policy input needs. */
export interface Exchange {
  target: string;
  era: PolicyQuery['era'];
  protocolVersion: string;
  sessionId: string;
  subjectJson: string;
  /** The client request whose answer this stream carries (absent on a GET stream). */
  request: { id: string | number; method: string } | undefined;
}

export type Decide = (query: PolicyQuery) => Decision;

/** How the gateway will act on a decision: go ahead, or the error to answer instead. */
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
  if (decision.mask.length > 0) {
    return new GatewayError(200, ErrorCode.MaskingFailed, `Masking required${why}; this gateway cannot apply masks yet, so the content is withheld (fail closed)`, { data });
  }
  return undefined;
}

export function queryFor(ex: Exchange, fields: Pick<PolicyQuery, 'direction' | 'kind' | 'method' | 'name'> & { arguments?: unknown; params?: unknown }): PolicyQuery {
  return {
    era: ex.era, protocolVersion: ex.protocolVersion, target: ex.target, sessionId: ex.sessionId,
    subjectJson: ex.subjectJson, ...fields,
  };
}

/** For each list method: the result array, the call it stands for, and the entry field naming it. */
const LISTS: Record<string, { field: string; call: string; key: string }> = {
  'tools/list': { field: 'tools', call: 'tools/call', key: 'name' },
  'prompts/list': { field: 'prompts', call: 'prompts/get', key: 'name' },
  'resources/list': { field: 'resources', call: 'resources/read', key: 'uri' },
  'resources/templates/list': { field: 'resourceTemplates', call: 'resources/read', key: 'uriTemplate' },
};

/** What to do with one upstream message. */
export type Screened =
  /** `remember`: a server request the client will answer; its method is needed to decide that answer. */
  | { action: 'pass'; remember?: { id: string | number; method: string } }
  | { action: 'replace'; message: unknown }
  | { action: 'drop'; answerUpstream?: unknown };

function filterList(ex: Exchange, decide: Decide, method: string, result: Record<string, unknown>): Screened {
  const list = LISTS[method];
  const items = list ? result[list.field] : undefined;
  if (!list || !Array.isArray(items)) return { action: 'pass' };
  const visible = items.filter((item) => {
    const name = (item as Record<string, unknown> | null)?.[list.key];
    if (typeof name !== 'string') return false;
    const decision = decide(queryFor(ex, { direction: 'client_to_server', kind: 'list_item', method: list.call, name }));
    // An entry is shown when the caller could use it: allowed outright or allowed after approval.
    return decision.allow;
  });
  return visible.length === items.length ? { action: 'pass' } : { action: 'replace', message: { [list.field]: visible } };
}

function screenInputRequests(ex: Exchange, decide: Decide, id: string | number, result: Record<string, unknown>): Screened {
  const requests = result.inputRequests;
  if (typeof requests !== 'object' || requests === null) return { action: 'pass' };
  for (const embedded of Object.values(requests as Record<string, unknown>)) {
    const { method, params } = (embedded ?? {}) as { method?: unknown; params?: unknown };
    const refused = refusal(decide(queryFor(ex, {
      direction: 'server_to_client', kind: 'request', method: typeof method === 'string' ? method : '', name: '', params,
    })));
    if (refused) return { action: 'replace', message: refused.body(id) };
  }
  return { action: 'pass' };
}

/** Screens one decoded upstream message. Throws GatewayError when it is not JSON-RPC at all. */
export function screen(ex: Exchange, decide: Decide, value: unknown): Screened {
  const message: JsonRpcMessage | string = toMessage(value);
  if (typeof message === 'string') {
    throw new GatewayError(502, ErrorCode.UpstreamBadResponse, `Upstream '${ex.target}' sent an invalid JSON-RPC message: ${message}`);
  }
  if (message.kind === 'response') {
    const answered = ex.request;
    if (message.result === undefined || answered === undefined || message.id !== answered.id) return { action: 'pass' };
    if (message.result.resultType === 'input_required') return screenInputRequests(ex, decide, message.id, message.result);
    const filtered = filterList(ex, decide, answered.method, message.result);
    if (filtered.action !== 'replace') return filtered;
    return { action: 'replace', message: { ...(value as object), result: { ...message.result, ...(filtered.message as object) } } };
  }
  const kind = message.kind;
  const refused = refusal(decide(queryFor(ex, {
    direction: 'server_to_client', kind, method: message.method, name: '', params: message.params,
  })));
  if (kind === 'notification') return refused ? { action: 'drop' } : { action: 'pass' };
  if (!refused) return { action: 'pass', remember: { id: message.id, method: message.method } };
  // The server is waiting on an answer the client will never see: answer it on the client's behalf.
  return { action: 'drop', answerUpstream: jsonRpcError(message.id, refused.code, refused.message, refused.data) };
}
