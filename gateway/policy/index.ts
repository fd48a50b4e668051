// The policy's public face: start the enforced policy (and an observe-only candidate) from
// configuration, decide with it, pin one snapshot for an exchange, report status. Other modules
// import from here only.
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { AuditSink } from '../telemetry/audit.ts';
import { bundleUrl, statusSigningKey, verificationConfig, type PolicyConfig, type PolicySourceConfig } from './config.ts';
import type { Decision } from './decision.ts';
import { PolicyHolder, type PolicySnapshot } from './holder.ts';
import type { PolicyEventListener } from './events.ts';
import type { PolicyQuery } from './input.ts';
import { candidateObserver, type CandidateCounters } from './observe.ts';
import { FileSource, ServiceSource, type PolicySource } from './sources.ts';
import { signStatus, type PolicyStatus } from './status.ts';

export { BundleError, type BundleErrorCode } from './errors.ts';
export { PolicyHolder, type PolicySnapshot } from './holder.ts';
export type { PolicyStatus, PolicyState } from './status.ts';
export type { CandidateCounters } from './observe.ts';
export type { PolicyEvent, PolicyEventListener } from './events.ts';
export { clusterStatus, type ClusterStatusBody, type ReplicaEntry, type ReplicaListing } from './replicas.ts';

export type Decide = (query: PolicyQuery) => Decision;

/** Which process answers: /status of every replica can be told apart once shared state lists them. */
export interface ReplicaInfo {
  id: string;
  hostname: string;
  pid: number;
  started_at: string;
}

export interface PolicyStatusBody {
  replica: ReplicaInfo;
  policy: PolicyStatus;
  candidate?: PolicyStatus & { observed: CandidateCounters };
}

export interface PolicyRuntime {
  enforced: PolicyHolder;
  candidate: PolicyHolder | undefined;
  /**
   * A decide bound to the snapshots serving now (enforced, and candidate when configured), for
   * one exchange: its request, its answer and its approval are then decided by one revision.
   */
  pin(): { decide: Decide; snapshot: PolicySnapshot };
  /** Decides with whatever serves at the moment of each call (what the data path uses until it pins). */
  decide: Decide;
  status(): PolicyStatusBody;
  /** The status as a compact JWS, when `policy.status_signing` is configured. */
  signedStatus: ((body: Record<string, unknown>) => Promise<string>) | undefined;
  /** Re-reads every file source now (what the file watcher does on change). */
  reload(): Promise<void>;
  close(): void;
}

export interface PolicyRuntimeOptions {
  env: NodeJS.ProcessEnv;
  log: (line: string) => void;
  audit: AuditSink;
  /**
   * Told of every activation, refused bundle and source check, of both holders (telemetry
   * subscribes here for its metric and span event; the replica status publisher to refresh).
   */
  onEvent?: PolicyEventListener;
}

function sourceFor(holder: PolicyHolder, s: PolicySourceConfig, env: NodeJS.ProcessEnv): PolicySource {
  if (s.bundle !== undefined) return new FileSource(holder, s.bundle, { watch: s.watch, persistDir: s.persist_dir });
  const svc = s.service!;
  const bearerEnv = svc.bearer_env;
  return new ServiceSource(holder, {
    url: bundleUrl(svc),
    bearer: bearerEnv === undefined ? undefined : () => env[bearerEnv],
    minDelaySeconds: svc.min_delay_seconds,
    maxDelaySeconds: svc.max_delay_seconds,
    longPollingSeconds: svc.long_polling_timeout_seconds,
    requestTimeoutMs: svc.request_timeout_ms,
    persistDir: s.persist_dir,
  });
}

function describe(s: PolicySourceConfig): string {
  return s.bundle ?? bundleUrl(s.service!);
}

/** Starts the policy: resolves once the enforced bundle serves; rejects (BundleError) when none can. */
export async function startPolicy(config: PolicyConfig, options: PolicyRuntimeOptions): Promise<PolicyRuntime> {
  const verification = verificationConfig(config, options.env);
  const limits = { maxInputBytes: config.max_input_bytes, maxResultBytes: config.max_result_bytes };
  const parse = verification === undefined ? {} : { verification };
  const enforced = new PolicyHolder({ name: 'enforced', source: describe(config), limits, parse, sha256: config.sha256, log: options.log, onEvent: options.onEvent });
  const sources: PolicySource[] = [sourceFor(enforced, config, options.env)];
  await sources[0]!.start();

  let candidate: PolicyHolder | undefined;
  if (config.candidate !== undefined) {
    candidate = new PolicyHolder({ name: 'candidate', source: describe(config.candidate), limits, parse, log: options.log, onEvent: options.onEvent });
    const source = sourceFor(candidate, config.candidate, options.env);
    sources.push(source);
    // A candidate is never enforced: one that cannot load is reported, and the gateway starts.
    await source.start().catch((err: Error) => options.log(`portcullis: policy candidate: not active (${err.message})`));
  }

  const cand = candidate;
  const observer = candidateObserver(options.audit);
  const live = observer.wrap((q) => enforced.current().decide(q), () => cand?.active?.decide);
  const replica: ReplicaInfo = { id: randomUUID(), hostname: hostname(), pid: process.pid, started_at: new Date().toISOString() };
  const signing = statusSigningKey(config, options.env);

  return {
    enforced,
    candidate,
    decide: cand === undefined ? (q) => enforced.current().decide(q) : live,
    pin() {
      const snapshot = enforced.current();
      if (cand === undefined) return { decide: snapshot.decide, snapshot };
      const shadow = cand.active;
      return { decide: observer.wrap(snapshot.decide, () => shadow?.decide), snapshot };
    },
    status() {
      const body: PolicyStatusBody = { replica, policy: enforced.status() };
      if (cand !== undefined) body.candidate = { ...cand.status(), observed: observer.counters() };
      return body;
    },
    signedStatus: signing === undefined ? undefined : (body) => signStatus(body, signing),
    reload: async () => {
      await Promise.all(sources.map((s) => (s instanceof FileSource ? s.reload() : undefined)));
    },
    close() {
      for (const s of sources) s.stop();
    },
  };
}
