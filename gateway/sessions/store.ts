// Legacy-era MCP sessions the gateway has seen created. The gateway forwards only sessions it
// created itself, and remembers which server-initiated requests it let through so that a client's
// answer can be decided knowing what it answers. The interface is async so a Redis-backed store
// (shared by every replica) can replace the in-memory one without touching callers.

import { ErrorCode, GatewayError } from '../errors.ts';
import type { MaskInstruction } from '../policy/decision.ts';

/** What answering a forwarded client request requires; plain JSON, so a shared store can hold it. */
export interface PendingRequest {
  method: string;
  name: string;
  mask?: { instructions: MaskInstruction[]; mode: 'strict' | 'best_effort' } | undefined;
  inspectResponse: boolean;
}

export type SessionMask = NonNullable<PendingRequest['mask']>;

export interface SessionRecord {
  target: string;
  protocolVersion: string;
  /** The identity that created the session; no other may use it. */
  principal: string;
  createdAt: number;
}

export interface SessionStore {
  create(target: string, sessionId: string, record: SessionRecord): Promise<void>;
  get(target: string, sessionId: string): Promise<SessionRecord | undefined>;
  delete(target: string, sessionId: string): Promise<void>;
  /** Notes a server-initiated request forwarded to the client on this session. */
  rememberServerRequest(target: string, sessionId: string, requestId: string | number, method: string): Promise<void>;
  /** The method of a forwarded server request, removed once answered. */
  takeServerRequest(target: string, sessionId: string, requestId: string | number): Promise<string | undefined>;
  /**
   * Notes a client request forwarded on this session, with what its answer requires, wherever that
   * answer arrives (its POST stream, or a GET stream that resumes it). False when a request with
   * this id is still unanswered: the upstream would route either answer to either stream.
   */
  rememberClientRequest(target: string, sessionId: string, requestId: string | number, pending: PendingRequest): Promise<boolean>;
  /** The pending client request an answer belongs to, removed once answered. */
  takeClientRequest(target: string, sessionId: string, requestId: string | number): Promise<PendingRequest | undefined>;
  /** Notes that the gateway issued `eventId` on a stream of this session for the upstream's event `upstreamEventId`. */
  rememberStreamEvent(target: string, sessionId: string, eventId: string, upstreamEventId: string): Promise<void>;
  /** The upstream event id behind an event id the gateway issued, for Last-Event-ID resumption. */
  upstreamEventId(target: string, sessionId: string, eventId: string): Promise<string | undefined>;
  /**
   * The distinct masks of every client request forwarded on this session, answered or not. A
   * message on the session's GET stream may belong to any of its calls (progress, logging, a
   * server request, even one sent after its call was answered), so it carries all of them.
   */
  sessionMasks(target: string, sessionId: string): Promise<SessionMask[]>;
}

/**
 * What one session may hold, in every store. Past a cap the oldest entry is forgotten: a late
 * answer to a forgotten client request has nothing to be screened as and is dropped; a forgotten
 * server request's answer is decided as answering an unknown method; a forgotten event id cannot
 * be resumed from.
 */
export const SESSION_LIMITS = {
  clientRequests: 1024,
  serverRequests: 1024,
  streamEvents: 1024,
  /**
   * Distinct masks (one per distinct policy mask directive, not per call). Past it a new call that
   * would add one more is refused (400), since the GET stream could no longer carry its mask.
   */
  masks: 256,
} as const;

/**
 * Bytes a remembered client request may take: the count caps above do not bound size, and a client
 * chooses its ids and tool names. Refused before forwarding (400 -32600), in every store.
 */
export const PENDING_LIMITS = { idBytes: 256, nameBytes: 1024 } as const;

/** The request id as stored, or a refusal when it or the request's name is too long to keep. */
export function pendingKey(requestId: string | number, pending: PendingRequest): string {
  const key = JSON.stringify(requestId);
  if (Buffer.byteLength(key) > PENDING_LIMITS.idBytes) {
    throw new GatewayError(400, ErrorCode.InvalidRequest, `Invalid Request: a request id on a session may be at most ${PENDING_LIMITS.idBytes} bytes as JSON`);
  }
  if (Buffer.byteLength(pending.name) > PENDING_LIMITS.nameBytes) {
    throw new GatewayError(400, ErrorCode.InvalidRequest, `Invalid Request: a tool, prompt or resource name on a session may be at most ${PENDING_LIMITS.nameBytes} bytes`);
  }
  return key;
}

/** The session holds SESSION_LIMITS.masks distinct masks: a call that adds another is refused. */
export function tooManyMasks(): GatewayError {
  return new GatewayError(400, ErrorCode.InvalidRequest, `Invalid Request: this session's calls have required ${SESSION_LIMITS.masks} distinct masks, as many as its GET stream can carry; start a new session. Nothing was forwarded`);
}

