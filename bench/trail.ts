// The audit trail alone, in process: the calls the request path makes on one exchange's trail for
// a 2026-07-28 tools/call (authenticate stage, begin, decide, upstream CLIENT call, both crossings,
// answered), without HTTP, policy or upstream around them, so its cost per exchange can be measured
// apart from the noise of a loaded machine. Spans go through the real BatchSpanProcessor to an
// exporter that serializes each batch with the OTLP protobuf serializer (what the HTTP exporter
// does before sending) and discards it; recordings go to a sink that serializes like the recorder.
//   node bench/trail.ts [--calls N] [--rounds N] [--variants metrics,tracing,recordings,both]
// (with `node --cpu-prof` and one variant, a profile of just that trail).
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { BatchSpanProcessor, TracerProvider, type ReadableSpan, type SpanExporter } from '@opentelemetry/sdk-trace';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { BATCH } from '../gateway/telemetry/otel.ts';
import { resolveTelemetry, startTelemetry, telemetryConfigSchema, trails, type Telemetry } from '../gateway/telemetry/index.ts';
import type { RecordedMessage, RecordingSink } from '../gateway/recordings/entry.ts';
import type { Decision } from '../gateway/policy/decision.ts';
import type { PolicyQuery } from '../gateway/policy/input.ts';
import type { Identity } from '../gateway/identity/identity.ts';
import type { MaskPlanCache } from '../gateway/masking/index.ts';

const { values } = parseArgs({ options: { calls: { type: 'string', default: '40000' }, rounds: { type: 'string', default: '5' }, variants: { type: 'string' } } });

class SerializingExporter implements SpanExporter {
  bytes = 0;
  export(spans: ReadableSpan[], done: (r: ExportResult) => void): void {
    this.bytes += ProtobufTraceSerializer.serializeRequest(spans)?.length ?? 0;
    done({ code: ExportResultCode.SUCCESS });
  }
  shutdown(): Promise<void> {
    return Promise.resolve();
  }
}

const recorded = { n: 0, bytes: 0 };
const recordings: RecordingSink = { enabled: true, admit: () => true, record: (m: RecordedMessage) => { recorded.n++; recorded.bytes += JSON.stringify(m).length; return true; } };
const noRecordings: RecordingSink = { enabled: false, admit: () => true, record: () => true };

const identity: Identity = { subject: { issuer: '', groups: [] } as unknown as Identity['subject'], subjectJson: '{"sub":"anonymous"}', principal: '["anonymous","","anonymous"]' };
const decision: Decision = {
  id: '56b6a759-6e85-46d2-8a36-dc25d9847a5d', outcome: 'allow', allow: true, reasons: ['allow-all policy: every message is allowed'], ruleIds: ['allow_all'],
  mask: [], maskMode: 'strict', approval: null, missingScopes: [], inspectResponse: false, revision: 'rego-01daee61f417f35a',
};
const META = { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientInfo': { name: 'portcullis-bench', version: '1' }, 'io.modelcontextprotocol/clientCapabilities': {} };
const headers = new Headers({ host: '127.0.0.1:38347', 'content-type': 'application/json', 'mcp-protocol-version': '2026-07-28' });

/** The gateway's telemetry (startTelemetry: metrics, propagator), its tracer swapped for one batching to `exporter` as otel.ts does. */
function telemetryFor(config: unknown, exporter: SpanExporter): Telemetry | undefined {
  const resolved = resolveTelemetry(telemetryConfigSchema.parse(config), {});
  if (resolved === undefined) return undefined;
  const base = startTelemetry({ ...resolved, traces: undefined }, {}, { log: () => {} });
  if (resolved.traces === undefined) return base;
  const provider = new TracerProvider({ spanProcessors: [new BatchSpanProcessor({ exporter, ...BATCH })] });
  return { ...base, tracer: provider.getTracer('portcullis', '0.1.0'), shutdown: async () => { await provider.shutdown(); await base.shutdown(); } };
}

async function exchange(open: ReturnType<typeof trails>, i: number): Promise<void> {
  const trail = open(headers, 'bench', '127.0.0.1');
  const id = await trail.stage('portcullis.authenticate', () => Promise.resolve(identity));
  trail.identify(id);
  const params = { name: 'echo', arguments: { text: 'hello portcullis' }, _meta: META };
  trail.begin({ kind: 'request', method: 'tools/call', name: 'echo', id: i, params, era: 'stateless', protocolVersion: '2026-07-28', sessionId: '' });
  trail.decide({ method: 'tools/call' } as PolicyQuery, () => decision);
  const call = trail.upstream('http://127.0.0.1:35117/mcp');
  const sent = { jsonrpc: '2.0', id: i, method: 'tools/call', params: { ...params, _meta: { ...META, ...call.meta } } };
  call.responded(200, false);
  // The allow-all decision masks nothing: the request is kept as sent.
  trail.crossed({ direction: 'client_to_server', origin: 'client', message: sent, mask: undefined });
  trail.crossed({ direction: 'server_to_client', origin: 'upstream', message: { jsonrpc: '2.0', id: i, result: { content: [{ type: 'text', text: 'hello portcullis' }] } } });
  trail.answered();
}

const VARIANTS: Array<{ name: string; config: unknown; recordings: boolean }> = [
  { name: 'metrics', config: { enabled: true, traces: { enabled: false } }, recordings: false },
  { name: 'tracing', config: { enabled: true }, recordings: false },
  { name: 'recordings', config: { enabled: false }, recordings: true },
  { name: 'both', config: { enabled: true }, recordings: true },
];

async function main(): Promise<void> {
  const calls = Number(values.calls);
  const masks = {} as MaskPlanCache;
  const only = values.variants?.split(',');
  const sides = await Promise.all(VARIANTS.filter((v) => only === undefined || only.includes(v.name)).map(async (v) => {
    const exporter = new SerializingExporter();
    const telemetry = telemetryFor(v.config, exporter);
    return { v, exporter, telemetry, open: trails({ telemetry, recordings: v.recordings ? recordings : noRecordings, masks, sha256Of: () => '68bf12d6a6131770aac70034a5ec1b2083b3a6d1d787e4aba404117cf2417bf8', log: (m) => console.error(m) }), us: 0, n: 0 };
  }));
  for (const s of sides) for (let i = 0; i < 5000; i++) await exchange(s.open, i);
  for (let r = 0; r < Number(values.rounds); r++) {
    for (const s of r % 2 === 0 ? sides : [...sides].reverse()) {
      const cpu = process.cpuUsage();
      for (let i = 0; i < calls; i++) await exchange(s.open, i);
      const d = process.cpuUsage(cpu);
      s.us += d.user + d.system;
      s.n += calls;
    }
  }
  for (const s of sides) {
    console.log(`${s.v.name.padEnd(11)} ${(s.us / s.n).toFixed(2).padStart(7)} µs CPU per exchange`);
    await s.telemetry?.shutdown();
  }
  console.log(`(exported ${sides.map((s) => s.exporter.bytes).join('/')} bytes; ${recorded.n} messages recorded; ${performance.now().toFixed(0)} ms)`);
}

await main();
