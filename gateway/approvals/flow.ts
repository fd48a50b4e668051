// The approval stage of the MCP data path (route.ts calls `holdForApproval` for a tools/call whose
// decision requires approval). It finds or opens the approval record for exactly this call and
// answers in the client's era:
//   2026-07-28: an `input_required` result with a URL-mode elicitation (the approval page) and a
//     sealed `requestState`; the retry carrying it is forwarded once approved.
//   legacy: the POST is held on its SSE stream (progress keep-alives when the client gave a
//     progressToken) until any replica records the decision.
// Once approved, exactly one caller wins the claim (approved -> executing) and forwards the
// *stored* call: never the bytes of a retry. Everything else is refused with its documented code.
import type { Identity } from '../identity/index.ts';
import type { Decision } from '../policy/decision.ts';
import { ErrorCode, GatewayError, type JsonRpcId } from '../errors.ts';
import { isObject } from '../json.ts';
import { stateUnavailable } from '../state/index.ts';
import { MaskError } from '../masking/index.ts';
import { DigestError } from './digest.ts';
import type { ApprovalRecord } from './machine.ts';
import { SEAL_PREFIX, SealError } from './seal.ts';
import type { Approvals } from './service.ts';

/** The gateway's key in `inputRequests` / `inputResponses`: namespaced, so an upstream's keys never collide. */
export const APPROVAL_INPUT_KEY = 'io.portcullis/approval';
const STATE_PREFIX = `${SEAL_PREFIX}state.`;

export interface ApprovalFlowOptions {
  approvals: Approvals;
  /** Base URL of the approval page: `<base>/approvals/<id>`. */
  pageBaseUrl: string;
  /** Longest a legacy POST is held before it ends with -32055 and the approval URL. */
  maxHoldMs: number;
  /** Longest a 2026-07-28 retry waits for a decision before it is answered `input_required` again. */
  retryHoldMs: number;
  /** Interval of `notifications/progress` keep-alives on a held legacy stream. */
  keepaliveMs: number;
  log: (message: string) => void;
}

/** One held request, as the route knows it. */
export interface HeldRequest {
  id: JsonRpcId;
  era: 'legacy' | 'stateless';
  protocolVersion: string;
  target: string;
  params: Record<string, unknown>;
  identity: Identity;
  decision: Decision;
  /** The client can read an SSE answer (legacy hold). */
  acceptsSse: boolean;
  /** Ends when the client goes away: a wait stops, the approval stays. */
  signal: AbortSignal;
  /** Sends these params upstream as this request and relays the answer (the route's normal path). */
  forward: (params: Record<string, unknown>) => Promise<Response>;
  /** Told each state of the record the request meets (the audit trail: approval id, approvers, wait). */
  observe?: (record: ApprovalRecord) => void;
}

/** Sealed into a 2026-07-28 `requestState`: what it may release, for whom, until when. */
interface SealedState {
  v: 1;
  a: string;
  d: string;
  p: string;
  e: number;
  n: string;
}

const STATE_CODES = {
  denied: ErrorCode.ApprovalDenied, cancelled: ErrorCode.ApprovalDenied, revoked: ErrorCode.ApprovalDenied,
  expired: ErrorCode.ApprovalExpired,
  executing: ErrorCode.ApprovalUsed, executed: ErrorCode.ApprovalUsed, failed: ErrorCode.ApprovalUsed,
} as const;

/** 2026-07-28: the per-request client capabilities say it can open a URL-mode elicitation. */
function declaresUrlElicitation(params: Record<string, unknown>): boolean {
  const meta = params._meta;
  const caps = isObject(meta) ? meta['io.modelcontextprotocol/clientCapabilities'] : undefined;
  const elicitation = isObject(caps) ? caps.elicitation : undefined;
  return isObject(elicitation) && isObject(elicitation.url);
}

export function isGatewayState(value: unknown): value is string {
  return typeof value === 'string' && value.startsWith(STATE_PREFIX);
}

/** The store is away: fail closed, as every shared-state failure does (-32090). */
function approvalStateUnavailable(id: JsonRpcId): GatewayError {
  return stateUnavailable('Service Unavailable: this call needs human approval and the approval store (shared state) cannot be reached; it was not forwarded. Retry shortly', id);
}

