/**
 * In-memory data for the demo backend ("Acme Analytics"): customers full of secrets,
 * orders, incidents, and a tiny SQL evaluator over two tables. Every value is fake:
 * card numbers are the networks' published Luhn-valid test numbers, SSNs are
 * well-known specimen numbers, tokens are built here from fixed strings.
 */

export interface Address {
  line1: string;
  city: string;
  postal_code: string;
  country: string;
}

export interface Customer {
  id: string;
  name: string;
  email: string;
  phone: string;
  company: string;
  plan: 'free' | 'team' | 'enterprise';
  status: 'active' | 'suspended' | 'churned';
  created_at: string;
  date_of_birth: string;
  ssn: string;
  password: string;
  api_key: string;
  access_token: string;
  billing: {
    card_brand: string;
    card_number: string;
    card_exp: string;
    card_cvc: string;
    iban: string;
    address: Address;
  };
  notes: string;
}

export interface OrderItem {
  sku: string;
  name: string;
  qty: number;
  unit_price_cents: number;
}

export interface Order {
  id: string;
  customer_id: string;
  status: 'processing' | 'shipped' | 'delivered' | 'refunded' | 'partially_refunded' | 'cancelled';
  currency: string;
  total_cents: number;
  refunded_cents: number;
  items: OrderItem[];
  created_at: string;
  carrier: string | null;
  tracking_number: string | null;
  eta: string | null;
  refunds: { amount_cents: number; reason: string; at: string }[];
}

export interface Incident {
  id: string;
  title: string;
  severity: 'sev1' | 'sev2' | 'sev3';
  status: 'open' | 'mitigated' | 'resolved';
  started_at: string;
  services: string[];
  timeline: string[];
}

const b64url = (s: string) => Buffer.from(s, 'utf8').toString('base64url');

/** A JWT-shaped (unsigned, fake) bearer token, built at load time. */
function fakeJwt(sub: string, scope: string): string {
  const header = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const payload = b64url(JSON.stringify({ iss: 'https://auth.acme-analytics.example', sub, scope, iat: 1767225600, exp: 1798761600 }));
  const sig = b64url(`demo-signature-${sub}`).slice(0, 43);
  return `${header}.${payload}.${sig}`;
}

function fakeApiKey(seed: string): string {
  const alphabet = 'ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789';
  let h = 2166136261;
  let out = '';
  for (let i = 0; i < 32; i++) {
    for (const ch of seed + i) h = Math.imul(h ^ ch.charCodeAt(0), 16777619) >>> 0;
    out += alphabet[h % alphabet.length];
  }
  return `acme_live_${out}`;
}

