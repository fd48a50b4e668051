// The MCP headers that go upstream with a message are written from the message the gateway
// decided, never copied from the client: an upstream that routes on Mcp-Method / Mcp-Name, or
// reads arguments from Mcp-Param-* headers, must act on what the policy saw.
import { ErrorCode, GatewayError } from '../errors.ts';
import { NAMED_BY } from './jsonrpc.ts';
import type { Exchange } from './screen.ts';

/** The text an argument value would have as a header (strings as they are; numbers, booleans as JSON). */
function headerText(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return JSON.stringify(value);
  return undefined;
}

/**
 * Mcp-Method and Mcp-Name for a 2026-07-28 message (the legacy era has none), and the client's
 * Mcp-Param-* headers that mirror an argument of the forwarded call exactly. A Mcp-Param-* header
 * that mirrors none is refused (400, -32020), as a Mcp-Name that disagrees with the body is.
 */
export function messageHeaders(wire: Record<string, unknown>, era: Exchange['era'], incoming: Headers): Record<string, string> {
  const out: Record<string, string> = {};
  if (era !== 'stateless' || typeof wire.method !== 'string') return out;
  out['mcp-method'] = wire.method;
  const params = (typeof wire.params === 'object' && wire.params !== null ? wire.params : {}) as Record<string, unknown>;
  const field = Object.hasOwn(NAMED_BY, wire.method) ? NAMED_BY[wire.method] : undefined;
  const name = field === undefined ? undefined : params[field];
  if (typeof name === 'string') out['mcp-name'] = name;
  const args = (typeof params.arguments === 'object' && params.arguments !== null ? params.arguments : {}) as Record<string, unknown>;
  const mirrored = new Set<string>();
  for (const value of Object.values(args)) {
    const text = headerText(value);
    if (text !== undefined) mirrored.add(text);
  }
  incoming.forEach((value, header) => {
    if (!header.startsWith('mcp-param-')) return;
    if (!mirrored.has(value)) {
      throw new GatewayError(400, ErrorCode.HeaderMismatch, `Bad Request: header ${header} does not mirror any argument of the request body (it would reach the upstream undecided)`);
    }
    out[header] = value;
  });
  return out;
}
