// Applying a MaskPlan: one recursive walk over the document, copy-on-write (an unchanged subtree is
// returned as the very same object, so "nothing to mask" allocates nothing and `changed` is an
// identity check), path rules advanced as a small NFA alongside, key-name rules looked up once per
// distinct key name (cached on the plan), detectors run on every string and member name, and
// strings holding JSON parsed, walked like any subtree and re-serialized only when changed.
import { createHmac } from 'node:crypto';
import { isCardNumber, MASK_PREFIX } from './detectors.ts';
import { MaskError } from './errors.ts';
import { enterEmbedded, NO_STATES, pathPrefix, step, type PathState } from './path.ts';
import type { MaskPlan, Rule } from './plan.ts';

export type MaskMode = 'strict' | 'best_effort';

export interface MaskResult {
  /** The masked value; the input itself (same reference) when nothing was masked. */
  value: unknown;
  /** Replacements per class (never the values). */
  counts: Record<string, number>;
  /** Whether `value` differs from the input. */
  changed: boolean;
  /** best_effort only: what could not be done as instructed (empty in strict mode). */
  skipped: string[];
}

export interface MaskTextResult {
  text: string;
  counts: Record<string, number>;
  changed: boolean;
}

/** What replaces a subtree nested deeper than the plan's maxDepth (best_effort). */
export const DEPTH_LIMIT_MARKER = `${MASK_PREFIX}depth_limit]`;

const MAX_SKIPPED = 32;
const HEX16 = /^[0-9a-f]{16}\]$/;

type NodeKind = 'object' | 'array' | 'string' | 'number' | 'boolean';

function setProp(o: Record<string, unknown>, k: string, v: unknown): void {
  if (k === '__proto__') Object.defineProperty(o, k, { value: v, writable: true, enumerable: true, configurable: true });
  else o[k] = v;
}

const isWs = (c: number): boolean => c === 32 || c === 10 || c === 13 || c === 9;

const FRAGMENT_HINT = /"\s*:/;
const FRAGMENT_MEMBER = /"((?:[^"\\\r\n]|\\.){1,256})"[ \t\r\n]*:[ \t\r\n]*/g;
const FRAGMENT_SCALAR = /-?[0-9][0-9.eE+-]*|true|false/y;

/** Index just past the closing quote of the JSON string literal opening at `i`, or -1. */
function endOfJsonString(s: string, i: number): number {
  for (let j = i + 1; j < s.length; j++) {
    const c = s.charCodeAt(j);
    if (c === 92) j++;
    else if (c === 34) return j + 1;
  }
  return -1;
}

/** Index just past the bracket closing the object/array opening at `i` (or the end of `s`). */
function endOfJsonComposite(s: string, i: number): number {
  let depth = 0;
  for (let j = i; j < s.length; j++) {
    const c = s.charCodeAt(j);
    if (c === 34) {
      const e = endOfJsonString(s, j);
      if (e === -1) return s.length;
      j = e - 1;
    } else if (c === 123 || c === 91) depth++;
    else if (c === 125 || c === 93) {
      if (--depth === 0) return j + 1;
    }
  }
  return s.length;
}

/** Is `s` one of the outputs `rule` produces (so masking it again must leave it alone)? */
function isOutputOf(rule: Rule, s: string): boolean {
  if (s.length < rule.marker.length || s.charCodeAt(0) !== 91) return false;
  if (s === rule.marker) return true;
  if (rule.style === 'last') {
    return s.startsWith(rule.lastPrefix) && s.endsWith(']') && s.length - rule.lastPrefix.length - 1 <= rule.keep;
  }
  if (rule.style === 'hash') {
    return s.length === rule.hashPrefix.length + 17 && s.startsWith(rule.hashPrefix) && HEX16.test(s.slice(rule.hashPrefix.length));
  }
  return false;
}

interface StructuredCopy {
  /** JSON.stringify(structuredContent) */
  readonly text: string;
  readonly sc: unknown;
  readonly masked: unknown;
  /** Counts the walk of structuredContent added. */
  readonly delta: ReadonlyMap<string, number>;
  /** Deepest level reached inside structuredContent (which sits at level 1). */
  readonly deepest: number;
  readonly signature: string;
  json: string | null;
}

