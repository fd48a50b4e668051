// Assembles the gateway from its parts: configuration in, a Hono app and its lifecycle out.
import { randomBytes } from 'node:crypto';
import { Hono, type Context } from 'hono';
import type { LoadedConfig } from './config/load.ts';
import { anonymousAuthenticator, oidcAuthenticator, upstreamCredentialProvider } from './identity/index.ts';
import { mcpRoutes } from './mcp/route.ts';
import { Upstreams } from './mcp/upstream.ts';
import type { PolicyEngine } from './policy/engine.ts';
import { clusterStatus, startPolicy, type PolicyEvent, type PolicyRuntime } from './policy/index.ts';
import { MaskPlanCache } from './masking/index.ts';
import type { Decision } from './policy/decision.ts';
import { checkedDecision } from './mcp/protect.ts';
import { openState, ReplicaPublisher, type SharedState } from './state/index.ts';
import { hostPolicy, originPolicy } from './origin.ts';
import { escapedError, notFound } from './edge.ts';
import { ConfigError, type LoadedConfig as Loaded } from './config/load.ts';
import { ApprovalFlow, approvalPage, approvalRoutes, approvalWeb, approverSession, Approvals, MemoryApprovalStore, parseSealingKeys, parseWebhookSecrets, Webhooks, RedisApprovalStore, Sealer, SealError } from './approvals/index.ts';
import type { PolicyQuery } from './policy/input.ts';
import { hostname } from 'node:os';
import type { AuditSink } from './telemetry/audit.ts';
import { openAuditSinks } from './telemetry/sink.ts';
import { observeCounts, policyEventReporter, resolveTelemetry, startTelemetry, trails, type Telemetry } from './telemetry/index.ts';
import { openRecordings, type RecordingSink } from './recordings/index.ts';
import type { SpanExporter } from '@opentelemetry/sdk-trace';

export interface Gateway {
  app: Hono;
  /** The engine serving now (it changes when a new bundle is activated). */
  readonly policy: PolicyEngine;
  /** The live policy: holders, status, pinning (gateway/policy/index.ts). */
  policies: PolicyRuntime;
  close(): Promise<void>;
}

export interface GatewayOptions {
  log?: (message: string) => void;
  /** Where decision records go instead of what `audit.log` configures (`audit.decision_log` gets them too). */
  audit?: AuditSink;
  /** Where recorded messages go; defaults to what `recordings` configures (docs/audit.md). */
  recordings?: RecordingSink;
  /** Told of every policy activation, refused bundle and check (telemetry's metric and span event). */
  onPolicyEvent?: (event: PolicyEvent) => void;
  /** With `telemetry.enabled`: spans go here instead of OTLP (tests: the SDK's in-memory exporter). */
  spanExporter?: SpanExporter;
}

