// Applying a MaskPlan: one recursive walk over the document, copy-on-write (an unchanged subtree is
// returned as the very same object, so "nothing to mask" allocates nothing and `changed` is an
// identity check), path rules advanced as a small NFA alongside, key-name rules looked up once per
// distinct key name (cached on the plan), detectors run on every string and member name, and
// strings holding JSON parsed, walked like any subtree and re-serialized only when changed.
import { createHmac } from 'node:crypto';
import { isCardLiteral, MASK_PREFIX } from './detectors.ts';
import { MaskError } from './errors.ts';
import { foldText } from './fold.ts';
import { isObject, isRawNumber } from '../json.ts';
import { memberCount, numberText, parseJson } from './literals.ts';
import { enterEmbedded, NO_STATES, step, type PathState } from './path.ts';
import { FRAGMENT_HINT, type MaskPlan, type Rule } from './plan.ts';
import { schemaKeyword } from './schema.ts';
import { Recurrences, type RecurrenceMatcher } from './recur.ts';
import { decodeBase64, isBlobMember, printableText, textLike, utf8 } from './blobs.ts';
import { endOfJsonComposite, endOfJsonString, serializeLike } from './jsontext.ts';

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

type Match = [number, number, Rule, string, string, boolean];
const NO_MATCHES: readonly Match[] = Object.freeze([]) as readonly Match[];

/** What can be a name given as data: identifier-like, short (not a sentence, not a marker). */
const NAME_LIKE = /^[A-Za-z_$@][A-Za-z0-9_.$@-]{0,63}$/;
const PAIR_NAMES = ['name', 'key', 'Name', 'Key', 'header', 'field', 'param', 'variable'];
const PAIR_VALUES = ['value', 'Value'];

/** A small name/value pair object ({"name": "DB_PASSWORD", "value": …}, Kubernetes env, header lists). */
function pairOf(o: Record<string, unknown>, keys: readonly string[]): { name: string; value: string } | null {
  if (keys.length > 6) return null;
  const value = PAIR_VALUES.find((v) => Object.hasOwn(o, v));
  if (value === undefined) return null;
  for (const n of PAIR_NAMES) {
    const name = o[n];
    if (typeof name === 'string' && NAME_LIKE.test(name)) return { name, value };
  }
  return null;
}

const kindOf = (v: unknown): string => (Array.isArray(v) ? 'array' : typeof v === 'object' && v !== null ? 'object' : '');


/** The text of a text block / text resource contents ({text: "…"}), else undefined. */
const textOf = (b: unknown): string | undefined =>
  isObject(b) && typeof b.text === 'string' && (b.type === undefined || b.type === 'text') ? b.text : undefined;

function setProp(o: Record<string, unknown>, k: string, v: unknown): void {
  if (k === '__proto__') Object.defineProperty(o, k, { value: v, writable: true, enumerable: true, configurable: true });
  else o[k] = v;
}

const isWs = (c: number): boolean => c === 32 || c === 10 || c === 13 || c === 9;

const FRAGMENT_MEMBER = /"((?:[^"\\\r\n]|\\.){1,256})"[ \t\r\n]*:[ \t\r\n]*/g;
const FRAGMENT_SCALAR = /-?[0-9][0-9.eE+-]*|true|false/y;

