// The `approvals` configuration section (docs/configuration.md). Sealing keys come from the
// environment, never the file.
import { z } from 'zod';

const seconds = (min: number, max: number, fallback: number) => z.number().int().min(min).max(max).default(fallback);

export const approvalsConfigSchema = z
  .object({
    /** Hold calls that need approval (else they are refused, -32052). */
    enabled: z.boolean().default(false),
    /** Base URL of the approval page in links (`<base>/approvals/<id>`); default: identity.public_base_url, else the listen address. */
    page_base_url: z.url({ protocol: /^https?$/ }).optional(),
    /**
     * Environment variable holding the AEAD keys as `kid:base64(32 bytes)[,kid:base64...]`; the
     * first seals, all open (rotation). Replicas must share them. Required with state.backend: redis.
     */
    sealing_keys_env: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name').optional(),
    /** Legacy era: longest a POST is held on its stream before it ends with -32055 and the approval URL. */
    max_hold_seconds: seconds(1, 3600, 300),
    /** 2026-07-28: longest a retry waits for the decision before `input_required` again. */
    retry_hold_seconds: seconds(0, 120, 20),
    /** Interval of progress keep-alives on a held legacy stream (SDK request timeouts default to 60 s). */
    keepalive_seconds: seconds(1, 60, 15),
    /** How long records and their history are kept after their last change. */
    retention_days: seconds(1, 3650, 30),
    /**
     * The approvers' web page: an OIDC login (authorization code + PKCE) at one of
     * identity.issuers, with a confidential client whose redirect URI is
     * `<page_base_url>/approvals/callback`. Without it, /approvals/<id> only says how to decide.
     */
    page: z
      .object({
        issuer: z.url(),
        client_id: z.string().min(1),
        client_secret_env: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name'),
        /** How long a sign-in lasts. */
        session_seconds: z.number().int().min(60).max(86_400).default(8 * 3600),
      })
      .strict()
      .optional(),
    /** Outbound notifications (Standard Webhooks signatures); see docs/approvals.md. */
    webhooks: z
      .array(
        z
          .object({
            url: z.url({ protocol: /^https?$/ }),
            /** Environment variable holding `whsec_<base64>` secrets, space-separated (rotation: all sign). */
            secret_env: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name'),
            /** Event types to send (approval.requested, approval.approved, …); default all. */
            events: z.array(z.string().regex(/^approval\.[a-z]+$/)).min(1).optional(),
            /** `standard`: the thin JSON payload; `slack`: a Slack-compatible message with a link. */
            format: z.enum(['standard', 'slack']).default('standard'),
          })
          .strict(),
      )
      .default([]),
    /** How often the sweeper looks for requests past their deadline. */
    sweep_interval_ms: z.number().int().min(50).max(60_000).default(1000),
  })
  .strict()
  .default({ enabled: false, webhooks: [], max_hold_seconds: 300, retry_hold_seconds: 20, keepalive_seconds: 15, retention_days: 30, sweep_interval_ms: 1000 });

export type ApprovalsConfig = z.infer<typeof approvalsConfigSchema>;
