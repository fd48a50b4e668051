// Approval wake-up latency across replicas: a 2026-07-28 retry waits on replica A; the approval
// is sent to replica B's API; measured from just before B is asked until the upstream receives
// the stored call from A. It covers B's HTTP handling, token check, vote policy, the CAS Lua
// script, Redis pub/sub, A's re-read, the claim script and the forward: an upper bound on
// "approval recorded on B -> upstream dispatch on A". Real Redis, IdP, two gateways, SDK upstream.
import { performance } from 'node:perf_hooks';
import { startApprovalsStack } from '../test/helpers/approvals-stack.ts';
import { row, Samples, summarize, type Row } from './stats.ts';

const META = { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientInfo': { name: 'bench', version: '1' }, 'io.modelcontextprotocol/clientCapabilities': { elicitation: { url: {} } } };
const KEY = 'io.portcullis/approval';

export async function runApprovalsBench(options: { iterations: number; log: (line: string) => void }): Promise<{ rows: Row[]; data: Record<string, unknown> }> {
  const s = await startApprovalsStack({ approvals: { retry_hold_seconds: 30 } });
  try {
    const [rita, sam] = await Promise.all([s.token('rita', ['admins']), s.token('sam', ['sre'])]);
    let dispatched: ((at: number) => void) | undefined;
    const received = s.modern.received;
    const push = received.push.bind(received);
    received.push = (...items) => {
      for (const item of items) if (item.body.includes('"tools/call"')) dispatched?.(performance.now());
      return push(...items);
    };
    let id = 1;
    const call = async (text: string, extra: Record<string, unknown> = {}) => {
      const res = await fetch(s.a.endpoint('modern'), {
        method: 'POST',
        headers: { authorization: `Bearer ${rita}`, 'content-type': 'application/json', accept: 'application/json', 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/call', 'mcp-name': 'echo' },
        body: JSON.stringify({ jsonrpc: '2.0', id: id++, method: 'tools/call', params: { name: 'echo', arguments: { text }, _meta: META, ...extra } }),
      });
      return res.json() as Promise<any>;
    };
    const samples = new Samples(options.iterations);
    const warmup = Math.min(20, options.iterations);
    for (let i = 0; i < options.iterations + warmup; i++) {
      const text = `sre: bench ${i}`;
      const first = await call(text);
      const state = first.result.requestState as string;
      const approval = first.result.inputRequests[KEY].params.elicitationId as string;
      const waiting = call(text, { requestState: state, inputResponses: { [KEY]: { action: 'accept' } } });
      await new Promise((r) => setTimeout(r, 30)); // the retry is subscribed and waiting
      const upstreamSaw = new Promise<number>((resolve) => { dispatched = resolve; });
      const t0 = performance.now();
      const voted = await s.api(s.b, 'POST', `/api/approvals/${approval}/approve`, sam, {});
      if (voted.json?.state !== 'approved') throw new Error(`approvals bench: vote failed: ${JSON.stringify(voted.json)}`);
      const t1 = await upstreamSaw;
      const out = await waiting;
      if (out.result?.content?.[0]?.text !== text) throw new Error(`approvals bench: the held call did not run: ${JSON.stringify(out)}`);
      if (i >= warmup) samples.push(t1 - t0);
    }
    const sum = summarize(samples.values());
    options.log(`approvals: ${sum.n} approvals, p50 ${sum.p50.toFixed(2)} ms, p99 ${sum.p99.toFixed(2)} ms`);
    return {
      rows: [
        row('approvals', 'wake_p50_ms', 'approve sent to B -> upstream gets the call from A, p50', sum.p50, 'ms'),
        row('approvals', 'wake_p99_ms', 'approve sent to B -> upstream gets the call from A, p99', sum.p99, 'ms', { kind: 'max', value: 20 }),
      ],
      data: { wake_ms: sum },
    };
  } finally {
    await s.close();
  }
}
