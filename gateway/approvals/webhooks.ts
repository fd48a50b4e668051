// Outbound notifications, signed as the Standard Webhooks specification says: `webhook-id`
// (stable across retries of one message), `webhook-timestamp` (unix seconds) and
// `webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, one signature per
// configured secret (space-separated) so receivers can rotate keys. Payloads are thin (ids, state,
// tool, target, requester, link, fingerprint), never arguments: those are only on the
// authenticated API. Delivery never blocks a call: it is queued and retried with exponential
// backoff and jitter; 410 Gone disables the endpoint. The `slack` format posts a message with a
// link to the page (mrkdwn-escaped); approving inside chat is not offered.
import { createHmac } from 'node:crypto';
import type { ApprovalRecord, AuditEvent } from './machine.ts';

export interface WebhookEndpoint {
  url: string;
  /** Raw signing keys (the base64 part of `whsec_…`); every key signs, so rotation overlaps. */
  keys: Uint8Array[];
  /** Event types to send; undefined sends all. */
  events?: ReadonlySet<string>;
  format: 'standard' | 'slack';
}

export interface WebhookOptions {
  pageUrl: (id: string) => string;
  log: (message: string) => void;
  maxAttempts?: number;
  baseDelayMs?: number;
  timeoutMs?: number;
  fetch?: typeof fetch;
}

/** Parses `whsec_<base64>[ whsec_<base64>…]`. */
export function parseWebhookSecrets(text: string): Uint8Array[] {
  const keys = text.split(/\s+/).filter(Boolean).map((part) => {
    if (!part.startsWith('whsec_')) throw new Error('webhook secrets are "whsec_<base64>", space-separated');
    const key = Buffer.from(part.slice(6), 'base64');
    if (key.length < 24) throw new Error('a webhook secret must be at least 24 bytes');
    return key;
  });
  if (keys.length === 0) throw new Error('no webhook secret given');
  return keys;
}

/** The `webhook-signature` header value for one message. */
export function webhookSignature(keys: readonly Uint8Array[], id: string, timestamp: number, body: string): string {
  return keys.map((k) => `v1,${createHmac('sha256', k).update(`${id}.${timestamp}.${body}`).digest('base64')}`).join(' ');
}

const mrkdwn = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export function webhookPayload(record: ApprovalRecord, event: AuditEvent, link: string) {
  return {
    type: event.type,
    timestamp: new Date(event.at).toISOString(),
    data: {
      approval_id: record.id, state: record.state, tool: record.name, target: record.target,
      requester: { issuer: record.requester.issuer, sub: record.requester.sub, name: record.requester.name },
      fingerprint: record.fingerprint, link, ...(event.by ? { by: event.by } : {}),
    },
  };
}

export function slackPayload(record: ApprovalRecord, event: AuditEvent, link: string) {
  const text = `${event.type}: ${record.name} on ${record.target} requested by ${record.requester.name} is ${record.state} (fingerprint ${record.fingerprint})`;
  return {
    text: mrkdwn(text),
    blocks: [
      { type: 'section', text: { type: 'mrkdwn', text: `*${mrkdwn(event.type)}*: \`${mrkdwn(record.name)}\` on \`${mrkdwn(record.target)}\`\nrequested by ${mrkdwn(record.requester.name)}, now *${record.state}*\nfingerprint \`${record.fingerprint}\`` } },
      { type: 'actions', elements: [{ type: 'button', text: { type: 'plain_text', text: 'Open the request' }, url: link }] },
    ],
  };
}

export class Webhooks {
  readonly #disabled = new Set<WebhookEndpoint>();
  readonly #timers = new Set<NodeJS.Timeout>();
  #closed = false;
  private readonly endpoints: readonly WebhookEndpoint[];
  private readonly o: WebhookOptions;
  constructor(endpoints: readonly WebhookEndpoint[], o: WebhookOptions) {
    this.endpoints = endpoints;
    this.o = o;
  }

  /** Queues the event for every endpoint that wants it; returns at once. */
  emit(record: ApprovalRecord, event: AuditEvent): void {
    if (this.#closed) return;
    const link = this.o.pageUrl(record.id);
    // One message per record version: retries of it keep the id; receivers de-duplicate on it.
    const id = `msg_${record.id}_${record.version}`;
    for (const endpoint of this.endpoints) {
      if (endpoint.events && !endpoint.events.has(event.type)) continue;
      const body = JSON.stringify(endpoint.format === 'slack' ? slackPayload(record, event, link) : webhookPayload(record, event, link));
      this.#attempt(endpoint, id, body, 0);
    }
  }

  #attempt(endpoint: WebhookEndpoint, id: string, body: string, attempt: number): void {
    if (this.#closed || this.#disabled.has(endpoint)) return;
    const timestamp = Math.floor(Date.now() / 1000);
    const doFetch = this.o.fetch ?? fetch;
    void doFetch(endpoint.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'webhook-id': id, 'webhook-timestamp': String(timestamp), 'webhook-signature': webhookSignature(endpoint.keys, id, timestamp, body) },
      body,
      redirect: 'manual',
      signal: AbortSignal.timeout(this.o.timeoutMs ?? 15_000),
    }).then(async (res) => {
      await res.body?.cancel().catch(() => {});
      if (res.status >= 200 && res.status < 300) return;
      if (res.status === 410) {
        this.#disabled.add(endpoint);
        this.o.log(`approvals: webhook ${endpoint.url} answered 410 Gone: disabled until restart`);
        return;
      }
      throw new Error(`HTTP ${res.status}`);
    }).catch((err: Error) => {
      const max = this.o.maxAttempts ?? 8;
      if (attempt + 1 >= max) {
        this.o.log(`approvals: webhook ${endpoint.url} gave up on ${id} after ${max} attempts: ${err.message}`);
        return;
      }
      // Exponential backoff with full jitter: base * 2^attempt, scaled by 0.5..1.
      const delay = (this.o.baseDelayMs ?? 1000) * 2 ** attempt * (0.5 + Math.random() / 2);
      const timer = setTimeout(() => { this.#timers.delete(timer); this.#attempt(endpoint, id, body, attempt + 1); }, delay);
      timer.unref();
      this.#timers.add(timer);
    });
  }

  close(): void {
    this.#closed = true;
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
  }
}
