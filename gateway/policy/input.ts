// The input half of the policy contract (docs/policy-contract.md). The input is written as JSON
// text directly: the arguments must be serialized once anyway to enforce the size cap, and reusing
// that text (and the caller's pre-serialized subject) spares the WASM SDK a second stringify of
// the whole document on every message.

export const CONTRACT_VERSION = 'portcullis/v1';

export type Era = 'legacy' | 'stateless';
export type Direction = 'client_to_server' | 'server_to_client';
// `approval`: a vote on a held call (gateway/approvals): the approver is the subject.
export type MessageKind = 'request' | 'notification' | 'response' | 'list_item' | 'approval';

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
  /** A call's result, for the response-time decision. */
  result?: unknown;
  /** Size of the message the result came in, when known: an upper bound that spares a size walk. */
  resultBytesAtMost?: number;
  target: string;
  sessionId: string;
  /** `JSON.stringify(subject)`, computed once per request by the identity layer. */
  subjectJson: string;
  /**
   * Who asks, as the identity layer names them (`Identity.principal`), for decision records; not
   * part of the policy input. Absent, records name the principal of the subject (observe.ts).
   */
  principal?: string;
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

/**
 * Whether a value's JSON is certainly larger than `budget` bytes, found without serializing it:
 * a 1 MB tool result must not be stringified only to learn that it is over the cap.
 */
function exceeds(value: unknown, budget: number): boolean {
  let left = budget;
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const v = stack.pop();
    if (typeof v === 'string') left -= v.length + 2;
    else if (Array.isArray(v)) {
      left -= v.length + 1;
      for (const item of v) stack.push(item);
    } else if (typeof v === 'object' && v !== null) {
      for (const [k, item] of Object.entries(v)) {
        left -= k.length + 4;
        stack.push(item);
      }
    } else left -= 4;
    if (left < 0) return true;
  }
  return false;
}

export interface InputLimits {
  /** Cap on serialized arguments / params. */
  maxInputBytes: number;
  /** Cap on a serialized call result (response-time decisions). */
  maxResultBytes: number;
}

/** Builds the JSON text of the input document. */
export function serializeInput(q: PolicyQuery, limits: InputLimits): string {
  const args = capped(q.arguments, limits.maxInputBytes);
  const params = capped(stripMeta(q.params), limits.maxInputBytes);
  const surelySmall = q.resultBytesAtMost !== undefined && q.resultBytesAtMost <= limits.maxResultBytes;
  const result = q.result === undefined || (!surelySmall && exceeds(q.result, limits.maxResultBytes)) ? undefined : capped(q.result, limits.maxResultBytes);
  const truncated = args === undefined || params === undefined;
  const resultTruncated = q.result !== undefined && result === undefined;
  return (
    `{"contract":"${CONTRACT_VERSION}","protocol":{"era":"${q.era}","version":${JSON.stringify(q.protocolVersion)}},` +
    `"direction":"${q.direction}","kind":"${q.kind}","method":${JSON.stringify(q.method)},` +
    `"name":${JSON.stringify(q.name)},"arguments":${args ?? EMPTY},"params":${params ?? EMPTY},` +
    `"result":${result ?? EMPTY},"truncated":${truncated},"result_truncated":${resultTruncated},"target":${JSON.stringify(q.target)},` +
    `"session_id":${JSON.stringify(q.sessionId)},"subject":${q.subjectJson}}`
  );
}

function stripMeta(params: unknown): unknown {
  if (typeof params !== 'object' || params === null || Array.isArray(params) || !('_meta' in params)) return params;
  const { _meta: _, ...rest } = params as Record<string, unknown>;
  return rest;
}
