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
   * The recording it belongs to: the legacy session id, or for 2026-07-28 (no sessions) a
   * recording per principal and client (recordingIdFor).
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
  /** The masked JSON-RPC message as it left the gateway. */
  message: Record<string, unknown>;
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
   * fail closed (the call is then refused with -32092 before anything is forwarded).
   */
  admit(): boolean;
  /** Queues one message; never blocks. Past the buffer it is dropped and counted. */
  record(entry: RecordedMessage): void;
}

export const noRecordings: RecordingSink = { enabled: false, admit: () => true, record: () => {} };

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

/**
 * Reading recordings back (the store behind `portcullis sessions`, `/api/sessions` and
 * `portcullis policy replay`). Over HTTP the same shapes are served, to bearer tokens of the
 * configured auditor group:
 *   GET /api/sessions[?since=<ms>&limit=<n>]   -> { sessions: RecordingSummary[] }   (newest first)
 *   GET /api/sessions/<recording>              -> { session: RecordingSummary, messages: RecordedMessage[] }
 */
export interface RecordingReader {
  list(options?: { since?: number; limit?: number }): Promise<RecordingSummary[]>;
  /** The messages of one recording in the order they left the gateway; undefined when unknown. */
  read(recording: string): Promise<{ session: RecordingSummary; messages: RecordedMessage[] } | undefined>;
}
