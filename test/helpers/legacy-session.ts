// A legacy (2025) session opened by hand through the gateway, for tests that speak the wire
// directly: initialize, then the headers every later message of the session carries.

const JSON_POST = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };

export interface LegacySession {
  id: string;
  /** Headers for a POST on the session. */
  post: Record<string, string>;
  /** Headers for the session's GET stream. */
  get: Record<string, string>;
}

export async function openLegacySession(endpoint: string, protocolVersion = '2025-06-18'): Promise<LegacySession> {
  const init = await fetch(endpoint, {
    method: 'POST',
    headers: JSON_POST,
    body: JSON.stringify({ jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion, capabilities: {}, clientInfo: { name: 'test', version: '1' } } }),
  });
  await init.text();
  const id = init.headers.get('mcp-session-id');
  if (id === null) throw new Error(`initialize through ${endpoint} gave no session (HTTP ${init.status})`);
  return {
    id,
    post: { ...JSON_POST, 'mcp-session-id': id, 'mcp-protocol-version': protocolVersion },
    get: { accept: 'text/event-stream', 'mcp-session-id': id, 'mcp-protocol-version': protocolVersion },
  };
}
