// The `policy` section of the configuration: where bundles come from (a watched file or an OPA
// bundle service), which keys they must be signed with, an observe-only candidate, and the key
// that signs /status. Composed into gateway/config/schema.ts; documented in docs/configuration.md.
// Secrets (HMAC secrets, bearer tokens) are only ever named by environment variable.
import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { createPrivateKey, type KeyObject } from 'node:crypto';
import { z } from 'zod';
import type { StatusSigningKey } from './status.ts';
import { publicKeyFromPem, SIGNING_ALGORITHMS, type VerificationConfig, type VerificationKey } from './verify.ts';

const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name');
const keyName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/, 'key ids are letters, digits, ".", "_", ":" and "-"');

const service = z
  .object({
    /** Base URL of the bundle service (OPA's `services.<name>.url`). */
    url: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL of the bundle service' }),
    /** Path of the bundle under the URL (OPA's `bundles.<name>.resource`). */
    resource: z.string().default(''),
    /** Environment variable holding a bearer token sent with every request. */
    bearer_env: envName.optional(),
    min_delay_seconds: z.number().min(0).default(60),
    max_delay_seconds: z.number().min(0).default(120),
    /** Ask the service to hold each request this long when nothing changed (`Prefer: wait=`). */
    long_polling_timeout_seconds: z.number().int().min(1).optional(),
    request_timeout_ms: z.number().int().positive().default(30_000),
  })
  .strict()
  .refine((s) => s.max_delay_seconds >= s.min_delay_seconds, { message: 'max_delay_seconds must be at least min_delay_seconds', path: ['max_delay_seconds'] });

/** One source: a file path, or a service. */
const sourceFields = {
  /** Path to an `opa build -t wasm` bundle tarball, relative to this file; watched for changes. */
  bundle: z.string().min(1).optional(),
  service: service.optional(),
  /** Re-read the file when it changes (file source only). */
  watch: z.boolean().default(true),
  /**
   * Where the last activated bundle is saved (temp file + rename) and read at startup: before
   * any network call for a service; when the file cannot be used, for a file source.
   */
  persist_dir: z.string().min(1).optional(),
};

const oneSource = (s: { bundle?: string; service?: unknown }) => (s.bundle === undefined) !== (s.service === undefined);
const ONE_SOURCE = 'set exactly one of "bundle" (a file) or "service" (an OPA bundle service)';

const verificationKey = z
  .object({
    algorithm: z.enum(SIGNING_ALGORITHMS),
    /** PEM public key (or certificate) file, for RS*, PS*, ES*. */
    public_key_file: z.string().min(1).optional(),
    /** Environment variable holding the PEM public key. */
    public_key_env: envName.optional(),
    /** Environment variable holding the HMAC secret, for HS*. */
    secret_env: envName.optional(),
    /** Scope a bundle signed by this key must carry. */
    scope: z.string().optional(),
  })
  .strict()
  .superRefine((k, ctx) => {
    const given = [k.public_key_file, k.public_key_env, k.secret_env].filter((v) => v !== undefined).length;
    if (given !== 1) ctx.addIssue({ code: 'custom', message: 'set exactly one of public_key_file, public_key_env or secret_env' });
    const hmac = k.algorithm.startsWith('HS');
    if (hmac && k.secret_env === undefined) ctx.addIssue({ code: 'custom', message: `${k.algorithm} needs secret_env`, path: ['secret_env'] });
    if (!hmac && k.secret_env !== undefined) ctx.addIssue({ code: 'custom', message: `${k.algorithm} needs a public key, not a secret`, path: ['secret_env'] });
  });

