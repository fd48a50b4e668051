// The Lua scripts under lua/, registered with ioredis `defineCommand` under versioned names, so
// two gateway versions sharing one Redis never run each other's script. ioredis sends EVALSHA and
// falls back to EVAL once when Redis has not seen a script (after a restart, say).
import { readFileSync } from 'node:fs';
import type { Cluster, Redis } from 'ioredis';

/** Bump when any script changes meaning: the name is what Redis caches the script under. */
const SCRIPT_VERSION = 1;

const SCRIPTS = {
  createSession: 'create-session-8',
  touchSession: 'touch-session-8',
  rememberClientRequest: 'remember-client-request-8',
  takeClientRequest: 'take-client-request-8',
  rememberServerRequest: 'remember-server-request-8',
  takeServerRequest: 'take-server-request-8',
  rememberStreamEvent: 'remember-stream-event-8',
} as const;

export type ScriptName = keyof typeof SCRIPTS;

/** Negative answers the scripts give; listed once, here. */
export const ScriptCode = {
  /** The session's record is gone (expired, or deleted through another replica). */
  NoSession: -1,
  /** remember-client-request: the session holds as many distinct masks as it may. */
  TooManyMasks: -2,
} as const;

type Reply = string | number | null;
export type ScriptCall = (...args: (string | number)[]) => Promise<Reply>;
type Call = ScriptCall;

/** Registers every script on the client; returns one caller per script. */
export function defineScripts(client: Redis | Cluster): Record<ScriptName, Call> {
  return defineLuaScripts(client, new URL('./lua/', import.meta.url), SCRIPTS, SCRIPT_VERSION);
}

/**
 * Registers the scripts `files` (name -> file stem under `dir`, ending in its key count, as
 * `append-recording-2`) under `portcullis:<stem>:v<version>`; returns one caller per script.
 * Other modules with their own Lua (recordings) use this rather than a copy.
 */
export function defineLuaScripts<N extends string>(client: Redis | Cluster, dir: URL, files: Readonly<Record<N, string>>, version: number): Record<N, Call> {
  const calls = {} as Record<N, Call>;
  for (const [name, file] of Object.entries(files) as [N, string][]) {
    const lua = readFileSync(new URL(`${file}.lua`, dir), 'utf8');
    const numberOfKeys = Number(file.slice(file.lastIndexOf('-') + 1));
    const command = `portcullis:${file}:v${version}`;
    client.defineCommand(command, { numberOfKeys, lua });
    const method = (client as unknown as Record<string, Call>)[command]!;
    calls[name] = (...args) => method.apply(client, args);
  }
  return calls;
}
