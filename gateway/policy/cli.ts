// `portcullis policy verify` (and the dispatch to `policy replay`, replay-cli.ts): proves the
// live policy equals the repository. It rebuilds the
// bundle from source with the pinned OPA (same revision derivation as `npm run bundle`) or reads
// a bundle file, asks each gateway's /status (or the signed /status/signed) what it enforces,
// prints a diff, and exits non-zero on drift.
//
//   portcullis policy verify --gateway <url> [--gateway <url> …] (--bundle <file> | --source <dir>)
//                            [--key-id <id>] [--status-key <pem> | --status-secret-env <VAR>] [--status-alg <alg>] [--max-age <s>]
//
// Exit codes: 0 every replica enforces the expected bundle; 1 drift; 2 usage error or a gateway
// that could not be checked (unreachable, bad status, bad signature): unproven is not proven.
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { parseBundle, readBundleBytes } from './bundle.ts';
import type { PolicyStatus } from './status.ts';
import { DEFAULT_STATUS_MAX_AGE_SECONDS, verifyStatus } from './status.ts';
import { publicKeyFromPem, SIGNING_ALGORITHMS, type SigningAlgorithm } from './verify.ts';
import { REPLAY_USAGE, replayCommand, ReplayUsageError } from './replay-cli.ts';

const USAGE = `usage: portcullis policy verify --gateway <url> [--gateway <url> ...] (--bundle <file> | --source <dir>)
         [--key-id <id>] [--status-key <public key pem> | --status-secret-env <VAR>] [--status-alg <alg>]
  --gateway URL            a gateway's base URL; with shared state it lists every live replica
                           (repeat for gateways that share no state)
  --bundle FILE            the bundle that should be live: revision and sha256 must match
  --source DIR             rebuild from Rego sources with the pinned OPA: the revision must match
  --key-id ID              the signing key id the live bundle must have been verified with
  --status-key PEM         verify /status/signed with this public key (or certificate) file
  --status-secret-env VAR  verify /status/signed with the HMAC secret in VAR
  --status-alg ALG         algorithm of the status signature (default RS256, or HS256 with a secret)
  --max-age SECONDS        refuse a signed status issued longer ago than this (default 300)`;

export interface Expected {
  revision: string;
  /** null: not compared (a rebuild from source may differ in bytes, e.g. by its signature). */
  sha256: string | null;
  keyId: string | null;
  from: string;
}

export interface ReplicaReport {
  gateway: string;
  replica: string;
  /** Differences, as `field: expected -> live`; empty when it matches. */
  drift: string[];
  warnings: string[];
  live: Pick<PolicyStatus, 'state' | 'revision' | 'sha256' | 'key_id' | 'loaded_at' | 'source'>;
  /** When the replica last reported through shared state (null: it answered itself). */
  reportedAt?: string | null;
}

class UsageError extends Error {}

/**
 * Every replica a status body lists: with shared state, `replicas: [...]` (the answering replica
 * and every other live one); else the body itself. A body that says it could not list the others
 * (`replicas_error`) is not a proof that they match, so it cannot be checked.
 */
function replicasOf(body: Record<string, unknown>): Array<{ replica: string; reportedAt: string | null; policy: PolicyStatus }> {
  if (typeof body.replicas_error === 'string') throw new Error(`it cannot list every replica: ${body.replicas_error}`);
  const list = Array.isArray(body.replicas) ? (body.replicas as Array<Record<string, unknown>>) : [body];
  return list.map((r) => {
    const policy = r.policy as PolicyStatus | undefined;
    if (policy === undefined || typeof policy !== 'object' || policy === null) throw new Error('status has no "policy" object');
    const replica = r.replica as { id?: string; hostname?: string } | undefined;
    return {
      replica: replica ? `${replica.hostname ?? '?'}/${replica.id ?? '?'}` : '?',
      reportedAt: typeof r.reported_at === 'string' ? r.reported_at : null,
      policy,
    };
  });
}