export function seedCustomers(): Customer[] {
  return [
    {
      id: 'cus_1001',
      name: 'Ada Lovelace',
      email: 'ada.lovelace@lovelace-analytics.example',
      phone: '+44 20 7946 0100',
      company: 'Lovelace Analytics Ltd',
      plan: 'enterprise',
      status: 'active',
      created_at: '2024-03-11T09:15:00Z',
      date_of_birth: '1985-12-10',
      ssn: '078-05-1120',
      password: 'Tr0ub4dor&3-engine',
      api_key: fakeApiKey('cus_1001'),
      access_token: fakeJwt('cus_1001', 'reports:read reports:write'),
      billing: {
        card_brand: 'visa',
        card_number: '4242424242424242',
        card_exp: '12/29',
        card_cvc: '123',
        iban: 'GB82WEST12345698765432',
        address: { line1: '12 St James Square', city: 'London', postal_code: 'SW1Y 4JH', country: 'GB' },
      },
      notes: `VIP. On 2026-10-02 the customer pasted "Authorization: Bearer ${fakeJwt('cus_1001-support', 'admin')}" into a support chat; token rotated. Send invoices to ap@lovelace-analytics.example.`,
    },
    {
      id: 'cus_1002',
      name: 'Grace Hopper',
      email: 'grace@cobol-works.example',
      phone: '+1 202 555 0142',
      company: 'Cobol Works Inc.',
      plan: 'team',
      status: 'active',
      created_at: '2024-07-02T14:40:00Z',
      date_of_birth: '1978-12-09',
      ssn: '219-09-9999',
      password: 'nanosecond-11.8in',
      api_key: fakeApiKey('cus_1002'),
      access_token: fakeJwt('cus_1002', 'reports:read'),
      billing: {
        card_brand: 'mastercard',
        card_number: '5555555555554444',
        card_exp: '03/28',
        card_cvc: '456',
        iban: 'DE89370400440532013000',
        address: { line1: '1600 Navy Yard Ave', city: 'Arlington', postal_code: '22202', country: 'US' },
      },
      notes: 'Asked to move to annual billing. Backup contact: hopper.finance@cobol-works.example, phone +1 202 555 0199.',
    },
    {
      id: 'cus_1003',
      name: 'Alan Turing',
      email: 'alan@bletchley-labs.example',
      phone: '+44 1908 640404',
      company: 'Bletchley Labs',
      plan: 'enterprise',
      status: 'suspended',
      created_at: '2023-11-20T08:00:00Z',
      date_of_birth: '1982-06-23',
      ssn: '123-45-6789',
      password: 'enigma-M4-rotor-III',
      api_key: fakeApiKey('cus_1003'),
      access_token: fakeJwt('cus_1003', 'reports:read admin'),
      billing: {
        card_brand: 'amex',
        card_number: '378282246310005',
        card_exp: '08/27',
        card_cvc: '7890',
        iban: 'FR1420041010050500013M02606',
        address: { line1: 'Sherwood Drive', city: 'Milton Keynes', postal_code: 'MK3 6EB', country: 'GB' },
      },
      notes: 'Suspended for chargeback on ord_5004 (card ending 0005). Legal hold: do not delete before 2027-01-01.',
    },
    {
      id: 'cus_1004',
      name: 'Katherine Johnson',
      email: 'kjohnson@trajectory.example',
      phone: '+1 757 555 0123',
      company: 'Trajectory Systems',
      plan: 'team',
      status: 'active',
      created_at: '2025-02-14T16:20:00Z',
      date_of_birth: '1990-08-26',
      ssn: '001-01-0001',
      password: 'Orbit!1962',
      api_key: fakeApiKey('cus_1004'),
      access_token: fakeJwt('cus_1004', 'reports:read'),
      billing: {
        card_brand: 'discover',
        card_number: '6011111111111117',
        card_exp: '10/30',
        card_cvc: '321',
        iban: 'NL91ABNA0417164300',
        address: { line1: '1 NASA Dr', city: 'Hampton', postal_code: '23666', country: 'US' },
      },
      notes: 'Integration uses api key from the billing page; customer emailed it in clear to support@acme-analytics.example.',
    },
    {
      id: 'cus_1005',
      name: 'Edsger Dijkstra',
      email: 'ewd@shortest-path.example',
      phone: '+31 20 555 0177',
      company: 'Shortest Path BV',
      plan: 'free',
      status: 'churned',
      created_at: '2024-01-05T10:00:00Z',
      date_of_birth: '1970-05-11',
      ssn: '987-65-4320',
      password: 'goto-considered-harmful',
      api_key: fakeApiKey('cus_1005'),
      access_token: fakeJwt('cus_1005', 'reports:read'),
      billing: {
        card_brand: 'visa',
        card_number: '4000056655665556',
        card_exp: '01/27',
        card_cvc: '999',
        iban: 'NL02ABNA0123456789',
        address: { line1: 'Plantage Muidergracht 24', city: 'Amsterdam', postal_code: '1018 TV', country: 'NL' },
      },
      notes: 'Churned: "too many semaphores". Win-back offer sent.',
    },
  ];
}

