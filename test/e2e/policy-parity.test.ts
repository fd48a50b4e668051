// Parity: a corpus of inputs evaluated by the real `opa eval` (pinned CLI, plain Rego from the
// sources, not -t wasm) and by the gateway's WASM path (the bundle `npm run bundle` builds, loaded
// by PolicyEngine) must give identical decisions, so a policy behaves in the gateway as it did
// in `opa test`. The raw decision documents are compared, and the normalized Decisions too.
import { execFile } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { loadPolicy } from '@open-policy-agent/opa-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { EvaluationClock, hostBuiltins } from '../../gateway/policy/builtins.ts';
import { readBundle } from '../../gateway/policy/bundle.ts';
import { toDecision } from '../../gateway/policy/decision.ts';
import { ENTRYPOINT, PolicyEngine } from '../../gateway/policy/engine.ts';
import { serializeInput, type PolicyQuery, type Subject } from '../../gateway/policy/input.ts';
import { IGNORED, tools } from '../../scripts/bundle.ts';
import { bundleFor, EXAMPLE_POLICY, FIXTURE_POLICY } from '../helpers/gateway.ts';

const LIMITS = { maxInputBytes: 2048, maxResultBytes: 4096 };

const subject = (groups: string[], extra: Partial<Subject> = {}): Subject => ({
  authenticated: groups.length > 0, type: groups.length > 0 ? 'user' : 'anonymous', sub: groups.length > 0 ? 'u1' : '',
  issuer: groups.length > 0 ? 'https://idp.example' : '', client_id: groups.length > 0 ? 'c1' : '', email: groups.length > 0 ? 'u1@example.com' : '',
  groups, scopes: groups.length > 0 ? ['mcp:tools'] : [], claims: {}, ...extra,
});

const SUBJECTS = [subject([]), subject(['engineering']), subject(['support']), subject(['admins']), subject(['sre', 'admins']), subject(['guests'])];

const NAMES: Record<string, string[]> = {
  'tools/call': ['list_customers', 'get_customer', 'search_orders', 'delete_customer', 'refund_order', 'run_sql', 'run_shell', 'echo', 'add', 'approve_me', 'delete_everything', 'unknown_tool', ''],
  'prompts/get': ['incident_summary', 'greet', 'nope'],
  'resources/read': ['demo://docs/runbook', 'test://hello', 'test://other', 'file:///etc/passwd'],
};
const PROTOCOL = ['initialize', 'tools/list', 'ping', 'resources/list', 'notifications/initialized', 'logging/setLevel', 'completion/complete', 'server/discover'];
const SERVER_SIDE = ['sampling/createMessage', 'elicitation/create', 'roots/list', 'notifications/progress', 'notifications/message'];

/** A corpus covering every branch the two policies have, plus awkward values. */
function corpus(): PolicyQuery[] {
  const out: PolicyQuery[] = [];
  const base = { era: 'stateless' as const, protocolVersion: '2026-07-28', target: 'demo', sessionId: '' };
  for (const s of SUBJECTS) {
    const subjectJson = JSON.stringify(s);
    for (const [method, names] of Object.entries(NAMES)) {
      for (const name of names) {
        out.push({ ...base, direction: 'client_to_server', kind: 'request', method, name, arguments: { q: 'x', n: 1 }, subjectJson });
        out.push({ ...base, direction: 'client_to_server', kind: 'list_item', method, name, subjectJson });
        out.push({ ...base, direction: 'client_to_server', kind: 'request', method, name, arguments: { blob: 'x'.repeat(4000) }, subjectJson }); // truncated
        out.push({ ...base, direction: 'server_to_client', kind: 'response', method, name, result: { content: [{ type: 'text', text: 'strict: forbidden-word ünïcödé' }] }, subjectJson });
        out.push({ ...base, direction: 'server_to_client', kind: 'response', method, name, result: { content: [{ type: 'text', text: 'fine' }], structuredContent: { n: 1e21, f: 0.1 } }, subjectJson });
      }
    }
    for (const method of PROTOCOL) {
      out.push({ ...base, direction: 'client_to_server', kind: method.startsWith('notifications/') ? 'notification' : 'request', method, name: '', params: { a: [1, 'two', null, true] }, subjectJson });
      out.push({ ...base, era: 'legacy', protocolVersion: '2025-11-25', sessionId: 'sess-1', direction: 'client_to_server', kind: 'request', method, name: '', params: {}, subjectJson });
    }
    for (const method of SERVER_SIDE) {
      const kind = method.startsWith('notifications/') ? 'notification' : 'request';
      out.push({ ...base, era: 'legacy', protocolVersion: '2025-11-25', sessionId: 'sess-1', direction: 'server_to_client', kind, method, name: '', params: { message: 'mail bob@example.com' }, subjectJson });
      out.push({ ...base, direction: 'client_to_server', kind: 'response', method, name: '', result: { action: 'accept' }, subjectJson });
    }
  }
  return out;
}

