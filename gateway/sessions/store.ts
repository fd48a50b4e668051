// Legacy-era MCP sessions the gateway has seen created. The gateway forwards only sessions it
// created itself, and remembers which server-initiated requests it let through so that a client's
// answer can be decided knowing what it answers. The interface is async so a Redis-backed store
// (shared by every replica) can replace the in-memory one without touching callers.

import type { MaskInstruction } from '../policy/decision.ts';

/** What answering a forwarded client request requires; plain JSON, so a shared store can hold it. */
export interface PendingRequest {
  method: string;
  name: string;
  mask?: { instructions: MaskInstruction[]; mode: 'strict' | 'best_effort' } | undefined;
  inspectResponse: boolean;
}

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
}

interface Entry {
  record: SessionRecord;
  lastSeen: number;
  serverRequests: Map<string, string>;
  clientRequests: Map<string, PendingRequest>;
  /** Gateway event id -> upstream event id, oldest first. */
  streamEvents: Map<string, string>;
}

/** Unanswered client requests kept per session; beyond it the oldest are forgotten (and their
 * late answers then have nothing to be screened as, so they are dropped). */
const MAX_PENDING_PER_SESSION = 1024;

/** Stream event ids remembered per session; a client resuming from an older one gets a fresh stream. */
const MAX_STREAM_EVENTS_PER_SESSION = 1024;

/** Bounded per-process store: idle sessions expire, and the least recently used go first when full. */
export class MemorySessionStore implements SessionStore {
  readonly #entries = new Map<string, Entry>();
  constructor(private readonly options: { idleMs: number; maxSessions: number; now?: () => number } = { idleMs: 3_600_000, maxSessions: 100_000 }) {}

  #now(): number {
    return this.options.now?.() ?? Date.now();
  }

  #live(target: string, sessionId: string): Entry | undefined {
    const key = `${target}\u0000${sessionId}`;
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    if (this.#now() - entry.lastSeen > this.options.idleMs) {
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
    if (this.#entries.size >= this.options.maxSessions) {
      const oldest = this.#entries.keys().next().value;
      if (oldest !== undefined) this.#entries.delete(oldest);
    }
    this.#entries.set(`${target}\u0000${sessionId}`, { record, lastSeen: this.#now(), serverRequests: new Map(), clientRequests: new Map(), streamEvents: new Map() });
  }

  async get(target: string, sessionId: string): Promise<SessionRecord | undefined> {
    return this.#live(target, sessionId)?.record;
  }

  async delete(target: string, sessionId: string): Promise<void> {
    this.#entries.delete(`${target}\u0000${sessionId}`);
  }

  async rememberServerRequest(target: string, sessionId: string, requestId: string | number, method: string): Promise<void> {
    this.#live(target, sessionId)?.serverRequests.set(JSON.stringify(requestId), method);
  }

  async takeServerRequest(target: string, sessionId: string, requestId: string | number): Promise<string | undefined> {
    const requests = this.#live(target, sessionId)?.serverRequests;
    const key = JSON.stringify(requestId);
    const method = requests?.get(key);
    requests?.delete(key);
    return method;
  }

  async rememberClientRequest(target: string, sessionId: string, requestId: string | number, pending: PendingRequest): Promise<boolean> {
    const requests = this.#live(target, sessionId)?.clientRequests;
    if (requests === undefined) return false;
    const key = JSON.stringify(requestId);
    if (requests.has(key)) return false;
    if (requests.size >= MAX_PENDING_PER_SESSION) requests.delete(requests.keys().next().value!);
    requests.set(key, pending);
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
    if (events === undefined) return;
    if (events.size >= MAX_STREAM_EVENTS_PER_SESSION) events.delete(events.keys().next().value!);
    events.set(eventId, upstreamEventId);
  }

  async upstreamEventId(target: string, sessionId: string, eventId: string): Promise<string | undefined> {
    return this.#live(target, sessionId)?.streamEvents.get(eventId);
  }
}