function invalidState(id: JsonRpcId, why: string): GatewayError {
  return new GatewayError(200, ErrorCode.ApprovalStateInvalid, `Approval state refused: ${why}; nothing was forwarded. Call the tool again without requestState to ask for a new approval`, { id, data: { portcullis: { approval: { error: 'invalid_request_state' } } } });
}

/**
 * Separates the gateway's own parts of a retry (its requestState, its inputResponses key) from
 * the call and any upstream continuation. What remains is what would run, and what is bound.
 */
export function splitParams(params: Record<string, unknown>): { call: Record<string, unknown>; gatewayState: string | undefined; continuation: unknown } {
  const { requestState, inputResponses, ...rest } = params;
  let gatewayState: string | undefined;
  const call: Record<string, unknown> = { ...rest };
  if (isGatewayState(requestState)) gatewayState = requestState;
  else if (requestState !== undefined) call.requestState = requestState;
  if (isObject(inputResponses)) {
    const { [APPROVAL_INPUT_KEY]: _ours, ...upstream } = inputResponses;
    if (Object.keys(upstream).length > 0) call.inputResponses = upstream;
  } else if (inputResponses !== undefined) call.inputResponses = inputResponses;
  const continuation = call.requestState !== undefined || call.inputResponses !== undefined
    ? { requestState: call.requestState ?? null, inputResponses: call.inputResponses ?? null }
    : undefined;
  return { call, gatewayState, continuation };
}

export class ApprovalFlow {
  private readonly o: ApprovalFlowOptions;
  constructor(o: ApprovalFlowOptions) {
    this.o = o;
  }

  pageUrl(id: string): string {
    return `${this.o.pageBaseUrl.replace(/\/$/, '')}/approvals/${encodeURIComponent(id)}`;
  }