interface Side {
  /** Raw decision documents, one per corpus input; undefined where the entrypoint is undefined. */
  raw: unknown[];
}

/** Evaluates every input with `opa eval` on the Rego sources, in one process. */
async function opaEval(source: string, inputs: string[]): Promise<unknown[]> {
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-parity-'));
  const file = join(dir, 'cases.json');
  await writeFile(file, `{"cases":[${inputs.join(',')}]}`);
  const query = '{i: d | some i, x in input.cases; d := data.portcullis.decision with input as x}';
  const { stdout } = await promisify(execFile)(
    (await tools()).opa,
    ['eval', '--format', 'json', '--input', file, ...IGNORED.flatMap((p) => ['--ignore', p]), '--data', source, query],
    { maxBuffer: 256 * 1024 * 1024 },
  );
  const byIndex = (JSON.parse(stdout) as { result: Array<{ expressions: Array<{ value: Record<string, unknown> }> }> }).result[0]!.expressions[0]!.value;
  return inputs.map((_, i) => byIndex[String(i)]);
}

async function wasmEval(bundlePath: string, inputs: string[]): Promise<unknown[]> {
  const bundle = await readBundle(bundlePath);
  const policy = await loadPolicy(bundle.wasm, undefined, hostBuiltins(new EvaluationClock()));
  policy.setData(bundle.data as object);
  const encoder = new TextEncoder();
  return inputs.map((json) => (policy.evaluate(encoder.encode(json).buffer, ENTRYPOINT) as Array<{ result: unknown }>)[0]?.result);
}

const strip = ({ id: _, ...rest }: { id: string; [k: string]: unknown }) => rest;

describe.each([EXAMPLE_POLICY, FIXTURE_POLICY, 'test/fixtures/rego/identity'])('parity of opa eval and WASM: %s', (source) => {
  const queries = corpus();
  const inputs = queries.map((q) => serializeInput(q, LIMITS));
  const sides: { opa?: Side; wasm?: Side } = {};
  let engine: PolicyEngine;
  beforeAll(async () => {
    const bundlePath = await bundleFor(source);
    const [o, w, b] = await Promise.all([opaEval(source, inputs), wasmEval(bundlePath, inputs), readBundle(bundlePath)]);
    sides.opa = { raw: o };
    sides.wasm = { raw: w };
    engine = await PolicyEngine.load(b, LIMITS);
  }, 120_000);

  it(`gives identical raw decisions for all ${inputs.length} inputs`, () => {
    const differing = inputs
      .map((input, i) => ({ input, opa: sides.opa!.raw[i], wasm: sides.wasm!.raw[i] }))
      .filter((c) => !isDeep(c.opa, c.wasm));
    expect(differing.slice(0, 3)).toEqual([]);
  });

  it('gives identical gateway decisions (normalized the same way) through PolicyEngine', () => {
    const revision = engine.info.revision;
    for (const [i, input] of inputs.entries()) {
      const fromOpa = toDecision(sides.opa!.raw[i] === undefined ? [] : [{ result: sides.opa!.raw[i] }], revision);
      const fromWasm = engine.evaluateJson(input);
      expect(strip(fromWasm as never), input).toEqual(strip(fromOpa as never));
    }
  });

  it('the corpus is not trivial: it reaches allows, denies, approvals and masks', () => {
    const decisions = sides.opa!.raw.map((r) => toDecision(r === undefined ? [] : [{ result: r }], ''));
    expect(decisions.some((d) => d.allow)).toBe(true);
    expect(decisions.some((d) => d.outcome === 'deny')).toBe(true);
    if (source !== 'test/fixtures/rego/identity') expect(decisions.some((d) => d.mask.length > 0)).toBe(true);
    if (source === EXAMPLE_POLICY) expect(decisions.some((d) => d.approval?.required)).toBe(true);
    expect(new Set(decisions.flatMap((d) => d.ruleIds)).size).toBeGreaterThan(4);
  });
});

function isDeep(a: unknown, b: unknown): boolean {
  return JSON.stringify(sortKeys(a)) === JSON.stringify(sortKeys(b));
}
function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v && typeof v === 'object') return Object.fromEntries(Object.keys(v).sort().map((k) => [k, sortKeys((v as Record<string, unknown>)[k])]));
  return v;
}
