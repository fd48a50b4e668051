// Host-provided Rego builtins: the ones OPA's WASM compiler leaves to the host.
// `scripts/bundle.ts` reads HOST_BUILTINS to write the capabilities file, so a policy that needs
// anything the gateway cannot run fails at `opa build`, not at request time.

/** Builtin functions receive their Rego arguments already decoded from JSON. */
type Builtin = (...args: unknown[]) => unknown;

const NS_PER_MS = 1_000_000;
const WEEKDAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];

/**
 * Per-evaluation clock. OPA semantics: `time.now_ns()` is constant within one evaluation, so the
 * engine calls `reset()` before each evaluate and the first call inside it reads the clock.
 */
export class EvaluationClock {
  #nowNs: number | undefined;
  readonly #readMs: () => number;
  constructor(readMs: () => number = Date.now) {
    this.#readMs = readMs;
  }
  reset(): void {
    this.#nowNs = undefined;
  }
  nowNs(): number {
    this.#nowNs ??= this.#readMs() * NS_PER_MS;
    return this.#nowNs;
  }
}

/** `ns` or `[ns, "Area/City"]`, as OPA's time.date/clock/weekday accept. */
function civilParts(arg: unknown): Record<string, number | string> {
  const [ns, zone] = Array.isArray(arg) ? [arg[0], arg[1]] : [arg, 'UTC'];
  if (typeof ns !== 'number' || typeof zone !== 'string') {
    throw new Error('time: expected a number of nanoseconds or [ns, timezone]');
  }
  const format = new Intl.DateTimeFormat('en-US', {
    timeZone: zone === '' || zone === 'Local' ? 'UTC' : zone,
    hourCycle: 'h23',
    year: 'numeric', month: 'numeric', day: 'numeric',
    hour: 'numeric', minute: 'numeric', second: 'numeric', weekday: 'long',
  });
  const parts: Record<string, number | string> = {};
  for (const part of format.formatToParts(new Date(Math.floor(ns / NS_PER_MS)))) {
    parts[part.type] = part.type === 'weekday' ? part.value : Number(part.value);
  }
  return parts;
}

export function hostBuiltins(clock: EvaluationClock): Record<string, Builtin> {
  return {
    'time.now_ns': () => clock.nowNs(),
    'time.parse_rfc3339_ns': (value) => {
      const ms = typeof value === 'string' ? Date.parse(value) : Number.NaN;
      if (!Number.isFinite(ms)) throw new Error(`time.parse_rfc3339_ns: invalid timestamp ${JSON.stringify(value)}`);
      return ms * NS_PER_MS;
    },
    'time.date': (arg) => {
      const p = civilParts(arg);
      return [p.year, p.month, p.day];
    },
    'time.clock': (arg) => {
      const p = civilParts(arg);
      return [p.hour, p.minute, p.second];
    },
    'time.weekday': (arg) => {
      const day = civilParts(arg).weekday;
      if (!WEEKDAYS.includes(String(day))) throw new Error('time.weekday: cannot compute weekday');
      return day;
    },
  };
}

/** Names of the builtins the gateway itself supplies to WASM modules. */
export const HOST_BUILTINS: readonly string[] = Object.keys(hostBuiltins(new EvaluationClock()));

/** Builtins @open-policy-agent/opa-wasm 1.10.0 implements in JS (its src/builtins/). */
export const SDK_BUILTINS: readonly string[] = [
  'json.is_valid', 'sprintf', 'regex.split', 'yaml.is_valid', 'yaml.marshal', 'yaml.unmarshal',
];

/**
 * Every builtin a module may import from its host. Builtins compiled into the WASM module itself
 * are never imported, so a module whose import list stays inside this set can always run.
 */
export const RUNNABLE_IMPORTED_BUILTINS: ReadonlySet<string> = new Set([...HOST_BUILTINS, ...SDK_BUILTINS]);