/** What path states still have to match, independent of where they started (mirror or not). */
function signature(states: readonly PathState[]): string {
  const parts: string[] = [];
  for (const st of states) parts.push(`${st.path.rule}:${JSON.stringify(st.path.segs.slice(st.i))}`);
  return parts.sort().join('|');
}

class Walker {
  readonly #plan: MaskPlan;
  readonly #strict: boolean;
  readonly #counts = new Map<string, number>();
  readonly skipped: string[] = [];
  #hashMemo: Map<string, string> | null = null;
  /** Deepest level visited so far. */
  #deepest = 0;
  /** MCP tool result: structuredContent masked ahead of the walk, and its exact JSON text copy. */
  #copy: StructuredCopy | null = null;

  constructor(plan: MaskPlan, strict: boolean) {
    this.#plan = plan;
    this.#strict = strict;
  }

  counts(): Record<string, number> {
    return Object.fromEntries(this.#counts);
  }

  #count(rule: Rule): void {
    this.#counts.set(rule.cls, (this.#counts.get(rule.cls) ?? 0) + 1);
  }

  #fail(message: string): void {
    if (this.#strict) throw new MaskError(message);
    if (this.skipped.length < MAX_SKIPPED && !this.skipped.includes(message)) this.skipped.push(message);
  }

