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
type Call = (...args: (string | number)[]) => Promise<Reply>;

/** Registers every script on the client; returns one caller per script. */
export function defineScripts(client: Redis | Cluster): Record<ScriptName, Call> {
  const calls = {} as Record<ScriptName, Call>;
  for (const [name, file] of Object.entries(SCRIPTS) as [ScriptName, string][]) {
    const lua = readFileSync(new URL(`./lua/${file}.lua`, import.meta.url), 'utf8');
    const numberOfKeys = Number(file.slice(file.lastIndexOf('-') + 1));
    const command = `portcullis:${file}:v${SCRIPT_VERSION}`;
    client.defineCommand(command, { numberOfKeys, lua });
    const method = (client as unknown as Record<string, Call>)[command]!;
    calls[name] = (...args) => method.apply(client, args);
  }
  return calls;
}
