// The policy engine: one loaded WASM module answering `portcullis/decision` for every message.
import { loadPolicy, type LoadedPolicy } from '@open-policy-agent/opa-wasm';
import { EvaluationClock, hostBuiltins, RUNNABLE_IMPORTED_BUILTINS } from './builtins.ts';
import type { PolicyBundle } from './bundle.ts';
import { BundleError } from './errors.ts';
import { failClosed, toDecision, type Decision } from './decision.ts';
import { serializeInput, type InputLimits, type PolicyQuery } from './input.ts';

export const ENTRYPOINT = 'portcullis/decision';

export interface PolicyInfo {
  revision: string;
  sha256: string;
  source: string;
  /** Key whose signature was verified; null when no verification key is configured. */
  keyId: string | null;
  loadedAt: string;
}

const encoder = new TextEncoder();

/**
 * Lists the builtins a compiled module imports from its host. opa-wasm resolves them only when a
 * policy calls one, which would surface a missing builtin as a denial at request time; reading
 * the module's `builtins` export at load time refuses such a bundle up front.
 */
function importedBuiltins(module: WebAssembly.Module): string[] {
  const memory = new WebAssembly.Memory({ initial: 5 });
  const refuse = () => {
    throw new BundleError('not_opa_module', 'policy module called out while being inspected');
  };
  const env = {
    memory, opa_abort: refuse, opa_println: () => {},
    opa_builtin0: refuse, opa_builtin1: refuse, opa_builtin2: refuse, opa_builtin3: refuse, opa_builtin4: refuse,
  };
  const exports = new WebAssembly.Instance(module, { env }).exports as Record<string, unknown>;
  const builtins = exports.builtins as () => number;
  const dump = exports.opa_json_dump as (addr: number) => number;
  const bytes = new Uint8Array(memory.buffer);
  const start = dump(builtins());
  const end = bytes.indexOf(0, start);
  return Object.keys(JSON.parse(Buffer.from(bytes.subarray(start, end)).toString('utf8')) as object);
}

export class PolicyEngine {
  readonly info: PolicyInfo;
  readonly #policy: LoadedPolicy;
  readonly #clock: EvaluationClock;
  readonly #limits: InputLimits;

  private constructor(policy: LoadedPolicy, clock: EvaluationClock, bundle: PolicyBundle, limits: InputLimits) {
    this.#policy = policy;
    this.#clock = clock;
    this.#limits = limits;
    this.info = Object.freeze({
      revision: bundle.revision, sha256: bundle.sha256, source: bundle.source, keyId: bundle.signature?.keyId ?? null, loadedAt: new Date().toISOString(),
    });
  }

  /** Compiles and checks a bundle; throws BundleError with the reason when it cannot be used. */
  static async load(bundle: PolicyBundle, options: InputLimits & { clock?: EvaluationClock }): Promise<PolicyEngine> {
    let module: WebAssembly.Module;
    try {
      module = await WebAssembly.compile(new Uint8Array(bundle.wasm));
    } catch (err) {
      throw new BundleError('invalid_wasm', `policy.wasm is not a valid WebAssembly module (${(err as Error).message})`);
    }
    let imported: string[];
    try {
      imported = importedBuiltins(module);
    } catch (err) {
      throw new BundleError('not_opa_module', `policy.wasm is not an OPA policy module (${(err as Error).message})`);
    }
    const missing = imported.filter((name) => !RUNNABLE_IMPORTED_BUILTINS.has(name));
    if (missing.length > 0) {
      throw new BundleError('missing_builtins', `policy needs builtins the gateway does not provide: ${missing.join(', ')}`);
    }
    const clock = options.clock ?? new EvaluationClock();
    let policy: LoadedPolicy;
    try {
      policy = await loadPolicy(module, undefined, hostBuiltins(clock));
    } catch (err) {
      throw new BundleError('not_opa_module', `policy.wasm could not be instantiated (${err instanceof Error ? err.message : String(err)})`);
    }
    if (!Object.hasOwn(policy.entrypoints as object, ENTRYPOINT)) {
      throw new BundleError('wrong_entrypoint', `bundle has no ${ENTRYPOINT} entrypoint (build with 'opa build -t wasm -e ${ENTRYPOINT}')`);
    }
    try {
      policy.setData(bundle.data as object);
    } catch (err) {
      throw new BundleError('bad_data', `bundle data could not be loaded (${String(err)})`);
    }
    return new PolicyEngine(policy, clock, bundle, { maxInputBytes: options.maxInputBytes, maxResultBytes: options.maxResultBytes });
  }

  /** Decides one message. Never throws: an evaluation error is a denial naming the error. */
  decide(query: PolicyQuery): Decision {
    return this.evaluateJson(serializeInput(query, this.#limits));
  }

  /** Evaluates an input document already serialized as JSON text. */
  evaluateJson(inputJson: string): Decision {
    const revision = this.info.revision;
    let resultSet: unknown;
    try {
      this.#clock.reset();
      resultSet = this.#policy.evaluate(encoder.encode(inputJson).buffer, ENTRYPOINT);
    } catch (err) {
      // opa-wasm throws strings or plain objects as often as Errors.
      const message = err instanceof Error ? err.message : typeof err === 'string' ? err : JSON.stringify(err);
      return failClosed(`policy evaluation failed: ${message}`, revision);
    }
    return toDecision(resultSet, revision);
  }
}
