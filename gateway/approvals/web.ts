// The approvers' web page (`/approvals`, `/approvals/<id>`): server-rendered HTML (Hono's `html`
// helper escapes every interpolated value), no script at all, a strict CSP, CSRF tokens on every
// form plus an Origin check, and an OIDC login (authorization code + PKCE, openid-client) against
// one of the configured issuers. The session is an AEAD-sealed cookie holding the approver's
// subject as the identity module maps it; votes go through the same workflow as the API, channel
// "page". Everything the requester, the model or the upstream controls is shown escaped and whole.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { Hono, type Context } from 'hono';
import { getCookie, setCookie, deleteCookie } from 'hono/cookie';
import { html } from 'hono/html';
import * as oidc from 'openid-client';
import { claimMapping, identityOf, subjectFromClaims, type IssuerConfig } from '../identity/index.ts';
import type { Subject } from '../policy/input.ts';
import type { ApprovalFlow } from './flow.ts';
import type { ApprovalRecord } from './machine.ts';
import type { Sealer } from './seal.ts';
import type { Approvals } from './service.ts';

export interface ApprovalWebDeps {
  approvals: Approvals;
  flow: ApprovalFlow;
  sealer: Sealer;
  /** The page's public base URL (redirect URI: `<base>/approvals/callback`). */
  baseUrl: string;
  issuer: IssuerConfig;
  clientId: string;
  clientSecret: string;
  sessionSeconds: number;
  log: (message: string) => void;
}

const CSP = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
const ID = /^apv_[0-9a-f]{32}_[A-Za-z0-9_-]{16,32}$/;
const SESSION = 'portcullis_approver';
const LOGIN = 'portcullis_login';

const STYLE = `
body{font:15px/1.45 system-ui,sans-serif;margin:0;color:#1b1f24;background:#f5f6f8}
header{background:#14213d;color:#fff;padding:.7em 1.5em;display:flex;justify-content:space-between;align-items:center}
header a{color:#fff}main{max-width:72em;margin:1.5em auto;padding:0 1.5em}
table{border-collapse:collapse;width:100%;background:#fff}th,td{text-align:left;padding:.45em .7em;border-bottom:1px solid #dde1e6;vertical-align:top}
pre{background:#0f172a;color:#e2e8f0;padding:1em;overflow-x:auto;white-space:pre-wrap;word-break:break-all}
.card{background:#fff;border:1px solid #dde1e6;border-radius:6px;padding:1em 1.3em;margin-bottom:1em}
.state{font-weight:600;text-transform:uppercase;font-size:.85em;padding:.1em .5em;border-radius:3px;background:#e2e8f0}
.pending{background:#fde68a}.approved,.executed{background:#bbf7d0}.denied,.expired,.revoked,.failed{background:#fecaca}
.error{background:#fee2e2;border-color:#fca5a5}.ok{background:#dcfce7;border-color:#86efac}
textarea{width:100%;min-height:4em}button{padding:.5em 1.2em;margin-right:.5em}.deny{background:#b91c1c;color:#fff}.approve{background:#15803d;color:#fff}
dt{font-weight:600}dd{margin:0 0 .6em 0}code{word-break:break-all}`;

const MESSAGES: Record<string, string> = {
  approved: 'Your vote was recorded.', denied: 'The request was denied.',
  self_approval: 'Nobody approves their own request.', not_eligible: 'You are in none of the groups that may approve this request.',
  policy_refused: 'The policy does not let you decide this request.', already_voted: 'You have already voted on this request.',
  not_pending: 'This request is no longer waiting for a decision.', expired: 'This request has expired.',
  comment_required: 'A comment (the reason) is required to deny.', csrf: 'The form expired or did not come from this page; try again.',
  not_allowed: 'You may not do this.', not_found: 'No such approval request.', busy: 'The request kept changing; try again.',
};

interface Session { subject: Subject; exp: number; csrf: string }
/** A session's subject and CSRF token. */
export type SignedIn = Pick<Session, 'subject' | 'csrf'>;
interface Login { verifier: string; state: string; nonce: string; next: string; exp: number }

/** `/sessions/<one percent-encoded segment>`: unreserved characters and %XX only, so no `/`, `\\`, `//` or query. */
const SESSION_PAGE = /^\/sessions\/((?:[A-Za-z0-9._~-]|%[0-9A-Fa-f]{2}){1,1024})$/;

/**
 * Where a sign-in may return to: this page, or another page on the same login (recordings'
 * /sessions, /sessions/<recording id percent-encoded>). Always a path of this origin: anything
 * else (`//host`, `/\\host`, `..` segments, a scheme) falls back to /approvals.
 */
