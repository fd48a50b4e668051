// The input half of the policy contract (docs/policy-contract.md). The input is written as JSON
// text directly: the arguments must be serialized once anyway to enforce the size cap, and reusing
// that text (and the caller's pre-serialized subject) spares the WASM SDK a second stringify of
// the whole document on every message.

export const CONTRACT_VERSION = 'portcullis/v1';

export type Era = 'legacy' | 'stateless';
export type Direction = 'client_to_server' | 'server_to_client';
export type MessageKind = 'request' | 'notification' | 'response' | 'list_item';

export interface Subject {
  authenticated: boolean;
  type: 'anonymous' | 'user' | 'service';
  sub: string;
  issuer: string;
  client_id: string;
  email: string;
  groups: string[];
  scopes: string[];
  claims: Record<string, unknown>;
}

/** What the MCP layer knows about one message, before it becomes policy input. */
export interface PolicyQuery {
  era: Era;
  protocolVersion: string;
  direction: Direction;
  kind: MessageKind;
  method: string;
  name: string;
  /** tools/call and prompts/get arguments. */
  arguments?: unknown;
  /** Every other method's params, without `_meta`. */
  params?: unknown;
  target: string;
  sessionId: string;
  /** `JSON.stringify(subject)`, computed once per request by the identity layer. */
  subjectJson: string;
}

const EMPTY = '{}';

/** Serializes a value for the input, or `undefined` when it is larger than the cap. */
function capped(value: unknown, maxBytes: number): string | undefined {
  if (value === undefined || value === null) return EMPTY;
  const json = JSON.stringify(value);
  // A UTF-16 unit is at most 3 UTF-8 bytes, so exact byte counting is only needed near the cap.
  if (json.length * 3 <= maxBytes || Buffer.byteLength(json) <= maxBytes) return json;
  return undefined;
}

/** Builds the JSON text of the input document. */
export function serializeInput(q: PolicyQuery, maxBytes: number): string {
  const args = capped(q.arguments, maxBytes);
  const params = capped(stripMeta(q.params), maxBytes);
  const truncated = args === undefined || params === undefined;
  return (
    `{"contract":"${CONTRACT_VERSION}","protocol":{"era":"${q.era}","version":${JSON.stringify(q.protocolVersion)}},` +
    `"direction":"${q.direction}","kind":"${q.kind}","method":${JSON.stringify(q.method)},` +
    `"name":${JSON.stringify(q.name)},"arguments":${args ?? EMPTY},"params":${params ?? EMPTY},` +
    `"truncated":${truncated},"target":${JSON.stringify(q.target)},` +
    `"session_id":${JSON.stringify(q.sessionId)},"subject":${q.subjectJson}}`
  );
}

function stripMeta(params: unknown): unknown {
  if (typeof params !== 'object' || params === null || Array.isArray(params) || !('_meta' in params)) return params;
  const { _meta: _, ...rest } = params as Record<string, unknown>;
  return rest;
}
