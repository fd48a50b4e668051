// What one recorded MCP message is, and what the request path hands to the recorder. This is the
// contract between the request path (which knows messages, decisions and spans) and the
// recordings (which keep them): the path gives only masked messages, the recorder never masks.
import type { Era } from '../policy/input.ts';

/** The decision a recorded message met, as the audit trail knows it: ids and outcome, never values. */
export interface RecordedDecision {
  id: string;
  outcome: 'allow' | 'deny' | 'error';
  allow: boolean;
  approvalRequired: boolean;
  ruleIds: string[];
  reasons: string[];
  revision: string;
  /** Replacements per class made on this message by the masks that applied to it. */
  masked: Record<string, number>;
}

/** How a held call was approved (or not), when it was. */
export interface RecordedApproval {
  id: string;
  state: string;
  /** The approvers' principals, in vote order. */
  approvers: string[];
  waitMs: number;
}

/**
 * One message that crossed the gateway, in either direction, as it left the gateway (masked; for
 * a client's request, masked by its own decision's masks and the recording baseline). Gateway
 * answers (refusals, upstream errors) are recorded as the client saw them, with `origin: 'gateway'`.
 */
export interface RecordedMessage {
  /**
   * The recording it belongs to, always `recordingIdFor(...)` of this message's own fields:
   *   legacy:     recordingIdFor({ era: 'legacy', target, sessionId, principal })  -> `ses_` + 32 hex
   *   2026-07-28: recordingIdFor({ era: 'stateless', target, principal, subject })  -> `rec_` + 32 hex
   *               (the token's client_id/azp, never clientInfo.name, which stays in the message)
   * Never the upstream's raw Mcp-Session-Id (`sessionId` keeps it, for finding a session by it).
   * A message whose target, era, session or principal differ from the recording's is refused.
   */
  recording: string;
  target: string;
  era: Era;
  protocolVersion: string;
  /** The legacy session id; '' in 2026-07-28. */
  sessionId: string;
  /** Milliseconds since the epoch when the message left the gateway. */
  time: number;
  direction: 'client_to_server' | 'server_to_client';
  /** `gateway`: written by the gateway (a refusal, an upstream failure), not relayed. */
  origin: 'client' | 'upstream' | 'gateway';
  kind: 'request' | 'notification' | 'response';
  method: string;
  name: string;
  /** The JSON-RPC id, when the message has one (a response: the id of what it answers). */
  rpcId?: string | number | null;
  /** The principal (identity principalOf) whose exchange this is. */
  principal: string;
  /** The policy's `input.subject` as JSON (claims, never a token), so replay can ask the policy again. */
  subjectJson: string;
  /**
   * The masked JSON-RPC message as it left the gateway; for a message larger than
   * max_message_bytes, only `{"[NOT RECORDED]": "message too large to record: ..."}`.
   */
  message: Record<string, unknown>;
  /** Set when `message` was replaced because it was too large: its serialized size in bytes. */
  oversizeBytes?: number;
  decision?: RecordedDecision;
  approval?: RecordedApproval;
  /** For a response: milliseconds since its request reached the gateway. */
  durationMs?: number;
  /** W3C trace context of the span of this message, when tracing is on ('' when off). */
  traceId: string;
  spanId: string;
}

/** Where the request path hands recorded messages. */
export interface RecordingSink {
  /** False when nothing is recorded: callers then build no entries and mask nothing (hot path). */
  readonly enabled: boolean;
  /**
   * Whether a new exchange may start: false when the buffer is full and the configuration says to
   * fail closed. A cheap early check only: `record`'s answer is what decides.
   */
  admit(): boolean;
  /**
   * Queues one message; never blocks. Returns false when the message could not be queued (buffer
   * full, recorder closed, a recording that is not its own) and `when_full` is fail_closed: for the
   * client's request the caller must then refuse the call with -32092 before forwarding anything
   * (record the request first, forward after). For a later message (an answer) there is nothing
   * left to refuse: it is counted as dropped. Under `drop` it returns true and counts the drop.
   */
  record(entry: RecordedMessage): boolean;
}

export const noRecordings: RecordingSink = { enabled: false, admit: () => true, record: () => true };

/** One recording as listed: who, where, and how much. */
export interface RecordingSummary {
  recording: string;
  target: string;
  era: Era;
  /** The legacy session id; '' for a 2026-07-28 recording. */
  sessionId: string;
  principal: string;
  /** Milliseconds since the epoch of its first and last message still kept. */
  firstTime: number;
  lastTime: number;
  messages: number;
}

/** Which recordings a listing shows. */
export interface ListOptions {
  since?: number;
  limit?: number;
  /** Only the recordings of this legacy Mcp-Session-Id (on any target). */
  sessionId?: string;
}

/** Which page of a recording to read: after a cursor (a previous page's `next`), at most `limit` messages. */
export interface ReadOptions {
  after?: string;
  limit?: number;
}

/** One page of a recording; `next` is the cursor of the following page, absent on the last. */
export interface RecordingPage {
  session: RecordingSummary;
  messages: RecordedMessage[];
  next?: string;
}

/**
 * Reading recordings back (the store behind `portcullis sessions`, `/api/sessions` and
 * `portcullis policy replay`). Over HTTP the same shapes are served, to bearer tokens of the
 * configured auditor group:
 *   GET /api/sessions[?since=<ms>&limit=<n>&session_id=<id>]   -> { sessions: RecordingSummary[] }   (newest first)
 *   GET /api/sessions/<recording>[?after=<cursor>&limit=<n>]   -> RecordingPage (follow `next` to the end)
 * A page holds at most `limit` messages (default 100, at most 1000) and stops early past 8 MiB.
 */
export interface RecordingReader {
  list(options?: ListOptions): Promise<RecordingSummary[]>;
  /** A page of one recording's messages in the order they were stored; undefined when unknown. */
  read(recording: string, options?: ReadOptions): Promise<RecordingPage | undefined>;
}
