/**
 * The demo MCP server shipped with Portcullis: "Acme Analytics", a small company backend
 * with in-memory customers (full of secrets), orders and incidents. Built with
 * @modelcontextprotocol/server v2 and serving both protocol eras on one endpoint:
 * 2026-07-28 (stateless) and 2024-11-05 … 2025-11-25 (sessions).
 *
 *   npm run demo:upstream                  # http://127.0.0.1:9090/mcp
 *   DEMO_UPSTREAM_PORT=9191 npm run demo:upstream
 *   node demo/upstream.ts 9191
 *
 * Nothing here touches a real database or shell: run_sql evaluates a tiny SQL subset over
 * the in-memory tables, run_shell returns canned output.
 */
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';
import { serve } from '@hono/node-server';
import {
  McpServer,
  WebStandardStreamableHTTPServerTransport,
  createMcpHandler,
  hostHeaderValidationResponse,
  isLegacyRequest,
  localhostAllowedHostnames,
  localhostAllowedOrigins,
  originValidationResponse,
  type CallToolResult,
  type GetPromptResult,
} from '@modelcontextprotocol/server';
import * as z from 'zod';
import { DemoDb, runSql, simulatedShell, type Customer, type Order } from './data.ts';
import { legacySessions } from './legacy-sessions.ts';

export const DEFAULT_DEMO_PORT = 9090;

export interface DemoUpstreamOptions {
  /** Port; default 9090 (0 = a free port). */
  port?: number;
  /** Bind address; default 127.0.0.1. */
  host?: string;
  /** Reject non-localhost Host/Origin headers with 403 (DNS-rebinding protection); default true. */
  dnsRebindingProtection?: boolean;
}

export interface DemoUpstream {
  /** Full MCP endpoint URL, e.g. http://127.0.0.1:9090/mcp */
  url: string;
  /** The live in-memory data (tests may inspect or reset it). */
  db: DemoDb;
  close(): Promise<void>;
}

const RUNBOOK = `# Acme Analytics on-call runbook

## Severity
- **sev1**: customer data exposed, or the API is down for all tenants. Page the incident commander.
- **sev2**: a feature is broken for a region or a plan. Page the owning team.
- **sev3**: degraded but usable. Ticket, next business day.

## First 15 minutes
1. Acknowledge the page and open an incident (\`INC-####\`).
2. Check the dashboards: API p95 latency, error rate, Postgres replication lag.
3. Post a status update every 30 minutes, even if nothing changed.

## Leaked credentials
1. Revoke the key or token **before** investigating.
2. Never paste secrets into tickets or chats; reference the customer id instead.
3. Audit access logs for the key's prefix over the last 30 days.

## Refunds during incidents
Refunds above USD 1,000 need a second approver. Use \`refund_order\` with a reason that
references the incident id.

## Database access
Read-only queries only during an incident. \`DELETE\`, \`UPDATE\` and \`DROP\` need a change ticket.
`;

function json(value: unknown, extra: Partial<CallToolResult> = {}): CallToolResult {
  return {
    content: [{ type: 'text', text: JSON.stringify(value) }],
    structuredContent: value as Record<string, unknown>,
    ...extra,
  };
}

function toolError(message: string): CallToolResult {
  return { content: [{ type: 'text', text: message }], isError: true };
}

function customerSummary(c: Customer) {
  return { id: c.id, name: c.name, email: c.email, company: c.company, plan: c.plan, status: c.status };
}

function orderSummary(o: Order) {
  return {
    id: o.id,
    customer_id: o.customer_id,
    status: o.status,
    total_cents: o.total_cents,
    refunded_cents: o.refunded_cents,
    currency: o.currency,
    created_at: o.created_at,
    items: o.items.map((i) => `${i.qty} x ${i.name} (${i.sku})`),
  };
}

