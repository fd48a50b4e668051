// The `recordings` configuration section (docs/configuration.md, docs/audit.md).
import { z } from 'zod';

const int = (min: number, max: number, fallback: number) => z.number().int().min(min).max(max).default(fallback);

export const RECORDINGS_DEFAULTS = {
  enabled: false,
  when_full: 'fail_closed' as const,
  buffer_messages: 10_000,
  buffer_bytes: 64 * 1024 * 1024,
  flush_interval_ms: 100,
  flush_batch: 500,
  retention_seconds: 7 * 86_400,
  max_messages: 10_000,
  max_recordings: 100_000,
  max_recordings_per_principal: 100,
  // Above limits.max_body_bytes (4 MiB) with room for the subject: any request the gateway takes can be recorded whole.
  max_message_bytes: 5 * 1024 * 1024,
  memory_max_bytes: 256 * 1024 * 1024,
  close_timeout_ms: 5000,
  auditor_groups: [] as string[],
};

export const recordingsConfigSchema = z
  .object({
    /** Record every message of every exchange (masked). Off: the request path builds nothing. */
    enabled: z.boolean().default(RECORDINGS_DEFAULTS.enabled),
    /**
     * The buffer between the request path and the store is full (the store is slow or down):
     * `fail_closed`: `record` answers false and the call is refused with -32092 before it is
     * forwarded; `drop` lets them through unrecorded (counted).
     */
    when_full: z.enum(['fail_closed', 'drop']).default(RECORDINGS_DEFAULTS.when_full),
    /** Messages the buffer holds before it is full. */
    buffer_messages: int(1, 10_000_000, RECORDINGS_DEFAULTS.buffer_messages),
    /** Bytes (serialized) the buffer holds before it is full. */
    buffer_bytes: int(1024, 8 * 1024 * 1024 * 1024, RECORDINGS_DEFAULTS.buffer_bytes),
    /** Longest a message waits in the buffer before a write is started. */
    flush_interval_ms: int(1, 60_000, RECORDINGS_DEFAULTS.flush_interval_ms),
    /** Messages per write; a buffer holding this many is written at once. */
    flush_batch: int(1, 100_000, RECORDINGS_DEFAULTS.flush_batch),
    /** A message older than this is gone; a recording expires this long after its last message. */
    retention_seconds: int(60, 3650 * 86_400, RECORDINGS_DEFAULTS.retention_seconds),
    /** Messages kept per recording (Redis trims approximately: `MAXLEN ~`); the oldest go first. */
    max_messages: int(10, 10_000_000, RECORDINGS_DEFAULTS.max_messages),
    /** Recordings listed (Redis) or kept (memory); the least recently written go first. */
    max_recordings: int(1, 100_000_000, RECORDINGS_DEFAULTS.max_recordings),
    /** Recordings kept (memory) or listed (Redis; past it, deleted) per principal: one principal's growth evicts only its own oldest. */
    max_recordings_per_principal: int(1, 100_000_000, RECORDINGS_DEFAULTS.max_recordings_per_principal),
    /** Serialized bytes one recorded message may take; a larger one is recorded as a too-large marker (counted). */
    max_message_bytes: int(1024, 256 * 1024 * 1024, RECORDINGS_DEFAULTS.max_message_bytes),
    /** state.backend memory: bytes all recordings may take; the least recently written go first. */
    memory_max_bytes: int(1024 * 1024, 64 * 1024 * 1024 * 1024, RECORDINGS_DEFAULTS.memory_max_bytes),
    /** At shutdown, how long the buffer may take to be written; what is left is counted as dropped. */
    close_timeout_ms: int(0, 120_000, RECORDINGS_DEFAULTS.close_timeout_ms),
    /** Groups (identity groups claim) whose members read recordings: /api/sessions, the CLI, the page. */
    auditor_groups: z.array(z.string().min(1)).default(RECORDINGS_DEFAULTS.auditor_groups),
    /** Link from a message to its trace; `{trace_id}` is replaced (e.g. https://jaeger.example/trace/{trace_id}). */
    trace_url: z
      .string()
      .refine((u) => u.includes('{trace_id}') && /^https?:\/\//.test(u), 'must be an http(s) URL containing {trace_id}')
      .optional(),
  })
  .strict()
  .default(RECORDINGS_DEFAULTS);

export type RecordingsConfig = z.infer<typeof recordingsConfigSchema>;