  #tooDeep(): string {
    this.#fail(`document nesting exceeds the maximum depth of ${this.#plan.maxDepth}`);
    return DEPTH_LIMIT_MARKER;
  }

  /** Path states that needed to descend into this node but cannot: an error in strict mode. */
  #checkShape(states: readonly PathState[], kind: NodeKind, what: string): void {
    for (const st of states) {
      const p = st.path;
      const seg = p.segs[st.i];
      if (seg === undefined || p.silent || st.i >= p.firstDeep) continue;
      const ok = seg.t === 'name' ? kind === 'object'
        : seg.t === 'index' ? kind === 'array'
          : seg.t === 'any' ? kind === 'object' || kind === 'array'
            : true;
      if (!ok) {
        const want = seg.t === 'name' ? `member "${seg.v}"` : seg.t === 'index' ? `element [${seg.v}]` : 'members';
        this.#fail(`mask[${p.rule}].path ${JSON.stringify(p.text)}: cannot take ${want} of ${what} at ${pathPrefix(p, st.i)}`);
      }
    }
  }

  node(v: unknown, states: readonly PathState[], cand: Rule | null, depth: number): unknown {
    if (depth > this.#plan.maxDepth) return this.#tooDeep();
    if (depth > this.#deepest) this.#deepest = depth;
    let rule = cand;
    if (states.length !== 0) {
      for (const st of states) {
        if (st.i === st.path.segs.length) {
          const r = this.#plan.rules[st.path.rule]!;
          if (rule === null || r.index < rule.index) rule = r;
        }
      }
    }
    if (rule !== null) return this.maskAll(v, rule, depth);
    switch (typeof v) {
      case 'string':
        return this.str(v, states, depth);
      case 'object':
        if (v === null) return v;
        return Array.isArray(v) ? this.arr(v, states, depth) : this.obj(v as Record<string, unknown>, states, depth);
      case 'number': {
        if (states.length !== 0) this.#checkShape(states, 'number', 'a number');
        const card = this.#plan.cardRule;
        if (card !== null && v >= 1e12 && isCardNumber(v)) return this.#replace(card, String(v), String(v));
        return v;
      }
      case 'boolean':
        if (states.length !== 0) this.#checkShape(states, 'boolean', 'a boolean');
        return v;
      default:
        return v;
    }
  }

  /** A member name after detectors (renamed when a detector matches inside it). */
  #key(k: string, clean: boolean): string {
    return clean ? k : this.scan(k);
  }

  /** Next suffix to try per renamed name, per object being built (so renaming stays linear). */
  #suffixes = new WeakMap<object, Map<string, number>>();

  /** A name not yet used in `out` nor in `o` ("name", "name#2", …). */
  #unique(out: Record<string, unknown>, o: Record<string, unknown>, k: string): string {
    if (!Object.hasOwn(out, k) && !Object.hasOwn(o, k)) return k;
    let next = this.#suffixes.get(out);
    if (next === undefined) this.#suffixes.set(out, (next = new Map()));
    for (let i = next.get(k) ?? 2; ; i++) {
      const c = `${k}#${i}`;
      if (!Object.hasOwn(out, c) && !Object.hasOwn(o, c)) {
        next.set(k, i + 1);
        return c;
      }
    }
  }

  obj(o: Record<string, unknown>, states: readonly PathState[], depth: number): unknown {
    if (states.length !== 0) this.#checkShape(states, 'object', 'an object');
    const keys = Object.keys(o);
    const plan = this.#plan;
    const pre = depth === 0 ? this.#structuredCopy(o, states) : null;
    let out: Record<string, unknown> | null = null;
    for (let n = 0; n < keys.length; n++) {
      const k = keys[n]!;
      const v = o[k];
      const info = plan.keyInfo(k);
      const nk = this.#key(k, info.clean);
      const r = pre !== null && k === 'structuredContent'
        ? pre.masked
        : this.node(v, states.length === 0 ? NO_STATES : step(states, k, -1), info.rule, depth + 1);
      if (out === null && (r !== v || nk !== k)) {
        out = {};
        for (let m = 0; m < n; m++) setProp(out, keys[m]!, o[keys[m]!]);
      }
      if (out !== null) setProp(out, nk === k ? k : this.#unique(out, o, nk), r);
    }
    return out ?? o;
  }

  arr(a: readonly unknown[], states: readonly PathState[], depth: number): unknown {
    if (states.length !== 0) this.#checkShape(states, 'array', 'an array');
    let out: unknown[] | null = null;
    for (let i = 0; i < a.length; i++) {
      const el = a[i];
      const r = this.node(el, states.length === 0 ? NO_STATES : step(states, null, i), null, depth + 1);
      if (out === null && r !== el) out = a.slice(0, i);
      if (out !== null) out.push(r);
    }
    return out ?? a;
  }

  /** Everything under a selected value: strings per style, numbers and booleans as the marker. */
  maskAll(v: unknown, rule: Rule, depth: number): unknown {
    if (depth > this.#plan.maxDepth) return this.#tooDeep();
    if (depth > this.#deepest) this.#deepest = depth;
    switch (typeof v) {
      case 'string':
        if (isOutputOf(rule, v)) return v;
        return this.#replace(rule, v, v);
      case 'number':
      case 'boolean':
      case 'bigint':
        this.#count(rule);
        return rule.marker;
      case 'object': {
        if (v === null) return v;
        if (Array.isArray(v)) {
          let out: unknown[] | null = null;
          for (let i = 0; i < v.length; i++) {
            const el: unknown = v[i];
            const r = this.maskAll(el, rule, depth + 1);
            if (out === null && r !== el) out = v.slice(0, i);
            if (out !== null) out.push(r);
          }
          return out ?? v;
        }
        const o = v as Record<string, unknown>;
        const keys = Object.keys(o);
        let out: Record<string, unknown> | null = null;
        for (let n = 0; n < keys.length; n++) {
          const k = keys[n]!;
          const el = o[k];
          const nk = this.#key(k, this.#plan.keyInfo(k).clean);
          const r = this.maskAll(el, rule, depth + 1);
          if (out === null && (r !== el || nk !== k)) {
            out = {};
            for (let m = 0; m < n; m++) setProp(out, keys[m]!, o[keys[m]!]);
          }
          if (out !== null) setProp(out, nk === k ? k : this.#unique(out, o, nk), r);
        }
        return out ?? o;
      }
      default:
        return v;
    }
  }

  /** A string: embedded JSON is walked as a subtree; anything else is scanned by the detectors. */
  str(s: string, states: readonly PathState[], depth: number): unknown {
    const len = s.length;
    if (len >= 2) {
      let a = 0;
      while (a < len && isWs(s.charCodeAt(a))) a++;
      const c = s.charCodeAt(a);
      if (c === 123 || c === 91 || c === 34) {
        let b = len - 1;
        while (b > a && isWs(s.charCodeAt(b))) b--;
        const e = s.charCodeAt(b);
        if (b > a && (c === 123 ? e === 125 : c === 91 ? e === 93 : e === 34) && !(c === 91 && s.startsWith(MASK_PREFIX, a))) {
          const copy = this.#copy;
          if (copy !== null && s.length === copy.text.length && s === copy.text && copy.deepest + depth <= this.#plan.maxDepth &&
              signature(states.length === 0 ? NO_STATES : enterEmbedded(states)) === copy.signature) {
            return this.#useCopy(copy);
          }
          let parsed: unknown;
          let ok = true;
          try {
            parsed = JSON.parse(s);
          } catch {
            ok = false;
          }
          if (ok) return this.#embedded(s, a, b, parsed, states, depth);
        }
      }
    }
    if (states.length !== 0) this.#checkShape(states, 'string', 'a string that is not JSON');
    return this.scan(this.#fragments(s));
  }

  /**
   * Key rules inside text that is not a JSON document but contains JSON members (truncated JSON,
   * JSON lines, a log line quoting a body): `"<name>": <value>` where the decoded name matches a
   * key rule. A string value is replaced per style (re-escaped); a number or boolean becomes the
   * marker string; an object or array (through its balanced end, or the end of the text if it is
   * cut off) becomes the marker string. Detectors run afterwards on the result.
   */
  #fragments(s: string): string {
    const plan = this.#plan;
    if (plan.keyRules.length === 0 || s.length < 5 || s.indexOf('"') === -1 || !FRAGMENT_HINT.test(s)) return s;
    const re = FRAGMENT_MEMBER;
    re.lastIndex = 0;
    let out = '';
    let pos = 0;
    let m: RegExpExecArray | null;
    while ((m = re.exec(s)) !== null) {
      const v = re.lastIndex;
      let name: unknown;
      try {
        name = JSON.parse(`"${m[1]!}"`);
      } catch {
        continue;
      }
      const rule = plan.keyInfo(name as string).rule;
      if (rule === null || v >= s.length) continue;
      const c = s.charCodeAt(v);
      let end: number;
      let replacement: string;
      if (c === 34) {
        end = endOfJsonString(s, v);
        let value: string;
        if (end === -1) {
          end = s.length;
          value = s.slice(v + 1);
        } else {
          try {
            value = JSON.parse(s.slice(v, end)) as string;
          } catch {
            value = s.slice(v + 1, end - 1);
          }
        }
        if (isOutputOf(rule, value)) {
          re.lastIndex = end;
          continue;
        }
        replacement = JSON.stringify(this.#replace(rule, value, value));
      } else if (c === 123 || c === 91) {
        end = endOfJsonComposite(s, v);
        this.#count(rule);
        replacement = JSON.stringify(rule.marker);
      } else {
        FRAGMENT_SCALAR.lastIndex = v;
        const lit = FRAGMENT_SCALAR.exec(s);
        if (lit === null) continue;
        end = v + lit[0].length;
        this.#count(rule);
        replacement = JSON.stringify(rule.marker);
      }
      out += s.slice(pos, v) + replacement;
      pos = end;
      re.lastIndex = end;
    }
    return pos === 0 ? s : out + s.slice(pos);
  }

  /**
   * MCP tool results carry structuredContent and, per the spec's backwards-compatibility advice, the
   * same JSON serialized in a text block. When a text block is exactly JSON.stringify of
   * structuredContent, masking it would parse it and repeat, step for step, the walk of
   * structuredContent (same values, same rules: key rules and detectors do not depend on where a
   * value is, paths rooted at structuredContent are mirrored into the copy). So structuredContent
   * is masked first and the copy becomes JSON.stringify of the result, with its counts counted
   * again, exactly as the full walk would. Taken only when the path states reaching the copy are
   * equivalent to those reaching structuredContent and the depth limit cannot be reached.
   */
  #structuredCopy(o: Record<string, unknown>, states: readonly PathState[]): { masked: unknown } | null {
    const sc = o.structuredContent;
    const content = o.content;
    if (typeof sc !== 'object' || sc === null || !Array.isArray(content) || !Object.hasOwn(o, 'structuredContent')) return null;
    let json: string | undefined;
    for (const block of content) {
      if (typeof block !== 'object' || block === null) continue;
      const text = (block as Record<string, unknown>).text;
      if (typeof text !== 'string' || text.length < 2 || (text.charCodeAt(0) !== 123 && text.charCodeAt(0) !== 91)) continue;
      json ??= JSON.stringify(sc);
      if (text === json) break;
    }
    if (json === undefined) return null;
    const text = json;
    if (!content.some((b) => typeof b === 'object' && b !== null && (b as Record<string, unknown>).text === text)) return null;

    const info = this.#plan.keyInfo('structuredContent');
    const inner = states.length === 0 ? NO_STATES : step(states, 'structuredContent', -1);
    const before = new Map(this.#counts);
    const deepestBefore = this.#deepest;
    this.#deepest = 0;
    const masked = this.node(sc, inner, info.rule, 1);
    const deepest = this.#deepest;
    this.#deepest = Math.max(deepest, deepestBefore);
    const selectedWhole = info.rule !== null || inner.some((st) => st.i === st.path.segs.length);
    if (!selectedWhole) {
      const delta = new Map<string, number>();
      for (const [cls, n] of this.#counts) if (n !== (before.get(cls) ?? 0)) delta.set(cls, n - (before.get(cls) ?? 0));
      this.#copy = { text, sc, masked, delta, deepest, signature: signature(inner), json: null };
    }
    return { masked };
  }

  #useCopy(copy: StructuredCopy): string {
    for (const [cls, n] of copy.delta) this.#counts.set(cls, (this.#counts.get(cls) ?? 0) + n);
    if (copy.masked === copy.sc) return copy.text;
    return (copy.json ??= JSON.stringify(copy.masked));
  }

  #embedded(s: string, a: number, b: number, parsed: unknown, states: readonly PathState[], depth: number): unknown {
    if (depth + 1 > this.#plan.maxDepth) return this.#tooDeep();
    const inner = states.length === 0 ? NO_STATES : enterEmbedded(states);
    // A JSON-encoded string ("\"{…}\"" or "\"text\""): mask its content, encode it again.
    const r = this.node(parsed, inner, null, depth + 1);
    if (r === parsed) return s;
    let json: string;
    const nl = typeof parsed === 'object' && parsed !== null ? s.indexOf('\n', a) : -1;
    if (nl !== -1 && nl < b) {
      // Pretty-printed: keep the indentation unit (the whitespace starting the second line).
      let k = nl + 1;
      while (k < b && (s.charCodeAt(k) === 32 || s.charCodeAt(k) === 9)) k++;
      json = JSON.stringify(r, null, s.slice(nl + 1, k) || undefined);
    } else {
      json = JSON.stringify(r);
    }
    return s.slice(0, a) + json + s.slice(b + 1);
  }

  /** Detectors over free text: each match replaced per its rule's style. */
  scan(s: string): string {
    const plan = this.#plan;
    if (s.length < plan.minScanLength) return s;
    const spans: number[] = [];
    plan.findSpans(s, spans);
    if (spans.length === 0) return s;
    // Sort by start (then longest first) and merge overlaps; the earliest span's rule masks the union.
    const order: number[] = [];
    for (let i = 0; i < spans.length; i += 3) order.push(i);
    if (order.length > 1) order.sort((x, y) => spans[x]! - spans[y]! || spans[y + 1]! - spans[x + 1]! || spans[x + 2]! - spans[y + 2]!);
    let out = '';
    let pos = 0;
    let k = 0;
    while (k < order.length) {
      const at = order[k]!;
      const start = spans[at]!;
      let end = spans[at + 1]!;
      const binding = plan.detectors[spans[at + 2]!]!;
      k++;
      while (k < order.length && spans[order[k]!]! < end) {
        end = Math.max(end, spans[order[k]! + 1]!);
        k++;
      }
      const text = s.slice(start, end);
      out += s.slice(pos, start) + this.#replace(binding.rule, text, binding.det.canon(text));
      pos = end;
    }
    return out + s.slice(pos);
  }

  /** The replacement of one value or span (`canon`: what the keyed hash is computed over). */
  #replace(rule: Rule, text: string, canon: string): string {
    this.#count(rule);
    switch (rule.style) {
      case 'marker':
        return rule.marker;
      case 'last':
        return this.#last(rule, text);
      case 'hash':
        return this.#hash(rule, canon);
    }
  }

  /**
   * `[MASKED:<class> ...<tail>]`: the tail is the last `keep` characters, but never more than half
   * of the value (short secrets are not given away), never half of a surrogate pair, and shortened
   * until no detector of the plan matches the output (so masking it again finds nothing).
   */
  #last(rule: Rule, text: string): string {
    const n = text.length;
    for (let k = Math.min(rule.keep, n >> 1); k > 0; k--) {
      const from = n - k;
      const c = text.charCodeAt(from);
      if (c >= 0xdc00 && c <= 0xdfff) continue;
      const out = `${rule.lastPrefix}${text.slice(from)}]`;
      if (!this.#plan.detectsIn(out)) return out;
    }
    return rule.marker;
  }

  /**
   * `[MASKED:<class> hmac:<16 hex digits of HMAC-SHA256(hashKey, value)>]`: the first 16, unless a
   * detector would match the output (16 hex digits can be all decimal digits, and 1 in 10 of
   * those pass Luhn): then the next 16, and so on, deterministically; the marker if all 4 would.
   */
  #hash(rule: Rule, canon: string): string {
    const memo = (this.#hashMemo ??= new Map());
    const key = `${rule.cls}\u0000${canon}`;
    let out = memo.get(key);
    if (out === undefined) {
      const hex = createHmac('sha256', this.#plan.hashKey!).update(canon, 'utf8').digest('hex');
      out = rule.marker;
      for (let i = 0; i < 64; i += 16) {
        const candidate = `${rule.hashPrefix}${hex.slice(i, i + 16)}]`;
        if (!this.#plan.detectsIn(candidate)) {
          out = candidate;
          break;
        }
      }
      memo.set(key, out);
    }
    return out;
  }
}

function run<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof MaskError) throw err;
    // Never echo the underlying message: it may quote document content.
    const what = err instanceof RangeError ? 'document too large or too deeply nested' : `internal error (${(err as Error)?.name ?? typeof err})`;
    throw new MaskError(`masking failed: ${what}`);
  }
}

/**
 * Masks `value` (a JSON value, typically the `result` of a JSON-RPC response) as `plan` says.
 * Never mutates `value`. Strict mode throws MaskError when anything cannot be masked as
 * instructed; best_effort does what it can and lists the rest in `skipped`.
 */
export function applyMask(value: unknown, plan: MaskPlan, mode: MaskMode = 'strict'): MaskResult {
  if (mode !== 'strict' && mode !== 'best_effort') throw new MaskError(`mask_mode must be "strict" or "best_effort", got ${JSON.stringify(mode)}`);
  if (plan.empty) return { value, counts: {}, changed: false, skipped: [] };
  const w = new Walker(plan, mode === 'strict');
  const out = run(() => w.node(value, plan.root, null, 0));
  return { value: out, counts: w.counts(), changed: out !== value, skipped: w.skipped };
}

/**
 * Masks free text (an error message, a log line) with the plan's detectors; when the text is
 * itself JSON, key rules and detectors apply inside it as for any string in a document. Path rules
 * do not apply. Never throws for the text's shape (it is masked best-effort).
 */
export function maskText(text: string, plan: MaskPlan): MaskTextResult {
  if (plan.empty) return { text, counts: {}, changed: false };
  const w = new Walker(plan, false);
  const out = run(() => w.str(text, NO_STATES, 0)) as string;
  return { text: out, counts: w.counts(), changed: out !== text };
}
