// `portcullis policy replay`: what a candidate bundle would change on recorded traffic. Reads
// recordings from a gateway's /api/sessions (or a JSONL file of RecordedMessage), or decision
// records (JSONL; no content, so a rougher replay), loads the candidate as the gateway loads a
// bundle (verified with the gateway's keys when --config names its configuration), decides every
// message again, and prints what would change.
//
// Exit codes: 0 nothing would change; 1 something would; 2 usage error or nothing to compare with
// (unreadable input, a bundle refused, a gateway or session that cannot be read).
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { parse as parseYaml } from 'yaml';
import type { RecordedMessage, RecordingSummary } from '../recordings/entry.ts';
import type { DecisionRecord } from '../telemetry/audit.ts';
import { BundleError, readBundleBytes } from './bundle.ts';
import { policyConfigSchema, resolvePolicyPaths, verificationConfig } from './config.ts';
import { prepareSnapshot } from './holder.ts';
import { queryOfDecision, queryOfRecorded, replay, type ChangeKind, type ReplayItem, type ReplayReport, type Skipped } from './replay.ts';

export const REPLAY_USAGE = `usage: portcullis policy replay --bundle <candidate.tar.gz>
         (--gateway <url> [--token-env VAR] | --records <file.jsonl> | --decisions <file.jsonl>)
         [--session <id> | --since <duration or time>] [--config <gateway.yaml>]
  --bundle FILE       the candidate bundle, loaded and checked as a gateway loads one
  --gateway URL       read recordings from this gateway's /api/sessions (an auditor's token)
  --token-env VAR     environment variable holding that bearer token (default PORTCULLIS_TOKEN)
  --records FILE      recordings as JSON lines, one RecordedMessage each
  --decisions FILE    decision records as JSON lines (no arguments or claims: see docs)
  --session ID        only this recording (a legacy session id, or a 2026-07-28 recording id)
  --since WHEN        only messages since then: 24h, 90m, 30s, 7d, or an ISO 8601 time
  --config FILE       the gateway's configuration: its policy.signing keys verify the candidate,
                      its input limits apply (without it signatures are not checked)`;

export class ReplayUsageError extends Error {}

const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `24h` -> 24 hours ago; an ISO time as it is. */
export function sinceOf(text: string, now = Date.now()): number {
  const rel = /^(\d+(?:\.\d+)?)([smhd])$/.exec(text);
  if (rel) return now - Number(rel[1]) * UNITS[rel[2]!]!;
  const at = /^\d{4}-\d\d-\d\d/.test(text) ? Date.parse(text) : NaN;
  if (Number.isNaN(at)) throw new ReplayUsageError(`--since: expected a duration (24h, 90m, 30s, 7d) or an ISO 8601 time, got ${JSON.stringify(text)}`);
  return at;
}

interface Filter {
  session?: string;
  since?: number;
}

async function jsonLines(file: string, what: string): Promise<unknown[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new Error(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const out: unknown[] = [];
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    try {
      out.push(JSON.parse(line));
    } catch {
      throw new Error(`${file} line ${i + 1}: not JSON (expected one ${what} per line)`);
    }
  });
  return out;
}

function isRecordedMessage(v: unknown): v is RecordedMessage {
  const m = v as Partial<RecordedMessage> | null;
  return typeof m === 'object' && m !== null && typeof m.recording === 'string' && typeof m.method === 'string' && typeof m.subjectJson === 'string' &&
    typeof m.message === 'object' && m.message !== null && (m.direction === 'client_to_server' || m.direction === 'server_to_client') && typeof m.time === 'number';
}

function isDecisionRecord(v: unknown): v is DecisionRecord {
  const r = v as Partial<DecisionRecord> | null;
  return typeof r === 'object' && r !== null && typeof r.decision_id === 'string' && typeof r.method === 'string' && typeof r.principal === 'string' &&
    typeof r.allow === 'boolean' && typeof r.time === 'string' && (r.direction === 'client_to_server' || r.direction === 'server_to_client');
}

function checked<T>(values: unknown[], is: (v: unknown) => v is T, file: string, what: string): T[] {
  values.forEach((v, i) => {
    if (!is(v)) throw new Error(`${file}: entry ${i + 1} is not a ${what}`);
  });
  return values as T[];
}

const wanted = (f: Filter, time: number, ...ids: string[]) => (f.since === undefined || time >= f.since) && (f.session === undefined || ids.includes(f.session));

