// Every span name, attribute key and metric name the gateway writes, in one place. The MCP keys
// are a local copy of the OpenTelemetry MCP semantic conventions (status: development), kept here
// rather than imported from an incubating entry point; `portcullis.*` keys mirror DecisionRecord
// (gateway/telemetry/audit.ts). Tests assert with these same constants.

// MCP and GenAI conventions.
export const ATTR_MCP_METHOD_NAME = 'mcp.method.name';
export const ATTR_MCP_PROTOCOL_VERSION = 'mcp.protocol.version';
/** Legacy era only: 2026-07-28 has no sessions. */
export const ATTR_MCP_SESSION_ID = 'mcp.session.id';
export const ATTR_MCP_RESOURCE_URI = 'mcp.resource.uri';
export const ATTR_JSONRPC_REQUEST_ID = 'jsonrpc.request.id';
export const ATTR_GEN_AI_TOOL_NAME = 'gen_ai.tool.name';
export const ATTR_GEN_AI_PROMPT_NAME = 'gen_ai.prompt.name';
export const ATTR_GEN_AI_OPERATION_NAME = 'gen_ai.operation.name';
export const GEN_AI_OPERATION_EXECUTE_TOOL = 'execute_tool';
/** Opt-in only (telemetry.traces.capture_content), and always after masking. */
export const ATTR_GEN_AI_TOOL_CALL_ARGUMENTS = 'gen_ai.tool.call.arguments';
export const ATTR_GEN_AI_TOOL_CALL_RESULT = 'gen_ai.tool.call.result';
export const ATTR_RPC_RESPONSE_STATUS_CODE = 'rpc.response.status_code';
export const ATTR_ERROR_TYPE = 'error.type';
/** error.type of a tool result with `isError: true`. */
export const ERROR_TYPE_TOOL_ERROR = 'tool_error';
export const ATTR_CLIENT_ADDRESS = 'client.address';
export const ATTR_SERVER_ADDRESS = 'server.address';
export const ATTR_SERVER_PORT = 'server.port';

// Portcullis: decision provenance (one message's decision) and the exchange around it.
export const ATTR_TARGET = 'portcullis.target';
export const ATTR_DIRECTION = 'portcullis.direction';
export const ATTR_ORIGIN = 'portcullis.origin';
export const ATTR_OUTCOME = 'portcullis.outcome';
export const ATTR_DECISION_ID = 'portcullis.decision.id';
export const ATTR_RULE_IDS = 'portcullis.decision.rule_ids';
export const ATTR_REASONS = 'portcullis.decision.reasons';
export const ATTR_APPROVAL_REQUIRED = 'portcullis.decision.approval_required';
export const ATTR_BUNDLE_REVISION = 'portcullis.bundle.revision';
export const ATTR_BUNDLE_SHA256 = 'portcullis.bundle.sha256';
export const ATTR_PRINCIPAL = 'portcullis.principal';
export const ATTR_ISSUER = 'portcullis.issuer';
export const ATTR_GROUPS = 'portcullis.groups';
/** `portcullis.masked.<class>`: replacements of that class on this message (counts, never values). */
export const ATTR_MASKED_PREFIX = 'portcullis.masked.';
export const ATTR_APPROVAL_ID = 'portcullis.approval.id';
export const ATTR_APPROVAL_STATE = 'portcullis.approval.state';
export const ATTR_APPROVERS = 'portcullis.approval.approvers';
export const ATTR_APPROVAL_WAIT_MS = 'portcullis.approval.wait_ms';

// Span names: the message span is `{mcp.method.name} {target}`; stages are fixed, low-cardinality.
export const SPAN_AUTHENTICATE = 'portcullis.authenticate';
export const SPAN_POLICY = 'portcullis.policy.evaluate';
export const SPAN_APPROVAL = 'portcullis.approval.wait';
export const SPAN_MASK = 'portcullis.mask';
/** The HTTP exchange before its message is known (a request refused at admission). */
export const SPAN_UNREAD = 'mcp';
/** Legacy exchanges without a message of their own: the server stream, and ending a session. */
export const SPAN_STREAM = 'GET /mcp/{target}';
export const SPAN_SESSION_END = 'DELETE /mcp/{target}';

/** The stages of the request path that get a child span. */
export type StageName = typeof SPAN_AUTHENTICATE | typeof SPAN_POLICY | typeof SPAN_APPROVAL | typeof SPAN_MASK;

