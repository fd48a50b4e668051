// `/approvals/:id`: where the URL-mode elicitation and the -32055 errors point. Until the
// approvers' web page (OIDC login, decisions) is built, this page shows nothing about the request
// (it is served without login, so it must not: MCP's URL elicitation rules say the same) and says
// how approvers decide it: the API or the CLI. Strict CSP, no script, the id escaped by Hono's
// `html` helper and validated first.
import { Hono } from 'hono';
import { html } from 'hono/html';

const CSP = "default-src 'none'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'";
const ID = /^apv_[0-9a-f]{32}_[A-Za-z0-9_-]{16,32}$/;

export function approvalPage(): Hono {
  const app = new Hono();
  app.get('/approvals/:id', (c) => {
    const id = c.req.param('id');
    c.header('content-security-policy', CSP);
    c.header('x-content-type-options', 'nosniff');
    c.header('referrer-policy', 'no-referrer');
    c.header('cache-control', 'no-store');
    if (!ID.test(id)) return c.html(html`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Not found</title></head><body><h1>No such approval request</h1></body></html>`, 404);
    return c.html(html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Approval request ${id}</title></head>
<body>
<h1>This call is waiting for approval</h1>
<p>Request <code>${id}</code>. Approvers decide it with their own credentials; this page shows no details of the call.</p>
<p>Command line: <code>portcullis approvals show ${id}</code>, then <code>portcullis approvals approve ${id}</code> or <code>portcullis approvals deny ${id} --comment "why"</code>.</p>
<p>API: <code>GET /api/approvals/${id}</code> with a bearer token, then <code>POST /api/approvals/${id}/approve</code> or <code>/deny</code>.</p>
<p>The caller's client continues on its own once the request is decided.</p>
</body></html>`);
  });
  return app;
}