const statusSigning = z
  .object({
    algorithm: z.enum(SIGNING_ALGORITHMS),
    /** Named in the JWS header (`kid`), so verifiers pick the right key. */
    keyid: keyName,
    private_key_file: z.string().min(1).optional(),
    private_key_env: envName.optional(),
    secret_env: envName.optional(),
  })
  .strict()
  .superRefine((k, ctx) => {
    const given = [k.private_key_file, k.private_key_env, k.secret_env].filter((v) => v !== undefined).length;
    if (given !== 1) ctx.addIssue({ code: 'custom', message: 'set exactly one of private_key_file, private_key_env or secret_env' });
    if (k.algorithm.startsWith('HS') !== (k.secret_env !== undefined)) ctx.addIssue({ code: 'custom', message: `${k.algorithm} needs ${k.algorithm.startsWith('HS') ? 'secret_env' : 'a private key'}` });
  });

export const policyConfigSchema = z
  .object({
    ...sourceFields,
    /** Optional pin: refuse any bundle whose sha256 differs. */
    sha256: z.string().regex(/^[0-9a-fA-F]{64}$/, 'must be a hex sha256').optional(),
    /** Cap on serialized arguments/params passed to the policy. */
    max_input_bytes: z.number().int().min(256).default(16 * 1024),
    /** Cap on a serialized call result passed to the response-time decision. */
    max_result_bytes: z.number().int().min(256).default(64 * 1024),
    /** With keys here, every bundle (enforced and candidate) must carry a valid signature. */
    signing: z
      .object({
        keys: z.record(keyName, verificationKey).refine((k) => Object.keys(k).length > 0, 'at least one key is required'),
        /** Use this key whatever the bundle's signature names (OPA's `signing.keyid`). */
        keyid: keyName.optional(),
        /** Scope every bundle's signature must carry (OPA's `signing.scope`). */
        scope: z.string().optional(),
        /** Bundle files left out of verification (OPA's `exclude_files`). */
        exclude_files: z.array(z.string().min(1)).default([]),
      })
      .strict()
      .refine((s) => s.keyid === undefined || Object.hasOwn(s.keys, s.keyid), { message: 'keyid must name one of keys', path: ['keyid'] })
      .optional(),
    /** A second bundle evaluated beside the enforced one on live traffic, never enforced. */
    candidate: z.object(sourceFields).strict().refine(oneSource, ONE_SOURCE).optional(),
    /** Signs `GET /status/signed`. */
    status_signing: statusSigning.optional(),
    /**
     * With shared state (Redis), how often this replica republishes its status for the others'
     * `/status` (also on every swap and check); a report lives three intervals.
     */
    status_publish_seconds: z.number().min(0.1).max(3600).default(5),
  })
  .strict()
  .refine(oneSource, ONE_SOURCE)
  .superRefine((p, ctx) => {
    // Unsigned bundles over plain http would let anyone on the path replace the policy.
    for (const [where, s] of [['service', p.service], ['candidate', p.candidate?.service]] as const) {
      if (s !== undefined && p.signing === undefined && !allowsPlainHttp(s.url)) {
        ctx.addIssue({ code: 'custom', path: where === 'service' ? ['service', 'url'] : ['candidate', 'service', 'url'], message: 'a plain http bundle service (other than loopback) needs policy.signing: anyone on the path could replace the policy' });
      }
    }
  });

function allowsPlainHttp(url: string): boolean {
  const u = new URL(url);
  if (u.protocol === 'https:') return true;
  const host = u.hostname.replace(/^\[|\]$/g, '');
  return host === 'localhost' || host === '::1' || /^127(\.\d{1,3}){3}$/.test(host);
}

export type PolicyConfig = z.infer<typeof policyConfigSchema>;
export type PolicySourceConfig = Pick<PolicyConfig, 'bundle' | 'service' | 'watch' | 'persist_dir'>;

const under = (base: string, path: string | undefined) => (path === undefined || isAbsolute(path) ? path : resolve(base, path));

