// The `audit.decision_log` configuration section (docs/configuration.md, docs/decision-logs.md):
// where decision records are shipped in OPA's decision-log shape, and how they are batched.
import { z } from 'zod';

const int = (min: number, max: number, fallback: number) => z.number().int().min(min).max(max).default(fallback);
const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name');
const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);

export const decisionLogConfigSchema = z
  .object({
    /** The receiver's endpoint, POSTed a gzipped JSON array of events (OPA's resource is `/logs`). */
    url: z.url({ protocol: /^https?$/ }).refine((u) => { const url = new URL(u); return url.username === '' && url.password === ''; }, 'no credentials in the URL (they would be logged): use token_env'),
    /** Environment variable holding a bearer token sent as `Authorization: Bearer …`. */
    token_env: envName.optional(),
    /** Extra labels on every event, beside `id` and `version` (which the gateway sets). */
    labels: z.record(z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'label names are 1-64 letters, digits, _ . -'), z.string().max(256))
      .refine((l) => !Object.hasOwn(l, 'id') && !Object.hasOwn(l, 'version'), 'id and version are set by the gateway')
      .default({}),
    /** A batch is sent once it holds this many events… */
    batch_max_events: int(1, 10_000, 100),
    /** …or this many bytes of uncompressed JSON (one larger event goes alone). */
    batch_max_bytes: int(1024, 16 * 1024 * 1024, 256 * 1024),
    /** Whatever is buffered is sent at least this often. */
    flush_interval_ms: int(10, 600_000, 5000),
    /** Events held while the receiver is slow or down; past this the oldest waiting one is dropped (counted). */
    buffer_max_events: int(1, 1_000_000, 10_000),
    /** One POST's limit; a timeout is retried like a network error. */
    timeout_ms: int(10, 120_000, 10_000),
    /** Backoff between retries doubles from 100 ms (or this, if lower) up to this. */
    retry_max_delay_ms: int(10, 600_000, 30_000),
  })
  .strict()
  .refine((c) => c.batch_max_events <= c.buffer_max_events, { message: 'batch_max_events must not exceed buffer_max_events', path: ['batch_max_events'] })
  // A bearer token over plain HTTP could be read on the way; loopback (a local collector) is fine.
  .refine((c) => c.token_env === undefined || new URL(c.url).protocol === 'https:' || LOOPBACK.has(new URL(c.url).hostname), {
    message: 'a bearer token (token_env) is only sent over https, or to a loopback address',
    path: ['url'],
  });

export type DecisionLogConfig = z.infer<typeof decisionLogConfigSchema>;