export function seedOrders(): Order[] {
  const o = (
    id: string,
    customer_id: string,
    status: Order['status'],
    items: OrderItem[],
    created_at: string,
    ship?: { carrier: string; tracking: string; eta: string },
  ): Order => ({
    id,
    customer_id,
    status,
    currency: 'USD',
    total_cents: items.reduce((n, i) => n + i.qty * i.unit_price_cents, 0),
    refunded_cents: 0,
    items,
    created_at,
    carrier: ship?.carrier ?? null,
    tracking_number: ship?.tracking ?? null,
    eta: ship?.eta ?? null,
    refunds: [],
  });
  return [
    o('ord_5001', 'cus_1001', 'delivered', [{ sku: 'ENT-SEAT', name: 'Enterprise seat (annual)', qty: 25, unit_price_cents: 48000 }], '2026-01-15T10:00:00Z', {
      carrier: 'digital',
      tracking: 'LIC-5001',
      eta: '2026-01-15',
    }),
    o('ord_5002', 'cus_1001', 'shipped', [{ sku: 'HW-GW-01', name: 'On-prem gateway appliance', qty: 2, unit_price_cents: 129900 }], '2026-10-28T12:30:00Z', {
      carrier: 'UPS',
      tracking: '1Z999AA10123456784',
      eta: '2026-11-27',
    }),
    o('ord_5003', 'cus_1002', 'processing', [{ sku: 'TEAM-SEAT', name: 'Team seat (monthly)', qty: 8, unit_price_cents: 2900 }], '2026-11-20T09:05:00Z'),
    o('ord_5004', 'cus_1003', 'delivered', [
      { sku: 'ENT-SEAT', name: 'Enterprise seat (annual)', qty: 10, unit_price_cents: 48000 },
      { sku: 'SUP-PREM', name: 'Premium support', qty: 1, unit_price_cents: 250000 },
    ], '2025-12-01T15:45:00Z', { carrier: 'digital', tracking: 'LIC-5004', eta: '2025-12-01' }),
    o('ord_5005', 'cus_1004', 'shipped', [{ sku: 'TRN-WKSHP', name: 'Onsite workshop (2 days)', qty: 1, unit_price_cents: 600000 }], '2026-11-02T08:00:00Z', {
      carrier: 'FedEx',
      tracking: '794644790132',
      eta: '2026-12-03',
    }),
    o('ord_5006', 'cus_1005', 'cancelled', [{ sku: 'TEAM-SEAT', name: 'Team seat (monthly)', qty: 3, unit_price_cents: 2900 }], '2025-06-30T11:11:00Z'),
  ];
}

export function seedIncidents(): Incident[] {
  return [
    {
      id: 'INC-2041',
      title: 'Report exports time out for EU tenants',
      severity: 'sev2',
      status: 'mitigated',
      started_at: '2026-11-18T07:42:00Z',
      services: ['exporter', 'postgres-eu-1'],
      timeline: [
        '07:42 alert: p95 export latency > 30s (eu-west)',
        '07:55 on-call identifies lock contention on reports_exports',
        '08:20 long-running VACUUM cancelled; latency recovers',
        '09:10 mitigation confirmed; follow-up: schedule maintenance window',
      ],
    },
    {
      id: 'INC-2042',
      title: 'Leaked customer API key in support chat',
      severity: 'sev1',
      status: 'open',
      started_at: '2026-11-21T13:05:00Z',
      services: ['support-desk', 'auth'],
      timeline: ['13:05 support agent reports a customer pasted a live key', '13:12 key revoked; audit of access logs in progress'],
    },
  ];
}

/** The mutable in-memory database of one demo server. */
export class DemoDb {
  customers: Customer[] = seedCustomers();
  orders: Order[] = seedOrders();
  incidents: Incident[] = seedIncidents();

  customer(id: string): Customer | undefined {
    return this.customers.find((c) => c.id === id);
  }

  order(id: string): Order | undefined {
    return this.orders.find((o) => o.id === id);
  }

