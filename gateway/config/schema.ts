// The configuration file's schema. Every key is documented in docs/configuration.md.
import { z } from 'zod';
import { identityConfigSchema, upstreamCredentialsSchema } from '../identity/config.ts';
import { approvalsConfigSchema } from '../approvals/config.ts';

const targetName = z
  .string()
  .regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'target names are lowercase letters, digits, "-" and "_"');

const target = z
  .object({
    url: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL of the upstream MCP endpoint' }),
    /** How the gateway authenticates to this upstream; the caller's own credentials never go upstream. */
    credentials: upstreamCredentialsSchema.default({ type: 'none' }),
    /** Time allowed for the upstream to start answering (headers), in ms. */
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
    policy: z
      .object({
        /** Path to an `opa build -t wasm` bundle tarball, relative to this file. */
        bundle: z.string().min(1),
        /** Optional pin: refuse any bundle whose sha256 differs. */
        sha256: z.string().regex(/^[0-9a-fA-F]{64}$/, 'must be a hex sha256').optional(),
        /** Cap on serialized arguments/params passed to the policy. */
        max_input_bytes: z.number().int().min(256).default(16 * 1024),
        /** Cap on a serialized call result passed to the response-time decision. */
        max_result_bytes: z.number().int().min(256).default(64 * 1024),
      })
      .strict(),
    limits: z
      .object({
        max_body_bytes: z.number().int().min(1024).default(4 * 1024 * 1024),
        max_response_bytes: z.number().int().min(1024).default(32 * 1024 * 1024),
        upstream_timeout_ms: z.number().int().positive().default(30_000),
      })
      .strict()
      .default({ max_body_bytes: 4 * 1024 * 1024, max_response_bytes: 32 * 1024 * 1024, upstream_timeout_ms: 30_000 }),
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
      })
      .strict()
      .default({ log: 'none' }),
    state: stateSchema,
    approvals: approvalsConfigSchema,
    targets: z
      .record(targetName, target)
      .refine((t) => Object.keys(t).length > 0, 'at least one target is required'),
  })
  .strict();

export type Config = z.infer<typeof configSchema>;
export type TargetConfig = Config['targets'][string];
