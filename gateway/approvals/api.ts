// The approvers' JSON API, a Hono sub-app mounted by gateway/app.ts:
//   GET  /api/approvals                 what I may decide, and my own open requests
//   GET  /api/approvals/:id             one request (with its history), if I requested it or could decide it
//   POST /api/approvals/:id/approve     {"comment"?: string}
//   POST /api/approvals/:id/deny        {"comment": string}   (a reason is required)
//   POST /api/approvals/:id/revoke      {"comment": string}   (before use)
//   POST /api/approvals/:id/cancel      {"comment"?: string}  (the requester)
// Callers present bearer tokens of the same issuers as MCP callers: a token is checked against
// the approval's target (audience), through the identity module's public face. Errors carry
// stable string codes (`{"error": {"code", "message"}}`) for the CLI and the page.
import { Hono, type Context } from 'hono';
import { GatewayError } from '../errors.ts';
import type { Authenticator, Identity } from '../identity/index.ts';
import { isObject } from '../json.ts';
import type { ApprovalFlow } from './flow.ts';
import type { ApprovalRecord, TransitionError } from './machine.ts';
import { personOf, type Approvals } from './service.ts';

export interface ApprovalApiDeps {
  approvals: Approvals;
  flow: ApprovalFlow;
  authenticator: Authenticator;
  targets: readonly string[];
  log: (message: string) => void;
}

const STATUS: Record<string, number> = {
  not_found: 404, unauthorized: 401, identity_unavailable: 503, state_unavailable: 503, bad_request: 400,
  self_approval: 403, not_eligible: 403, policy_refused: 403, not_allowed: 403,
  already_voted: 409, not_pending: 409, not_approved: 409, not_executing: 409, expired: 409, not_yet_expired: 409, busy: 409,
  comment_required: 400,
};

const MESSAGES: Record<string, string> = {
  self_approval: 'nobody approves their own request',
  not_eligible: 'you are in none of the groups that may approve this request',
  policy_refused: 'the policy does not let you decide this request',
  already_voted: 'you have already voted on this request',
  not_pending: 'this request is no longer waiting for a decision',
  not_approved: 'this request is not approved (nothing to revoke)',
  expired: 'this request has expired',
  comment_required: 'a comment (the reason) is required',
  not_allowed: 'you may not do this to this request',
  not_found: 'no such approval request',
  busy: 'the request kept changing; try again',
};

function fail(code: string, message = MESSAGES[code] ?? code, extra: Record<string, unknown> = {}, headers: Record<string, string> = {}): Response {
  return Response.json({ error: { code, message, ...extra } }, { status: STATUS[code] ?? 400, headers: { 'cache-control': 'no-store', ...headers } });
}

function authFailure(err: GatewayError): Response {
  const code = err.status === 503 ? 'identity_unavailable' : 'unauthorized';
  return fail(code, err.message, {}, { ...err.headers });
}

export function approvalRoutes(deps: ApprovalApiDeps): Hono {
  const { approvals } = deps;
  const app = new Hono();

  /** The caller, authenticated for `target` (an approval's), or the failure to answer. */
  async function who(c: Context, target: string): Promise<Identity | Response> {
    try {
      return await deps.authenticator.authenticate(c.req.raw, target);
    } catch (err) {
      if (err instanceof GatewayError) return authFailure(err);
      throw err;
    }
  }

  /** Whoever may see a request (Approvals.maySee); others get 404. */
  const maySee = (record: ApprovalRecord, id: Identity) => approvals.maySee(record, id);

  function view(record: ApprovalRecord, id: Identity) {
    const refused = approvals.mayDecide(record, id);
    return { ...approvals.view(record), url: deps.flow.pageUrl(record.id), may_decide: refused === null, ...(refused ? { why_not: refused, why_not_message: MESSAGES[refused] ?? refused } : {}) };
  }

  async function loaded(c: Context): Promise<{ record: ApprovalRecord; id: Identity } | Response> {
    const record = await approvals.store.get(c.req.param('id') ?? '');
    // Authenticate before answering anything about the record: an unknown id and a record the
    // caller may not see look the same.
    if (record === undefined) {
      const probe = await who(c, deps.targets[0] ?? '');
      return probe instanceof Response ? probe : fail('not_found');
    }
    const id = await who(c, record.target);
    if (id instanceof Response) return id;
    if (!maySee(record, id)) return fail('not_found');
    return { record, id };
  }

  app.onError((err) => {
    deps.log(`approvals API: ${(err as Error).message}`);
    return fail('state_unavailable', 'the approval store cannot be reached; nothing was changed');
  });

  app.get('/api/approvals', async (c) => {
    let identity: Identity | undefined;
    const usable: string[] = [];
    let failure: Response | undefined;
    for (const target of deps.targets) {
      const id = await who(c, target);
      if (id instanceof Response) failure ??= id;
      else { identity = id; usable.push(target); }
    }
    if (identity === undefined) return failure ?? fail('unauthorized', 'no bearer token valid for any target');
    const open = (await approvals.store.listOpen(500)).filter((r) => usable.includes(r.target));
    const settled = await Promise.all(open.map((r) => approvals.settle(r)));
    const me = identity;
    return c.json({
      decide: settled.filter((r) => r.state === 'pending' && approvals.mayDecide(r, me) === null).map((r) => view(r, me)),
      mine: settled.filter((r) => r.requester.principal === me.principal && (r.state === 'pending' || r.state === 'approved')).map((r) => view(r, me)),
    });
  });

  app.get('/api/approvals/:id', async (c) => {
    const got = await loaded(c);
    if (got instanceof Response) return got;
    const record = await approvals.settle(got.record);
    return c.json({ ...view(record, got.id), history: await approvals.store.history(record.id) });
  });

  async function comment(c: Context): Promise<string | Response> {
    const text = await c.req.text();
    if (text.trim() === '') return '';
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      return fail('bad_request', 'the body must be JSON: {"comment": "..."}');
    }
    if (!isObject(body) || (body.comment !== undefined && typeof body.comment !== 'string')) return fail('bad_request', 'the body must be {"comment": "..."}');
    const value = (body.comment as string | undefined) ?? '';
    if (value.length > 4000) return fail('bad_request', 'the comment is longer than 4000 characters');
    return value;
  }

  const answer = (out: { ok: true; value: ApprovalRecord } | { ok: false; error: TransitionError | 'not_found' | 'busy' }, id: Identity, extra: Record<string, unknown> = {}) =>
    out.ok ? Response.json(view(out.value, id)) : fail(out.error, undefined, extra);

  for (const decision of ['approve', 'deny'] as const) {
    app.post(`/api/approvals/:id/${decision}`, async (c) => {
      const got = await loaded(c);
      if (got instanceof Response) return got;
      const text = await comment(c);
      if (text instanceof Response) return text;
      const out = await approvals.vote(got.record.id, got.id, decision, text, 'api');
      const policy = !out.ok && out.error === 'policy_refused' && out.policy ? { reasons: out.policy.reasons, rule_ids: out.policy.ruleIds } : {};
      return answer(out, got.id, policy);
    });
  }
  for (const type of ['revoke', 'cancel'] as const) {
    app.post(`/api/approvals/:id/${type}`, async (c) => {
      const got = await loaded(c);
      if (got instanceof Response) return got;
      const text = await comment(c);
      if (text instanceof Response) return text;
      return answer(await approvals.apply(got.record.id, { type, by: personOf(got.id), comment: text }), got.id);
    });
  }
  return app;
}
