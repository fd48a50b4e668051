// The configuration file's schema. Every key is documented in docs/configuration.md.
import { z } from 'zod';
import { identityConfigSchema, upstreamCredentialsSchema } from '../identity/config.ts';
import { policyConfigSchema } from '../policy/config.ts';
import { approvalsConfigSchema } from '../approvals/config.ts';
import { recordingsConfigSchema } from '../recordings/config.ts';
import { decisionLogConfigSchema } from '../telemetry/decision-log-config.ts';
import { telemetryConfigSchema } from '../telemetry/config.ts';

/** Defaults of `limits`; docs/configuration.md states the same numbers. */
const LIMIT_DEFAULTS = {
  max_body_bytes: 4 * 1024 * 1024,
  max_response_bytes: 32 * 1024 * 1024,
  max_event_bytes: 32 * 1024 * 1024,
  max_stream_bytes: 256 * 1024 * 1024,
  max_json_depth: 64,
  stream_idle_timeout_ms: 300_000,
  upstream_timeout_ms: 30_000,
};

const targetName = z
  .string()
  .regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'target names are lowercase letters, digits, "-" and "_"');

const target = z
  .object({
    url: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL of the upstream MCP endpoint' }),
    /** How the gateway authenticates to this upstream; the caller's own credentials never go upstream. */
    credentials: upstreamCredentialsSchema.default({ type: 'none' }),
    /**
     * Time allowed for the upstream to answer, in ms: its headers, and a JSON answer's whole body;
     * a call waiting for a connection counts too. Streams (SSE) are bounded by bytes instead.
     */
    timeout_ms: z.number().int().positive().optional(),
  })
  .strict();

const redisUrl = z
  .url({ protocol: /^rediss?$/, error: 'must be a redis:// or rediss:// (TLS) URL' })
  .refine((u) => new URL(u).password === '', 'must not carry a password: name an environment variable in state.redis.password_env');

const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name');

/** Where the state every replica must share lives (sessions, pending ids); see docs/state.md. */
const stateSchema = z
  .object({
    /** `memory`: this process only (one replica). `redis`: shared by every replica and worker. */
    backend: z.enum(['memory', 'redis']).default('memory'),
    /** A legacy session unused this long is forgotten, with everything it holds. */
    session_idle_seconds: z.number().int().min(1).max(30 * 24 * 3600).default(3600),
    /** memory only: sessions kept; the least recently used goes first. */
    max_sessions: z.number().int().min(1).default(100_000),
    redis: z
      .object({
        /** One server (or a proxy in front of several). */
        url: redisUrl.optional(),
        /** Redis Cluster: some of its nodes; the rest are discovered. */
        cluster: z.array(redisUrl).min(1).optional(),
        username_env: envName.optional(),
        password_env: envName.optional(),
        /** Prepended to every key; braces would break the per-session hash tags. */
        key_prefix: z.string().regex(/^[^{}]{0,64}$/, 'at most 64 characters, no braces').default('portcullis:'),
        /** A command not answered in this time fails (the request gets 503). */
        command_timeout_ms: z.number().int().min(10).max(60_000).default(1000),
        /** Time allowed for the connection at start; past it the gateway refuses to start. */
        connect_timeout_ms: z.number().int().min(100).max(120_000).default(5000),
        /**
         * Share introspection results (opaque tokens) between replicas. Off by default: whoever can
         * write to Redis could then make any token look active, as anyone; see docs/state.md.
         */
        share_introspection: z.boolean().default(false),
      })
      .strict()
      .refine((r) => (r.url === undefined) !== (r.cluster === undefined), 'give exactly one of url or cluster')
      .optional(),
  })
  .strict()
  .refine((s) => s.backend !== 'redis' || s.redis !== undefined, { path: ['redis'], message: 'required when backend is redis' })
  .default({ backend: 'memory', session_idle_seconds: 3600, max_sessions: 100_000 });

export const configSchema = z
  .object({
    listen: z
      .object({
        host: z.string().default('127.0.0.1'),
        port: z.number().int().min(0).max(65535).default(8080),
      })
      .strict()
      .default({ host: '127.0.0.1', port: 8080 }),
    /** Where bundles come from, their signatures, an observe-only candidate: gateway/policy/config.ts. */
    policy: policyConfigSchema,
    limits: z
      .object({
        max_body_bytes: z.number().int().min(1024).default(LIMIT_DEFAULTS.max_body_bytes),
        /** A JSON answer from an upstream, in bytes. */
        max_response_bytes: z.number().int().min(1024).default(LIMIT_DEFAULTS.max_response_bytes),
        /** One SSE event from an upstream (the bytes received while it is incomplete). */
        max_event_bytes: z.number().int().min(1024).default(LIMIT_DEFAULTS.max_event_bytes),
        /** All bytes of one upstream SSE stream, over its whole life. */
        max_stream_bytes: z.number().int().min(1024).default(LIMIT_DEFAULTS.max_stream_bytes),
        /** Deepest nesting of arrays and objects in a client body or an upstream message. */
        max_json_depth: z.number().int().min(8).max(10_000).default(LIMIT_DEFAULTS.max_json_depth),
        /** Longest silence (not even a keep-alive) on a stream that owes an answer; 0: none. */
        stream_idle_timeout_ms: z.number().int().min(0).default(LIMIT_DEFAULTS.stream_idle_timeout_ms),
        upstream_timeout_ms: z.number().int().positive().default(LIMIT_DEFAULTS.upstream_timeout_ms),
      })
      .strict()
      .default(LIMIT_DEFAULTS),
    security: z
      .object({
        /** Browser origins allowed to call the gateway; requests with any other Origin get 403. */
        allowed_origins: z.array(z.url()).default([]),
        /**
         * Host header names accepted (DNS-rebinding defence). Empty: loopback names when listening
         * on loopback, any host otherwise.
         */
        allowed_hosts: z.array(z.string().min(1)).default([]),
      })
      .strict()
      .default({ allowed_origins: [], allowed_hosts: [] }),
    identity: identityConfigSchema,
    masking: z
      .object({
        /**
         * Environment variable holding the key for the "hash" mask style (>= 16 bytes). Replicas
         * must share it for hashes to correlate across them; unset, each process draws its own.
         */
        hash_key_env: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name').optional(),
      })
      .strict()
      .default({}),
    audit: z
      .object({
        /** Where decision records go: nowhere, or one JSON line each on stdout. */
        log: z.enum(['none', 'stdout']).default('none'),
        /** Also (or instead) ship them in OPA's decision-log shape to an HTTP receiver (docs/decision-logs.md). */
        decision_log: decisionLogConfigSchema.optional(),
      })
      .strict()
      .default({ log: 'none' }),
    state: stateSchema,
    approvals: approvalsConfigSchema,
    /** Session recordings (docs/audit.md): gateway/recordings/config.ts. */
    recordings: recordingsConfigSchema,
    /** Traces (OTLP) and metrics (/metrics): gateway/telemetry/config.ts, docs/telemetry.md. */
    telemetry: telemetryConfigSchema,
    targets: z
      .record(targetName, target)
      .refine((t) => Object.keys(t).length > 0, 'at least one target is required'),
  })
  .strict();

export type Config = z.infer<typeof configSchema>;
export type TargetConfig = Config['targets'][string];
