// The live policy: one immutable snapshot (engine, revision, sha256) that serves, swapped as a
// single reference only after a new bundle has been parsed, verified, loaded and smoke-evaluated.
// A bundle that fails any step is reported and the last good snapshot keeps serving. Loads run
// one at a time; a load that a newer one has overtaken is dropped before it starts, and a
// sequence guard stops an older load from ever replacing a newer snapshot.
import { createHash } from 'node:crypto';
import { BundleError, checkPin, parseBundle, type ParseOptions } from './bundle.ts';
import type { Decision } from './decision.ts';
import { PolicyEngine, type PolicyInfo } from './engine.ts';
import { safeListener, type PolicyEvent, type PolicyEventListener } from './events.ts';
import type { InputLimits, PolicyQuery } from './input.ts';
import { PolicyStatusTracker, type PolicyStatus } from './status.ts';

/**
 * What one exchange decides with. Take it once (`holder.current()`) when an exchange starts and
 * use it for the request, its answer and its approval, so a swap mid-call never mixes revisions.
 */
export interface PolicySnapshot {
  readonly info: PolicyInfo;
  readonly engine: PolicyEngine;
  /** Which activation of this holder it is (1, 2, …); newer snapshots have larger numbers. */
  readonly sequence: number;
  decide(query: PolicyQuery): Decision;
}

export interface HolderOptions {
  /** 'enforced' or 'candidate': names the holder in status and logs. */
  name: string;
  /** Describes where bundles come from (a path or URL), for status. */
  source: string;
  limits: InputLimits;
  parse?: ParseOptions;
  /** Refuse any bundle whose sha256 differs. */
  sha256?: string;
  log?: (line: string) => void;
  /** Told of every activation, refusal and check (telemetry, replica status); never blocks one. */
  onEvent?: PolicyEventListener;
}

export interface Activation {
  /** 'activated', 'unchanged' (same sha256 already serves), 'superseded' (a newer load was queued), 'failed'. */
  result: 'activated' | 'unchanged' | 'superseded' | 'failed';
  snapshot: PolicySnapshot | undefined;
  error?: BundleError;
}

/** A minimal request every policy must answer with a decision object: the smoke evaluation. */
const SMOKE_QUERY: PolicyQuery = {
  era: 'stateless', protocolVersion: '2026-07-28', direction: 'client_to_server', kind: 'request',
  method: 'tools/list', name: '', params: {}, target: 'portcullis-smoke', sessionId: '',
  subjectJson: JSON.stringify({ authenticated: false, type: 'anonymous', sub: '', issuer: '', client_id: '', email: '', groups: [], scopes: [], claims: {} }),
};

/**
 * Messages of the other shapes the data path asks about. Evaluated once before a swap and not
 * judged (a policy may well fail closed on them): they make V8 compile the module's functions
 * now, rather than on the first requests after the swap.
 */
const WARM_QUERIES: PolicyQuery[] = [
  { ...SMOKE_QUERY, method: 'tools/call', name: 'portcullis-smoke', arguments: { a: 1 }, params: undefined },
  { ...SMOKE_QUERY, kind: 'list_item', method: 'tools/call', name: 'portcullis-smoke', params: undefined },
  { ...SMOKE_QUERY, direction: 'server_to_client', kind: 'response', method: 'tools/call', name: 'portcullis-smoke', result: { content: [{ type: 'text', text: 'x' }] } },
  { ...SMOKE_QUERY, direction: 'server_to_client', kind: 'request', method: 'sampling/createMessage', era: 'legacy', protocolVersion: '2025-11-25' },
];

/** Fails when the policy cannot produce a well-formed decision for a basic input. */
function smokeCheck(engine: PolicyEngine): void {
  const decision = engine.decide(SMOKE_QUERY);
  if (decision.outcome === 'error') {
    throw new BundleError('smoke_failed', `the policy failed its smoke evaluation (tools/list by an anonymous caller): ${decision.reasons.join('; ')}`);
  }
  for (const query of WARM_QUERIES) engine.decide(query);
}

/** Parses, verifies, loads and smoke-checks a bundle: a snapshot ready to serve, or BundleError. */
export async function prepareSnapshot(bytes: Buffer, source: string, options: Omit<HolderOptions, 'name' | 'log'>, sequence: number): Promise<PolicySnapshot> {
  const bundle = await parseBundle(bytes, source, options.parse);
  checkPin(bundle, options.sha256);
  const engine = await PolicyEngine.load(bundle, options.limits);
  smokeCheck(engine);
  return Object.freeze({ info: engine.info, engine, sequence, decide: (query: PolicyQuery) => engine.decide(query) });
}

