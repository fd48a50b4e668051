// The auditors' web page (`/sessions`, `/sessions/<recording>`), on the approvals page's OIDC
// login (its sealed session cookie, read through approverSession): a recording as a timeline of
// messages with their decisions, masked values shown as the markers they are, and a link to each
// message's trace. Server-rendered, no script, the approvals page's strict CSP; every value
// (messages are attacker-influenced) goes through Hono's escaping `html` helper.
import { Hono, type Context } from 'hono';
import { html } from 'hono/html';
import type { Subject } from '../policy/input.ts';
import type { RecordedMessage, RecordingReader, RecordingSummary } from './entry.ts';
import { guarded, isAuditor, listOptions, readOptions, StoreUnavailable } from './api.ts';
import { RECORDING_ID } from './ids.ts';

export interface RecordingWebDeps {
  reader: RecordingReader;
  /** Who is signed in on the approvals page's login (subject and CSRF token), if anyone. */
  signedIn: (c: Context) => { subject: Subject; csrf: string } | undefined;
  auditorGroups: readonly string[];
  /** `{trace_id}` is replaced by a message's trace id. */
  traceUrl?: string | undefined;
  log: (message: string) => void;
}

const CSP = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
const TRACE_ID = /^(?!0{32})[0-9a-f]{32}$/;
/**
 * What the masking engine writes in place of a value (gateway/masking: `[MASKED:<class>…]`). An
 * upstream can write the same text: a highlighted marker proves nothing about who wrote it.
 */
const MARKER = /\[MASKED:[^\]\n]{1,200}\]/g;

const STYLE = `
.timeline td{font-size:.92em}.timeline pre{margin:.4em 0 0;max-height:28em;overflow:auto}
.dir{white-space:nowrap;font-weight:600}.c2s{color:#1d4ed8}.s2c{color:#15803d}
mark.masked{background:#fde68a;color:#1b1f24;padding:0 .15em;border-radius:2px}
.outcome{font-weight:600;text-transform:uppercase;font-size:.8em;padding:.05em .4em;border-radius:3px;background:#e2e8f0}
.outcome-allow{background:#bbf7d0}.outcome-deny,.outcome-error{background:#fecaca}small{color:#4b5563}`;

/** The JSON with each marker wrapped in <mark>; everything else escaped as text. */
function withMarkers(json: string) {
  const parts: unknown[] = [];
  let last = 0;
  for (const m of json.matchAll(MARKER)) {
    parts.push(json.slice(last, m.index));
    parts.push(html`<mark class="masked">${m[0]}</mark>`);
    last = m.index + m[0].length;
  }
  parts.push(json.slice(last));
  return parts;
}

const when = (ms: number) => new Date(ms).toISOString();

