// The auditors' JSON API, a Hono sub-app mounted by gateway/app.ts (shapes: entry.ts):
//   GET /api/sessions[?since=<ms>&limit=<n>&session_id=<id>]   recordings, newest first
//   GET /api/sessions/<recording>[?after=<cursor>&limit=<n>]   a page of one recording's messages
//                                                              (the id percent-encoded; follow `next`)
// Callers present bearer tokens of the same issuers as MCP callers (valid for any target) and must
// be in one of recordings.auditor_groups. Errors as the approvals API gives them:
// `{"error": {"code", "message"}}` with 400/401/403/404/503 (the store) and 500 (anything else).
import { Hono, type Context } from 'hono';
import { GatewayError } from '../errors.ts';
import type { Authenticator, Identity } from '../identity/index.ts';
import type { Subject } from '../policy/input.ts';
import type { ListOptions, ReadOptions, RecordingReader } from './entry.ts';
import { CURSOR, RECORDING_ID } from './ids.ts';
import { MAX_LIST_LIMIT, MAX_READ_LIMIT } from './store.ts';

export interface RecordingApiDeps {
  reader: RecordingReader;
  authenticator: Authenticator;
  targets: readonly string[];
  auditorGroups: readonly string[];
  log: (message: string) => void;
}

const STATUS: Record<string, number> = { bad_request: 400, unauthorized: 401, forbidden: 403, not_found: 404, identity_unavailable: 503, state_unavailable: 503, internal: 500 };

function fail(code: string, message: string, headers: Record<string, string> = {}): Response {
  return Response.json({ error: { code, message } }, { status: STATUS[code] ?? 400, headers: { 'cache-control': 'no-store', ...headers } });
}

/**
 * Whether a subject reads recordings: authenticated (never an anonymous development subject, whatever
 * its groups) and a member of a configured auditor group (none configured: nobody).
 */
export function isAuditor(subject: Pick<Subject, 'groups' | 'authenticated'>, auditorGroups: readonly string[]): boolean {
  return subject.authenticated === true && subject.groups.some((g) => auditorGroups.includes(g));
}

/** A failure of the store behind the reader (told apart from other errors: only it is "cannot be reached"). */
export class StoreUnavailable extends Error {}

/** The reader's calls, with the store's failures marked as such. */
export function guarded(reader: RecordingReader): RecordingReader {
  const mark = (err: unknown): never => {
    throw new StoreUnavailable((err as Error)?.message ?? String(err), { cause: err });
  };
  return {
    list: (options) => reader.list(options).catch(mark),
    read: (recording, options) => reader.read(recording, options).catch(mark),
  };
}

/** `after` and `limit` of a page of one recording, or what is wrong with them. */
export function readOptions(after: string | undefined, limit: string | undefined): ReadOptions | string {
  const out: ReadOptions = {};
  if (after !== undefined) {
    if (!CURSOR.test(after)) return 'after must be the `next` cursor of a previous page';
    out.after = after;
  }
  if (limit !== undefined) {
    if (!/^\d{1,6}$/.test(limit) || Number(limit) < 1 || Number(limit) > MAX_READ_LIMIT) return `limit must be 1 to ${MAX_READ_LIMIT}`;
    out.limit = Number(limit);
  }
  return out;
}

/** `since`, `limit` and `session_id` from a query, or what is wrong with them. */
export function listOptions(since: string | undefined, limit: string | undefined, sessionId?: string): ListOptions | string {
  const out: ListOptions = {};
  if (sessionId !== undefined) {
    if (!RECORDING_ID.test(sessionId)) return 'session_id must be visible ASCII, 1 to 256 characters';
    out.sessionId = sessionId;
  }
  if (since !== undefined) {
    if (!/^\d{1,16}$/.test(since)) return 'since must be milliseconds since the epoch';
    out.since = Number(since);
  }
  if (limit !== undefined) {
    if (!/^\d{1,6}$/.test(limit) || Number(limit) < 1 || Number(limit) > MAX_LIST_LIMIT) return `limit must be 1 to ${MAX_LIST_LIMIT}`;
    out.limit = Number(limit);
  }
  return out;
}

export function recordingRoutes(deps: RecordingApiDeps): Hono {
  const app = new Hono();

  /** The caller, with a token valid for some target and in an auditor group, or the failure to answer. */
  async function auditor(c: Context): Promise<Identity | Response> {
    let failure: GatewayError | undefined;
    for (const target of deps.targets) {
      try {
        const id = await deps.authenticator.authenticate(c.req.raw, target);
        return isAuditor(id.subject, deps.auditorGroups) ? id : fail('forbidden', 'reading recordings needs membership of one of recordings.auditor_groups');
      } catch (err) {
        if (!(err instanceof GatewayError)) throw err;
        // An outage of the identity provider is worth more than "invalid for that target".
        if (failure === undefined || err.status === 503) failure = err;
      }
    }
    if (failure === undefined) return fail('unauthorized', 'no bearer token valid for any target');
    return fail(failure.status === 503 ? 'identity_unavailable' : 'unauthorized', failure.message, { ...failure.headers });
  }

  const reader = guarded(deps.reader);
  app.onError((err) => {
    deps.log(`recordings API: ${(err as Error).message}`);
    if (err instanceof StoreUnavailable) return fail('state_unavailable', 'the recordings store cannot be reached; try again');
    return fail('internal', 'the answer could not be made (a gateway error, logged); the store is not the cause');
  });

  app.get('/api/sessions', async (c) => {
    const who = await auditor(c);
    if (who instanceof Response) return who;
    const options = listOptions(c.req.query('since'), c.req.query('limit'), c.req.query('session_id'));
    if (typeof options === 'string') return fail('bad_request', options);
    return c.json({ sessions: await reader.list(options) }, 200, { 'cache-control': 'no-store' });
  });

  app.get('/api/sessions/:recording{.+}', async (c) => {
    const who = await auditor(c);
    if (who instanceof Response) return who;
    const id = c.req.param('recording');
    const options = readOptions(c.req.query('after'), c.req.query('limit'));
    if (typeof options === 'string') return fail('bad_request', options);
    const found = RECORDING_ID.test(id) ? await reader.read(id, options) : undefined;
    if (found === undefined) return fail('not_found', 'no such recording (never recorded, or past retention)');
    return c.json(found, 200, { 'cache-control': 'no-store' });
  });
  return app;
}
