// Loads and validates the configuration file. Every error names the key and what is wrong.
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { missingIdentitySecrets, missingUpstreamSecrets } from '../identity/index.ts';
import { policyKeyProblems, resolvePolicyPaths } from '../policy/config.ts';
import { configSchema, type Config } from './schema.ts';

export class ConfigError extends Error {
  override name = 'ConfigError';
  readonly file: string;
  readonly problems: string[];
  constructor(file: string, problems: string[]) {
    super(`invalid configuration ${file}:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.file = file;
    this.problems = problems;
  }
}

export interface LoadedConfig extends Config {
  /** Absolute path of the file it came from. */
  file: string;
  /** The environment the configuration was checked against; secrets are read from it, and only it. */
  env: NodeJS.ProcessEnv;
  /** Key for the "hash" mask style, from `masking.hash_key_env`; undefined when not configured. */
  maskHashKey: Uint8Array | undefined;
  /** Redis ACL user and password, from `state.redis.username_env` / `password_env`. */
  redisAuth: { username?: string; password?: string };
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
  const problems: string[] = [...missingIdentitySecrets(config.identity, env)];
  for (const [name, target] of Object.entries(config.targets)) problems.push(...missingUpstreamSecrets(name, target.credentials, env));
  let maskHashKey: Uint8Array | undefined;
  const keyEnv = config.masking.hash_key_env;
  if (keyEnv !== undefined) {
    const key = env[keyEnv] ?? '';
    if (Buffer.byteLength(key) < 16) problems.push(`masking.hash_key_env: environment variable ${keyEnv} must hold at least 16 bytes`);
    else maskHashKey = Buffer.from(key);
  }
  const redisAuth: LoadedConfig['redisAuth'] = {};
  for (const [field, key] of [['username', 'username_env'], ['password', 'password_env']] as const) {
    const name = config.state.redis?.[key];
    if (name === undefined) continue;
    const value = env[name];
    if (!value) problems.push(`state.redis.${key}: environment variable ${name} is not set`);
    else redisAuth[field] = value;
  }
  const policy = resolvePolicyPaths(config.policy, dirname(file));
  problems.push(...policyKeyProblems(policy, env));
  if (problems.length > 0) throw new ConfigError(file, problems);
  return {
    ...config,
    policy,
    file,
    env,
    maskHashKey,
    redisAuth,
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
