// Loads and validates the configuration file. Every error names the key and what is wrong.
import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { configSchema, type Config } from './schema.ts';

export class ConfigError extends Error {
  override name = 'ConfigError';
  constructor(readonly file: string, readonly problems: string[]) {
    super(`invalid configuration ${file}:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

/** A target's resolved upstream secret: header name and value, kept out of logs and errors. */
export interface UpstreamSecret {
  header: string;
  value: string;
}

export interface LoadedConfig extends Config {
  /** Absolute path of the file it came from. */
  file: string;
  /** Secrets per target, resolved from the environment at load. */
  upstreamSecrets: Map<string, UpstreamSecret>;
  /** Key for the "hash" mask style, from `masking.hash_key_env`; undefined when not configured. */
  maskHashKey: Uint8Array | undefined;
}

function keyOf(path: readonly PropertyKey[]): string {
  return path.length === 0 ? '(root)' : path.map(String).join('.');
}

/** Validates an already-parsed document; `file` anchors relative paths. */
export function validateConfig(doc: unknown, file: string, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  const parsed = configSchema.safeParse(doc ?? {});
  if (!parsed.success) {
    throw new ConfigError(file, parsed.error.issues.map((issue) => `${keyOf(issue.path)}: ${issue.message}`));
  }
  const config = parsed.data;
  const problems: string[] = [];
  const upstreamSecrets = new Map<string, UpstreamSecret>();
  for (const [name, target] of Object.entries(config.targets)) {
    const creds = target.credentials;
    if (creds.type !== 'header') continue;
    const secret = env[creds.value_env];
    if (secret === undefined || secret === '') {
      problems.push(`targets.${name}.credentials.value_env: environment variable ${creds.value_env} is not set`);
      continue;
    }
    upstreamSecrets.set(name, { header: creds.header, value: creds.scheme ? `${creds.scheme} ${secret}` : secret });
  }
  let maskHashKey: Uint8Array | undefined;
  const keyEnv = config.masking.hash_key_env;
  if (keyEnv !== undefined) {
    const key = env[keyEnv] ?? '';
    if (Buffer.byteLength(key) < 16) problems.push(`masking.hash_key_env: environment variable ${keyEnv} must hold at least 16 bytes`);
    else maskHashKey = Buffer.from(key);
  }
  if (problems.length > 0) throw new ConfigError(file, problems);
  const base = dirname(file);
  return {
    ...config,
    policy: { ...config.policy, bundle: isAbsolute(config.policy.bundle) ? config.policy.bundle : resolve(base, config.policy.bundle) },
    file,
    upstreamSecrets,
    maskHashKey,
  };
}

export async function loadConfig(path: string, env: NodeJS.ProcessEnv = process.env): Promise<LoadedConfig> {
  const file = resolve(path);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new ConfigError(file, [`cannot read file: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`]);
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new ConfigError(file, [`not valid YAML: ${(err as Error).message}`]);
  }
  return validateConfig(doc, file, env);
}