  #describe(record: ApprovalRecord) {
    return { id: record.id, state: record.state, url: this.pageUrl(record.id), fingerprint: record.fingerprint, expires_at: new Date(record.deadline).toISOString() };
  }

  #ended(id: JsonRpcId, record: ApprovalRecord): GatewayError {
    const code = STATE_CODES[record.state as keyof typeof STATE_CODES] ?? ErrorCode.ApprovalStateInvalid;
    const what = record.state === 'expired' ? 'expired before it was used'
      : code === ErrorCode.ApprovalUsed ? 'was already used: an approval runs its call once'
      : `was ${record.state}${record.outcome && record.outcome !== record.state ? ` (${record.outcome})` : ''}`;
    const last = [...record.votes].reverse().find((v) => v.decision === 'deny');
    const comment = record.state === 'denied' && last ? `: "${last.comment}"` : '';
    return new GatewayError(200, code, `Approval ${record.id} ${what}${comment}; the call was not forwarded`, { id, data: { portcullis: { approval: this.#describe(record) } } });
  }

  #pending(id: JsonRpcId, record: ApprovalRecord, why: string): GatewayError {
    return new GatewayError(200, ErrorCode.ApprovalPending, `Approval required: ${why}. Approve at ${this.pageUrl(record.id)}, then call again (the identical call attaches to this approval)`, { id, data: { portcullis: { approval: this.#describe(record) } } });
  }

  #inputRequired(req: HeldRequest, record: ApprovalRecord): Response {
    const sealed: SealedState = {
      v: 1, a: record.id, d: record.digest, p: req.identity.principal,
      // Valid as long as the record could still be used: pending ttl plus the use window.
      e: record.deadline + (record.state === 'pending' ? 10 * 60_000 + record.windowSeconds * 1000 : 0),
      n: crypto.randomUUID(),
    };
    const gates = record.gates.map((g) => `${g.count} of ${g.groups.join('/')}`).join(' and ');
    const result = {
      resultType: 'input_required',
      inputRequests: {
        [APPROVAL_INPUT_KEY]: {
          method: 'elicitation/create',
          params: {
            mode: 'url',
            elicitationId: record.id,
            url: this.pageUrl(record.id),
            message: `Portcullis: ${record.name} on ${record.target} waits for approval by ${gates} (fingerprint ${record.fingerprint}). Continue once it is approved.`,
          },
        },
      },
      requestState: this.o.approvals.sealer.seal('state', sealed),
    };
    return Response.json({ jsonrpc: '2.0', id: req.id, result });
  }

  /** The record a request refers to: through its sealed requestState, or by its digest (open or attach). */
  async #recordFor(req: HeldRequest): Promise<{ record: ApprovalRecord; retry: boolean; call: Record<string, unknown> }> {
    const { call, gatewayState, continuation } = splitParams(req.params);
    const approvals = this.o.approvals;
    let digest: string;
    try {
      digest = approvals.digestOf({ target: req.target, method: 'tools/call', name: String(call.name ?? ''), arguments: call.arguments, identity: req.identity, decision: req.decision, continuation });
    } catch (err) {
      if (err instanceof DigestError) throw new GatewayError(200, ErrorCode.InvalidParams, `Invalid params: ${err.message}`, { id: req.id });
      throw err;
    }
    if (gatewayState !== undefined) {
      let state: SealedState;
      try {
        state = approvals.sealer.open('state', gatewayState) as SealedState;
      } catch (err) {
        if (!(err instanceof SealError)) throw err;
        this.o.log(`approval.mismatch: requestState refused on '${req.target}': ${err.message}`);
        throw invalidState(req.id, 'the requestState was not issued by this gateway or was altered');
      }
      if (state.p !== req.identity.principal) {
        this.o.log(`approval.mismatch: requestState of approval ${state.a} presented by another principal`);
        throw invalidState(req.id, 'the requestState belongs to another caller');
      }
      if (state.d !== digest) {
        this.o.log(`approval.mismatch: requestState of approval ${state.a} presented with a different call`);
        throw invalidState(req.id, 'the requestState was issued for a different call (tool, arguments or policy revision changed)');
      }
      const record = await approvals.store.get(state.a);
      if (record === undefined) throw invalidState(req.id, 'the approval it names is unknown (its history has been removed)');
      if (Date.now() > state.e && (record.state === 'pending' || record.state === 'approved')) {
        throw this.#ended(req.id, { ...record, state: 'expired' });
      }
      return { record, retry: true, call };
    }
    try {
      const { record } = await approvals.open({
        target: req.target, era: req.era, protocolVersion: req.protocolVersion, method: 'tools/call',
        name: String(call.name ?? ''), arguments: call.arguments, params: call,
        ...(continuation === undefined ? {} : { continuation }), identity: req.identity, decision: req.decision,
      }, digest);
      return { record, retry: false, call };
    } catch (err) {
      // Approvers may only ever see masked arguments: a mask that cannot be applied holds nothing.
      if (err instanceof MaskError) throw new GatewayError(200, ErrorCode.MaskingFailed, `Masking required but could not be applied to the arguments approvers would see, so the call is not held or forwarded (fail closed): ${err.message}`, { id: req.id });
      throw err;
    }
  }

  /** Claims the approved record and forwards its stored call; records what became of it. */
  async #execute(req: HeldRequest, record: ApprovalRecord): Promise<Response | ApprovalRecord> {
    const approvals = this.o.approvals;
    const claimed = await approvals.claim(record.id);
    if (!claimed.ok) return (await approvals.store.get(record.id)) ?? record;
    let params: Record<string, unknown>;
    try {
      params = approvals.storedParams(claimed.value);
    } catch (err) {
      await approvals.finish(record.id, false, `stored call unreadable: ${(err as Error).message}`);
      throw invalidState(req.id, 'the stored call could not be opened (sealing key removed?)');
    }
    try {
      const response = await req.forward(params);
      await approvals.finish(record.id, response.status < 400, `upstream answered HTTP ${response.status}`).catch((err: Error) => this.o.log(`approval ${record.id}: could not record the outcome: ${err.message}`));
      return response;
    } catch (err) {
      await approvals.finish(record.id, false, `forwarding failed: ${(err as Error).message}`).catch(() => {});
      throw err;
    }
  }

  /**
   * Drives one request to its answer. `wait` is how long a pending record may be waited on here
   * (0: answer at once); returns a Response, or a GatewayError to answer with.
   */
  async #drive(req: HeldRequest, start: ApprovalRecord, waitMs: number): Promise<Response | GatewayError | ApprovalRecord> {
    const approvals = this.o.approvals;
    const until = Date.now() + waitMs;
    let record = await approvals.settle(start);
    for (;;) {
      req.observe?.(record);
      switch (record.state) {
        case 'approved': {
          // Nobody is left to receive the answer: the call stays approved for the retry.
          if (req.signal.aborted) return record;
          const out = await this.#execute(req, record);
          if (out instanceof Response) return out;
          record = await approvals.settle(out);
          continue;
        }
        case 'pending': {
          const left = Math.min(until, record.deadline) - Date.now();
          if (left <= 0 || req.signal.aborted) return record;
          await approvals.store.waitForChange(record.id, record.version, left, req.signal);
          record = await approvals.settle((await approvals.store.get(record.id)) ?? record);
          continue;
        }
        default:
          return this.#ended(req.id, record);
      }
    }
  }

  async handle(req: HeldRequest): Promise<Response> {
    try {
      return await this.#handle(req);
    } catch (err) {
      if (err instanceof GatewayError) throw err;
      // The approval store could not be used: the call needs it, so it is not forwarded.
      this.o.log(`approvals: the store failed, the call is refused: ${(err as Error).message}`);
      throw approvalStateUnavailable(req.id);
    }
  }

  async #handle(req: HeldRequest): Promise<Response> {
    const { record, retry } = await this.#recordFor(req);
    if (req.era === 'stateless') {
      // A first call is answered at once; a retry waits a little for the decision it came for.
      const out = await this.#drive(req, record, retry ? this.o.retryHoldMs : 0);
      if (out instanceof GatewayError) return out.toResponse(req.id);
      if (out instanceof Response) return out;
      // A client that cannot open a URL elicitation gets the URL in an error instead; its
      // identical retry attaches to the same request by digest.
      if (!declaresUrlElicitation(req.params)) throw this.#pending(req.id, out, 'this client declared no URL-mode elicitation to show the approval page');
      return this.#inputRequired(req, out);
    }
    if (!req.acceptsSse) {
      const out = await this.#drive(req, record, 0);
      if (out instanceof GatewayError) return out.toResponse(req.id);
      if (out instanceof Response) return out;
      throw this.#pending(req.id, out, 'this client accepts no event stream to wait on');
    }
    const first = await this.#drive(req, record, 0);
    if (first instanceof GatewayError) return first.toResponse(req.id);
    if (first instanceof Response) return first;
    return this.#hold(req, first);
  }

  /** Legacy: the answer is an SSE stream that carries keep-alives, then the call's answer. */
  #hold(req: HeldRequest, record: ApprovalRecord): Response {
    const encoder = new TextEncoder();
    const progressToken = isObject(req.params._meta) ? req.params._meta.progressToken : undefined;
    const hasToken = typeof progressToken === 'string' || typeof progressToken === 'number';
    const stream = new ReadableStream<Uint8Array>({
      start: (controller) => {
        let ticks = 0;
        const send = (text: string) => { try { controller.enqueue(encoder.encode(text)); } catch { /* closed */ } };
        const event = (message: unknown) => send(`event: message\ndata: ${JSON.stringify(message)}\n\n`);
        const keepalive = () => {
          ticks++;
          if (hasToken) {
            event({ jsonrpc: '2.0', method: 'notifications/progress', params: { progressToken, progress: ticks, message: `Waiting for approval ${record.id} (fingerprint ${record.fingerprint}): ${this.pageUrl(record.id)}` } });
          } else send(':\n\n');
        };
        keepalive();
        const timer = setInterval(keepalive, this.o.keepaliveMs);
        timer.unref?.();
        void (async () => {
          try {
            const out = await this.#drive(req, record, this.o.maxHoldMs);
            clearInterval(timer);
            if (out instanceof Response) {
              const type = out.headers.get('content-type') ?? '';
              if (type.startsWith('text/event-stream') && out.body) {
                const reader = out.body.getReader();
                for (;;) {
                  const { done, value } = await reader.read();
                  if (done) break;
                  controller.enqueue(value);
                }
              } else {
                const text = await out.text();
                if (text.trim() !== '') send(`event: message\ndata: ${text}\n\n`);
              }
            } else {
              const error = out instanceof GatewayError ? out : this.#pending(req.id, out, `no decision within the ${Math.round(this.o.maxHoldMs / 1000)} s this gateway holds a call`);
              event(error.body(req.id));
            }
          } catch (err) {
            clearInterval(timer);
            const error = err instanceof GatewayError ? err : approvalStateUnavailable(req.id);
            if (!(err instanceof GatewayError)) this.o.log(`approval hold failed, the call is refused: ${(err as Error).message}`);
            event(error.body(req.id));
          }
          try { controller.close(); } catch { /* closed */ }
        })();
      },
    });
    return new Response(stream, { status: 200, headers: { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' } });
  }
}
