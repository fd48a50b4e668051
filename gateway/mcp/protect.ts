// Masking as MCP needs it: which parts of a message carry content, and what a failure means
// (the content is withheld, never passed on unmasked).
import { applyMask, MaskError, maskText, type MaskPlanCache } from '../masking/index.ts';
import { failClosed, type Decision, type MaskInstruction } from '../policy/decision.ts';
import { ErrorCode, GatewayError } from '../errors.ts';
import { isObject } from '../json.ts';
import { NAMED_BY } from './jsonrpc.ts';

/** What must be masked on the way back, accumulated from the decisions on an exchange. */
export interface MaskDirective {
  instructions: MaskInstruction[];
  mode: 'strict' | 'best_effort';
}

/** Both directives' instructions together; strict wins over best effort. */
export function combineMasks(current: MaskDirective | undefined, next: MaskDirective | undefined): MaskDirective | undefined {
  if (next === undefined || next.instructions.length === 0) return current;
  if (current === undefined) return next;
  return {
    instructions: [...current.instructions, ...next.instructions],
    mode: current.mode === 'strict' || next.mode === 'strict' ? 'strict' : 'best_effort',
  };
}

/** Adds a decision's mask to what is already required. */
export function withMask(current: MaskDirective | undefined, decision: Decision): MaskDirective | undefined {
  return combineMasks(current, decision.mask.length === 0 ? undefined : { instructions: decision.mask, mode: decision.maskMode });
}

export interface Masked {
  /** The message itself when nothing was masked, else a masked copy. */
  value: Record<string, unknown>;
  counts: Record<string, number>;
}

function addCounts(into: Record<string, number>, from: Record<string, number>): void {
  for (const [cls, n] of Object.entries(from)) into[cls] = (into[cls] ?? 0) + n;
}

/**
 * Masks a JSON-RPC message's content: `result` of a response, `params` of a request or
 * notification, `message` and `data` of an error. Throws GatewayError(-32054) when a strict mask
 * cannot be applied, so the client gets an error instead of the content.
 */
export function maskMessage(message: Record<string, unknown>, directive: MaskDirective, plans: MaskPlanCache): Masked {
  const counts: Record<string, number> = {};
  try {
    const plan = plans.get(directive.instructions);
    const out: Record<string, unknown> = { ...message };
    let changed = false;
    for (const part of ['result', 'params'] as const) {
      const value = message[part];
      if (!isObject(value)) continue;
      if (part === 'params' && (typeof value.progressToken === 'string' || typeof value.progressToken === 'number')) {
        // A progress token is protocol correlation, not content: key rules such as `*token*` must
        // not break it, or the client cannot tell which call it reports on. The detectors still
        // read it (a secret-shaped token is masked all the same).
        const { progressToken, ...rest } = value;
        const masked = applyMask(rest, plan, directive.mode);
        const token = maskText(String(progressToken), plan);
        addCounts(counts, masked.counts);
        addCounts(counts, token.counts);
        if (!masked.changed && !token.changed) continue;
        out.params = { progressToken: token.changed ? token.text : progressToken, ...(masked.value as Record<string, unknown>) };
        changed = true;
        continue;
      }
      // The engine mirrors structuredContent paths into its JSON text copy, so both stay equal.
      const masked = applyMask(value, plan, directive.mode);
      addCounts(counts, masked.counts);
      if (!masked.changed) continue;
      out[part] = masked.value;
      changed = true;
    }
    const error = message.error;
    if (isObject(error)) {
      const text = typeof error.message === 'string' ? maskText(error.message, plan) : undefined;
      const data = error.data === undefined ? undefined : applyMask(error.data, plan, directive.mode);
      if (text) addCounts(counts, text.counts);
      if (data) addCounts(counts, data.counts);
      if (text?.changed || data?.changed) {
        out.error = { ...error, ...(text?.changed ? { message: text.text } : {}), ...(data?.changed ? { data: data.value } : {}) };
        changed = true;
      }
    }
    return { value: changed ? out : message, counts };
  } catch (err) {
    if (!(err instanceof MaskError)) throw err;
    throw new GatewayError(200, ErrorCode.MaskingFailed, `Masking required but could not be applied, so the content is withheld (fail closed): ${err.message}`);
  }
}

/**
 * The name or URI a message names (nameOf), as it may leave the gateway in a trail record (span,
 * decision record, recording): masked by `directive` as that field of the masked message's
 * params would be; '' when a strict mask cannot be applied (withheld, as the content is).
 */
export function shownName(method: string, name: string, directive: MaskDirective | undefined, plans: MaskPlanCache): string {
  if (name === '' || directive === undefined) return name;
  const field = Object.hasOwn(NAMED_BY, method) ? NAMED_BY[method]! : 'name';
  try {
    const params = maskMessage({ params: { [field]: name } }, directive, plans).value.params;
    const value = isObject(params) ? params[field] : undefined;
    return typeof value === 'string' ? value : '';
  } catch (err) {
    if (err instanceof GatewayError) return '';
    throw err;
  }
}

/**
 * A decision whose mask list cannot be compiled is a denial, made before anything is forwarded:
 * finding out after the upstream ran would be too late for a destructive tool.
 */
export function checkedDecision(decision: Decision, masks: MaskPlanCache): Decision {
  if (decision.mask.length === 0) return decision;
  try {
    masks.get(decision.mask);
    return decision;
  } catch (err) {
    if (!(err instanceof MaskError)) throw err;
    return failClosed(`policy decision "mask" is invalid: ${err.message}`, decision.revision);
  }
}