async function fromRecordsFile(file: string, f: Filter): Promise<Array<ReplayItem | Skipped>> {
  const messages = checked(await jsonLines(file, 'RecordedMessage'), isRecordedMessage, file, 'RecordedMessage');
  const kept = messages.filter((m) => wanted(f, m.time, m.recording, m.sessionId));
  if (f.session !== undefined && kept.length === 0 && !messages.some((m) => m.recording === f.session || m.sessionId === f.session)) throw new Error(`unknown session ${f.session}: no message of ${file} belongs to it`);
  return kept.map(queryOfRecorded);
}

async function fromDecisionsFile(file: string, f: Filter): Promise<Array<ReplayItem | Skipped>> {
  const records = checked(await jsonLines(file, 'decision record'), isDecisionRecord, file, 'decision record');
  const kept = records.filter((r) => wanted(f, Date.parse(r.time), r.session_id));
  if (f.session !== undefined && !records.some((r) => r.session_id === f.session)) throw new Error(`unknown session ${f.session}: no record of ${file} belongs to it`);
  return kept.map(queryOfDecision);
}

/** GET /api/sessions[/<id>] with the auditor's token; any answer but 200 ends the replay. */
async function api<T>(base: string, path: string, token: string): Promise<T> {
  const res = await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${token}`, accept: 'application/json' }, signal: AbortSignal.timeout(30_000) });
  if (res.status === 404 && path.startsWith('/api/sessions/')) throw new Error(`unknown session ${decodeURIComponent(path.slice('/api/sessions/'.length))}: ${base} answered 404`);
  if (res.status === 401 || res.status === 403) throw new Error(`${base}${path} answered ${res.status}: the token must be an auditor's (recordings' auditor group)`);
  if (!res.ok) throw new Error(`${base}${path} answered ${res.status}`);
  return (await res.json()) as T;
}

/** The most recordings one list answers (the recordings API's largest `limit`). */
const LIST_LIMIT = 1000;

async function fromGateway(url: string, token: string, f: Filter, out: (line: string) => void): Promise<Array<ReplayItem | Skipped>> {
  const base = url.replace(/\/+$/, '');
  let ids = [f.session ?? ''];
  if (f.session === undefined) {
    const list = await api<{ sessions: RecordingSummary[] }>(base, `/api/sessions?limit=${LIST_LIMIT}${f.since === undefined ? '' : `&since=${Math.floor(f.since)}`}`, token);
    ids = list.sessions.map((s) => s.recording);
    if (ids.length >= LIST_LIMIT) out(`note: the gateway lists at most ${LIST_LIMIT} recordings at once: the newest ${LIST_LIMIT} are replayed; narrow with --since`);
  }
  const items: Array<ReplayItem | Skipped> = [];
  for (const id of ids) {
    // A recording comes in pages (bounded by the gateway): follow `next` to the end.
    let after: string | undefined;
    do {
      const page: { messages: RecordedMessage[]; next?: string } = await api(base, `/api/sessions/${encodeURIComponent(id)}${after === undefined ? '' : `?after=${encodeURIComponent(after)}`}`, token);
      for (const m of page.messages) if (f.since === undefined || m.time >= f.since) items.push(queryOfRecorded(m));
      after = page.next !== undefined && page.next !== after ? page.next : undefined;
    } while (after !== undefined);
  }
  return items;
}

/** The candidate, loaded as a gateway loads a bundle: parsed, verified (with --config's keys), compiled, smoke-checked. */
async function loadCandidate(bundle: string, configFile: string | undefined, env: NodeJS.ProcessEnv) {
  let section: unknown = { bundle };
  let base = process.cwd();
  if (configFile !== undefined) {
    const file = resolve(configFile);
    const doc = parseYaml(await readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
      throw new Error(`cannot read ${file}: ${err.code ?? err.message}`);
    })) as { policy?: unknown } | null;
    if (doc?.policy === undefined) throw new Error(`${file}: no policy section`);
    section = doc.policy;
    base = dirname(file);
  }
  const parsed = policyConfigSchema.safeParse(section);
  if (!parsed.success) throw new Error(`${configFile}: policy: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  const policy = resolvePolicyPaths(parsed.data, base);
  const verification = verificationConfig(policy, env);
  const limits = { maxInputBytes: policy.max_input_bytes, maxResultBytes: policy.max_result_bytes };
  const snapshot = await prepareSnapshot(await readBundleBytes(resolve(bundle)), bundle, { source: bundle, limits, parse: verification === undefined ? {} : { verification } }, 1);
  const unverified = configFile === undefined ? 'signatures not checked: no --config' : `signatures not checked: ${configFile} configures no policy.signing`;
  return { snapshot, verification: verification === undefined ? unverified : `signed by ${snapshot.info.keyId}` };
}

