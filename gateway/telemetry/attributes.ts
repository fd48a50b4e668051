// Span names and attribute sets, built from the MCP semantic conventions' keys (semconv.ts).
import type { Attributes } from '@opentelemetry/api';
import type { Identity } from '../identity/index.ts';
import type { RecordedApproval } from '../recordings/entry.ts';
import type { Decision } from '../policy/decision.ts';
import * as S from './semconv.ts';

/** A message as the trail describes it: what kind, which method, what it names. */
export interface MessageFacts {
  kind: 'request' | 'notification' | 'response';
  method: string;
  /**
   * The tool or prompt name, or the resource URI (nameOf in gateway/mcp/jsonrpc.ts), as it may
   * leave the gateway: masked as its decision masks the message (shownName in gateway/mcp/protect.ts).
   */
  name: string;
  id?: string | number | null | undefined;
  params?: unknown;
  /** A fixed span name for an exchange that carries no message (GET stream, DELETE). */
  span?: string;
}

const NAMED = new Set(['tools/call', 'prompts/get']);
const RESOURCE = new Set(['resources/read', 'resources/subscribe', 'resources/unsubscribe']);

/** Longest tool/prompt name in a span name, and longest JSON-RPC id on a span: both are the caller's. */
const NAME_LIMIT = 128;
const ID_LIMIT = 128;
const cut = (text: string, limit: number): string => (text.length > limit ? `${text.slice(0, limit)}…` : text);

/**
 * `{mcp.method.name} {target}`: the target only for tools and prompts (resource URIs are
 * unbounded), and cut; a method outside the known MCP methods is named `other` (semconv.ts).
 */
export function spanName(m: Pick<MessageFacts, 'method' | 'name' | 'span'>): string {
  if (m.span !== undefined) return m.span;
  if (m.method === '') return S.SPAN_UNREAD;
  const method = S.boundedMethod(m.method);
  return NAMED.has(method) && m.name ? `${method} ${cut(m.name, NAME_LIMIT)}` : method;
}

/** The name's attributes (gen_ai.tool.name, gen_ai.prompt.name, mcp.resource.uri) of a method. */
export function nameAttributes(method: string, name: string, into: Attributes): void {
  if (!name) return;
  if (method === 'tools/call') into[S.ATTR_GEN_AI_TOOL_NAME] = name;
  else if (method === 'prompts/get') into[S.ATTR_GEN_AI_PROMPT_NAME] = name;
  else if (RESOURCE.has(method)) into[S.ATTR_MCP_RESOURCE_URI] = name;
}

export function messageAttributes(m: MessageFacts): Attributes {
  const attrs: Attributes = {};
  if (m.method) attrs[S.ATTR_MCP_METHOD_NAME] = m.method;
  if (m.id !== undefined && m.id !== null) attrs[S.ATTR_JSONRPC_REQUEST_ID] = cut(String(m.id), ID_LIMIT);
  if (m.method === 'tools/call') attrs[S.ATTR_GEN_AI_OPERATION_NAME] = S.GEN_AI_OPERATION_EXECUTE_TOOL;
  nameAttributes(m.method, m.name, attrs);
  return attrs;
}

/** Decision provenance: the same fields a DecisionRecord carries. */
/** Decision provenance: the same fields a DecisionRecord carries (empty lists and `false` left out). */
export function decisionAttributes(d: Decision, sha256: string): Attributes {
  const attrs: Attributes = { [S.ATTR_OUTCOME]: d.outcome, [S.ATTR_DECISION_ID]: d.id, [S.ATTR_BUNDLE_REVISION]: d.revision };
  if (d.ruleIds.length > 0) attrs[S.ATTR_RULE_IDS] = d.ruleIds;
  if (d.reasons.length > 0) attrs[S.ATTR_REASONS] = d.reasons;
  if (d.approval?.required) attrs[S.ATTR_APPROVAL_REQUIRED] = true;
  if (sha256) attrs[S.ATTR_BUNDLE_SHA256] = sha256;
  return attrs;
}

/** Who asks: the identity's principal (as decision records have it), issuer and groups; never a token. */
export function identityAttributes(identity: Identity, into: Attributes): void {
  into[S.ATTR_PRINCIPAL] = identity.principal;
  if (identity.subject.issuer) into[S.ATTR_ISSUER] = identity.subject.issuer;
  if (identity.subject.groups.length > 0) into[S.ATTR_GROUPS] = identity.subject.groups;
}

export function maskedAttributes(counts: Record<string, number>): Attributes {
  const attrs: Attributes = {};
  for (const [cls, n] of Object.entries(counts)) attrs[`${S.ATTR_MASKED_PREFIX}${cls}`] = n;
  return attrs;
}

const CONTENT_LIMIT = 4096;

/** Opted-in content (already masked) as one string attribute, capped. */
export function contentAttribute(value: unknown): string {
  const text = typeof value === 'string' ? value : JSON.stringify(value) ?? '';
  return text.length > CONTENT_LIMIT ? `${text.slice(0, CONTENT_LIMIT)}…` : text;
}

export function approvalAttributes(a: RecordedApproval): Attributes {
  return { [S.ATTR_APPROVAL_ID]: a.id, [S.ATTR_APPROVAL_STATE]: a.state, [S.ATTR_APPROVERS]: a.approvers, [S.ATTR_APPROVAL_WAIT_MS]: a.waitMs };
}

/** `server.address`/`server.port` of the gateway as the client addressed it (the Host header). */
export function serverAddress(host: string | null, into: Attributes): void {
  const m = host ? /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(host) : null;
  if (!m) return;
  into[S.ATTR_SERVER_ADDRESS] = m[1]!.startsWith('[') ? m[1]!.slice(1, -1) : m[1]!;
  if (m[2]) into[S.ATTR_SERVER_PORT] = Number(m[2]);
}
