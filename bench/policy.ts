// Policy evaluation per call, ~1 KB tools/call input: raw opa-wasm `evaluate(object)` on the very
// same WASM and data vs the gateway's decision path `PolicyEngine.decide(query)` (serialize input,
// evaluate, normalize the decision).
//
// Timing: one process.hrtime.bigint() pair per call, i.e. per-iteration samples. An evaluation
// costs microseconds while a timer pair costs tens of nanoseconds (measured and reported as
// `timer_overhead_ns`), so batching is not needed; samples include that overhead on both sides.
// The two paths run in alternating blocks so GC pauses, frequency changes and noisy neighbours
// land on both equally.
import { isDeepStrictEqual } from 'node:util';
import { loadPolicy } from '@open-policy-agent/opa-wasm';
import { EvaluationClock, hostBuiltins } from '../gateway/policy/builtins.ts';
import { readBundle } from '../gateway/policy/bundle.ts';
import { ENTRYPOINT, PolicyEngine } from '../gateway/policy/engine.ts';
import { configSchema } from '../gateway/config/schema.ts';
import { serializeInput, type InputLimits, type PolicyQuery, type Subject } from '../gateway/policy/input.ts';
import { bundleFor, EXAMPLE_POLICY, FIXTURE_POLICY } from '../test/helpers/gateway.ts';
import { runPolicyLifecycleBench } from './policy-lifecycle.ts';
import { row, Samples, summarize, type Row, type Summary } from './stats.ts';

export interface PolicyBenchOptions {
  /** Measured calls per path. */
  iterations: number;
  /** Unmeasured calls per path before measuring. */
  warmup: number;
  log: (line: string) => void;
}

export interface PolicyBenchResult {
  rows: Row[];
  data: Record<string, unknown>;
}

/** The configuration's default caps, as the gateway would run with them. */
function defaultLimits(): InputLimits {
  const { policy } = configSchema.parse({ policy: { bundle: 'bench' }, targets: { bench: { url: 'http://127.0.0.1/mcp' } } });
  return { maxInputBytes: policy.max_input_bytes, maxResultBytes: policy.max_result_bytes };
}
const BLOCK = 500;

const SUBJECT: Subject = {
  authenticated: true,
  type: 'user',
  sub: '00u1a2b3c4d5e6f7g8h9',
  issuer: 'https://login.example.com/oauth2/default',
  client_id: 'portcullis-desktop',
  email: 'alice.nguyen@example.com',
  groups: ['engineering', 'oncall', 'payments-team'],
  scopes: ['openid', 'profile', 'email', 'mcp:tools'],
  claims: { auth_time: 1767225600, acr: 'urn:okta:loa:2fa:any' },
};

/** Arguments of a realistic order search, sized so the whole input is about 1 KB. */
const ARGUMENTS = {
  customer_id: 'cus_9f8e7d6c5b4a',
  status: ['open', 'shipped', 'backordered'],
  created_after: '2026-01-01T00:00:00Z',
  created_before: '2026-03-31T23:59:59Z',
  query: 'blue widget express shipping "gift wrap"',
  sort: { field: 'created_at', order: 'desc' },
  limit: 50,
  include: ['line_items', 'shipping_address', 'payment_summary'],
  note: 'Customer called about a delayed order; checking every open or shipped order this quarter.',
};

function queryFor(tool: string): PolicyQuery {
  return {
    era: 'stateless',
    protocolVersion: '2026-07-28',
    direction: 'client_to_server',
    kind: 'request',
    method: 'tools/call',
    name: tool,
    arguments: ARGUMENTS,
    target: 'orders',
    sessionId: '',
    subjectJson: JSON.stringify(SUBJECT),
  };
}


/** The example policy when it builds, else the test fixture policy (which allows `echo`). */
async function chooseBundle(log: (line: string) => void): Promise<{ policy: string; path: string; tool: string }> {
  try {
    return { policy: EXAMPLE_POLICY, path: await bundleFor(EXAMPLE_POLICY), tool: 'search_orders' };
  } catch (err) {
    log(`policy bench: ${EXAMPLE_POLICY} does not build (${(err as Error).message.split('\n')[0]}); using ${FIXTURE_POLICY}`);
    return { policy: FIXTURE_POLICY, path: await bundleFor(FIXTURE_POLICY), tool: 'echo' };
  }
}

function timerOverheadNs(): number {
  const s = new Samples(10_000);
  for (let i = 0; i < 10_000; i++) {
    const t0 = process.hrtime.bigint();
    const t1 = process.hrtime.bigint();
    s.push(Number(t1 - t0));
  }
  return summarize(s.values()).p50;
}

const us = (s: Summary) => ({ p50: s.p50 / 1000, p90: s.p90 / 1000, p99: s.p99 / 1000, mean: s.mean / 1000, min: s.min / 1000, max: s.max / 1000, n: s.n });