/** Compares what one replica reports with what is expected. */
export function compare(expected: Expected, gateway: string, replica: string, live: PolicyStatus): ReplicaReport {
  const drift: string[] = [];
  const warnings: string[] = [];
  if (live.state !== 'OK' && live.state !== 'WARN') drift.push(`state: OK -> ${live.state}`);
  if (live.revision !== expected.revision) drift.push(`revision: ${expected.revision} -> ${live.revision ?? '(none)'}`);
  if (expected.sha256 !== null && live.sha256 !== expected.sha256) drift.push(`sha256: ${expected.sha256} -> ${live.sha256 ?? '(none)'}`);
  if (expected.keyId !== null && live.key_id !== expected.keyId) drift.push(`key_id: ${expected.keyId} -> ${live.key_id ?? '(signatures not verified)'}`);
  if (live.last_error) warnings.push(`last error [${live.last_error.code}] at ${live.last_error.at}: ${live.last_error.message}`);
  return {
    gateway, replica, drift, warnings,
    live: { state: live.state, revision: live.revision, sha256: live.sha256, key_id: live.key_id, loaded_at: live.loaded_at, source: live.source },
  };
}

export function formatReport(expected: Expected, reports: ReplicaReport[]): string {
  const lines = [`expected: revision ${expected.revision}${expected.sha256 ? `  sha256 ${expected.sha256}` : ''}${expected.keyId ? `  key ${expected.keyId}` : ''}  (from ${expected.from})`];
  for (const r of reports) {
    lines.push(`${r.drift.length === 0 ? 'OK   ' : 'DRIFT'} ${r.gateway}  replica ${r.replica}  revision ${r.live.revision ?? '(none)'}  sha256 ${r.live.sha256 ?? '(none)'}  key ${r.live.key_id ?? '-'}  state ${r.live.state}  loaded ${r.live.loaded_at ?? '-'}${r.reportedAt ? `  reported ${r.reportedAt}` : ''}`);
    for (const d of r.drift) {
      const [field, change] = [d.slice(0, d.indexOf(':')), d.slice(d.indexOf(':') + 2)];
      const [want, got] = change.split(' -> ');
      lines.push(`        - ${field} ${want}`, `        + ${field} ${got}`);
    }
    for (const w of r.warnings) lines.push(`        ! ${w}`);
  }
  const drifted = reports.filter((r) => r.drift.length > 0);
  lines.push(drifted.length === 0
    ? `no drift: ${reports.length} replica(s) enforce the expected policy`
    : `DRIFT: ${drifted.length} of ${reports.length} replica(s) differ from the expected policy: ${drifted.map((r) => r.replica).join(', ')}`);
  return lines.join('\n');
}

