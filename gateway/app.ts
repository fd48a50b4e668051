// Assembles the gateway from its parts: configuration in, a Hono app and its lifecycle out.
import { randomBytes } from 'node:crypto';
import { Hono } from 'hono';
import type { LoadedConfig } from './config/load.ts';
import { anonymousAuthenticator, oidcAuthenticator, upstreamCredentialProvider } from './identity/index.ts';
import { mcpRoutes } from './mcp/route.ts';
import { Upstreams } from './mcp/upstream.ts';
import { readBundle } from './policy/bundle.ts';
import { PolicyEngine } from './policy/engine.ts';
import { MaskError, MaskPlanCache } from './masking/index.ts';
import { failClosed, type Decision } from './policy/decision.ts';
import { MemorySessionStore } from './sessions/store.ts';
import { hostPolicy, originPolicy } from './origin.ts';
import { escapedError, notFound } from './edge.ts';
import { discardAudit, jsonLinesAudit, type AuditSink } from './telemetry/audit.ts';

export interface Gateway {
  app: Hono;
  policy: PolicyEngine;
  close(): Promise<void>;
}

export interface GatewayOptions {
  log?: (message: string) => void;
  /** Where decision records go; defaults to what `audit.log` configures. */
  audit?: AuditSink;
}

/**
 * A decision whose mask list cannot be compiled is a denial, made before anything is forwarded:
 * finding out after the upstream ran would be too late for a destructive tool.
 */
function checkedDecision(decision: Decision, masks: MaskPlanCache): Decision {
  if (decision.mask.length === 0) return decision;
  try {
    masks.get(decision.mask);
    return decision;
  } catch (err) {
    if (!(err instanceof MaskError)) throw err;
    return failClosed(`policy decision "mask" is invalid: ${err.message}`, decision.revision);
  }
}

export async function createGateway(config: LoadedConfig, options: GatewayOptions = {}): Promise<Gateway> {
  const log = options.log ?? console.error;
  const bundle = await readBundle(config.policy.bundle, config.policy.sha256);
  const policy = await PolicyEngine.load(bundle, { maxInputBytes: config.policy.max_input_bytes, maxResultBytes: config.policy.max_result_bytes });
  let hashKey = config.maskHashKey;
  if (hashKey === undefined) {
    hashKey = randomBytes(32);
    log('portcullis: masking.hash_key_env is not set: hashed values correlate only within this process');
  }
  const audit = options.audit ?? (config.audit.log === 'stdout' ? jsonLinesAudit((line) => process.stdout.write(line)) : discardAudit);
  const upstreams = new Upstreams(
    Object.entries(config.targets).map(([name, t]) => ({
      name, url: t.url,
      credentials: upstreamCredentialProvider(t.credentials, { target: name, url: t.url, env: config.env, log }),
      timeoutMs: t.timeout_ms ?? config.limits.upstream_timeout_ms,
    })),
  );
  // Tokens from the configured issuers; without issuers, the development subject (or anonymous).
  const oidc = config.identity.issuers.length > 0 ? oidcAuthenticator(config.identity, { log, env: config.env }) : undefined;
  if (oidc) void oidc.warmUp();
  const authenticator = oidc ?? anonymousAuthenticator(config.identity);

  const masks = new MaskPlanCache({ hashKey });

  const app = new Hono();
  app.notFound(notFound);
  app.onError(escapedError(log));
  app.get('/healthz', (c) => c.text('ok'));
  if (oidc) {
    // RFC 9728: how MCP clients discover where to get a token for a target.
    app.get('/.well-known/oauth-protected-resource/mcp/:target', (c) => {
      const name = c.req.param('target');
      if (!Object.hasOwn(config.targets, name)) return c.json({ error: 'not_found' }, 404);
      c.header('access-control-allow-origin', '*');
      c.header('cache-control', 'public, max-age=300');
      return c.json(oidc.metadata(name));
    });
  }
  app.get('/status', (c) => c.json({ policy: policy.info, targets: Object.keys(config.targets) }));
  app.route('/', mcpRoutes({
    screening: { decide: (query) => checkedDecision(policy.decide(query), masks), masks, audit },
    upstreams,
    sessions: new MemorySessionStore(),
    authenticator,
    limits: {
      maxBodyBytes: config.limits.max_body_bytes, maxResponseBytes: config.limits.max_response_bytes, maxJsonDepth: config.limits.max_json_depth,
      maxEventBytes: config.limits.max_event_bytes, maxStreamBytes: config.limits.max_stream_bytes,
      streamIdleMs: config.limits.stream_idle_timeout_ms,
    },
    isAllowedOrigin: originPolicy(config.security.allowed_origins, config.listen.host),
    isAllowedHost: hostPolicy(config.security.allowed_hosts, config.listen.host),
    log,
  }));
  return { app, policy, close: () => upstreams.close() };
}
