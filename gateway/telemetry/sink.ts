// Where decision records go: the sinks `audit:` configures, fanned out so stdout JSON lines and
// the HTTP decision log can run at once. One sink's failure never reaches another or the caller.
import { ConfigError } from '../config/load.ts';
import type { AuditSink, DecisionRecord } from './audit.ts';
import { discardAudit, jsonLinesAudit } from './audit.ts';
import type { DecisionLogConfig } from './decision-log-config.ts';
import { httpDecisionLog, type DecisionLogSink } from './decision-log.ts';

/** A sink holding records in memory until sent: `close` delivers them (or counts them lost). */
export interface ClosableAuditSink extends AuditSink {
  close(): Promise<void>;
}

/** Every enabled sink gets every record; with none enabled, the hot path skips building records. */
export function fanOutAudit(sinks: readonly (AuditSink | undefined)[], log: (message: string) => void = () => {}): AuditSink {
  const live = sinks.filter((s): s is AuditSink => s !== undefined && s.enabled);
  if (live.length === 0) return discardAudit;
  if (live.length === 1) return live[0]!;
  return {
    enabled: true,
    record(entry: DecisionRecord) {
      for (const sink of live) {
        try {
          sink.record(entry);
        } catch (err) {
          // A telemetry failure never changes a decision, nor keeps the record from the other sinks.
          log(`audit: a sink failed to take record ${entry.decision_id}: ${(err as Error).message}`);
        }
      }
    },
  };
}

export interface AuditSinks {
  /** The sink decisions are recorded to. */
  sink: AuditSink;
  /** The HTTP decision log, when `audit.decision_log` is set (its counters). */
  decisionLog?: DecisionLogSink;
  close(): Promise<void>;
}

export interface AuditConfig {
  log: 'none' | 'stdout';
  decision_log?: DecisionLogConfig | undefined;
}

/**
 * The sinks `audit:` asks for. `replace` stands in for what `audit.log` configures (tests, embedders);
 * the decision log is added either way. A missing token variable is a configuration error.
 */
export function openAuditSinks(config: AuditConfig, deps: { file: string; env: NodeJS.ProcessEnv; log: (message: string) => void; replace?: AuditSink | undefined }): AuditSinks {
  const lines = deps.replace ?? (config.log === 'stdout' ? jsonLinesAudit((line) => process.stdout.write(line)) : discardAudit);
  const d = config.decision_log;
  if (d === undefined) return { sink: lines, close: async () => {} };
  let token: string | undefined;
  if (d.token_env !== undefined) {
    token = deps.env[d.token_env];
    if (!token) throw new ConfigError(deps.file, [`audit.decision_log.token_env: environment variable ${d.token_env} is not set`]);
  }
  const decisionLog = httpDecisionLog({ config: d, log: deps.log, ...(token ? { token } : {}) });
  return { sink: fanOutAudit([lines, decisionLog], deps.log), decisionLog, close: () => decisionLog.close() };
}
