// 2025-era (legacy) session routing for an MCP server on a web-standard Streamable HTTP
// transport: `initialize` opens a session with its own transport and server, `Mcp-Session-Id`
// routes later requests to it. Both SDK lines' WebStandardStreamableHTTPServerTransport fit the
// shapes below, so the demo upstream and the test fixtures share this one router.

/** What the router needs of a transport. */
export interface SessionTransport {
  readonly sessionId?: string | undefined;
  onclose?: (() => void) | undefined;
  handleRequest(request: Request, options?: { parsedBody?: unknown }): Promise<Response>;
  close(): Promise<void>;
}

/** Hooks to pass as the transport's options, so the router learns the session's id and end. */
export interface SessionHooks {
  onsessioninitialized: (id: string) => void;
  onsessionclosed: (id: string) => void;
}

/** Creates a transport with the hooks, connects a fresh server to it, and returns both. */
export type OpenSession = (hooks: SessionHooks) => Promise<{ transport: SessionTransport; server: { close(): Promise<unknown> } }>;

export interface LegacySessions {
  handle(request: Request): Promise<Response>;
  /** Live sessions. */
  readonly size: number;
  closeAll(): Promise<void>;
}

function jsonRpcError(status: number, code: number, message: string): Response {
  return new Response(JSON.stringify({ jsonrpc: '2.0', error: { code, message }, id: null }), {
    status,
    headers: { 'content-type': 'application/json' },
  });
}

function isInitialize(body: unknown): boolean {
  const message = body as { jsonrpc?: unknown; method?: unknown; id?: unknown } | null;
  return message?.jsonrpc === '2.0' && message.method === 'initialize' && message.id !== undefined;
}

export function legacySessions(open: OpenSession): LegacySessions {
  const sessions = new Map<string, Awaited<ReturnType<OpenSession>>>();
  return {
    async handle(request) {
      const sid = request.headers.get('mcp-session-id');
      if (sid) {
        const session = sessions.get(sid);
        return session ? session.transport.handleRequest(request) : jsonRpcError(404, -32001, 'Session not found');
      }
      if (request.method === 'POST') {
        const body: unknown = await request.clone().json().catch(() => undefined);
        if (isInitialize(body)) {
          let opened: Awaited<ReturnType<OpenSession>> | undefined;
          opened = await open({
            onsessioninitialized: (id) => sessions.set(id, opened!),
            onsessionclosed: (id) => sessions.delete(id),
          });
          const { transport } = opened;
          transport.onclose = () => {
            if (transport.sessionId) sessions.delete(transport.sessionId);
          };
          return transport.handleRequest(request, { parsedBody: body });
        }
      }
      return jsonRpcError(400, -32000, 'Bad Request: No valid session ID provided');
    },
    get size() {
      return sessions.size;
    },
    async closeAll() {
      for (const { transport, server } of sessions.values()) {
        await transport.close().catch(() => {});
        await server.close().catch(() => {});
      }
      sessions.clear();
    },
  };
}