/** The session vanished (expired, or deleted through another replica) between lookup and use. */
export function sessionGone(): GatewayError {
  return new GatewayError(404, ErrorCode.SessionNotFound, 'Session not found: it expired or was deleted while this request was under way');
}

interface Entry {
  record: SessionRecord;
  lastSeen: number;
  serverRequests: Map<string, string>;
  clientRequests: Map<string, PendingRequest>;
  streamEvents: Map<string, string>;
  masks: Map<string, SessionMask>;
}

/** Sets `key` in an insertion-ordered map, forgetting the oldest entries beyond `cap`. */
function setCapped<V>(map: Map<string, V>, key: string, value: V, cap: number): void {
  map.delete(key);
  while (map.size >= cap) map.delete(map.keys().next().value!);
  map.set(key, value);
}

/** Bounded per-process store: idle sessions expire, and the least recently used go first when full. */
export class MemorySessionStore implements SessionStore {
  readonly #entries = new Map<string, Entry>();
  readonly #options: { idleMs: number; maxSessions: number; now?: () => number };
  constructor(options: { idleMs: number; maxSessions: number; now?: () => number } = { idleMs: 3_600_000, maxSessions: 100_000 }) {
    this.#options = options;
  }

  #now(): number {
    return this.#options.now?.() ?? Date.now();
  }

  #live(target: string, sessionId: string): Entry | undefined {
    const key = `${target}\u0000${sessionId}`;
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    if (this.#now() - entry.lastSeen > this.#options.idleMs) {
      this.#entries.delete(key);
      return undefined;
    }
    entry.lastSeen = this.#now();
    // Re-inserting keeps the map in order of use, so eviction takes the least recently used.
    this.#entries.delete(key);
    this.#entries.set(key, entry);
    return entry;
  }

  async create(target: string, sessionId: string, record: SessionRecord): Promise<void> {
    // A session id the upstream issues again starts afresh: nothing pending carries over.
    this.#entries.delete(`${target}\u0000${sessionId}`);
    if (this.#entries.size >= this.#options.maxSessions) {
      const oldest = this.#entries.keys().next().value;
      if (oldest !== undefined) this.#entries.delete(oldest);
    }
    this.#entries.set(`${target}\u0000${sessionId}`, { record, lastSeen: this.#now(), serverRequests: new Map(), clientRequests: new Map(), streamEvents: new Map(), masks: new Map() });
  }

  async get(target: string, sessionId: string): Promise<SessionRecord | undefined> {
    return this.#live(target, sessionId)?.record;
  }

  async delete(target: string, sessionId: string): Promise<void> {
    this.#entries.delete(`${target}\u0000${sessionId}`);
  }

  async rememberServerRequest(target: string, sessionId: string, requestId: string | number, method: string): Promise<void> {
    const requests = this.#live(target, sessionId)?.serverRequests;
    if (requests !== undefined) setCapped(requests, JSON.stringify(requestId), method, SESSION_LIMITS.serverRequests);
  }

  async takeServerRequest(target: string, sessionId: string, requestId: string | number): Promise<string | undefined> {
    const requests = this.#live(target, sessionId)?.serverRequests;
    const key = JSON.stringify(requestId);
    const method = requests?.get(key);
    requests?.delete(key);
    return method;
  }

  async rememberClientRequest(target: string, sessionId: string, requestId: string | number, pending: PendingRequest): Promise<boolean> {
    const key = pendingKey(requestId, pending);
    const entry = this.#live(target, sessionId);
    if (entry === undefined) throw sessionGone();
    if (entry.clientRequests.has(key)) return false;
    if (pending.mask !== undefined) {
      const mask = JSON.stringify(pending.mask);
      if (!entry.masks.has(mask) && entry.masks.size >= SESSION_LIMITS.masks) throw tooManyMasks();
      entry.masks.set(mask, pending.mask);
    }
    setCapped(entry.clientRequests, key, pending, SESSION_LIMITS.clientRequests);
    return true;
  }

  async takeClientRequest(target: string, sessionId: string, requestId: string | number): Promise<PendingRequest | undefined> {
    const requests = this.#live(target, sessionId)?.clientRequests;
    const key = JSON.stringify(requestId);
    const pending = requests?.get(key);
    requests?.delete(key);
    return pending;
  }

  async rememberStreamEvent(target: string, sessionId: string, eventId: string, upstreamEventId: string): Promise<void> {
    const events = this.#live(target, sessionId)?.streamEvents;
    if (events !== undefined) setCapped(events, eventId, upstreamEventId, SESSION_LIMITS.streamEvents);
  }

  async sessionMasks(target: string, sessionId: string): Promise<SessionMask[]> {
    return [...(this.#live(target, sessionId)?.masks.values() ?? [])];
  }

  async upstreamEventId(target: string, sessionId: string, eventId: string): Promise<string | undefined> {
    return this.#live(target, sessionId)?.streamEvents.get(eventId);
  }
}