async function expectedFrom(values: { bundle?: string; source?: string; 'key-id'?: string }): Promise<Expected> {
  const keyId = values['key-id'] ?? null;
  if (values.bundle !== undefined) {
    const bundle = await parseBundle(await readBundleBytes(resolve(values.bundle)), values.bundle);
    return { revision: bundle.revision, sha256: bundle.sha256, keyId, from: values.bundle };
  }
  // Rebuilt exactly as `npm run bundle` builds it (pinned OPA, capabilities, content revision).
  const { buildBundle } = await import('../../scripts/bundle.ts');
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-verify-'));
  try {
    const built = await buildBundle({ source: values.source as string, outFile: join(dir, 'expected.tar.gz') });
    return { revision: built.revision, sha256: null, keyId, from: `${values.source} (rebuilt, sha256 ${built.sha256} not compared)` };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

interface StatusKey {
  key: Parameters<typeof verifyStatus>[1];
  algorithm: SigningAlgorithm;
  maxAgeSeconds: number;
}

async function fetchStatus(gateway: string, key: StatusKey | undefined): Promise<Record<string, unknown>> {
  const base = gateway.replace(/\/+$/, '');
  const res = await fetch(`${base}${key ? '/status/signed' : '/status'}`, { signal: AbortSignal.timeout(10_000) });
  if (!res.ok) throw new Error(`${res.url} answered ${res.status}${key && res.status === 404 ? ' (is policy.status_signing configured?)' : ''}`);
  if (key === undefined) return (await res.json()) as Record<string, unknown>;
  return verifyStatus(await res.text(), key.key, key.algorithm, key.maxAgeSeconds).catch((err: Error) => {
    throw new Error(`the signed status of ${gateway} does not verify: ${err.message}`);
  });
}

function statusKey(values: { 'status-key'?: string; 'status-secret-env'?: string; 'status-alg'?: string; 'max-age'?: string }, env: NodeJS.ProcessEnv): StatusKey | undefined {
  const alg = values['status-alg'];
  const maxAgeSeconds = values['max-age'] === undefined ? DEFAULT_STATUS_MAX_AGE_SECONDS : Number(values['max-age']);
  if (!Number.isFinite(maxAgeSeconds) || maxAgeSeconds <= 0) throw new UsageError(`--max-age: expected a positive number of seconds, got ${values['max-age']}`);
  if (alg !== undefined && !(SIGNING_ALGORITHMS as readonly string[]).includes(alg)) throw new UsageError(`--status-alg: unknown algorithm ${alg}`);
  if (values['status-key'] !== undefined) {
    return { key: publicKeyFromPem(readFileSync(values['status-key'], 'utf8'), '--status-key'), algorithm: (alg ?? 'RS256') as SigningAlgorithm, maxAgeSeconds };
  }
  const name = values['status-secret-env'];
  if (name !== undefined) {
    if (!env[name]) throw new UsageError(`--status-secret-env: environment variable ${name} is not set`);
    return { key: Buffer.from(env[name] as string), algorithm: (alg ?? 'HS256') as SigningAlgorithm, maxAgeSeconds };
  }
  return undefined;
}

/** `portcullis policy verify …`; returns the exit code. */
export async function verifyCommand(argv: string[], out: (line: string) => void = console.log, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      gateway: { type: 'string', multiple: true }, bundle: { type: 'string' }, source: { type: 'string' }, 'key-id': { type: 'string' },
      'status-key': { type: 'string' }, 'status-secret-env': { type: 'string' }, 'status-alg': { type: 'string' }, 'max-age': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    out(USAGE);
    return 0;
  }
  if (!values.gateway?.length) throw new UsageError('--gateway is required');
  if ((values.bundle === undefined) === (values.source === undefined)) throw new UsageError('give exactly one of --bundle or --source');
  if (values['status-key'] !== undefined && values['status-secret-env'] !== undefined) throw new UsageError('--status-key and --status-secret-env exclude each other');
  const key = statusKey(values, env);
  const expected = await expectedFrom(values);
  const reports: ReplicaReport[] = [];
  let unchecked = 0;
  // Several gateway URLs behind one shared state list the same replicas: each is checked once.
  const seen = new Set<string>();
  for (const gateway of values.gateway) {
    try {
      for (const { replica, reportedAt, policy } of replicasOf(await fetchStatus(gateway, key))) {
        if (seen.has(replica)) continue;
        seen.add(replica);
        reports.push({ ...compare(expected, gateway, replica, policy), reportedAt });
      }
    } catch (err) {
      unchecked++;
      out(`ERROR ${gateway}: cannot check: ${(err as Error).message}`);
    }
  }
  out(formatReport(expected, reports));
  if (unchecked > 0) return 2;
  return reports.some((r) => r.drift.length > 0) ? 1 : 0;
}

const POLICY_USAGE = `usage: portcullis policy <command>
  verify   compare what gateways enforce with a bundle or Rego sources (exit 1 on drift)
  replay   decide recorded traffic again with a candidate bundle (exit 1 when something would change)`;

/** `portcullis policy …`: returns the exit code. */
export async function policyCli(argv: string[], out: (line: string) => void = console.log, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const [command, ...rest] = argv;
  try {
    if (command === 'verify') return await verifyCommand(rest, out, env);
    if (command === 'replay') return await replayCommand(rest, out, env);
    out(POLICY_USAGE);
    return command === undefined || command === '--help' || command === '-h' ? 0 : 2;
  } catch (err) {
    if (err instanceof UsageError || err instanceof ReplayUsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      out(`portcullis policy: ${(err as Error).message}\n${command === 'replay' ? REPLAY_USAGE : USAGE}`);
      return 2;
    }
    out(`portcullis policy: ${(err as Error).message}`);
    return 2;
  }
}