  /** Flat rows for SQL: nested billing fields become billing_* columns. */
  table(name: string): Record<string, unknown>[] | undefined {
    if (name === 'customers') {
      return this.customers.map((c) => ({
        id: c.id,
        name: c.name,
        email: c.email,
        phone: c.phone,
        company: c.company,
        plan: c.plan,
        status: c.status,
        created_at: c.created_at,
        ssn: c.ssn,
        password: c.password,
        api_key: c.api_key,
        card_number: c.billing.card_number,
        iban: c.billing.iban,
      }));
    }
    if (name === 'orders') {
      return this.orders.map((o) => ({
        id: o.id,
        customer_id: o.customer_id,
        status: o.status,
        currency: o.currency,
        total_cents: o.total_cents,
        refunded_cents: o.refunded_cents,
        created_at: o.created_at,
        tracking_number: o.tracking_number,
      }));
    }
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------
// A deliberately tiny SQL evaluator for run_sql. Supports:
//   SELECT <*|col[, col…]|COUNT(*)> FROM <table> [WHERE <cond> [AND <cond>…]]
//          [ORDER BY <col> [ASC|DESC]] [LIMIT <n>]
//   DELETE FROM <table> [WHERE …]          (really deletes rows of the demo data)
//   UPDATE <table> SET col = <lit>[, …] [WHERE …]   (customers.status/plan, orders.status)
//   DROP TABLE <table>                       (empties it)
// where <cond> is `col <op> <literal>`, op in = != <> < <= > >= LIKE, literal a 'string'
// or a number. Anything else is rejected with an error.
// ---------------------------------------------------------------------------------------

export interface SqlResult {
  statement: 'select' | 'delete' | 'update' | 'drop';
  table: string;
  columns?: string[];
  rows?: Record<string, unknown>[];
  row_count: number;
}

type Cond = { col: string; op: string; value: string | number };

function parseLiteral(raw: string): string | number {
  const t = raw.trim();
  if (/^'.*'$/s.test(t)) return t.slice(1, -1).replace(/''/g, "'");
  if (/^-?\d+(\.\d+)?$/.test(t)) return Number(t);
  throw new Error(`unsupported literal: ${t}`);
}

function parseWhere(clause: string | undefined): Cond[] {
  if (!clause) return [];
  return clause.split(/\s+AND\s+/i).map((part) => {
    const m = /^\s*([a-z_][a-z0-9_]*)\s*(=|!=|<>|<=|>=|<|>|LIKE)\s*(.+?)\s*$/is.exec(part);
    if (!m) throw new Error(`unsupported condition: ${part.trim()}`);
    return { col: m[1]!.toLowerCase(), op: m[2]!.toUpperCase(), value: parseLiteral(m[3]!) };
  });
}

function likeToRegex(p: string): RegExp {
  const esc = p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/%/g, '.*').replace(/_/g, '.');
  return new RegExp(`^${esc}$`, 'i');
}

function matches(row: Record<string, unknown>, conds: Cond[]): boolean {
  return conds.every(({ col, op, value }) => {
    if (!(col in row)) throw new Error(`unknown column: ${col}`);
    const v = row[col];
    switch (op) {
      case '=':
        return v === value;
      case '!=':
      case '<>':
        return v !== value;
      case '<':
        return (v as number) < (value as number);
      case '<=':
        return (v as number) <= (value as number);
      case '>':
        return (v as number) > (value as number);
      case '>=':
        return (v as number) >= (value as number);
      case 'LIKE':
        return typeof v === 'string' && likeToRegex(String(value)).test(v);
      default:
        return false;
    }
  });
}

const UPDATABLE: Record<string, string[]> = { customers: ['status', 'plan', 'email', 'phone'], orders: ['status'] };

export function runSql(db: DemoDb, sql: string): SqlResult {
  const q = sql.trim().replace(/;\s*$/, '');
  if (q.includes(';')) throw new Error('multiple statements are not supported');

  let m = /^SELECT\s+(.+?)\s+FROM\s+([a-z_]+)(?:\s+WHERE\s+(.+?))?(?:\s+ORDER\s+BY\s+([a-z_]+)(?:\s+(ASC|DESC))?)?(?:\s+LIMIT\s+(\d+))?$/is.exec(q);
  if (m) {
    const table = m[2]!.toLowerCase();
    const rows = db.table(table);
    if (!rows) throw new Error(`no such table: ${table}`);
    let out = rows.filter((r) => matches(r, parseWhere(m![3])));
    if (m[4]) {
      const col = m[4].toLowerCase();
      const dir = (m[5] ?? 'ASC').toUpperCase() === 'DESC' ? -1 : 1;
      out = [...out].sort((a, b) => (String(a[col]) < String(b[col]) ? -dir : String(a[col]) > String(b[col]) ? dir : 0));
    }
    if (m[6]) out = out.slice(0, Number(m[6]));
    const sel = m[1]!.trim();
    if (/^COUNT\(\*\)$/i.test(sel)) return { statement: 'select', table, columns: ['count'], rows: [{ count: out.length }], row_count: 1 };
    const cols = sel === '*' ? Object.keys(rows[0] ?? {}) : sel.split(',').map((c) => c.trim().toLowerCase());
    for (const c of cols) if (rows[0] && !(c in rows[0])) throw new Error(`unknown column: ${c}`);
    const projected = out.map((r) => Object.fromEntries(cols.map((c) => [c, r[c]])));
    return { statement: 'select', table, columns: cols, rows: projected, row_count: projected.length };
  }

  m = /^DELETE\s+FROM\s+([a-z_]+)(?:\s+WHERE\s+(.+))?$/is.exec(q);
  if (m) {
    const table = m[1]!.toLowerCase();
    const rows = db.table(table);
    if (!rows) throw new Error(`no such table: ${table}`);
    const conds = parseWhere(m[2]);
    const doomed = new Set(rows.filter((r) => matches(r, conds)).map((r) => r.id as string));
    if (table === 'customers') db.customers = db.customers.filter((c) => !doomed.has(c.id));
    else db.orders = db.orders.filter((o) => !doomed.has(o.id));
    return { statement: 'delete', table, row_count: doomed.size };
  }

  m = /^UPDATE\s+([a-z_]+)\s+SET\s+(.+?)(?:\s+WHERE\s+(.+))?$/is.exec(q);
  if (m) {
    const table = m[1]!.toLowerCase();
    const rows = db.table(table);
    if (!rows) throw new Error(`no such table: ${table}`);
    const sets = m[2]!.split(',').map((s) => {
      const kv = /^\s*([a-z_]+)\s*=\s*(.+?)\s*$/is.exec(s);
      if (!kv) throw new Error(`unsupported SET clause: ${s.trim()}`);
      const col = kv[1]!.toLowerCase();
      if (!UPDATABLE[table]?.includes(col)) throw new Error(`column ${col} of ${table} is not updatable`);
      return [col, parseLiteral(kv[2]!)] as const;
    });
    const ids = new Set(rows.filter((r) => matches(r, parseWhere(m![3]))).map((r) => r.id as string));
    const target = (table === 'customers' ? db.customers : db.orders) as unknown as Record<string, unknown>[];
    for (const rec of target) {
      if (!ids.has(rec.id as string)) continue;
      for (const [col, v] of sets) rec[col] = v;
    }
    return { statement: 'update', table, row_count: ids.size };
  }

  m = /^DROP\s+TABLE\s+([a-z_]+)$/is.exec(q);
  if (m) {
    const table = m[1]!.toLowerCase();
    const rows = db.table(table);
    if (!rows) throw new Error(`no such table: ${table}`);
    if (table === 'customers') db.customers = [];
    else db.orders = [];
    return { statement: 'drop', table, row_count: rows.length };
  }

  throw new Error('unsupported statement (supported: SELECT, DELETE, UPDATE, DROP TABLE)');
}

/** Canned output for run_shell: nothing is executed. */
export function simulatedShell(command: string): { exit_code: number; stdout: string; stderr: string } {
  const cmd = command.trim();
  const first = cmd.split(/\s+/)[0] ?? '';
  const canned: Record<string, string> = {
    whoami: 'svc-backend\n',
    hostname: 'api-prod-7f9c4d-2\n',
    uptime: ' 14:02:11 up 37 days,  3:12,  0 users,  load average: 0.42, 0.38, 0.35\n',
    pwd: '/srv/acme-backend\n',
    ls: 'Dockerfile\nREADME.md\nconfig\nmigrations\nnode_modules\npackage.json\nsrc\n',
    df: 'Filesystem      Size  Used Avail Use% Mounted on\n/dev/nvme0n1p1  100G   61G   39G  62% /\n',
    ps: '  PID TTY          TIME CMD\n    1 ?        02:11:09 node\n   88 ?        00:00:03 pgbouncer\n',
    env: 'NODE_ENV=production\nDATABASE_URL=postgres://app:app-db-password@db.internal:5432/acme\nSTRIPE_SECRET=acme_live_redacted_in_demo\n',
    cat:
      cmd.includes('/etc/passwd')
        ? 'root:x:0:0:root:/root:/bin/bash\nsvc-backend:x:1001:1001::/srv/acme-backend:/usr/sbin/nologin\n'
        : `${cmd.slice(4)}: (simulated) file contents not available\n`,
  };
  if (first in canned) return { exit_code: 0, stdout: canned[first]!, stderr: '' };
  if (/^(rm|shutdown|reboot|mkfs|dd|kill)\b/.test(first)) {
    return { exit_code: 0, stdout: '', stderr: '(simulated) command accepted; nothing was executed\n' };
  }
  return { exit_code: 127, stdout: '', stderr: `(simulated) ${first}: command not found\n` };
}
