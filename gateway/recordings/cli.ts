// `portcullis sessions list|show|replay`: the auditors' command line, on the JSON API
// (/api/sessions), never on Redis. The gateway URL comes from --url or PORTCULLIS_URL, the bearer
// token from --token or PORTCULLIS_TOKEN (a token of an auditor group). `replay` steps through a
// recording: each message with its direction, method, decision and timing, then the message
// exactly as it left the gateway (one line of JSON), so what it prints is what the client saw.
import { printable, type CliIo } from '../terminal.ts';
import { parseArgs } from 'node:util';
import type { RecordedMessage, RecordingSummary } from './entry.ts';

const USAGE = `usage: portcullis sessions <command> [options]
  list [--since MS] [--limit N] [--session-id ID]
                                  recordings, newest first (--session-id: of that legacy Mcp-Session-Id)
  show <recording>                one recording: who, where, one line per message (every page)
  replay <recording> [--pace]     step through its messages with decisions and timing
                                  (--pace: wait as long as the session did between messages, up to 5 s each)
options: --url <gateway base URL> (PORTCULLIS_URL), --token <bearer> (PORTCULLIS_TOKEN), --json`;

export interface SessionsCliIo extends CliIo {
  /** How --pace waits (tests pass their own). */
  sleep?: (ms: number) => Promise<void>;
}

const PACE_CAP_MS = 5000;

/**
 * The one cleaning rule of every output mode (text and --json), for every field: C0 (but tab and
 * newline), DEL, C1, the line/paragraph separators, the bidi embeddings, overrides, isolates and
 * marks (U+200E, U+200F, U+061C) and the invisible U+200B..U+200D and U+FEFF become `\uXXXX`, so
 * nothing recorded can drive the terminal or make two ids look alike. They only ever occur inside
 * JSON strings, where the escape is the same character: --json output stays valid JSON. The rule
 * is the operators' commands' one (gateway/terminal.ts).
 */
export const clean = printable;

const when = (ms: number) => {
  const d = new Date(Number(ms));
  return Number.isNaN(d.getTime()) ? clean(ms) : d.toISOString();
};
const arrow = (m: RecordedMessage) => (m.direction === 'client_to_server' ? 'client -> server' : 'server -> client');

function summary(s: RecordingSummary): string {
  return `${clean(s.recording)}  ${clean(s.target)} (${clean(s.era)}${s.sessionId ? `, session ${clean(s.sessionId)}` : ''})  principal ${clean(s.principal)}  ${clean(s.messages)} message(s)  ${when(s.firstTime)} .. ${when(s.lastTime)}`;
}

function headline(m: RecordedMessage, i: number, total: number, start: number): string {
  const id = m.rpcId === undefined || m.rpcId === null ? '' : `  id ${clean(JSON.stringify(m.rpcId))}`;
  return `step ${i + 1}/${total}  +${clean(((m.time - start) / 1000).toFixed(3))}s  ${arrow(m)}  ${clean(m.origin)}  ${clean(m.kind)} ${clean(m.method || '(response)')}${m.name ? ` ${clean(m.name)}` : ''}${id}${m.durationMs !== undefined ? `  took ${clean(m.durationMs)} ms` : ''}${m.oversizeBytes !== undefined ? `  too large (${clean(m.oversizeBytes)} bytes): not recorded` : ''}`;
}

function decisionLine(m: RecordedMessage): string {
  const d = m.decision;
  if (!d) return '  decision: none';
  const masked = Object.entries(d.masked).map(([cls, n]) => `${clean(cls)}=${clean(n)}`).join(',') || 'none';
  return `  decision: ${clean(d.outcome)}${d.approvalRequired ? ' (approval required)' : ''}  rules ${clean(d.ruleIds.join(',') || 'none')}  masked ${masked}  id ${clean(d.id)}${d.reasons.length ? `  reasons ${clean(d.reasons.join('; '))}` : ''}`;
}

/** The replay of a recording, one string per printed line block. */
export function replayLines(session: RecordingSummary, messages: RecordedMessage[]): string[] {
  const start = messages[0]?.time ?? session.firstTime;
  const out = [summary(session)];
  messages.forEach((m, i) => {
    const lines = [headline(m, i, messages.length, start), decisionLine(m)];
    if (m.approval) lines.push(`  approval: ${clean(m.approval.id)} ${clean(m.approval.state)} by ${clean(m.approval.approvers.join(', ') || 'nobody')} after ${clean(m.approval.waitMs)} ms`);
    if (m.traceId) lines.push(`  trace: ${clean(m.traceId)} span ${clean(m.spanId)}`);
    lines.push(`  message: ${clean(JSON.stringify(m.message))}`);
    out.push(lines.join('\n'));
  });
  return out;
}

