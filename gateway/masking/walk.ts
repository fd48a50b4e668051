// The walk of one JSON value: one recursive pass, copy-on-write (cow.ts), path rules advanced as a
// small NFA alongside (path.ts), key-name rules looked up once per distinct key name (cached on
// the plan), detectors run on every string and member name (scan.ts), and strings holding JSON
// parsed, walked like any subtree and re-serialized only when changed.
import { decodeBase64, isBlobMember, printableText, textLike, utf8 } from './blobs.ts';
import { acrossBlocks } from './blocks.ts';
import { exactCopyText, signature, type StructuredCopy } from './copy.ts';
import { Counts } from './counts.ts';
import { ArrayCopy, ObjectCopy } from './cow.ts';
import { integerDigits, isCardLiteral, MASK_PREFIX } from './detectors.ts';
import { MaskError } from './errors.ts';
import { isObject, isRawNumber } from '../json.ts';
import { serializeLike } from './jsontext.ts';
import { memberCount, numberText, parseJson } from './literals.ts';
import { enterEmbedded, NO_STATES, step, type PathState } from './path.ts';
import type { KeyInfo, MaskPlan, Rule } from './plan.ts';
import { isNameLike, pairOf } from './pairs.ts';
import { Recurrences } from './recur.ts';
import type { JsonPair } from './recurwalk.ts';
import { TextScanner } from './scan.ts';
import { walkSchema, type SchemaHost } from './schema.ts';
import { Replacements } from './styles.ts';

/** What replaces a subtree nested deeper than the plan's maxDepth (best_effort). */
export const DEPTH_LIMIT_MARKER = `${MASK_PREFIX}depth_limit]`;

const MAX_SKIPPED = 32;

type NodeKind = 'object' | 'array' | 'string' | 'number' | 'boolean';

const kindOf = (v: unknown): string => (Array.isArray(v) ? 'array' : typeof v === 'object' && v !== null ? 'object' : '');

const isWs = (c: number): boolean => c === 32 || c === 10 || c === 13 || c === 9;

export class Walker implements SchemaHost {
  readonly plan: MaskPlan;
  readonly #strict: boolean;
  readonly counts = new Counts();
  readonly skipped: string[] = [];
  /** Values key and path rules masked, to be masked wherever else they appear in the message. */
  readonly recur = new Recurrences();
  readonly styles: Replacements;
  readonly #scanner: TextScanner;
  /** Deepest level visited so far. */
  #deepest = 0;
  /** MCP tool result: structuredContent masked ahead of the walk, and its exact JSON text copy. */
  #copy: StructuredCopy | null = null;
  /** Member names seen in objects (walked or masked whole) since the current embedded document began. */
  #members = 0;
  /** Kind of the message's structuredContent ('' if none), and whether the JSON text being walked has it too. */
  #scKind = '';
  #mirrorArmed = false;

  constructor(plan: MaskPlan, strict: boolean) {
    this.plan = plan;
    this.#strict = strict;
    this.styles = new Replacements(plan, this.counts, this.recur);
    this.#scanner = new TextScanner(plan, this.styles, this.counts);
  }

  /** The masked structuredContent and the copy written for its text block, if one was. */
  get copied(): JsonPair | null {
    const c = this.#copy;
    return c === null || c.json === null ? null : { masked: c.masked, json: c.json };
  }

  #fail(message: string): void {
    if (this.#strict) throw new MaskError(message);
    if (this.skipped.length < MAX_SKIPPED && !this.skipped.includes(message)) this.skipped.push(message);
  }

  tooDeep(): string {
    this.#fail(`document nesting exceeds the maximum depth of ${this.plan.maxDepth}`);
    return DEPTH_LIMIT_MARKER;
  }

