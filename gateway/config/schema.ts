// The configuration file's schema. Every key is documented in docs/configuration.md.
import { z } from 'zod';
import { identityConfigSchema, upstreamCredentialsSchema } from '../identity/config.ts';

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
      })
      .strict()
      .default({ log: 'none' }),
    targets: z
      .record(targetName, target)
      .refine((t) => Object.keys(t).length > 0, 'at least one target is required'),
  })
  .strict();

export type Config = z.infer<typeof configSchema>;
export type TargetConfig = Config['targets'][string];