/** Runs one command; returns the exit code (0 ok, 1 refused by the API or unreachable, 2 usage). */
export async function runSessionsCli(argv: string[], io: SessionsCliIo): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, allowPositionals: true, options: { url: { type: 'string' }, token: { type: 'string' }, since: { type: 'string' }, limit: { type: 'string' }, 'session-id': { type: 'string' }, pace: { type: 'boolean' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } });
  } catch (err) {
    io.err(`${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  const [command, id] = positionals;
  if (values.help || command === undefined) { io.out(USAGE); return values.help ? 0 : 2; }
  if (!['list', 'show', 'replay'].includes(command)) { io.err(`unknown command '${clean(command)}'\n${USAGE}`); return 2; }
  if (command !== 'list' && !id) { io.err(`portcullis sessions ${command}: which recording? give its id\n${USAGE}`); return 2; }
  const base = (values.url ?? io.env.PORTCULLIS_URL ?? 'http://127.0.0.1:8080').replace(/\/+$/, '');
  const token = values.token ?? io.env.PORTCULLIS_TOKEN;
  if (!token) { io.err('portcullis sessions: no token: pass --token or set PORTCULLIS_TOKEN'); return 2; }
  const query = new URLSearchParams();
  if (values.since !== undefined) query.set('since', values.since);
  if (values.limit !== undefined) query.set('limit', values.limit);
  if (values['session-id'] !== undefined) query.set('session_id', values['session-id']);
  const path = command === 'list' ? `/api/sessions${query.size ? `?${query}` : ''}` : `/api/sessions/${encodeURIComponent(id!)}`;
  /** One answer of the API, or the exit code after saying why not. */
  const get = async (url: string): Promise<any> => {
    let res: Response;
    try {
      res = await (io.fetch ?? fetch)(`${base}${url}`, { headers: { authorization: `Bearer ${token}` } });
    } catch (err) {
      io.err(`portcullis sessions: cannot reach ${clean(base)}: ${clean((err as Error).message)}`);
      return 1;
    }
    const body: any = await res.json().catch(() => undefined);
    if (!res.ok || body === undefined || body === null) {
      io.err(`portcullis sessions ${command}: ${clean(body?.error?.code ?? `HTTP ${res.status}`)}: ${clean(body?.error?.message ?? 'no JSON answer')}`);
      return 1;
    }
    return body;
  };
  let body = await get(path);
  if (typeof body === 'number') return body;
  if (command !== 'list') {
    // A recording comes in pages: follow `next` to the end (each page is bounded by the gateway).
    const messages: RecordedMessage[] = [...body.messages];
    const seen = new Set<string>();
    while (typeof body.next === 'string' && !seen.has(body.next)) {
      seen.add(body.next);
      const page = await get(`${path}?after=${encodeURIComponent(body.next)}`);
      if (typeof page === 'number') return page;
      messages.push(...page.messages);
      body = page;
    }
    body = { session: body.session, messages };
  }
  if (values.json) { io.out(clean(JSON.stringify(body, null, 2))); return 0; }
  if (command === 'list') {
    const sessions = body.sessions as RecordingSummary[];
    io.out(`${sessions.length} recording(s)${sessions.length ? ':' : '.'}`);
    for (const s of sessions) io.out(summary(s));
    return 0;
  }
  const { session, messages } = body as { session: RecordingSummary; messages: RecordedMessage[] };
  if (command === 'show') {
    io.out(summary(session));
    const start = messages[0]?.time ?? session.firstTime;
    messages.forEach((m, i) => io.out(`${headline(m, i, messages.length, start)}  ${m.decision ? `${m.decision.outcome} [${clean(m.decision.ruleIds.join(','))}]` : '-'}`));
    return 0;
  }
  const sleep = io.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const blocks = replayLines(session, messages);
  io.out(blocks[0]!);
  for (let i = 0; i < messages.length; i++) {
    if (values.pace && i > 0) await sleep(Math.min(PACE_CAP_MS, Math.max(0, messages[i]!.time - messages[i - 1]!.time)));
    io.out(blocks[i + 1]!);
  }
  return 0;
}