// Metrics (Prometheus names: dots become underscores, units are appended by the exporter).
export const METRIC_DECISIONS = 'portcullis.decisions';
export const METRIC_DECISION_RULES = 'portcullis.decision.rules';
export const METRIC_DECISION_DURATION = 'portcullis.decision.duration';
export const METRIC_UPSTREAM_DURATION = 'portcullis.upstream.duration';
export const METRIC_MASKED_VALUES = 'portcullis.masked.values';
export const METRIC_APPROVALS_PENDING = 'portcullis.approvals.pending';
export const METRIC_APPROVAL_WAIT = 'portcullis.approval.wait';
export const METRIC_POLICY_REVISION = 'portcullis.policy.revision';
export const METRIC_STATE_HEALTHY = 'portcullis.state.healthy';
// Metric attribute keys (low cardinality: never ids, principals or values).
export const METRIC_POLICY_EVENTS = 'portcullis.policy.events';
export const METRIC_CANDIDATE_EVALUATIONS = 'portcullis.policy.candidate.evaluations';
export const METRIC_CANDIDATE_DISAGREEMENTS = 'portcullis.policy.candidate.disagreements';
export const METRIC_RECORDINGS = 'portcullis.recordings.messages';
export const METRIC_RECORDINGS_BUFFERED = 'portcullis.recordings.buffered';
export const METRIC_DECISION_LOG = 'portcullis.decision_log.events';
export const METRIC_DECISION_LOG_RETRIES = 'portcullis.decision_log.retries';

/** A span of its own for a bundle activated or refused off the request path (file watch, bundle service poll). */
export const SPAN_POLICY_EVENT = 'portcullis.policy.bundle';
export const EVENT_BUNDLE_REFUSED = 'portcullis.bundle.refused';
export const EVENT_BUNDLE_ACTIVATED = 'portcullis.bundle.activated';
export const ATTR_POLICY_SOURCE = 'portcullis.policy.source';
export const ATTR_POLICY_HOLDER = 'portcullis.policy.holder';
export const ATTR_POLICY_ERROR_CODE = 'portcullis.policy.error.code';
export const ATTR_POLICY_ERROR_MESSAGE = 'portcullis.policy.error.message';

export const METRIC_ATTR_OUTCOME = 'outcome';
export const METRIC_ATTR_RULE_ID = 'rule_id';
export const METRIC_ATTR_TARGET = 'target';
export const METRIC_ATTR_METHOD = 'method';
export const METRIC_ATTR_CLASS = 'class';
export const METRIC_ATTR_REVISION = 'revision';
export const METRIC_ATTR_SHA256 = 'sha256';
export const METRIC_ATTR_BACKEND = 'backend';
export const METRIC_ATTR_STATE = 'state';
export const METRIC_ATTR_STATUS = 'status';
export const METRIC_ATTR_TYPE = 'type';
export const METRIC_ATTR_POLICY = 'policy';
export const METRIC_ATTR_ERROR = 'error';
export const METRIC_ATTR_RESULT = 'result';
export const METRIC_ATTR_DIFFERENCE = 'difference';

/**
 * The MCP methods (both eras) a metric label or span name may carry; any other method, chosen by
 * a client or an upstream, is named METHOD_OTHER, so neither grows with what callers send.
 */
export const KNOWN_METHODS: ReadonlySet<string> = new Set([
  'initialize', 'ping', 'server/discover',
  'tools/list', 'tools/call', 'prompts/list', 'prompts/get',
  'resources/list', 'resources/templates/list', 'resources/read', 'resources/subscribe', 'resources/unsubscribe',
  'subscriptions/listen', 'completion/complete', 'logging/setLevel', 'sampling/createMessage', 'elicitation/create', 'roots/list',
  'notifications/initialized', 'notifications/cancelled', 'notifications/progress', 'notifications/message',
  'notifications/resources/updated', 'notifications/resources/list_changed', 'notifications/tools/list_changed',
  'notifications/prompts/list_changed', 'notifications/roots/list_changed', 'notifications/elicitation/complete',
]);
export const METHOD_OTHER = 'other';

/** `method` as a metric label or in a span name: a known MCP method, else METHOD_OTHER. */
export const boundedMethod = (method: string): string => (KNOWN_METHODS.has(method) ? method : METHOD_OTHER);

/** Longest attribute value a span keeps (spanLimits.attributeValueLengthLimit); longer is cut. */
export const ATTRIBUTE_VALUE_LIMIT = 1024;

/** Characters of a method a decision record keeps: a client chooses it, up to the body's size. */
export const RECORD_METHOD_LIMIT = 256;

/** `text` cut to `limit` characters (never inside a surrogate pair), marked with `…` when cut. */
export function boundedText(text: string, limit: number): string {
  if (text.length <= limit) return text;
  const end = /[\uD800-\uDBFF]/.test(text[limit - 1]!) ? limit - 1 : limit;
  return `${text.slice(0, end)}…`;
}