  members(n: number): void {
    this.#members += n;
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
        const r = this.plan.rules[p.rule]!;
        if (rule === null || r.index < rule.index) rule = r;
      }
    }
    return rule;
  }

  node(v: unknown, states: readonly PathState[], cand: Rule | null, depth: number): unknown {
    if (depth > this.plan.maxDepth) return this.tooDeep();
    if (depth > this.#deepest) this.#deepest = depth;
    let rule = cand;
    if (states.length !== 0) {
      for (const st of states) {
        if (st.i === st.path.segs.length) {
          const r = this.plan.rules[st.path.rule]!;
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
        return Array.isArray(v) ? this.#arr(v, states, depth) : this.#obj(v as Record<string, unknown>, states, depth);
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
    const card = this.plan.cardRule;
    if (card === null || (typeof v === 'number' && !(Math.abs(v) >= 1e12))) return v;
    const lit = numberText(v);
    const digits = integerDigits(lit.charCodeAt(0) === 45 ? lit.slice(1) : lit);
    return digits !== null && isCardLiteral(digits) ? this.styles.of(card, digits, digits) : v;
  }

  /** A member name after detectors (renamed when a detector matches inside it). */
  name(k: string, info: KeyInfo): string {
    if (info.clean) return k;
    const nk = this.#scanner.name(k);
    if (nk === k) this.plan.remember(k, info);
    return nk;
  }

  #obj(o: Record<string, unknown>, states: readonly PathState[], depth: number): unknown {
    const keys = Object.keys(o);
    this.#members += keys.length;
    const plan = this.plan;
    if (depth === 0) this.#scKind = kindOf(o.structuredContent);
    const pre = depth === 0 ? this.#structuredCopy(o, states) : null;
    const pair = pairOf(o, keys);
    const out = new ObjectCopy(o, keys);
    for (let n = 0; n < keys.length; n++) {
      const k = keys[n]!;
      const v = o[k];
      const own = plan.keyInfo(k);
      const nk = this.name(k, own);
      // {"name": "DB_PASSWORD", "value": "…"}: the value is keyed by the name it is paired with.
      const named = pair !== null && k === pair.value ? plan.keyInfo(pair.name) : null;
      const info = named === null || own.rule !== null ? own : { ...own, rule: named.rule, det: own.det !== -1 ? own.det : named.det };
      const detName = named !== null && own.det === -1 ? pair!.name : k;
      const inner = states.length === 0 ? NO_STATES : step(states, k, -1);
      let r: unknown;
      if (pre !== null && k === 'structuredContent') r = pre.masked;
      else if (info.rule === null && inner.length === 0 && typeof v === 'string' && info.det !== -1 && plan.acceptsKeyed(info.det, detName, v)) {
        // A detector that knows `NAME: value` masks the value of a member so named, whole.
        r = this.styles.whole(plan.detectors[info.det]!.rule, v);
      } else if (info.rule === null && inner.length === 0 && (k === 'inputSchema' || k === 'outputSchema') && isObject(v)) {
        r = walkSchema(this, v, null, depth + 1);
      } else if (info.rule === null && inner.length === 0 && typeof v === 'string' && isBlobMember(o, k)) {
        r = this.#blob(v, o.mimeType, depth + 1);
      } else r = this.node(v, inner, info.rule, depth + 1);
      out.put(n, nk, r);
    }
    return out.result;
  }

  #arr(a: readonly unknown[], states: readonly PathState[], depth: number): unknown {
    const plan = this.plan;
    const out = new ArrayCopy(a);
    // ["Authorization", "…"]: a two-element array whose first element names the second.
    const named = a.length === 2 && typeof a[0] === 'string' && isNameLike(a[0]) ? plan.keyInfo(a[0]) : null;
    for (let i = 0; i < a.length; i++) {
      const el = a[i];
      const inner = states.length === 0 ? NO_STATES : step(states, null, i);
      if (i === 1 && named !== null && inner.length === 0 && named.rule === null && typeof el === 'string' && named.det !== -1 && plan.acceptsKeyed(named.det, a[0] as string, el)) {
        out.put(i, this.styles.whole(plan.detectors[named.det]!.rule, el));
      } else out.put(i, this.node(el, inner, i === 1 && named !== null ? named.rule : null, depth + 1));
    }
    const res = out.result;
    return res.length > 1 && plan.minScanLength !== Infinity ? acrossBlocks(res, this.#scanner, this.styles) : res;
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
    const rule = this.plan.blobRule;
    if (rule === null || bytes.length === 0) return b64;
    this.counts.add(rule);
    return '';
  }

  /** Everything under a selected value: strings per style, numbers and booleans as the marker. */
  maskAll(v: unknown, rule: Rule, depth: number): unknown {
    if (depth > this.plan.maxDepth) return this.tooDeep();
    if (depth > this.#deepest) this.#deepest = depth;
    switch (typeof v) {
      case 'string':
        return this.styles.whole(rule, v);
      case 'number':
      case 'bigint':
        this.recur.add(String(v), rule);
        this.counts.add(rule);
        return rule.marker;
      case 'boolean':
        this.counts.add(rule);
        return rule.marker;
      case 'object': {
        if (v === null) return v;
        if (isRawNumber(v)) {
          this.recur.add(v.rawJSON, rule);
          this.counts.add(rule);
          return rule.marker;
        }
        if (Array.isArray(v)) {
          const out = new ArrayCopy(v);
          for (let i = 0; i < v.length; i++) out.put(i, this.maskAll(v[i], rule, depth + 1));
          return out.result;
        }
        const o = v as Record<string, unknown>;
        const keys = Object.keys(o);
        this.#members += keys.length;
        const out = new ObjectCopy(o, keys);
        for (let n = 0; n < keys.length; n++) {
          const k = keys[n]!;
          const nk = this.name(k, this.plan.keyInfo(k));
          out.put(n, nk, this.maskAll(o[k], rule, depth + 1));
        }
        return out.result;
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
          if (copy !== null && s.length === copy.text.length && s === copy.text && copy.deepest + depth <= this.plan.maxDepth &&
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
    return this.#scanner.text(s);
  }

  /** structuredContent masked ahead of the walk when a text block is its exact copy (copy.ts). */
  #structuredCopy(o: Record<string, unknown>, states: readonly PathState[]): { masked: unknown } | null {
    const text = exactCopyText(o);
    if (text === null) return null;
    const sc = o.structuredContent;
    const info = this.plan.keyInfo('structuredContent');
    const inner = states.length === 0 ? NO_STATES : step(states, 'structuredContent', -1);
    const before = this.counts.snapshot();
    const deepestBefore = this.#deepest;
    this.#deepest = 0;
    const masked = this.node(sc, inner, info.rule, 1);
    const deepest = this.#deepest;
    this.#deepest = Math.max(deepest, deepestBefore);
    const selectedWhole = info.rule !== null || inner.some((st) => st.i === st.path.segs.length);
    if (!selectedWhole) this.#copy = { text, sc, masked, delta: this.counts.since(before), deepest, signature: signature(inner), json: null };
    return { masked };
  }

  #useCopy(copy: StructuredCopy): string {
    this.counts.addAll(copy.delta);
    if (copy.masked === copy.sc) copy.json = copy.text;
    return (copy.json ??= JSON.stringify(copy.masked));
  }

  #embedded(s: string, a: number, b: number, parsed: unknown, states: readonly PathState[], depth: number): unknown {
    if (depth + 1 > this.plan.maxDepth) return this.tooDeep();
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
}