/** Makes every file path of the section absolute, relative to the configuration file's directory. */
export function resolvePolicyPaths(policy: PolicyConfig, base: string): PolicyConfig {
  const source = <T extends PolicySourceConfig>(s: T): T => ({
    ...s,
    bundle: under(base, s.bundle),
    persist_dir: under(base, s.persist_dir),
  });
  const keys = policy.signing && Object.fromEntries(Object.entries(policy.signing.keys).map(([id, k]) => [id, { ...k, public_key_file: under(base, k.public_key_file) }]));
  return {
    ...source(policy),
    signing: policy.signing && keys && { ...policy.signing, keys },
    candidate: policy.candidate && source(policy.candidate),
    status_signing: policy.status_signing && { ...policy.status_signing, private_key_file: under(base, policy.status_signing.private_key_file) },
  };
}

function readKeyText(label: string, file: string | undefined, envVar: string | undefined, env: NodeJS.ProcessEnv): string {
  if (file !== undefined) {
    try {
      return readFileSync(file, 'utf8');
    } catch (err) {
      throw new Error(`${label}: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  }
  const value = env[envVar ?? ''];
  if (!value) throw new Error(`${label}: environment variable ${envVar} is not set`);
  return value;
}

/** Problems with keys the configuration names (unreadable files, unset variables, bad PEM). */
export function policyKeyProblems(policy: PolicyConfig, env: NodeJS.ProcessEnv): string[] {
  const problems: string[] = [];
  try {
    verificationConfig(policy, env);
  } catch (err) {
    problems.push((err as Error).message);
  }
  try {
    statusSigningKey(policy, env);
  } catch (err) {
    problems.push((err as Error).message);
  }
  for (const [where, s] of [['policy', policy], ['policy.candidate', policy.candidate]] as const) {
    const name = s?.service?.bearer_env;
    if (name !== undefined && !env[name]) problems.push(`${where}.service.bearer_env: environment variable ${name} is not set`);
  }
  return problems;
}

/** The keys bundles must be signed with; undefined when none are configured (signatures unchecked). */
export function verificationConfig(policy: PolicyConfig, env: NodeJS.ProcessEnv): VerificationConfig | undefined {
  const signing = policy.signing;
  if (signing === undefined) return undefined;
  const keys = new Map<string, VerificationKey>();
  for (const [id, k] of Object.entries(signing.keys)) {
    const label = `policy.signing.keys.${id}`;
    const material = k.secret_env !== undefined
      ? Buffer.from(readKeyText(label, undefined, k.secret_env, env))
      : publicKeyFromPem(readKeyText(label, k.public_key_file, k.public_key_env, env), label);
    if (material instanceof Uint8Array && material.byteLength < 32) throw new Error(`${label}: the HMAC secret in ${k.secret_env} must be at least 32 bytes`);
    keys.set(id, { algorithm: k.algorithm, key: material, ...(k.scope !== undefined && { scope: k.scope }) });
  }
  return { keys, keyId: signing.keyid, scope: signing.scope, exclude: signing.exclude_files };
}

export function statusSigningKey(policy: PolicyConfig, env: NodeJS.ProcessEnv): StatusSigningKey | undefined {
  const s = policy.status_signing;
  if (s === undefined) return undefined;
  const label = 'policy.status_signing';
  let key: KeyObject | Uint8Array;
  if (s.secret_env !== undefined) {
    key = Buffer.from(readKeyText(label, undefined, s.secret_env, env));
    if (key.byteLength < 32) throw new Error(`${label}: the HMAC secret in ${s.secret_env} must be at least 32 bytes`);
  } else {
    try {
      key = createPrivateKey(readKeyText(label, s.private_key_file, s.private_key_env, env));
    } catch (err) {
      if ((err as Error).message.startsWith(label)) throw err;
      throw new Error(`${label}: not a PEM private key (${(err as Error).message})`);
    }
  }
  return { algorithm: s.algorithm, key, keyId: s.keyid };
}

/** The URL the bundle is fetched from: `<url>/<resource>`, as OPA joins them. */
export function bundleUrl(s: NonNullable<PolicyConfig['service']>): string {
  if (s.resource === '') return s.url;
  return `${s.url.replace(/\/+$/, '')}/${s.resource.replace(/^\/+/, '')}`;
}