export function safeNext(next: string | undefined): string {
  if (next === undefined) return '/approvals';
  if (/^\/(approvals|sessions)(\/[A-Za-z0-9_-]*)?$/.test(next)) return next;
  const segment = SESSION_PAGE.exec(next)?.[1];
  if (segment === undefined) return '/approvals';
  let id: string;
  try {
    id = decodeURIComponent(segment);
  } catch {
    return '/approvals';
  }
  // A dot segment (`.`, `..`, or %2e spellings) would be resolved by the browser to another path.
  return /^\.{1,2}$/.test(id) ? '/approvals' : next;
}

/**
 * The person signed in on this page's login, for other pages on the same login (recordings'
 * /sessions): their subject and the CSRF token of their session; undefined when not signed in.
 */
export function approverSession(sealer: Sealer, c: Context): SignedIn | undefined {
  const sealed = getCookie(c, SESSION);
  if (!sealed) return undefined;
  try {
    const s = sealer.open('session', sealed) as Session;
    return s.exp > Date.now() ? { subject: s.subject, csrf: s.csrf } : undefined;
  } catch {
    return undefined;
  }
}

function layout(title: string, who: Subject | undefined, csrf: string | undefined, body: unknown) {
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · Portcullis approvals</title><link rel="stylesheet" href="/approvals/assets/style.css"></head>
<body><header><a href="/approvals"><strong>Portcullis</strong> approvals</a>
${who ? html`<form method="post" action="/approvals/logout"><input type="hidden" name="csrf" value="${csrf}">${who.email || who.sub} (${who.issuer}) <button type="submit">Sign out</button></form>` : ''}
</header><main>${body}</main></body></html>`;
}

export function approvalWeb(deps: ApprovalWebDeps): Hono {
  const app = new Hono();
  const { approvals } = deps;
  const base = deps.baseUrl.replace(/\/+$/, '');
  const origin = new URL(base).origin;
  const secure = base.startsWith('https:');
  const redirectUri = `${base}/approvals/callback`;
  const mapping = claimMapping(deps.issuer);
  let configuration: Promise<oidc.Configuration> | undefined;
  const discover = () => {
    configuration ??= oidc.discovery(new URL(deps.issuer.issuer), deps.clientId, deps.clientSecret, undefined, {
      // Plain http only for a loopback development issuer, as the identity module allows.
      ...(/^http:\/\/(127\.|localhost[:/]|\[::1\])/.test(deps.issuer.issuer) ? { execute: [oidc.allowInsecureRequests] } : {}),
    }).catch((err: unknown) => { configuration = undefined; throw err; });
    return configuration;
  };
  // Path `/`: the recordings' pages (/sessions) are on the same login.
  const cookie = { httpOnly: true, secure, sameSite: 'Lax' as const, path: '/' };
  /** Before the move to `/`, the session cookie had Path=/approvals: browsers keep it and send it first there. */
  const legacyCookie = { ...cookie, path: '/approvals' };

  const session = (c: Context): SignedIn | undefined => approverSession(deps.sealer, c);
  const secureHeaders = (c: Context) => {
    c.header('content-security-policy', CSP);
    c.header('x-content-type-options', 'nosniff');
    // same-origin, not no-referrer: with no-referrer, browsers send `Origin: null` on the page's
    // own form posts, which the Origin check below must refuse.
    c.header('referrer-policy', 'same-origin');
    c.header('cache-control', 'no-store');
    c.header('x-frame-options', 'DENY');
  };
  const toLogin = (c: Context) => c.redirect(`/approvals/login?next=${encodeURIComponent(safeNext(c.req.path))}`, 303);

  app.get('/approvals/assets/style.css', (c) => {
    c.header('content-type', 'text/css; charset=utf-8');
    c.header('cache-control', 'public, max-age=300');
    c.header('x-content-type-options', 'nosniff');
    return c.body(STYLE);
  });

  app.get('/approvals/login', async (c) => {
    secureHeaders(c);
    let config: oidc.Configuration;
    try {
      config = await discover();
    } catch (err) {
      deps.log(`approvals page: cannot reach ${deps.issuer.issuer}: ${(err as Error).message}`);
      return c.html(layout('Sign-in unavailable', undefined, undefined, html`<div class="card error">The identity provider cannot be reached; try again shortly.</div>`), 503);
    }
    const verifier = oidc.randomPKCECodeVerifier();
    const login: Login = { verifier, state: oidc.randomState(), nonce: oidc.randomNonce(), next: safeNext(c.req.query('next')), exp: Date.now() + 10 * 60_000 };
    setCookie(c, LOGIN, deps.sealer.seal('login', login), { ...cookie, maxAge: 600 });
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: redirectUri, scope: 'openid profile', state: login.state, nonce: login.nonce,
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
    });
    return c.redirect(url.href, 303);
  });

  app.get('/approvals/callback', async (c) => {
    secureHeaders(c);
    const sealed = getCookie(c, LOGIN);
    deleteCookie(c, LOGIN, cookie);
    let login: Login;
    try {
      login = deps.sealer.open('login', sealed ?? '') as Login;
      if (login.exp < Date.now()) throw new Error('expired');
    } catch {
      return c.html(layout('Sign-in failed', undefined, undefined, html`<div class="card error">The sign-in expired or was not started here. <a href="/approvals/login">Sign in again</a>.</div>`), 400);
    }
    try {
      const config = await discover();
      const tokens = await oidc.authorizationCodeGrant(config, new URL(`${redirectUri}${new URL(c.req.url).search}`), { pkceCodeVerifier: login.verifier, expectedState: login.state, expectedNonce: login.nonce, idTokenExpected: true });
      const claims = tokens.claims();
      if (!claims) throw new Error('no ID token');
      const subject = { ...subjectFromClaims(claims as Record<string, unknown>, mapping), authenticated: true };
      const s: Session = { subject, exp: Date.now() + deps.sessionSeconds * 1000, csrf: randomBytes(24).toString('base64url') };
      deleteCookie(c, SESSION, legacyCookie);
      setCookie(c, SESSION, deps.sealer.seal('session', s), { ...cookie, maxAge: deps.sessionSeconds });
      return c.redirect(login.next, 303);
    } catch (err) {
      deps.log(`approvals page: sign-in refused: ${(err as Error).message}`);
      return c.html(layout('Sign-in failed', undefined, undefined, html`<div class="card error">The sign-in was refused by this gateway. <a href="/approvals/login">Sign in again</a>.</div>`), 400);
    }
  });

  const checkForm = async (c: Context, s: SignedIn): Promise<Record<string, string> | undefined> => {
    const from = c.req.header('origin');
    if (from !== undefined && from !== origin) return undefined;
    const form = await c.req.parseBody();
    const csrf = typeof form.csrf === 'string' ? Buffer.from(form.csrf) : Buffer.alloc(0);
    const expected = Buffer.from(s.csrf);
    if (csrf.length !== expected.length || !timingSafeEqual(csrf, expected)) return undefined;
    return Object.fromEntries(Object.entries(form).filter(([, v]) => typeof v === 'string')) as Record<string, string>;
  };

  app.post('/approvals/logout', async (c) => {
    const s = session(c);
    if (s && (await checkForm(c, s))) {
      // Both: a pre-upgrade Path=/approvals cookie would otherwise keep the session alive there.
      deleteCookie(c, SESSION, cookie);
      deleteCookie(c, SESSION, legacyCookie);
    }
    return c.redirect('/approvals', 303);
  });

  app.get('/approvals', async (c) => {
    secureHeaders(c);
    const s = session(c);
    if (!s) return toLogin(c);
    const me = identityOf(s.subject);
    const open = await Promise.all((await approvals.store.listOpen(500)).map((r) => approvals.settle(r)));
    const mine = open.filter((r) => r.state === 'pending' && approvals.mayDecide(r, me) === null);
    const rows = mine.map((r) => html`<tr><td><a href="/approvals/${r.id}">${r.name}</a></td><td>${r.target}</td><td>${r.requester.name} <small>(${r.requester.sub})</small></td><td>${r.reason}</td><td>${approvals.view(r).timeLeftSeconds} s</td><td><code>${r.fingerprint}</code></td></tr>`);
    return c.html(layout('Inbox', s.subject, s.csrf, html`<h1>Requests you may decide (${mine.length})</h1>
${mine.length === 0 ? html`<p>Nothing is waiting for you.</p>` : html`<table><thead><tr><th>tool</th><th>target</th><th>requester</th><th>reason</th><th>time left</th><th>fingerprint</th></tr></thead><tbody>${rows}</tbody></table>`}`));
  });

  function detail(record: ApprovalRecord, s: SignedIn, notice: string | undefined, history: unknown[]) {
    const me = identityOf(s.subject);
    const view = approvals.view(record);
    const refused = approvals.mayDecide(record, me);
    const names = new Map(record.votes.map((v) => [v.by.principal, v.by.name]));
    const args = JSON.stringify(record.maskedArguments, null, 2);
    const noticeClass = notice === 'approved' || notice === 'denied' ? 'ok' : 'error';
    return layout(`${record.name} on ${record.target}`, s.subject, s.csrf, html`
${notice && MESSAGES[notice] ? html`<div class="card ${noticeClass}">${MESSAGES[notice]}</div>` : ''}
<h1><code>${record.name}</code> on <code>${record.target}</code> <span class="state ${record.state}">${record.state}</span></h1>
<div class="card"><dl>
<dt>Requester</dt><dd>${record.requester.name} · subject <code>${record.requester.sub}</code> at <code>${record.requester.issuer}</code> · groups ${record.requester.groups.join(', ') || 'none'} · client <code>${record.requester.clientId || 'none'}</code></dd>
<dt>Why approval is needed</dt><dd>${record.reason || '(no reason given)'}<br>policy: ${record.reasons.join('; ')} · rules <code>${record.ruleIds.join(', ')}</code> · bundle revision <code>${record.revision}</code></dd>
<dt>Fingerprint</dt><dd><code>${record.fingerprint}</code> (the same on every channel: compare it with what you were sent)</dd>
<dt>Time left</dt><dd>${view.timeLeftSeconds} s · scope ${record.scope}${record.scope === 'window' ? ` (${record.windowSeconds} s)` : ''}</dd>
</dl></div>
<h2>Arguments (as they will run; masked values are marked)</h2>
<pre>${args}</pre>
<h2>Approvals needed</h2>
<table><thead><tr><th>gate</th><th>who may approve</th><th>approved by</th><th>missing</th></tr></thead><tbody>
${view.progress.map((g) => html`<tr><td>${g.name}</td><td>${g.count} of ${g.groups.join(', ')}</td><td>${g.filledBy.map((p) => names.get(p) ?? p).join(', ') || '—'}</td><td>${g.missing}</td></tr>`)}
</tbody></table>
${record.votes.length > 0 ? html`<h2>Votes</h2><table><tbody>${record.votes.map((v) => html`<tr><td>${v.decision}</td><td>${v.by.name} <small>(${v.by.sub})</small></td><td>${new Date(v.at).toISOString()}</td><td>${v.comment}</td></tr>`)}</tbody></table>` : ''}
${refused === null ? html`<h2>Your decision</h2>
<form method="post" action="/approvals/${record.id}/vote" class="card">
<input type="hidden" name="csrf" value="${s.csrf}">
<label for="comment">Comment (required to deny)</label><textarea id="comment" name="comment" maxlength="4000"></textarea>
<p><button class="approve" type="submit" name="decision" value="approve">Approve</button><button class="deny" type="submit" name="decision" value="deny">Deny</button></p>
</form>` : html`<div class="card">You cannot decide this request: ${MESSAGES[refused] ?? refused}</div>`}
<h2>History</h2><table><tbody>${(history as { type: string; at: number; from: string; to: string }[]).map((e) => html`<tr><td>${new Date(e.at).toISOString()}</td><td>${e.type}</td><td>${e.from} → ${e.to}</td></tr>`)}</tbody></table>`);
  }

  app.get('/approvals/:id', async (c) => {
    secureHeaders(c);
    const id = c.req.param('id');
    const s = session(c);
    if (!s) return toLogin(c);
    const found = ID.test(id) ? await approvals.store.get(id) : undefined;
    const me = identityOf(s.subject);
    // Only its requester and people in its gates see a request: anyone else, as for the API, gets "not found".
    if (found === undefined || !approvals.maySee(found, me)) {
      return c.html(layout('Not found', s.subject, s.csrf, html`<div class="card error">${MESSAGES.not_found}</div>`), 404);
    }
    const record = await approvals.settle(found);
    return c.html(detail(record, s, c.req.query('notice'), await approvals.store.history(record.id)));
  });

  app.post('/approvals/:id/vote', async (c) => {
    const id = c.req.param('id');
    const s = session(c);
    if (!s) return toLogin(c);
    const form = await checkForm(c, s);
    if (!form) return c.redirect(`/approvals/${ID.test(id) ? id : ''}?notice=csrf`, 303);
    const decision = form.decision === 'deny' ? 'deny' : form.decision === 'approve' ? 'approve' : undefined;
    if (!decision || !ID.test(id)) return c.text('Bad Request', 400);
    const out = await approvals.vote(id, identityOf(s.subject), decision, (form.comment ?? '').slice(0, 4000), 'page');
    const notice = out.ok ? (out.value.state === 'denied' ? 'denied' : 'approved') : out.error;
    return c.redirect(`/approvals/${id}?notice=${encodeURIComponent(notice)}`, 303);
  });
  return app;
}
