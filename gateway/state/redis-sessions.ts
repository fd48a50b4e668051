// SessionStore on Redis: every replica and worker sees the same sessions, pending ids and event
// ids. Each change is one Lua script (scripts.ts, lua/); a plain read is one command. Any Redis
// failure becomes a 503 (-32090): a request never goes on without the state it needs.
import { ErrorCode, GatewayError, type JsonRpcId } from '../errors.ts';
import { pendingKey, SESSION_LIMITS, sessionGone, tooManyMasks, type PendingRequest, type SessionMask, type SessionRecord, type SessionStore } from '../sessions/store.ts';
import type { StateKeys } from './keys.ts';
import type { RedisClient } from './redis.ts';
import { defineScripts, ScriptCode, type ScriptName } from './scripts.ts';

/** -32090, 503: the shared state a request needs cannot be read or written (fail closed). */
export function stateUnavailable(
  message = "Service Unavailable: the gateway cannot reach its shared state (Redis), which this request needs; it was not forwarded, or its answer was withheld. Retry shortly",
  id: JsonRpcId = null,
): GatewayError {
  return new GatewayError(503, ErrorCode.StateUnavailable, message, { id, headers: { 'retry-after': '1' } });
}

/** At most one log line a second about failures, however many requests fail. */
function throttledLog(log: (message: string) => void): (message: string) => void {
  let last = 0;
  return (message) => {
    const now = Date.now();
    if (now - last < 1000) return;
    last = now;
    log(message);
  };
}

export class RedisSessionStore implements SessionStore {
  readonly #scripts: ReturnType<typeof defineScripts>;
  readonly #ttl: string;
  readonly #log: (message: string) => void;

  readonly #redis: RedisClient;
  readonly #keys: StateKeys;

  constructor(redis: RedisClient, keys: StateKeys, idleMs: number, log: (message: string) => void) {
    this.#redis = redis;
    this.#keys = keys;
    this.#scripts = defineScripts(redis);
    this.#ttl = String(idleMs);
    this.#log = throttledLog(log);
  }

  async #call<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (err) {
      if (err instanceof GatewayError) throw err;
      this.#log(`state: a Redis command failed, answering 503: ${(err as Error).message}`);
      throw stateUnavailable();
    }
  }

  #run(script: ScriptName, target: string, sessionId: string, ...args: string[]) {
    return this.#call(() => this.#scripts[script](...this.#keys.session(target, sessionId), this.#ttl, ...args));
  }

  async create(target: string, sessionId: string, record: SessionRecord): Promise<void> {
    await this.#run('createSession', target, sessionId, JSON.stringify(record));
  }

  async get(target: string, sessionId: string): Promise<SessionRecord | undefined> {
    const json = await this.#run('touchSession', target, sessionId);
    return typeof json === 'string' ? (JSON.parse(json) as SessionRecord) : undefined;
  }

  async delete(target: string, sessionId: string): Promise<void> {
    await this.#call(() => this.#redis.del(...this.#keys.session(target, sessionId)));
  }

  async rememberServerRequest(target: string, sessionId: string, requestId: string | number, method: string): Promise<void> {
    await this.#run('rememberServerRequest', target, sessionId, JSON.stringify(requestId), method, String(SESSION_LIMITS.serverRequests));
  }

  async takeServerRequest(target: string, sessionId: string, requestId: string | number): Promise<string | undefined> {
    const method = await this.#run('takeServerRequest', target, sessionId, JSON.stringify(requestId));
    return typeof method === 'string' ? method : undefined;
  }

  async rememberClientRequest(target: string, sessionId: string, requestId: string | number, pending: PendingRequest): Promise<boolean> {
    const key = pendingKey(requestId, pending);
    const mask = pending.mask === undefined ? '' : JSON.stringify(pending.mask);
    const code = await this.#run('rememberClientRequest', target, sessionId, key, JSON.stringify(pending), String(SESSION_LIMITS.clientRequests), mask, String(SESSION_LIMITS.masks));
    if (code === ScriptCode.NoSession) throw sessionGone();
    if (code === ScriptCode.TooManyMasks) throw tooManyMasks();
    return code === 1;
  }

  async takeClientRequest(target: string, sessionId: string, requestId: string | number): Promise<PendingRequest | undefined> {
    const json = await this.#run('takeClientRequest', target, sessionId, JSON.stringify(requestId));
    return typeof json === 'string' ? (JSON.parse(json) as PendingRequest) : undefined;
  }

  async rememberStreamEvent(target: string, sessionId: string, eventId: string, upstreamEventId: string): Promise<void> {
    await this.#run('rememberStreamEvent', target, sessionId, eventId, upstreamEventId, String(SESSION_LIMITS.streamEvents));
  }

  async sessionMasks(target: string, sessionId: string): Promise<SessionMask[]> {
    // One read of one set: no script needed.
    const masks = this.#keys.session(target, sessionId)[7];
    const values = await this.#call(() => this.#redis.smembers(masks));
    return values.map((json) => JSON.parse(json) as SessionMask);
  }

  async upstreamEventId(target: string, sessionId: string, eventId: string): Promise<string | undefined> {
    const events = this.#keys.session(target, sessionId)[5];
    const id = await this.#call(() => this.#redis.hget(events, eventId));
    return id ?? undefined;
  }
}