/** Registers the demo tools, resource and prompt on a fresh McpServer over `db`. */
export function buildDemoServer(db: DemoDb): McpServer {
  const server = new McpServer(
    { name: 'acme-analytics-backend', title: 'Acme Analytics backend (Portcullis demo)', version: '1.0.0' },
    {
      capabilities: { tools: {}, resources: {}, prompts: {} },
      instructions:
        'Acme Analytics customer and order backend. Prefer read-only tools. Destructive tools (delete_customer, refund_order) and high-risk tools (run_sql, run_shell) may require approval.',
    },
  );

  server.registerTool(
    'list_customers',
    {
      title: 'List customers',
      description: 'Lists customers (id, name, email, company, plan, status), optionally filtered by status or plan. Read-only.',
      inputSchema: z.object({
        status: z.enum(['active', 'suspended', 'churned']).optional().describe('Only customers with this status'),
        plan: z.enum(['free', 'team', 'enterprise']).optional().describe('Only customers on this plan'),
        limit: z.number().int().min(1).max(100).default(20).describe('Maximum number of customers to return'),
      }),
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    async ({ status, plan, limit }) => {
      const rows = db.customers.filter((c) => (!status || c.status === status) && (!plan || c.plan === plan));
      return json({ customers: rows.slice(0, limit).map(customerSummary), total: rows.length });
    },
  );

  server.registerTool(
    'get_customer',
    {
      title: 'Get customer',
      description:
        'Returns the full customer record: contact details, identity data, credentials and billing (card, IBAN) and support notes. Read-only, but the result contains sensitive data.',
      inputSchema: z.object({ customer_id: z.string().regex(/^cus_\d+$/).describe('Customer id, e.g. cus_1001') }),
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    async ({ customer_id }) => {
      const c = db.customer(customer_id);
      if (!c) return toolError(`customer ${customer_id} not found`);
      return json({ customer: c });
    },
  );

  server.registerTool(
    'search_orders',
    {
      title: 'Search orders',
      description: 'Searches orders by customer, status, minimum total, or a text match on item name/SKU. Read-only.',
      inputSchema: z.object({
        customer_id: z.string().optional().describe('Only orders of this customer'),
        status: z.enum(['processing', 'shipped', 'delivered', 'refunded', 'partially_refunded', 'cancelled']).optional(),
        min_total_cents: z.number().int().min(0).optional().describe('Only orders with total >= this amount (cents)'),
        query: z.string().max(200).optional().describe('Case-insensitive match on item name or SKU'),
        limit: z.number().int().min(1).max(100).default(20),
      }),
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    async ({ customer_id, status, min_total_cents, query, limit }) => {
      const q = query?.toLowerCase();
      const rows = db.orders.filter(
        (o) =>
          (!customer_id || o.customer_id === customer_id) &&
          (!status || o.status === status) &&
          (min_total_cents === undefined || o.total_cents >= min_total_cents) &&
          (!q || o.items.some((i) => i.name.toLowerCase().includes(q) || i.sku.toLowerCase().includes(q))),
      );
      return json({ orders: rows.slice(0, limit).map(orderSummary), total: rows.length });
    },
  );

  server.registerTool(
    'get_order_status',
    {
      title: 'Get order status',
      description: 'Returns the fulfilment status of one order: status, carrier, tracking number, ETA, refunds. Read-only.',
      inputSchema: z.object({ order_id: z.string().regex(/^ord_\d+$/).describe('Order id, e.g. ord_5002') }),
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    async ({ order_id }) => {
      const o = db.order(order_id);
      if (!o) return toolError(`order ${order_id} not found`);
      return json({
        order_id: o.id,
        status: o.status,
        carrier: o.carrier,
        tracking_number: o.tracking_number,
        eta: o.eta,
        total_cents: o.total_cents,
        refunded_cents: o.refunded_cents,
        refunds: o.refunds,
      });
    },
  );

  server.registerTool(
    'delete_customer',
    {
      title: 'Delete customer',
      description:
        'Permanently deletes a customer record and cancels their open orders. Irreversible; customers under legal hold must not be deleted.',
      inputSchema: z.object({
        customer_id: z.string().regex(/^cus_\d+$/),
        reason: z.string().min(3).max(500).describe('Why the customer is being deleted (kept in the audit log)'),
      }),
      annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false },
    },
    async ({ customer_id, reason }) => {
      const c = db.customer(customer_id);
      if (!c) return toolError(`customer ${customer_id} not found`);
      db.customers = db.customers.filter((x) => x.id !== customer_id);
      let cancelled = 0;
      for (const o of db.orders) {
        if (o.customer_id === customer_id && (o.status === 'processing' || o.status === 'shipped')) {
          o.status = 'cancelled';
          cancelled += 1;
        }
      }
      return json({ deleted: true, customer_id, name: c.name, cancelled_orders: cancelled, reason });
    },
  );

  server.registerTool(
    'refund_order',
    {
      title: 'Refund order',
      description:
        'Refunds an order in full or in part (amount in cents; default: the remaining refundable amount). Moves money back to the customer; cannot be undone.',
      inputSchema: z.object({
        order_id: z.string().regex(/^ord_\d+$/),
        amount_cents: z.number().int().positive().optional().describe('Amount to refund in cents; default: everything not yet refunded'),
        reason: z.string().min(3).max(500),
      }),
      annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: true },
    },
    async ({ order_id, amount_cents, reason }) => {
      const o = db.order(order_id);
      if (!o) return toolError(`order ${order_id} not found`);
      if (o.status === 'cancelled') return toolError(`order ${order_id} is cancelled; nothing to refund`);
      const remaining = o.total_cents - o.refunded_cents;
      const amount = amount_cents ?? remaining;
      if (remaining <= 0) return toolError(`order ${order_id} is already fully refunded`);
      if (amount > remaining) return toolError(`refund of ${amount} exceeds the refundable ${remaining} cents`);
      o.refunded_cents += amount;
      o.refunds.push({ amount_cents: amount, reason, at: new Date().toISOString() });
      o.status = o.refunded_cents === o.total_cents ? 'refunded' : 'partially_refunded';
      return json({
        order_id,
        refunded_cents: amount,
        total_refunded_cents: o.refunded_cents,
        status: o.status,
        refund_id: `re_${randomUUID().slice(0, 8)}`,
      });
    },
  );

  server.registerTool(
    'run_sql',
    {
      title: 'Run SQL',
      description:
        'Runs a SQL statement against the production database (tables: customers, orders). Supports SELECT, UPDATE, DELETE and DROP TABLE. High risk: writes are applied immediately.',
      inputSchema: z.object({
        query: z.string().min(1).max(4000).describe("SQL statement, e.g. SELECT id, email FROM customers WHERE plan = 'enterprise'"),
      }),
      annotations: { readOnlyHint: false, destructiveHint: true, openWorldHint: false },
    },
    async ({ query }) => {
      try {
        return json(runSql(db, query));
      } catch (err) {
        return toolError(`SQL error: ${err instanceof Error ? err.message : String(err)}`);
      }
    },
  );

  server.registerTool(
    'run_shell',
    {
      title: 'Run shell command',
      description:
        'Runs a shell command on the API host as svc-backend. DEMO: nothing is executed; the tool returns canned, plausible output. Treat as high risk anyway.',
      inputSchema: z.object({
        command: z.string().min(1).max(2000).describe('Command line, e.g. "df -h"'),
        timeout_s: z.number().int().min(1).max(300).default(30),
      }),
      annotations: { readOnlyHint: false, destructiveHint: true, openWorldHint: true },
    },
    async ({ command }) => {
      const r = simulatedShell(command);
      return json({ command, simulated: true, ...r }, r.exit_code === 0 ? {} : { isError: true });
    },
  );

  server.registerResource(
    'runbook',
    'demo://docs/runbook',
    { title: 'On-call runbook', description: 'How Acme Analytics handles incidents, leaked credentials and refunds.', mimeType: 'text/markdown' },
    async (uri) => ({ contents: [{ uri: uri.href, mimeType: 'text/markdown', text: RUNBOOK }] }),
  );

  server.registerPrompt(
    'incident_summary',
    {
      title: 'Incident summary',
      description: 'Drafts a status-page summary for an incident from its timeline.',
      argsSchema: z.object({ incident_id: z.string().describe('Incident id, e.g. INC-2041') }),
    },
    async ({ incident_id }): Promise<GetPromptResult> => {
      const inc = db.incidents.find((i) => i.id === incident_id);
      const facts = inc
        ? `Incident ${inc.id} (${inc.severity}, ${inc.status}): ${inc.title}\nStarted: ${inc.started_at}\nServices: ${inc.services.join(', ')}\nTimeline:\n${inc.timeline.map((t) => `- ${t}`).join('\n')}`
        : `Incident ${incident_id}: no record found.`;
      return {
        description: `Status-page summary for ${incident_id}`,
        messages: [
          {
            role: 'user',
            content: {
              type: 'text',
              text: `${facts}\n\nWrite a short, customer-facing status update: what happened, who is affected, current status, next update time. Do not include internal hostnames, customer names or secrets.`,
            },
          },
        ],
      };
    },
  );

  return server;
}

/** Starts the demo server; both eras on `/mcp`. */
export async function startDemoUpstream(opts: DemoUpstreamOptions = {}): Promise<DemoUpstream> {
  const db = new DemoDb();
  const host = opts.host ?? '127.0.0.1';
  const guard = opts.dnsRebindingProtection ?? true;

  const modern = createMcpHandler(() => buildDemoServer(db), { legacy: 'reject' });
  const legacy = legacySessions(async (hooks) => {
    const server = buildDemoServer(db);
    const transport = new WebStandardStreamableHTTPServerTransport({ sessionIdGenerator: () => randomUUID(), ...hooks });
    await server.connect(transport);
    return { transport, server };
  });

  async function fetchHandler(request: Request): Promise<Response> {
    const { pathname } = new URL(request.url);
    if (pathname === '/healthz') return new Response('ok\n');
    if (pathname !== '/mcp') return new Response('not found\n', { status: 404 });
    if (guard) {
      const rejected =
        hostHeaderValidationResponse(request, localhostAllowedHostnames()) ??
        originValidationResponse(request, localhostAllowedOrigins());
      if (rejected) return rejected;
    }
    if (await isLegacyRequest(request)) return legacy.handle(request);
    return modern.fetch(request);
  }

  const server = await new Promise<ReturnType<typeof serve>>((resolve, reject) => {
    const s = serve({ fetch: fetchHandler, port: opts.port ?? DEFAULT_DEMO_PORT, hostname: host, overrideGlobalObjects: false }, () =>
      resolve(s),
    );
    s.once('error', reject);
  });
  const port = (server.address() as AddressInfo).port;
  const hostForUrl = host.includes(':') ? `[${host}]` : host;

  return {
    url: `http://${hostForUrl}:${port}/mcp`,
    db,
    async close() {
      await modern.close();
      await legacy.closeAll();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        if ('closeAllConnections' in server) server.closeAllConnections();
      });
    },
  };
}

function portFromEnvOrArgs(): number {
  const arg = process.argv.slice(2).find((a) => /^\d+$/.test(a));
  const raw = arg ?? process.env.DEMO_UPSTREAM_PORT;
  if (raw === undefined || raw === '') return DEFAULT_DEMO_PORT;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`invalid port: ${raw}`);
  return n;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const demo = await startDemoUpstream({ port: portFromEnvOrArgs() });
  process.stdout.write(`Acme Analytics demo MCP server listening on ${demo.url} (2025-era sessions and 2026-07-28)\n`);
  const stop = () => {
    void demo.close().then(() => process.exit(0));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}
