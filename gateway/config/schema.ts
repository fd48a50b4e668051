// The configuration file's schema. Every key is documented in docs/configuration.md.
import { z } from 'zod';
import { identityConfigSchema, upstreamCredentialsSchema } from '../identity/config.ts';
import { policyConfigSchema } from '../policy/config.ts';

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
    targets: z
      .record(targetName, target)
      .refine((t) => Object.keys(t).length > 0, 'at least one target is required'),
  })
  .strict();

export type Config = z.infer<typeof configSchema>;
export type TargetConfig = Config['targets'][string];