/** Is `s` one of the outputs `rule` produces (so masking it again must leave it alone)? */
export function isOutputOf(rule: Rule, s: string): boolean {
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
  /** Member names seen in objects (walked or masked whole) since the current embedded document began. */
  #members = 0;
  /** Kind of the message's structuredContent ('' if none), and whether the JSON text being walked has it too. */
  #scKind = '';
  #mirrorArmed = false;
  /** Scratch for detector spans (reused: scanning is not reentrant). */
  readonly #spans: number[] = [];
  /** Short strings the recurrence search found nothing in, during this call. */
  readonly #recurClean = new Set<string>();
  /** Short strings scanned clean during this call. */
  readonly #clean = new Set<string>();
  /** The structuredContent copy the recurrence walk can skip (see recurAll). */
  #recurSkip: StructuredCopy | null = null;
  /** Values key and path rules masked, to be masked wherever else they appear in the message. */
  readonly recur = new Recurrences();

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

  /**
   * A path that needs to descend into this node but cannot (a member of a number, an index of an
   * object, a member of text that is not JSON): the value it reached is what it selects, so that
   * value is masked (a mask never withholds a whole answer for an unexpected shape). The earliest
   * such rule, or null.
   */
  #mismatch(states: readonly PathState[], kind: NodeKind): Rule | null {
    let rule: Rule | null = null;
    for (const st of states) {
      const p = st.path;
      const seg = p.segs[st.i];
      if (seg === undefined || st.i < p.mismatchFrom || st.i > p.firstWild) continue;
      // A mirror masks a mismatch only in a text block shaped like structuredContent (its copy).
      if (p.silent && !this.#mirrorArmed) continue;
      const ok = seg.t === 'name' ? kind === 'object'
        : seg.t === 'index' ? kind === 'array'
          : seg.t === 'any' ? kind === 'object' || kind === 'array'
            : true;
      if (!ok) {
        const r = this.#plan.rules[p.rule]!;
        if (rule === null || r.index < rule.index) rule = r;
      }
    }
    return rule;
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
      case 'object': {
        if (v === null) return v;
        if (isRawNumber(v)) return this.#number(v, states, depth);
        const kind = Array.isArray(v) ? 'array' : 'object';
        const bad = states.length === 0 ? null : this.#mismatch(states, kind);
        if (bad !== null) return this.maskAll(v, bad, depth);
        return Array.isArray(v) ? this.arr(v, states, depth) : this.obj(v as Record<string, unknown>, states, depth);
      }
      case 'number':
        return this.#number(v, states, depth);
      case 'boolean': {
        const bad = states.length === 0 ? null : this.#mismatch(states, 'boolean');
        return bad === null ? v : this.maskAll(v, bad, depth);
      }
      default:
        return v;
    }
  }

  /** A number, masked from its literal text: a card number in it becomes the detector's replacement. */
  #number(v: number | { rawJSON: string }, states: readonly PathState[], depth: number): unknown {
    const bad = states.length === 0 ? null : this.#mismatch(states, 'number');
    if (bad !== null) return this.maskAll(v, bad, depth);
    const card = this.#plan.cardRule;
    if (card === null || (typeof v === 'number' && !(Math.abs(v) >= 1e12))) return v;
    const lit = numberText(v);
    const digits = lit.charCodeAt(0) === 45 ? lit.slice(1) : lit;
    return isCardLiteral(digits) ? this.#replace(card, digits, digits) : v;
  }

  /** A member name after detectors (renamed when a detector matches inside it). */
  #key(k: string, info: { readonly clean: boolean }): string {
    if (info.clean) return k;
    const nk = this.scan(k);
    if (nk === k) this.#plan.remember(k, info as ReturnType<MaskPlan['keyInfo']>);
    return nk;
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
    const keys = Object.keys(o);
    this.#members += keys.length;
    const plan = this.#plan;
    if (depth === 0) this.#scKind = kindOf(o.structuredContent);
    const pre = depth === 0 ? this.#structuredCopy(o, states) : null;
    const pair = pairOf(o, keys);
    let out: Record<string, unknown> | null = null;
    for (let n = 0; n < keys.length; n++) {
      const k = keys[n]!;
      const v = o[k];
      const own = plan.keyInfo(k);
      const nk = this.#key(k, own);
      // {"name": "DB_PASSWORD", "value": "…"}: the value is keyed by the name it is paired with.
      const named = pair !== null && k === pair.value ? plan.keyInfo(pair.name) : null;
      const info = named === null || own.rule !== null ? own : { ...own, rule: named.rule, det: own.det !== -1 ? own.det : named.det };
      const detName = named !== null && own.det === -1 ? pair!.name : k;
      const inner = states.length === 0 ? NO_STATES : step(states, k, -1);
      let r: unknown;
      if (pre !== null && k === 'structuredContent') r = pre.masked;
      else if (info.rule === null && inner.length === 0 && typeof v === 'string' && info.det !== -1 && plan.acceptsKeyed(info.det, detName, v)) {
        // A detector that knows `NAME: value` masks the value of a member so named, whole.
        const rule = plan.detectors[info.det]!.rule;
        r = isOutputOf(rule, v) ? v : this.#replace(rule, v, v, true);
      } else if (info.rule === null && inner.length === 0 && (k === 'inputSchema' || k === 'outputSchema') && isObject(v)) {
        r = this.schema(v, null, depth + 1);
      } else if (info.rule === null && inner.length === 0 && typeof v === 'string' && isBlobMember(o, k)) {
        r = this.#blob(v, o.mimeType, depth + 1);
      } else r = this.node(v, inner, info.rule, depth + 1);
      if (out === null && (r !== v || nk !== k)) {
        out = {};
        for (let m = 0; m < n; m++) setProp(out, keys[m]!, o[keys[m]!]);
      }
      if (out !== null) setProp(out, nk === k ? k : this.#unique(out, o, nk), r);
    }
    return out ?? o;
  }

  arr(a: readonly unknown[], states: readonly PathState[], depth: number): unknown {
    let out: unknown[] | null = null;
    // ["Authorization", "…"]: a two-element array whose first element names the second.
    const named = a.length === 2 && typeof a[0] === 'string' && NAME_LIKE.test(a[0]) ? this.#plan.keyInfo(a[0]) : null;
    for (let i = 0; i < a.length; i++) {
      const el = a[i];
      const inner = states.length === 0 ? NO_STATES : step(states, null, i);
      let r: unknown;
      if (i === 1 && named !== null && inner.length === 0 && named.rule === null && typeof el === 'string' && named.det !== -1 && this.#plan.acceptsKeyed(named.det, a[0] as string, el)) {
        const rule = this.#plan.detectors[named.det]!.rule;
        r = isOutputOf(rule, el) ? el : this.#replace(rule, el, el, true);
      } else r = this.node(el, inner, i === 1 && named !== null ? named.rule : null, depth + 1);
      if (out === null && r !== el) out = a.slice(0, i);
      if (out !== null) out.push(r);
    }
    const res = out ?? a;
    return res.length > 1 && this.#plan.minScanLength !== Infinity ? this.#acrossBlocks(res) : res;
  }

  /**
   * Adjacent text blocks of one message are read as one text (a client shows them together): a
   * secret split across blocks is found in their concatenation. Each block was already masked on
   * its own; here only matches that cross a block boundary are masked (the replacement goes in the
   * first block, the rest of the match is removed from the following ones).
   */
  #acrossBlocks(a: readonly unknown[]): readonly unknown[] {
    let out: unknown[] | null = null;
    for (let i = 0; i < a.length;) {
      let j = i;
      while (j < a.length && textOf(a[j]) !== undefined) j++;
      if (j - i < 2) {
        i = j + 1;
        continue;
      }
      const texts = a.slice(i, j).map((b) => textOf(b)!);
      const starts: number[] = [];
      let joined = '';
      for (const t of texts) {
        starts.push(joined.length);
        joined += t;
      }
      starts.push(joined.length);
      const edits = new Map<number, string>();
      const get = (k: number) => edits.get(k) ?? texts[k]!;
      // Later matches first, so earlier offsets stay valid within a block.
      const matches = [...this.#matches(joined)].reverse();
      for (const [ms, me, rule, text, canon, recur] of matches) {
        const first = starts.findIndex((st, k) => ms >= st && ms < starts[k + 1]!);
        const last = starts.findIndex((st, k) => me > st && me <= starts[k + 1]!);
        if (first === -1 || last === -1) continue;
        // (Every match here is new: each block was masked on its own, and masked text is not matched again.)
        const rep = this.#replace(rule, text, canon, recur);
        const tail = get(last).slice(me - starts[last]!);
        for (let k = last; k > first; k--) edits.set(k, k === last ? tail : '');
        edits.set(first, get(first).slice(0, ms - starts[first]!) + rep + (first === last ? tail : ''));
      }
      if (edits.size > 0) {
        out ??= [...a];
        for (const [k, t] of edits) out[i + k] = { ...(a[i + k] as Record<string, unknown>), text: t };
      }
      i = j;
    }
    return out ?? a;
  }

  /** JSON Schema (a tool's inputSchema/outputSchema): structure is kept, data in it is masked. */
  schema(v: unknown, prop: Rule | null, depth: number): unknown {
    if (depth > this.#plan.maxDepth) return this.#tooDeep();
    if (Array.isArray(v)) {
      let out: unknown[] | null = null;
      for (let i = 0; i < v.length; i++) {
        const r = this.schema(v[i], prop, depth + 1);
        if (out === null && r !== v[i]) out = v.slice(0, i);
        if (out !== null) out.push(r);
      }
      return out ?? v;
    }
    if (!isObject(v)) return prop !== null ? this.maskAll(v, prop, depth) : this.node(v, NO_STATES, null, depth);
    const keys = Object.keys(v);
    this.#members += keys.length;
    let out: Record<string, unknown> | null = null;
    for (let n = 0; n < keys.length; n++) {
      const k = keys[n]!;
      const el = v[k];
      const kind = schemaKeyword(k);
      let r: unknown;
      let info: ReturnType<MaskPlan['keyInfo']> | undefined;
      if (kind === 'names' && isObject(el)) {
        // properties / patternProperties / $defs: each member is a schema named by its key; a
        // property whose name a key rule selects has its data (default, const, enum, examples) masked.
        const names = Object.keys(el);
        this.#members += names.length;
        let inner: Record<string, unknown> | null = null;
        for (let m = 0; m < names.length; m++) {
          const name = names[m]!;
          const info = this.#plan.keyInfo(name);
          const nk = this.#key(name, info);
          const child = el[name];
          const cr = this.schema(child, k === '$defs' || k === 'definitions' ? prop : (info.rule ?? prop), depth + 2);
          if (inner === null && (cr !== child || nk !== name)) {
            inner = {};
            for (let q = 0; q < m; q++) setProp(inner, names[q]!, el[names[q]!]);
          }
          if (inner !== null) setProp(inner, nk === name ? name : this.#unique(inner, el, nk), cr);
        }
        r = inner ?? el;
      } else if (kind === 'schema') r = this.schema(el, prop, depth + 1);
      else if (kind === 'data') r = prop !== null ? this.maskAll(el, prop, depth + 1) : this.node(el, NO_STATES, null, depth + 1);
      else if (kind === 'annotation') r = this.node(el, NO_STATES, null, depth + 1);
      else r = this.node(el, NO_STATES, (info ??= this.#plan.keyInfo(k)).rule, depth + 1); // not a keyword: data
      const nk = kind === 'other' ? this.#key(k, (info ??= this.#plan.keyInfo(k))) : k;
      if (out === null && (r !== el || nk !== k)) {
        out = {};
        for (let m = 0; m < n; m++) setProp(out, keys[m]!, v[keys[m]!]);
      }
      if (out !== null) setProp(out, nk === k ? k : this.#unique(out, v, nk), r);
    }
    return out ?? v;
  }

  /**
   * A base64 `blob` (embedded resource, resource contents) or image/audio `data`. Text (a text-like
   * mimeType, or bytes that are printable UTF-8 whatever the mimeType says) is decoded, masked as
   * text and encoded again; other bytes are passed or withheld as the plan's `blobs` says.
   */
  #blob(b64: string, mime: unknown, depth: number): unknown {
    const bytes = decodeBase64(b64);
    if (bytes === null) return this.str(b64, NO_STATES, depth); // not base64: read it as the text it is
    const text = textLike(typeof mime === 'string' ? mime : '') ? utf8(bytes) : printableText(bytes);
    // A text-like mimeType over bytes that are not UTF-8: not text after all; the blob rule decides.
    if (text !== null) {
      const masked = this.str(text, NO_STATES, depth);
      return masked === text ? b64 : Buffer.from(masked as string, 'utf8').toString('base64');
    }
    const rule = this.#plan.blobRule;
    if (rule === null || bytes.length === 0) return b64;
    this.#count(rule);
    return '';
  }

  /** Everything under a selected value: strings per style, numbers and booleans as the marker. */
  maskAll(v: unknown, rule: Rule, depth: number): unknown {
    if (depth > this.#plan.maxDepth) return this.#tooDeep();
    if (depth > this.#deepest) this.#deepest = depth;
    switch (typeof v) {
      case 'string':
        if (isOutputOf(rule, v)) return v;
        return this.#replace(rule, v, v, true);
      case 'number':
      case 'bigint':
        this.recur.add(String(v), rule);
        this.#count(rule);
        return rule.marker;
      case 'boolean':
        this.#count(rule);
        return rule.marker;
      case 'object': {
        if (v === null) return v;
        if (isRawNumber(v)) {
          this.recur.add(v.rawJSON, rule);
          this.#count(rule);
          return rule.marker;
        }
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
        this.#members += keys.length;
        let out: Record<string, unknown> | null = null;
        for (let n = 0; n < keys.length; n++) {
          const k = keys[n]!;
          const el = o[k];
          const nk = this.#key(k, this.#plan.keyInfo(k));
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
            parsed = parseJson(s);
          } catch {
            ok = false;
          }
          if (ok) return this.#embedded(s, a, b, parsed, states, depth);
        }
      }
    }
    const bad = states.length === 0 ? null : this.#mismatch(states, 'string');
    if (bad !== null) return this.maskAll(s, bad, depth);
    if (!this.#plan.mayMatch(s)) return s;
    return this.#scanText(this.#fragments(s));
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
        replacement = JSON.stringify(this.#replace(rule, value, value, true));
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
    if (copy.masked === copy.sc) copy.json = copy.text;
    return (copy.json ??= JSON.stringify(copy.masked));
  }

  #embedded(s: string, a: number, b: number, parsed: unknown, states: readonly PathState[], depth: number): unknown {
    if (depth + 1 > this.#plan.maxDepth) return this.#tooDeep();
    const inner = states.length === 0 ? NO_STATES : enterEmbedded(states);
    // A JSON-encoded string ("\"{…}\"" or "\"text\""): mask its content, encode it again.
    const outer = this.#members;
    const armed = this.#mirrorArmed;
    this.#members = 0;
    this.#mirrorArmed = this.#scKind !== '' && kindOf(parsed) === this.#scKind;
    const r = this.node(parsed, inner, null, depth + 1);
    const members = this.#members;
    this.#members = outer;
    this.#mirrorArmed = armed;
    // Duplicate member names: JSON.parse kept the last of each, the text holds every one (a reader
    // may keep the first). Only what was parsed and screened goes out: the text is rewritten.
    if (r === parsed && (typeof parsed !== 'object' || parsed === null || memberCount(s) === members)) return s;
    const json = typeof parsed === 'object' && parsed !== null ? serializeLike(s, a, b, r) : JSON.stringify(r);
    return s.slice(0, a) + json + s.slice(b + 1);
  }

  /**
   * Matches in free text (detectors, and values of selected names written in text), merged, in
   * offsets of `s`: [start, end, rule, text, canon]. The text is read folded (fold.ts: fullwidth,
   * invisible and lookalike characters as a person reads them). A match that is exactly an output
   * of its own rule is left alone (idempotence); anything else shaped like a marker is masked.
   */
  #matches(s: string): readonly Match[] {
    const plan = this.#plan;
    if (s.length < plan.minScanLength) return NO_MATCHES;
    const folded = foldText(s);
    const t = folded === null ? s : folded.text;
    const spans = this.#spans;
    spans.length = 0;
    plan.findSpans(t, spans);
    if (spans.length === 0) return NO_MATCHES;
    const order: number[] = [];
    for (let i = 0; i < spans.length; i += 3) order.push(i);
    if (order.length > 1) order.sort((x, y) => spans[x]! - spans[y]! || spans[y + 1]! - spans[x + 1]! || spans[x + 2]! - spans[y + 2]!);
    const found: Match[] = [];
    let k = 0;
    while (k < order.length) {
      const at = order[k]!;
      const start = spans[at]!;
      let end = spans[at + 1]!;
      const binding = plan.bindings[spans[at + 2]!]!;
      k++;
      while (k < order.length && spans[order[k]!]! < end) {
        end = Math.max(end, spans[order[k]! + 1]!);
        k++;
      }
      const text = t.slice(start, end);
      // (A value inside JSON-escaped text is compared unescaped, as the rule wrote it.)
      if (isOutputOf(binding.rule, text) || (text.includes('\\') && isOutputOf(binding.rule, text.replace(/\\(.)/g, '$1')))) continue;
      const os = folded === null ? start : folded.from[start]!;
      const oe = folded === null ? end : folded.to[end - 1]!;
      found.push([os, oe, binding.rule, text, binding.canon(text), binding.recur]);
    }
    return found;
  }

  /** Detectors (and selected names) over free text: each match replaced per its rule's style. */
  scan(s: string): string {
    return this.#plan.mayMatch(s) ? this.#scanText(s) : s;
  }

  #scanText(s: string): string {
    // Short strings repeat within a message (statuses, currencies, names): each is scanned once per
    // call. Only strings found clean are remembered, and only for this call.
    const short = s.length <= 64;
    if (short && this.#clean.has(s)) return s;
    const found = this.#matches(s);
    if (found.length === 0) {
      if (short && this.#clean.size < 16384) this.#clean.add(s);
      return s;
    }
    let out = '';
    let pos = 0;
    for (const [start, end, rule, text, canon, recur] of found) {
      if (start < pos) continue;
      out += s.slice(pos, start) + this.#replace(rule, text, canon, recur);
      pos = end;
    }
    return out + s.slice(pos);
  }

  /**
   * Values, not just places: a value a key or path rule masked is masked wherever else it appears
   * in the message (a prose copy, another member, a number), by the rule that masked it first.
   */
  recurAll(v: unknown): unknown {
    if (this.recur.size === 0) return v;
    const seen = this.recur.matcher();
    // The masked structuredContent and its text copy (JSON.stringify of it) hold the same strings:
    // when the copy's text has no recurrence, neither has, and both are left unwalked (most of an
    // MCP tool result).
    const c = this.#copy;
    if (c !== null && c.json !== null && seen.absentFrom(c.json)) this.#recurSkip = c;
    return this.#recur(v, seen, 0);
  }

  #recur(v: unknown, m: RecurrenceMatcher, depth: number): unknown {
    if (depth > this.#plan.maxDepth + 2) return v;
    const skip = this.#recurSkip;
    if (skip !== null && (v === skip.masked || v === skip.json)) return v;
    if (typeof v === 'string') {
      // Member names and short values repeat: each is searched once per call.
      const short = v.length <= 64;
      if (short && this.#recurClean.has(v)) return v;
      const edits = m.find(v);
      if (edits.length === 0) {
        // A value JSON escapes (a quote, a backslash, a line break) is not in JSON text as written:
        // such text is read as the document it is.
        const doc = m.verbatim ? undefined : this.#recurJson(v, m, depth);
        if (doc !== undefined && doc !== v) return doc;
        if (short && this.#recurClean.size < 16384) this.#recurClean.add(v);
        return v;
      }
      const doc = this.#recurJson(v, m, depth);
      if (doc !== undefined) return doc;
      let out = '';
      let pos = 0;
      for (const [a, b, rule] of edits) {
        out += v.slice(pos, a) + this.#recurReplacement(rule, v.slice(a, b));
        pos = b;
      }
      return out + v.slice(pos);
    }
    if (typeof v === 'number' || isRawNumber(v)) {
      const rule = m.exact(numberText(v as number));
      if (rule === undefined) return v;
      this.#count(rule);
      return rule.marker;
    }
    if (Array.isArray(v)) {
      let out: unknown[] | null = null;
      for (let i = 0; i < v.length; i++) {
        const r = this.#recur(v[i], m, depth + 1);
        if (out === null && r !== v[i]) out = v.slice(0, i);
        if (out !== null) out.push(r);
      }
      return out ?? v;
    }
    if (!isObject(v)) return v;
    const keys = Object.keys(v);
    let out: Record<string, unknown> | null = null;
    for (let n = 0; n < keys.length; n++) {
      const k = keys[n]!;
      const nk = this.#recur(k, m, depth) as string;
      const r = this.#recur(v[k], m, depth + 1);
      if (out === null && (r !== v[k] || nk !== k)) {
        out = {};
        for (let q = 0; q < n; q++) setProp(out, keys[q]!, v[keys[q]!]);
      }
      if (out !== null) setProp(out, nk === k ? k : this.#unique(out, v, nk), r);
    }
    return out ?? v;
  }

  /** A string holding a JSON document is searched as the document (a value in it may be a number). */
  #recurJson(s: string, m: RecurrenceMatcher, depth: number): string | undefined {
    let a = 0;
    while (a < s.length && isWs(s.charCodeAt(a))) a++;
    const c = s.charCodeAt(a);
    if (c !== 123 && c !== 91) return undefined;
    let parsed: unknown;
    try {
      parsed = parseJson(s);
    } catch {
      return undefined;
    }
    const r = this.#recur(parsed, m, depth + 1);
    if (r === parsed) return s;
    let b = s.length - 1;
    while (b > a && isWs(s.charCodeAt(b))) b--;
    return s.slice(0, a) + serializeLike(s, a, b, r) + s.slice(b + 1);
  }

  /** A recurrence's replacement: safe inside any text (inside JSON text too: no quote or backslash). */
  #recurReplacement(rule: Rule, text: string): string {
    const r = this.#replace(rule, text, text);
    return /["\\]/.test(r) ? rule.marker : r;
  }

  /** The replacement of one value or span (`canon`: what the keyed hash is computed over). */
  #replace(rule: Rule, text: string, canon: string, recur = false): string {
    this.#count(rule);
    if (recur) this.recur.add(text, rule);
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
  const out = run(() => w.recurAll(w.node(value, plan.root, null, 0)));
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
  const out = run(() => w.recurAll(w.str(text, NO_STATES, 0))) as string;
  return { text: out, counts: w.counts(), changed: out !== text };
}