const LABELS: Record<ChangeKind, string> = {
  newly_denied: 'newly denied', newly_allowed: 'newly allowed', approval_required: 'approval now required', approval_dropped: 'approval no longer required', mask: 'mask differs',
};

function arrow(item: ReplayItem): string {
  return item.query.direction === 'client_to_server' ? 'client->server' : 'server->client';
}

export function formatReplay(report: ReplayReport, header: string): string[] {
  const lines = [header];
  for (const c of report.changes) {
    const q = c.item.query;
    const when = Number.isFinite(c.item.time) ? new Date(c.item.time).toISOString() : '-';
    lines.push(`${LABELS[c.kind].padEnd(27)} ${when}  ${c.item.where}  ${arrow(c.item)} ${q.kind} ${q.method}${q.name ? ` ${q.name}` : ''}  ${c.detail}`);
  }
  const count = (k: ChangeKind) => report.changes.filter((c) => c.kind === k).length;
  const changed = new Set(report.changes.map((c) => c.item)).size;
  lines.push(`replayed ${report.replayed} message(s): ${changed === 0 ? 'nothing would change' : `${changed} would change`} (` +
    (Object.keys(LABELS) as ChangeKind[]).map((k) => `${LABELS[k]} ${count(k)}`).join(', ') + ')');
  if (report.skipped.size > 0) lines.push(`skipped ${[...report.skipped.values()].reduce((a, b) => a + b, 0)}: ${[...report.skipped].map(([why, n]) => `${why} (${n})`).join('; ')}`);
  return lines;
}

/** `portcullis policy replay …`; returns the exit code. Usage errors throw ReplayUsageError. */
export async function replayCommand(argv: string[], out: (line: string) => void, env: NodeJS.ProcessEnv): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      bundle: { type: 'string' }, gateway: { type: 'string' }, 'token-env': { type: 'string' }, records: { type: 'string' }, decisions: { type: 'string' },
      session: { type: 'string' }, since: { type: 'string' }, config: { type: 'string' }, help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    out(REPLAY_USAGE);
    return 0;
  }
  if (values.bundle === undefined) throw new ReplayUsageError('--bundle is required');
  const sources = [values.gateway, values.records, values.decisions].filter((s) => s !== undefined).length;
  if (sources !== 1) throw new ReplayUsageError('give exactly one of --gateway, --records or --decisions');
  if (values.session !== undefined && values.since !== undefined) throw new ReplayUsageError('--session and --since exclude each other');
  if (values['token-env'] !== undefined && values.gateway === undefined) throw new ReplayUsageError('--token-env goes with --gateway');
  const filter: Filter = {
    ...(values.session === undefined ? {} : { session: values.session }),
    ...(values.since === undefined ? {} : { since: sinceOf(values.since) }),
  };
  const tokenEnv = values['token-env'] ?? 'PORTCULLIS_TOKEN';
  if (values.gateway !== undefined && !env[tokenEnv]) throw new ReplayUsageError(`no token: set ${tokenEnv} to an auditor's bearer token (or name another variable with --token-env)`);

  // The candidate first: a refused bundle ends the replay before any traffic is fetched.
  const { snapshot, verification } = await loadCandidate(values.bundle, values.config, env).catch((err: Error) => {
    throw err instanceof BundleError ? new Error(`the candidate ${values.bundle} is refused [${err.code}]: ${err.message}`) : err;
  });
  const items = values.gateway !== undefined
    ? await fromGateway(values.gateway, env[tokenEnv] as string, filter, out)
    : values.records !== undefined ? await fromRecordsFile(values.records, filter) : await fromDecisionsFile(values.decisions as string, filter);
  const report = replay(items, snapshot.decide);
  const info = snapshot.info;
  const from = values.gateway ?? values.records ?? values.decisions;
  out(formatReplay(report, `candidate ${info.revision} (sha256 ${info.sha256.slice(0, 12)}…, ${verification}) against ${from}`).join('\n'));
  out(values.decisions !== undefined
    ? 'note: decision records hold no arguments, params, results or subject claims: each was decided again with none, and a subject of kind, issuer and sub only; ' +
      'rules on those decide differently here than they did live, and masks show only classes no longer masked'
    : 'note: recordings hold masked content: a rule keyed on a masked value may decide differently here than it did live');
  return report.changes.length === 0 ? 0 : 1;
}
