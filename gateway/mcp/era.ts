// Which protocol era a client message belongs to, and the 2026-07-28 header/body cross-checks.
// Classification is body-primary, as the spec requires: a proxy that drops a header must not
// change the era. The headers are then checked against the body; a mismatch is 400 / -32020.
import type { Era } from '../policy/input.ts';
import { ErrorCode, GatewayError } from '../errors.ts';
import type { JsonRpcMessage, Params } from './jsonrpc.ts';

export const FIRST_STATELESS_VERSION = '2026-07-28';
export const PROTOCOL_VERSION_META_KEY = 'io.modelcontextprotocol/protocolVersion';

/** Methods whose `Mcp-Name` header mirrors a body field. */
const NAME_SOURCE: Record<string, string> = {
  'tools/call': 'name',
  'prompts/get': 'name',
  'resources/read': 'uri',
  'tasks/get': 'taskId',
  'tasks/update': 'taskId',
  'tasks/cancel': 'taskId',
};

export interface EraHeaders {
  protocolVersion: string | undefined;
  method: string | undefined;
  name: string | undefined;
}

export interface Classified {
  era: Era;
  /** Version named by the message or its header; '' when the message names none. */
  protocolVersion: string;
}

/** Protocol versions are dates, so string order is release order. */
export const isStatelessVersion = (version: string): boolean => version >= FIRST_STATELESS_VERSION;

/**
 * -32020. The message names the header and the body field that disagree, never their values: it
 * goes to the client, and to spans and recordings, and a body value may be one the policy masks.
 */
function mismatch(id: string | number | null, header: string, detail: string): GatewayError {
  return new GatewayError(400, ErrorCode.HeaderMismatch, `Bad Request: the request headers and body disagree: ${detail}`, {
    id,
    data: { mismatch: { header, detail } },
  });
}

/** `=?base64?…?=` values carry UTF-8 that is not safe in a header; anything else is literal. */
function decodeHeaderValue(value: string): string | undefined {
  const trimmed = value.trim();
  if (!(trimmed.startsWith('=?base64?') && trimmed.endsWith('?='))) return trimmed;
  const b64 = trimmed.slice(9, -2);
  if (!/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(b64)) return undefined;
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(Buffer.from(b64, 'base64'));
  } catch {
    return undefined;
  }
}

function metaVersion(params: Params | undefined): { claimed: boolean; version: unknown } {
  const meta = params?._meta;
  if (typeof meta !== 'object' || meta === null || Array.isArray(meta)) return { claimed: false, version: undefined };
  return PROTOCOL_VERSION_META_KEY in meta
    ? { claimed: true, version: (meta as Record<string, unknown>)[PROTOCOL_VERSION_META_KEY] }
    : { claimed: false, version: undefined };
}

function checkStatelessRequestHeaders(message: JsonRpcMessage & { kind: 'request' }, headers: EraHeaders): void {
  const { id, method, params } = message;
  if (headers.protocolVersion === undefined) throw mismatch(id, 'MCP-Protocol-Version', 'the required MCP-Protocol-Version header is absent');
  if (headers.method === undefined) throw mismatch(id, 'Mcp-Method', 'the required Mcp-Method header is absent');
  const field = Object.hasOwn(NAME_SOURCE, method) ? NAME_SOURCE[method] : undefined;
  if (field === undefined) return;
  const bodyValue = params?.[field];
  if (typeof bodyValue !== 'string') return;
  if (headers.name === undefined) throw mismatch(id, 'Mcp-Name', `the body carries params.${field} but the required Mcp-Name header is absent`);
  const decoded = decodeHeaderValue(headers.name);
  if (decoded === undefined) throw mismatch(id, 'Mcp-Name', 'the Mcp-Name header carries an invalid Base64 value');
  if (decoded !== bodyValue) throw mismatch(id, 'Mcp-Name', `the Mcp-Name header does not name the body's params.${field}`);
}

/** Classifies a client request or notification and enforces the stateless era's header rules. */
export function classifyClientMessage(message: JsonRpcMessage, headers: EraHeaders): Classified {
  if (message.kind === 'response') {
    // Only legacy clients answer server-initiated requests over POST.
    return { era: 'legacy', protocolVersion: headers.protocolVersion ?? '' };
  }
  const { method, params } = message;
  const id = message.kind === 'request' ? message.id : null;
  const headerVersion = headers.protocolVersion;
  const claim = metaVersion(params);
  if (!claim.claimed) {
    if (method === 'initialize') {
      if (headerVersion !== undefined && isStatelessVersion(headerVersion)) {
        throw mismatch(id, 'MCP-Protocol-Version', 'an initialize request (legacy handshake) was sent with a 2026-07-28+ MCP-Protocol-Version header');
      }
      const requested = params?.protocolVersion;
      return { era: 'legacy', protocolVersion: typeof requested === 'string' ? requested : '' };
    }
    if (headerVersion !== undefined && isStatelessVersion(headerVersion) && message.kind === 'notification') {
      // (issue 8) The `_meta` protocol version is required of requests only: the Go SDK sends
      // `notifications/cancelled` without `_meta`, and a 400 here makes a real client close its
      // connection. The header names the era; the Mcp-Method cross-check still holds.
      if (headers.method !== undefined && headers.method !== method) {
        throw mismatch(id, 'Mcp-Method', 'the Mcp-Method header does not name the body\'s method');
      }
      return { era: 'stateless', protocolVersion: headerVersion };
    }
    if (headerVersion !== undefined && isStatelessVersion(headerVersion)) {
      throw new GatewayError(400, ErrorCode.InvalidParams, `Invalid params: the MCP-Protocol-Version header names a 2026-07-28+ version, but the request has no params._meta["${PROTOCOL_VERSION_META_KEY}"]`, { id });
    }
    return { era: 'legacy', protocolVersion: headerVersion ?? '' };
  }
  if (typeof claim.version !== 'string') {
    throw new GatewayError(400, ErrorCode.InvalidParams, `Invalid params: _meta["${PROTOCOL_VERSION_META_KEY}"] must be a protocol version string`, { id });
  }
  const version = claim.version;
  if (headerVersion !== undefined && headerVersion !== version) {
    throw mismatch(id, 'MCP-Protocol-Version', 'the MCP-Protocol-Version header does not name the body\'s _meta protocol version');
  }
  if (!isStatelessVersion(version)) return { era: 'legacy', protocolVersion: version };
  if (headers.method !== undefined && headers.method !== method) {
    throw mismatch(id, 'Mcp-Method', 'the Mcp-Method header does not name the body\'s method');
  }
  if (message.kind === 'request') checkStatelessRequestHeaders(message, headers);
  return { era: 'stateless', protocolVersion: version };
}