export async function createGateway(config: LoadedConfig, options: GatewayOptions = {}): Promise<Gateway> {
  const log = options.log ?? console.error;
  // Traces and metrics (telemetry.enabled), per gateway and never registered globally.
  const resolved = resolveTelemetry(config.telemetry, config.env);
  const telemetry: Telemetry | undefined = resolved ? startTelemetry(resolved, config.env, { log, ...(options.spanExporter ? { spanExporter: options.spanExporter } : {}) }) : undefined;
  const reportPolicyEvent = policyEventReporter(telemetry);
  const audits = openAuditSinks(config.audit, { file: config.file, env: config.env, log, replace: options.audit });
  const audit = audits.sink;
  // Policy events go to the caller (telemetry) and refresh this replica's shared status report.
  let replicaStatus: ReplicaPublisher | undefined;
  const onPolicyEvent = (event: PolicyEvent) => {
    options.onPolicyEvent?.(event);
    reportPolicyEvent(event);
    replicaStatus?.refresh();
  };
  const policies = await startPolicy(config.policy, { env: config.env, log, audit, onEvent: onPolicyEvent });
  let hashKey = config.maskHashKey;
  if (hashKey === undefined) {
    hashKey = randomBytes(32);
    log('portcullis: masking.hash_key_env is not set: hashed values correlate only within this process');
  }
  const upstreams = new Upstreams(
    Object.entries(config.targets).map(([name, t]) => ({
      name, url: t.url,
      credentials: upstreamCredentialProvider(t.credentials, { target: name, url: t.url, env: config.env, log }),
      timeoutMs: t.timeout_ms ?? config.limits.upstream_timeout_ms,
    })),
  );
  // Sessions and pending ids every replica must see; Redis unreachable refuses the start here.
  const state = await openState(config, log);
  log(`portcullis: ${state.description}`);

  // Tokens from the configured issuers; without issuers, the development subject (or anonymous).
  // Introspection results are shared through the state when it is shared (see docs/state.md).
  const cache = state.introspectionCache;
  const oidc = config.identity.issuers.length > 0 ? oidcAuthenticator(config.identity, { log, env: config.env, ...(cache ? { cache } : {}) }) : undefined;
  if (oidc) void oidc.warmUp();
  const authenticator = oidc ?? anonymousAuthenticator(config.identity);

  const masks = new MaskPlanCache({ hashKey });
  const decide = (query: PolicyQuery) => checkedDecision(policies.decide(query), masks);
  const approvals = config.approvals.enabled ? openApprovals(config, state, masks, decide, log) : undefined;
  // Session recordings (gateway/recordings): the sink the request path hands masked messages to;
  // /api/sessions, and /sessions on the approvals page's login.
  const recordings = openRecordings(config, state, { authenticator, signedIn: approvals?.signedIn, log });
  const recordingSink = options.recordings ?? recordings.sink;

  telemetry?.metrics?.observe(
    () => [policies.enforced.current().info],
    async () => state.health(),
  );
  const decisionLog = audits.decisionLog;
  observeCounts(telemetry, {
    candidate: () => policies.status().candidate?.observed,
    ...(config.recordings.enabled && options.recordings === undefined ? { recordings: () => recordings.stats() } : {}),
    ...(decisionLog ? { decisionLog: () => decisionLog.counters() } : {}),
  });
  const sha256Of = (revision: string) => {
    const info = policies.enforced.current().info;
    return info.revision === revision ? info.sha256 : '';
  };
  const trail = trails({ telemetry, recordings: recordingSink, masks, sha256Of, log });

  const app = new Hono();
  app.notFound(notFound);
  app.onError(escapedError(log));
  // Liveness: this process answers. Readiness: it can also serve stateful requests.
  app.get('/healthz', (c) => c.text('ok'));
  app.get('/readyz', async (c) => {
    const health = await state.health();
    return c.json({ ready: health.ok, state: health }, health.ok ? 200 : 503);
  });
  const scrape = telemetry?.scrape;
  if (scrape) {
    // The OpenTelemetry metrics in the Prometheus text format, on the gateway's own port.
    app.get('/metrics', async (c) => c.body(await scrape(), 200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8', 'cache-control': 'no-store' }));
  }
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
  // The policy's status (gateway/policy/status.ts) beside the target names; with shared state,
  // every live replica's too (each publishes its own). Signed whole (a JWS) with policy.status_signing.
  const ownStatus = () => ({ ...policies.status(), targets: Object.keys(config.targets) });
  const board = state.replicaStatus;
  if (board !== undefined) {
    replicaStatus = new ReplicaPublisher({ board, replicaId: policies.status().replica.id, body: ownStatus, intervalMs: config.policy.status_publish_seconds * 1000, log });
  }
  const statusBody = () => (board === undefined ? Promise.resolve(ownStatus()) : clusterStatus(ownStatus(), board));
  app.get('/status', async (c) => c.json(await statusBody()));
  const sign = policies.signedStatus;
  if (sign !== undefined) {
    app.get('/status/signed', async (c) => c.body(await sign(await statusBody()), 200, { 'content-type': 'application/jose', 'cache-control': 'no-store' }));
  }
  app.route('/', mcpRoutes({
    screening: {
      decide, masks, audit,
      pin: () => {
        const pinned = policies.pin().decide;
        return (query) => checkedDecision(pinned(query), masks);
      },
    },
    upstreams,
    sessions: state.sessions,
    authenticator,
    limits: {
      maxBodyBytes: config.limits.max_body_bytes, maxResponseBytes: config.limits.max_response_bytes, maxJsonDepth: config.limits.max_json_depth,
      maxEventBytes: config.limits.max_event_bytes, maxStreamBytes: config.limits.max_stream_bytes,
      streamIdleMs: config.limits.stream_idle_timeout_ms,
    },
    isAllowedOrigin: originPolicy(config.security.allowed_origins, config.listen.host),
    isAllowedHost: hostPolicy(config.security.allowed_hosts, config.listen.host),
    log,
    ...(approvals ? { approvals: approvals.flow } : {}),
    trail,
  }));
  if (approvals) {
    app.route('/', approvalRoutes({ approvals: approvals.service, flow: approvals.flow, authenticator, targets: Object.keys(config.targets), log }));
    app.route('/', approvals.web ?? approvalPage());
  }
  if (recordings.routes) app.route('/', recordings.routes);
  return {
    app,
    get policy() {
      return policies.enforced.current().engine;
    },
    policies,
    close: async () => {
      policies.close();
      await replicaStatus?.stop();
      await approvals?.close();
      await upstreams.close();
      await recordings.close();
      await state.close();
      await telemetry?.shutdown();
      await audits.close(); // last: flushes the records of everything above
    },
  };
}

/**
 * The approval workflow (gateway/approvals): its store follows the shared state (Redis shares
 * records, wake-ups and the sweeper's work across replicas), its sealing keys come from the
 * environment. A sweeper turns deadlines into expiry events.
 */
function openApprovals(config: Loaded, state: SharedState, masks: MaskPlanCache, decide: (q: PolicyQuery) => Decision, log: (m: string) => void) {
  const a = config.approvals;
  let sealer: Sealer;
  const keysText = a.sealing_keys_env === undefined ? undefined : config.env[a.sealing_keys_env];
  if (a.sealing_keys_env !== undefined) {
    try {
      sealer = new Sealer(parseSealingKeys(keysText ?? ''));
    } catch (err) {
      if (!(err instanceof SealError)) throw err;
      throw new ConfigError(config.file, [`approvals.sealing_keys_env: environment variable ${a.sealing_keys_env}: ${err.message}`]);
    }
  } else if (state.redis !== undefined) {
    throw new ConfigError(config.file, ['approvals.sealing_keys_env: required with state.backend: redis (every replica must open what another sealed)']);
  } else {
    log('portcullis: approvals.sealing_keys_env is not set: approval state is sealed with a key of this process only');
    sealer = new Sealer([{ kid: 'process', key: randomBytes(32) }]);
  }
  const retentionMs = a.retention_days * 86_400_000;
  const store = state.redis ? new RedisApprovalStore(state.redis, { prefix: state.keyPrefix, retentionMs }) : new MemoryApprovalStore();
  const replica = `${hostname()}/${process.pid}/${randomBytes(4).toString('hex')}`;
  const endpoints = a.webhooks.map((w, i) => {
    try {
      return { url: w.url, keys: parseWebhookSecrets(config.env[w.secret_env] ?? ''), format: w.format, ...(w.events ? { events: new Set(w.events) } : {}) };
    } catch (err) {
      throw new ConfigError(config.file, [`approvals.webhooks[${i}].secret_env: environment variable ${w.secret_env}: ${(err as Error).message}`]);
    }
  });
  let pageUrl = (id: string) => id;
  const webhooks = endpoints.length > 0 ? new Webhooks(endpoints, { pageUrl: (id) => pageUrl(id), log }) : undefined;
  const service = new Approvals({ store, sealer, masks, decide, replica, log, ...(webhooks ? { onEvent: (r, e) => webhooks.emit(r, e) } : {}) });
  const base = a.page_base_url ?? config.identity.public_base_url ?? `http://${config.listen.host.includes(':') ? `[${config.listen.host}]` : config.listen.host}:${config.listen.port}`;
  const flow = new ApprovalFlow({
    approvals: service, pageBaseUrl: base, log,
    maxHoldMs: a.max_hold_seconds * 1000, retryHoldMs: a.retry_hold_seconds * 1000, keepaliveMs: a.keepalive_seconds * 1000,
  });
  pageUrl = (id) => flow.pageUrl(id);
  let sweeping = false;
  const sweeper = setInterval(() => {
    if (sweeping) return;
    sweeping = true;
    service.sweep().catch((err: Error) => log(`approvals: sweep failed (retried): ${err.message}`)).finally(() => { sweeping = false; });
  }, a.sweep_interval_ms);
  sweeper.unref();
  let web: ReturnType<typeof approvalWeb> | undefined;
  if (a.page) {
    const issuer = config.identity.issuers.find((i) => i.issuer.replace(/\/+$/, '') === a.page!.issuer.replace(/\/+$/, ''));
    const clientSecret = config.env[a.page.client_secret_env];
    if (!issuer) throw new ConfigError(config.file, [`approvals.page.issuer: ${a.page.issuer} is not one of identity.issuers`]);
    if (!clientSecret) throw new ConfigError(config.file, [`approvals.page.client_secret_env: environment variable ${a.page.client_secret_env} is not set`]);
    web = approvalWeb({ approvals: service, flow, sealer, baseUrl: base, issuer, clientId: a.page.client_id, clientSecret, sessionSeconds: a.page.session_seconds, log });
  }
  const signedIn = web ? (c: Context) => approverSession(sealer, c) : undefined;
  return { service, flow, web, signedIn, close: async () => { clearInterval(sweeper); webhooks?.close(); await store.close(); } };
}
