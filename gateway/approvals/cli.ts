// `portcullis approvals list|show|approve|deny`: the approvers' command line, on the JSON API
// (/api/approvals), never on Redis. The gateway URL comes from --url or PORTCULLIS_URL, the bearer
// token from --token or PORTCULLIS_TOKEN (a token of the same issuers, for the target).
import { printable, type CliIo } from '../terminal.ts';
import { parseArgs } from 'node:util';

const USAGE = `usage: portcullis approvals <command> [options]
  list                         requests you may decide, and your own open ones
  show <id>                    one request: call, masked arguments, gates, votes, history
  approve <id> [--comment C]   approve
  deny <id> --comment C        deny (a reason is required)
options: --url <gateway base URL> (PORTCULLIS_URL), --token <bearer> (PORTCULLIS_TOKEN), --json`;


const clean = printable;

function describe(r: any): string {
  const lines = [
    `${clean(r.id)}  [${clean(r.state)}]  fingerprint ${clean(r.fingerprint)}`,
    `  call:      ${clean(r.name)} on ${clean(r.target)} (${clean(r.method)})`,
    `  requester: ${clean(r.requester?.name)} (${clean(r.requester?.sub)} at ${clean(r.requester?.issuer)}; groups ${clean((r.requester?.groups ?? []).join(', ') || 'none')})`,
    `  reason:    ${clean(r.reason || '(none)')}; rules ${clean((r.ruleIds ?? []).join(', '))}; policy revision ${clean(r.revision)}`,
    `  arguments (masked):`,
    ...JSON.stringify(r.maskedArguments ?? {}, null, 2).split('\n').map((l) => `    ${clean(l)}`),
    `  gates:`,
    ...(r.progress ?? []).map((g: any) => `    ${clean(g.name)}: ${g.count - g.missing}/${g.count} of ${clean(g.groups.join('/'))}${g.missing ? `, ${g.missing} missing` : ', filled'}`),
    `  time left: ${r.timeLeftSeconds} s (scope ${clean(r.scope)})`,
    `  you may decide: ${r.may_decide ? 'yes' : `no (${clean(r.why_not_message ?? r.why_not ?? '')})`}`,
  ];
  for (const v of r.votes ?? []) lines.push(`  vote: ${clean(v.decision)} by ${clean(v.by?.name)} at ${new Date(v.at).toISOString()}${v.comment ? `: ${clean(v.comment)}` : ''}`);
  for (const e of r.history ?? []) lines.push(`  event: ${new Date(e.at).toISOString()} ${clean(e.type)} ${clean(e.from)} -> ${clean(e.to)}`);
  lines.push(`  page: ${clean(r.url)}`);
  return lines.join('\n');
}

/** Runs one command; returns the exit code (0 ok, 1 refused by the API, 2 usage). */
export async function runApprovalsCli(argv: string[], io: CliIo): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, allowPositionals: true, options: { url: { type: 'string' }, token: { type: 'string' }, comment: { type: 'string', short: 'm' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } });
  } catch (err) {
    io.err(`${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  const [command, id] = positionals;
  if (values.help || command === undefined) { io.out(USAGE); return values.help ? 0 : 2; }
  const base = (values.url ?? io.env.PORTCULLIS_URL ?? 'http://127.0.0.1:8080').replace(/\/+$/, '');
  const token = values.token ?? io.env.PORTCULLIS_TOKEN;
  if (!token) { io.err('portcullis approvals: no token: pass --token or set PORTCULLIS_TOKEN'); return 2; }
  const needsId = command === 'show' || command === 'approve' || command === 'deny';
  if (!['list', 'show', 'approve', 'deny'].includes(command)) { io.err(`unknown command '${command}'\n${USAGE}`); return 2; }
  if (needsId && !id) { io.err(`portcullis approvals ${command}: which request? give its id\n${USAGE}`); return 2; }
  if (command === 'deny' && !values.comment) { io.err('portcullis approvals deny: --comment is required (the reason)'); return 2; }
  const path = command === 'list' ? '/api/approvals' : `/api/approvals/${encodeURIComponent(id!)}${command === 'show' ? '' : `/${command}`}`;
  const doFetch = io.fetch ?? fetch;
  let res: Response;
  try {
    res = await doFetch(`${base}${path}`, {
      method: command === 'list' || command === 'show' ? 'GET' : 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      ...(command === 'approve' || command === 'deny' ? { body: JSON.stringify({ comment: values.comment ?? '' }) } : {}),
    });
  } catch (err) {
    io.err(`portcullis approvals: cannot reach ${base}: ${(err as Error).message}`);
    return 1;
  }
  const body: any = await res.json().catch(() => undefined);
  if (!res.ok || body === undefined) {
    io.err(`portcullis approvals ${command}: ${body?.error?.code ?? `HTTP ${res.status}`}: ${clean(body?.error?.message ?? 'no JSON answer')}`);
    return 1;
  }
  if (values.json) { io.out(JSON.stringify(body, null, 2)); return 0; }
  if (command === 'list') {
    io.out(`${body.decide.length} request(s) you may decide${body.decide.length ? ':' : '.'}`);
    for (const r of body.decide) io.out(describe(r));
    if (body.mine.length) {
      io.out(`${body.mine.length} open request(s) of yours:`);
      for (const r of body.mine) io.out(describe(r));
    }
  } else io.out(describe(body));
  return 0;
}