export async function runPolicyBench(opts: PolicyBenchOptions): Promise<PolicyBenchResult> {
  const chosen = await chooseBundle(opts.log);
  const bundle = await readBundle(chosen.path);
  const limits = defaultLimits();
  const engine = await PolicyEngine.load(bundle, limits);
  const raw = await loadPolicy(bundle.wasm, undefined, hostBuiltins(new EvaluationClock()));
  raw.setData(bundle.data as object);

  const query = queryFor(chosen.tool);
  const inputJson = serializeInput(query, limits);
  // Path (a) gets the very document path (b) builds, as a plain object (the shape of
  // docs/policy-contract.md, whatever fields it has grown), so both evaluate the same input.
  const input = JSON.parse(inputJson) as Record<string, unknown>;
  if (input.contract !== 'portcullis/v1' || input.truncated !== false || !isDeepStrictEqual(input.arguments, ARGUMENTS) || !isDeepStrictEqual(input.subject, SUBJECT)) {
    throw new Error(`policy bench: unexpected input document ${inputJson.slice(0, 200)}…; update bench/policy.ts to the contract`);
  }
  const inputBytes = Buffer.byteLength(inputJson);
  // opa-wasm copies an ArrayBuffer input into WASM memory and never writes to it: reuse one.
  const preEncoded = new TextEncoder().encode(inputJson).slice().buffer;
  const rawResult = raw.evaluate(input, ENTRYPOINT) as Array<{ result: { allow?: unknown; rule_ids?: unknown } }>;
  const decision = engine.decide(query);
  if (decision.outcome !== 'allow' || rawResult[0]?.result.allow !== true || !isDeepStrictEqual(rawResult[0].result.rule_ids, decision.ruleIds)) {
    throw new Error(`policy bench: expected both paths to allow ${chosen.tool}; raw ${JSON.stringify(rawResult)}, engine ${JSON.stringify(decision)}`);
  }

  // Sinks keep the results observable so nothing is optimized away.
  let sink = 0;
  const runRaw = () => {
    sink += (raw.evaluate(input, ENTRYPOINT) as unknown[]).length;
  };
  const runDecide = () => {
    sink += engine.decide(query).ruleIds.length;
  };
  // Floor: evaluate alone on input already encoded (what both paths do beyond serializing).
  const runFloor = () => {
    sink += (raw.evaluate(preEncoded, ENTRYPOINT) as unknown[]).length;
  };
  const runSerialize = () => {
    sink += serializeInput(query, limits).length;
  };

  const paths = [
    { key: 'raw', fn: runRaw, samples: new Samples(opts.iterations) },
    { key: 'decide', fn: runDecide, samples: new Samples(opts.iterations) },
    { key: 'evaluate_preencoded', fn: runFloor, samples: new Samples(opts.iterations) },
    { key: 'serialize_input', fn: runSerialize, samples: new Samples(opts.iterations) },
  ];

  for (let done = 0; done < opts.warmup; done += BLOCK) for (const p of paths) for (let i = 0; i < BLOCK; i++) p.fn();
  const overheadNs = timerOverheadNs();
  for (let done = 0; done < opts.iterations; done += BLOCK) {
    const n = Math.min(BLOCK, opts.iterations - done);
    for (const p of paths) {
      const { fn, samples } = p;
      for (let i = 0; i < n; i++) {
        const t0 = process.hrtime.bigint();
        fn();
        const t1 = process.hrtime.bigint();
        samples.push(Number(t1 - t0));
      }
    }
  }
  if (sink === 0) throw new Error('policy bench: no results');

  const stats = Object.fromEntries(paths.map((p) => [p.key, us(summarize(p.samples.values()))]));
  const a = stats.raw!;
  const b = stats.decide!;
  const ratio = b.p50 / a.p50;
  const S = 'policy';
  const rows = [
    row(S, 'input_bytes', `input size (${chosen.tool}, serialized)`, inputBytes, 'B'),
    row(S, 'raw_p50_us', '(a) raw opa-wasm evaluate(object) p50', a.p50, 'µs'),
    row(S, 'raw_p99_us', '(a) raw opa-wasm evaluate(object) p99', a.p99, 'µs'),
    row(S, 'decide_p50_us', '(b) engine.decide(query) p50', b.p50, 'µs', { kind: 'max', value: 20 }),
    row(S, 'decide_p99_us', '(b) engine.decide(query) p99', b.p99, 'µs'),
    row(S, 'decide_over_raw_p50', 'ratio b/a at p50', ratio, 'x', { kind: 'max', value: 1.25 }),
    row(S, 'evaluate_preencoded_p50_us', 'evaluate(pre-encoded bytes) p50, floor', stats.evaluate_preencoded!.p50, 'µs'),
    row(S, 'serialize_input_p50_us', 'serializeInput alone p50', stats.serialize_input!.p50, 'µs'),
  ];
  // Lifecycle: observe-only candidate cost, decisions around a hot swap, memory per engine.
  const lifecycle = await runPolicyLifecycleBench({ iterations: Math.min(opts.iterations, 20_000), query, log: opts.log });
  rows.push(...lifecycle.rows);
  return {
    rows,
    data: {
      lifecycle: lifecycle.data,
      policy: chosen.policy,
      revision: engine.info.revision,
      tool: chosen.tool,
      input_bytes: inputBytes,
      iterations: opts.iterations,
      warmup: opts.warmup,
      timing: 'per-iteration hrtime.bigint samples, paths alternating in blocks of 500',
      timer_overhead_ns: overheadNs,
      us: stats,
      ratio_decide_over_raw_p50: ratio,
      ratio_decide_over_raw_p99: b.p99 / a.p99,
    },
  };
}