export function recordingWeb(deps: RecordingWebDeps): Hono {
  const app = new Hono();

  const layout = (title: string, who: { subject: Subject; csrf: string } | undefined, body: unknown) => html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · Portcullis sessions</title><link rel="stylesheet" href="/approvals/assets/style.css"><link rel="stylesheet" href="/sessions-assets/style.css"></head>
<body><header><a href="/sessions"><strong>Portcullis</strong> sessions</a>
${who ? html`<form method="post" action="/approvals/logout"><input type="hidden" name="csrf" value="${who.csrf}">${who.subject.email || who.subject.sub} (${who.subject.issuer}) <button type="submit">Sign out</button></form>` : ''}
</header><main>${body}</main></body></html>`;

  const secureHeaders = (c: Context) => {
    c.header('content-security-policy', CSP);
    c.header('x-content-type-options', 'nosniff');
    c.header('referrer-policy', 'same-origin');
    c.header('cache-control', 'no-store');
    c.header('x-frame-options', 'DENY');
  };

  /** The signed-in auditor, or the answer: the login, or 403 for someone outside the auditor groups. */
  const auditor = async (c: Context): Promise<Response | { subject: Subject; csrf: string }> => {
    const who = deps.signedIn(c);
    // The path as sent (percent-encoded), which the login's safeNext accepts for /sessions/<id>.
    if (!who) return c.redirect(`/approvals/login?next=${encodeURIComponent(new URL(c.req.url).pathname)}`, 303);
    if (!isAuditor(who.subject, deps.auditorGroups)) {
      return await c.html(layout('Not allowed', who, html`<div class="card error">Reading recordings needs membership of one of the auditor groups.</div>`), 403);
    }
    return who;
  };

  const reader = guarded(deps.reader);
  app.onError((err, c) => {
    deps.log(`recordings page: ${err.message}`);
    secureHeaders(c);
    // Only the store's failures say so: a rendering bug must not send operators after Redis.
    if (err instanceof StoreUnavailable) return c.html(layout('Unavailable', undefined, html`<div class="card error">The recordings store cannot be reached; try again shortly.</div>`), 503);
    return c.html(layout('Error', undefined, html`<div class="card error">This page could not be shown (a gateway error, logged).</div>`), 500);
  });

  app.get('/sessions-assets/style.css', (c) => {
    c.header('content-type', 'text/css; charset=utf-8');
    c.header('cache-control', 'public, max-age=300');
    c.header('x-content-type-options', 'nosniff');
    return c.body(STYLE);
  });

  app.get('/sessions', async (c) => {
    secureHeaders(c);
    const who = await auditor(c);
    if (who instanceof Response) return who;
    const options = listOptions(c.req.query('since'), c.req.query('limit'), c.req.query('session_id'));
    const sessions = await reader.list(typeof options === 'string' ? {} : options);
    const row = (s: RecordingSummary) => html`<tr><td><a href="/sessions/${encodeURIComponent(s.recording)}"><code>${s.recording}</code></a></td><td>${s.target}</td><td>${s.era}</td><td><code>${s.principal}</code></td><td>${s.messages}</td><td>${when(s.firstTime)}</td><td>${when(s.lastTime)}</td></tr>`;
    return c.html(layout('Recordings', who, html`<h1>Recordings (${sessions.length})</h1>
${sessions.length === 0 ? html`<p>Nothing recorded yet (or all past retention).</p>` : html`<table><thead><tr><th>recording</th><th>target</th><th>era</th><th>principal</th><th>messages</th><th>first</th><th>last</th></tr></thead><tbody>${sessions.map(row)}</tbody></table>`}`));
  });

  const traceLink = (m: RecordedMessage) => {
    if (!TRACE_ID.test(m.traceId)) return html`<small>no trace</small>`;
    if (deps.traceUrl === undefined) return html`<small>trace <code>${m.traceId}</code></small>`;
    return html`<a class="trace" href="${deps.traceUrl.replace('{trace_id}', m.traceId)}" rel="noreferrer noopener" target="_blank">trace ${m.traceId.slice(0, 8)}…</a>`;
  };

  const decisionCell = (m: RecordedMessage) => {
    const d = m.decision;
    if (!d) return html`<small>no decision</small>`;
    const masked = Object.entries(d.masked).map(([cls, n]) => `${cls}: ${n}`).join(', ');
    return html`<span class="outcome outcome-${d.outcome}">${d.outcome}</span>${d.approvalRequired ? ' (approval required)' : ''}<br>
<small>rules <code>${d.ruleIds.join(', ') || 'none'}</code>${d.reasons.length ? html` · ${d.reasons.join('; ')}` : ''}${masked ? html` · masked ${masked}` : ''} · decision <code>${d.id}</code></small>
${m.approval ? html`<br><small>approval <code>${m.approval.id}</code> ${m.approval.state} by ${m.approval.approvers.join(', ') || 'nobody'} after ${m.approval.waitMs} ms</small>` : ''}`;
  };

  app.get('/sessions/:recording{.+}', async (c) => {
    secureHeaders(c);
    const who = await auditor(c);
    if (who instanceof Response) return who;
    const id = c.req.param('recording');
    const options = readOptions(c.req.query('after'), c.req.query('limit'));
    if (typeof options === 'string') return c.html(layout('Bad request', who, html`<div class="card error">${options}</div>`), 400);
    const found = RECORDING_ID.test(id) ? await reader.read(id, options) : undefined;
    if (found === undefined) return c.html(layout('Not found', who, html`<div class="card error">No such recording (never recorded, or past retention).</div>`), 404);
    const { session, messages, next } = found;
    const start = messages[0]?.time ?? session.firstTime;
    const rows = messages.map((m, i) => html`<tr class="message" id="m${i + 1}">
<td>${i + 1}</td><td>+${((m.time - start) / 1000).toFixed(3)} s${m.durationMs !== undefined ? html`<br><small>took ${m.durationMs} ms</small>` : ''}${m.oversizeBytes !== undefined ? html`<br><small>too large: ${m.oversizeBytes} bytes, not recorded</small>` : ''}</td>
<td class="dir ${m.direction === 'client_to_server' ? 'c2s' : 's2c'}">${m.direction === 'client_to_server' ? 'client → server' : 'server → client'}<br><small>from ${m.origin}</small></td>
<td><code>${m.method || '(response)'}</code>${m.name ? html` <code>${m.name}</code>` : ''}<br><small>${m.kind}${m.rpcId !== undefined && m.rpcId !== null ? html` · id <code>${String(m.rpcId)}</code>` : ''}</small></td>
<td>${decisionCell(m)}</td><td>${traceLink(m)}</td></tr>
<tr class="body"><td></td><td colspan="5"><pre>${withMarkers(JSON.stringify(m.message, null, 2))}</pre></td></tr>`);
    return c.html(layout(`Recording ${session.recording}`, who, html`<h1>Recording <code>${session.recording}</code></h1>
<div class="card"><dl>
<dt>Target</dt><dd>${session.target} (${session.era}${session.sessionId ? html`, session <code>${session.sessionId}</code>` : ''})</dd>
<dt>Principal</dt><dd><code>${session.principal}</code></dd>
<dt>Messages</dt><dd>${session.messages}, ${when(session.firstTime)} to ${when(session.lastTime)}</dd>
</dl></div>
${options.after !== undefined ? html`<p><a href="/sessions/${encodeURIComponent(session.recording)}">First page</a></p>` : ''}
<table class="timeline"><thead><tr><th>#</th><th>time</th><th>direction</th><th>message</th><th>decision</th><th>trace</th></tr></thead><tbody>${rows}</tbody></table>
${next !== undefined ? html`<p><a class="next" href="/sessions/${encodeURIComponent(session.recording)}?after=${encodeURIComponent(next)}${options.limit !== undefined ? `&limit=${options.limit}` : ''}">Next page</a></p>` : ''}`));
  });
  return app;
}
