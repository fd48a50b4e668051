// The `audit` section with `decision_log`, and the sinks it opens: stdout and HTTP at once,
// one sink's failure kept from the others, a missing token refused at start.
import { describe, expect, it } from 'vitest';
import { ConfigError, validateConfig } from '../../../gateway/config/load.ts';
import { toDecision } from '../../../gateway/policy/decision.ts';
import { recordDecision, type AuditSink, type DecisionRecord } from '../../../gateway/telemetry/audit.ts';
import { fanOutAudit, openAuditSinks } from '../../../gateway/telemetry/sink.ts';
import { startDecisionLogReceiver } from '../../helpers/decision-log-receiver.ts';

const minimal = { policy: { bundle: 'b.tar.gz' }, targets: { demo: { url: 'http://127.0.0.1:9090/mcp' } } };
const FILE = '/etc/portcullis/gateway.yaml';

function problems(audit: unknown): string[] {
  try {
    validateConfig({ ...minimal, audit }, FILE, {});
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}

const query = {
  era: 'legacy', protocolVersion: '2025-11-25', direction: 'client_to_server', kind: 'request', method: 'tools/list', name: '',
  target: 'demo', sessionId: 's-1', subjectJson: '{}',
} as const;
const decision = () => toDecision([{ result: { allow: true } }], 'r1');
const collect = (): AuditSink & { records: DecisionRecord[] } => {
  const records: DecisionRecord[] = [];
  return { enabled: true, records, record: (r) => records.push(r) };
};

describe('audit.decision_log configuration', () => {
  it('keeps audit.log working alone and fills the decision log defaults', () => {
    expect(validateConfig({ ...minimal, audit: { log: 'stdout' } }, FILE, {}).audit).toEqual({ log: 'stdout' });
    const config = validateConfig({ ...minimal, audit: { log: 'stdout', decision_log: { url: 'https://logs.example/logs' } } }, FILE, {});
    expect(config.audit.decision_log).toEqual({
      url: 'https://logs.example/logs', labels: {}, batch_max_events: 100, batch_max_bytes: 262144, flush_interval_ms: 5000,
      buffer_max_events: 10000, timeout_ms: 10000, retry_max_delay_ms: 30000,
    });
  });

  it.each([
    ['a missing url', {}, 'audit.decision_log.url: '],
    ['a non-http url', { url: 'ftp://logs.example/logs' }, 'audit.decision_log.url: '],
    ['credentials in the url', { url: 'https://u:p@logs.example/logs' }, 'audit.decision_log.url: no credentials in the URL (they would be logged): use token_env'],
    ['a token over plain http to another host', { url: 'http://logs.example/logs', token_env: 'LOG_TOKEN' }, 'audit.decision_log.url: a bearer token (token_env) is only sent over https, or to a loopback address'],
    ['a bad variable name', { url: 'https://logs.example/logs', token_env: 'not a name' }, 'audit.decision_log.token_env: must be an environment variable name'],
    ['batches larger than the buffer', { url: 'https://logs.example/logs', batch_max_events: 50, buffer_max_events: 10 }, 'audit.decision_log.batch_max_events: batch_max_events must not exceed buffer_max_events'],
    ['a zero flush interval', { url: 'https://logs.example/logs', flush_interval_ms: 0 }, 'audit.decision_log.flush_interval_ms: '],
    ['an unknown key', { url: 'https://logs.example/logs', batch_size: 5 }, 'audit.decision_log: '],
    ['a label the gateway sets', { url: 'https://logs.example/logs', labels: { version: '9' } }, 'audit.decision_log.labels: id and version are set by the gateway'],
  ])('refuses %s, naming the key', (_, decisionLog, prefix) => {
    const found = problems({ decision_log: decisionLog });
    expect(found.some((p) => p.startsWith(prefix)), found.join('\n')).toBe(true);
  });

  it('allows a token over plain http to loopback (a local collector)', () => {
    expect(problems({ decision_log: { url: 'http://127.0.0.1:4318/logs', token_env: 'LOG_TOKEN' } })).toEqual([]);
  });
});

describe('openAuditSinks', () => {
  it('refuses to start when the token variable is not set', () => {
    const config = validateConfig({ ...minimal, audit: { decision_log: { url: 'https://logs.example/logs', token_env: 'LOG_TOKEN' } } }, FILE, {});
    expect(() => openAuditSinks(config.audit, { file: FILE, env: {}, log: () => {} })).toThrow(
      new ConfigError(FILE, ['audit.decision_log.token_env: environment variable LOG_TOKEN is not set']),
    );
  });

  it('sends every record to the replacement sink and the decision log at once', async () => {
    const receiver = await startDecisionLogReceiver();
    try {
      const config = validateConfig({ ...minimal, audit: { log: 'stdout', decision_log: { url: receiver.url, token_env: 'LOG_TOKEN' } } }, FILE, {});
      const lines = collect();
      const sinks = openAuditSinks(config.audit, { file: FILE, env: { LOG_TOKEN: 't0k' }, log: () => {}, replace: lines });
      const d = decision();
      recordDecision(sinks.sink, query, 'ada', d);
      await sinks.close();
      expect(lines.records.map((r) => r.decision_id)).toEqual([d.id]);
      expect(receiver.accepted().map((e) => e.decision_id)).toEqual([d.id]);
      expect(receiver.posts[0]!.headers.authorization).toBe('Bearer t0k');
      expect(sinks.decisionLog?.counters().sent_events).toBe(1);
    } finally {
      await receiver.close();
    }
  });

  it('without a decision log opens only what audit.log says', async () => {
    const config = validateConfig({ ...minimal }, FILE, {});
    const sinks = openAuditSinks(config.audit, { file: FILE, env: {}, log: () => {} });
    expect(sinks.sink.enabled).toBe(false);
    expect(sinks.decisionLog).toBeUndefined();
    await sinks.close();
  });
});

describe('fanOutAudit', () => {
  it('is disabled with no enabled sink, and is the sink itself with one', () => {
    expect(fanOutAudit([undefined, { enabled: false, record: () => {} }]).enabled).toBe(false);
    const one = collect();
    expect(fanOutAudit([one, undefined])).toBe(one);
  });

  it('keeps a failing sink from the others and logs it', () => {
    const logs: string[] = [];
    const after = collect();
    const broken: AuditSink = { enabled: true, record: () => { throw new Error('disk full'); } };
    const sink = fanOutAudit([broken, after], (m) => logs.push(m));
    const d = decision();
    recordDecision(sink, query, 'ada', d);
    expect(after.records.map((r) => r.decision_id)).toEqual([d.id]);
    expect(logs).toEqual([`audit: a sink failed to take record ${d.id}: disk full`]);
  });
});