export class PolicyHolder {
  readonly name: string;
  readonly #options: HolderOptions;
  readonly #status: PolicyStatusTracker;
  readonly #log: (line: string) => void;
  readonly #emit: PolicyEventListener;
  #current: PolicySnapshot | undefined;
  /** The snapshot before the current one: exchanges that began under it may still finish with it. */
  #previous: PolicySnapshot | undefined;
  #requested = 0;
  #queue: Promise<unknown> = Promise.resolve();

  constructor(options: HolderOptions) {
    this.name = options.name;
    this.#options = options;
    this.#log = options.log ?? console.error;
    this.#emit = safeListener(options.onEvent, this.#log);
    this.#status = new PolicyStatusTracker(options.name, options.source);
  }

  /** The snapshot serving now. Throws before the first activation: the gateway does not serve then. */
  current(): PolicySnapshot {
    if (this.#current === undefined) throw new Error(`policy ${this.name}: no bundle is active yet`);
    return this.#current;
  }

  /** The snapshot serving now, or undefined before the first activation. */
  get active(): PolicySnapshot | undefined {
    return this.#current;
  }

  /** A snapshot still held (current or previous) by its bundle's sha256: for answers decided later. */
  bySha256(sha256: string): PolicySnapshot | undefined {
    if (this.#current?.info.sha256 === sha256) return this.#current;
    if (this.#previous?.info.sha256 === sha256) return this.#previous;
    return undefined;
  }

  /** A copy of the status object (plain JSON). */
  status(): PolicyStatus {
    return this.#status.snapshot();
  }

  /** Status setters for the source that feeds this holder (requests, downloads, HTTP errors). */
  get tracker(): PolicyStatusTracker {
    return this.#status;
  }

  #event(type: PolicyEvent['type'], source: string, error: PolicyEvent['error']): void {
    const info = this.#current?.info;
    this.#emit({ type, policy: this.name, source, revision: info?.revision ?? null, sha256: info?.sha256 ?? null, error });
  }

  /**
   * A source checked and found no new bundle (unchanged, 304) or could not fetch one (`error`);
   * sources call it so subscribers see every check, not only swaps.
   */
  noteCheck(source: string, error: { code: string; message: string } | null = null): void {
    this.#event('checked', source, error);
  }

  /**
   * Loads `bytes` and swaps it in if every check passes. Resolves (never rejects) with what
   * happened; failures are recorded in the status and logged, and the last good snapshot serves on.
   */
  activate(bytes: Buffer, source: string): Promise<Activation> {
    const sequence = ++this.#requested;
    const run = async (): Promise<Activation> => {
      if (sequence < this.#requested) return { result: 'superseded', snapshot: this.#current };
      const before = this.#current;
      // The very bytes that serve (a touched file, a service that ignores If-None-Match): they
      // were verified and loaded already, so nothing is loaded again.
      if (before !== undefined && createHash('sha256').update(bytes).digest('hex') === before.info.sha256) {
        this.#status.activated(before.info);
        this.#event('checked', source, null);
        return { result: 'unchanged', snapshot: before };
      }
      try {
        const snapshot = await prepareSnapshot(bytes, source, this.#options, sequence);
        // The guard: only a newer load may replace what serves (loads are serial, so this holds
        // by construction; it stays as the invariant's check).
        if (this.#current !== undefined && this.#current.sequence > sequence) return { result: 'superseded', snapshot: this.#current };
        this.#previous = this.#current;
        this.#current = snapshot;
        this.#status.activated(snapshot.info);
        this.#event('activated', source, null);
        this.#log(`portcullis: policy ${this.name}: activated revision ${snapshot.info.revision} (sha256 ${snapshot.info.sha256.slice(0, 12)}…) from ${source}${snapshot.info.keyId ? `, signed by ${snapshot.info.keyId}` : ''}`);
        return { result: 'activated', snapshot };
      } catch (err) {
        const error = err instanceof BundleError ? err : new BundleError('smoke_failed', `unexpected failure loading the bundle: ${(err as Error).message}`);
        this.#status.failed(error.code, error.message);
        const keeps = this.#current ? `revision ${this.#current.info.revision} keeps serving` : 'no policy is serving';
        this.#log(`portcullis: policy ${this.name}: refused bundle from ${source} [${error.code}]: ${error.message}; ${keeps}`);
        this.#event('refused', source, { code: error.code, message: error.message });
        return { result: 'failed', snapshot: this.#current, error };
      }
    };
    const result = this.#queue.then(run);
    this.#queue = result;
    return result;
  }
}
