// Validation and compilation of mask instructions into a MaskPlan (see README.md for the vocabulary).
import { createSecretKey, type KeyObject } from 'node:crypto';
import type { MaskInstruction } from '../policy/decision.ts';
import { DETECTOR_GROUPS, DETECTOR_NAMES, detector, genericAccepts, isDetectorName, MASK_PREFIX, type Detector, type DetectorName } from './detectors.ts';
import { MaskError } from './errors.ts';
import { foldKey, foldText, FOLDS } from './fold.ts';
import { globToRegExp, prefixTrie } from './regex.ts';
import { findKeyedValues, type KeyLookup } from './textkeys.ts';
import { compilePath, mirrorOf, parsePath, rootStates, type CompiledPath, type PathState } from './path.ts';

export type MaskStyle = 'marker' | 'last' | 'hash';
export type RuleKind = 'path' | 'key' | 'key_regex' | 'detector' | 'blobs';

export interface CompileOptions {
  /** Key for style "hash" (HMAC-SHA256); at least 16 bytes when any instruction uses "hash". */
  hashKey: Uint8Array;
  /** Deepest nesting masked, counting levels inside embedded JSON strings (default 64, max 1000). */
  maxDepth?: number;
}

/** One compiled instruction. */
export interface Rule {
  /** Position in the instruction list; when several rules select one value, the lowest wins. */
  readonly index: number;
  readonly kind: RuleKind;
  /** Label used in markers and counts. */
  readonly cls: string;
  readonly style: MaskStyle;
  /** Characters kept by style "last" (0 for other styles). */
  readonly keep: number;
  /** `[MASKED:<class>]` */
  readonly marker: string;
  /** `[MASKED:<class> ...` (style "last" output is this + tail + "]") */
  readonly lastPrefix: string;
  /** `[MASKED:<class> hmac:` (style "hash" output is this + 16 hex digits + "]") */
  readonly hashPrefix: string;
}

/** The instruction as understood, after defaults (what `MaskPlan.describe()` returns). */
export interface NormalizedInstruction {
  kind: RuleKind;
  /** The path, glob, regex source or detector name as written. */
  selector: string;
  style: MaskStyle;
  keep?: number;
  class: string;
  /** Detectors this instruction runs (a group name expands; detectors claimed earlier are absent). */
  detectors?: DetectorName[];
}

export interface DetectorBinding {
  readonly det: Detector;
  readonly rule: Rule;
}

export interface KeyInfo {
  /** First key/key_regex rule whose pattern matches this key name (as written or folded). */
  readonly rule: Rule | null;
  /** Index in `keyRules` of that rule, or -1. */
  readonly keyIndex: number;
  /** Index in `detectors` of the first detector that masks values of this name whole, or -1. */
  readonly det: number;
  /** The name folded as a person reads it. */
  readonly folded: string;
  /** Nothing is masked inside the key name itself (true only once the name was scanned; see `remember`). */
  readonly clean: boolean;
}

/** A span tag: a detector binding (below detectors.length) or a key rule (detectors.length + k). */
export interface SpanBinding {
  readonly rule: Rule;
  canon(match: string): string;
  /** A value masked under this binding is masked wherever else it appears in the message. */
  readonly recur: boolean;
}

/** A character outside ASCII: folding may make such a string longer. */
const NON_ASCII_CHAR = /[^\x00-\x7f]/;
const FIELDS = new Set(['path', 'key', 'key_regex', 'detector', 'blobs', 'style', 'keep', 'class']);
const SELECTORS = ['path', 'key', 'key_regex', 'detector', 'blobs'] as const;
const CLASS_RE = /^[A-Za-z0-9_][A-Za-z0-9_.:/-]{0,63}$/;
const MAX_KEEP = 64;
const MIN_HASH_KEY_BYTES = 16;
const NONE: Set<string> = new Set();
const SHORT_NAME = /^[A-Za-z_$][A-Za-z0-9_.$-]{0,23}$/;
/** Text that may hold a selected name's value: a separator, a line break (tables), a flag. */
const KEYED_HINT = /[:=\n]|--| -/;
const DEFAULT_MAX_DEPTH = 64;
/** Key names cached per plan (only names without detector matches, so no secret is retained). */
const KEY_CACHE_LIMIT = 4096;
const KEY_CACHE_MAX_KEY_LENGTH = 128;


function fail(index: number, field: string | null, message: string): never {
  throw new MaskError(`mask[${index}]${field === null ? '' : `.${field}`}: ${message}`, index, field ?? undefined);
}

const quote = (v: unknown): string => {
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 80 ? `${s.slice(0, 77)}...` : s;
};

function sanitizeClass(raw: string, fallback: string): string {
  const s = raw.replace(/[^A-Za-z0-9_.:/-]+/g, '_').replace(/^[^A-Za-z0-9_]+/, '').slice(0, 64);
  return s.length === 0 ? fallback : s;
}

/** "*password*" → "password"; "*" → "key". */
function globClass(glob: string): string {
  return sanitizeClass(glob.replace(/[*?\\]/g, ''), 'key');
}

/**
 * "api[-_]?key" → "apikey", "[Aa][Pp][Ii][-_]?[Kk][Ee][Yy]" → "apikey": lowercased, a bracket that
 * only lists one letter in both cases becomes that letter, other brackets, escapes and every
 * character that is not a letter, digit or '_' are dropped; under 2 characters → "key_regex".
 */
function regexClass(src: string): string {
  const s = src
    .toLowerCase()
    .replace(/\[([a-z])\1\]/g, '$1')
    .replace(/\[(?:\\.|[^\]])*\]/g, '')
    .replace(/\\./g, '')
    .replace(/[^a-z0-9_]+/g, '');
  return s.length >= 2 ? s.slice(0, 64) : 'key_regex';
}

/** Last member name of the path ("structuredContent.customer.card_number" → "card_number"). */
function pathClass(segs: readonly { t: string; v?: unknown }[]): string {
  for (let i = segs.length - 1; i >= 0; i--) {
    const s = segs[i]!;
    if (s.t === 'name') return sanitizeClass(String(s.v), 'path');
  }
  return 'path';
}

function makeRule(index: number, kind: RuleKind, cls: string, style: MaskStyle, keep: number): Rule {
  return {
    index,
    kind,
    cls,
    style,
    keep,
    marker: `${MASK_PREFIX}${cls}]`,
    lastPrefix: `${MASK_PREFIX}${cls} ...`,
    hashPrefix: `${MASK_PREFIX}${cls} hmac:`,
  };
}

/**
 * A compiled, immutable set of mask instructions. Build with `compileMask`; apply with `applyMask`
 * or `maskText`. Plans are safe to cache and share between calls (see `MaskPlanCache`).
 */
export class MaskPlan {
  /** @internal */ readonly rules: readonly Rule[];
  /** @internal */ readonly paths: readonly CompiledPath[];
  /** @internal */ readonly root: readonly PathState[];
  /** @internal */ readonly keyRules: readonly { readonly rule: Rule; readonly re: RegExp }[];
  /** @internal */ readonly detectors: readonly DetectorBinding[];
  /** @internal */ readonly minScanLength: number;
  /** @internal Detectors, then key rules (for spans key names find in text). */
  readonly bindings: readonly SpanBinding[];
  /** @internal Detectors with names whose values they mask whole. */
  readonly keyedDetectors: readonly number[];
  readonly #lookup: KeyLookup;
  /** Every anchor of every anchored detector, as one regex (one pass instead of an indexOf per anchor). */
  readonly #anchors: RegExp | null;
  readonly #anchorMin: number;
  /** Any detector could match here (every detector's hint and anchors in one regex), or null: always run them. */
  readonly #hint: RegExp | null;
  readonly #hintPatterns: RegExp | null;
  /** Every detector has a hint (else detectors always run). */
  readonly #hintAll: boolean;
  /**
   * Could anything in this plan change a string at all: every condition the scan checks one by one
   * (non-ASCII or escapes to fold, a JSON member opener, a separator for names in text, a detector
   * hint or anchor), joined into one regex, so a clean string costs one pass instead of five.
   * Null when some detector has no hint (then every string is scanned).
   */
  readonly #gate: RegExp | null;
  /** @internal Rule of the credit_card detector (JSON numbers are checked too), or null. */
  readonly cardRule: Rule | null;
  /** @internal */ readonly hashKey: KeyObject | null;
  /** @internal `{"blobs": "withhold"}`: binary blobs (not text) are replaced by "" and counted; null passes them. */
  readonly blobRule: Rule | null;
  readonly maxDepth: number;
  readonly #normalized: readonly NormalizedInstruction[];
  readonly #keyCache = new Map<string, KeyInfo>();
  /**
   * Rules of names read in text (NAME=value), by name. Kept apart from #keyCache: a name in text is
   * not scanned on its own, so it must never mark a member name of the same text as clean.
   */
  readonly #textNames = new Map<string, KeyInfo>();

  /** @internal use compileMask */
  constructor(parts: {
    rules: Rule[];
    paths: CompiledPath[];
    keyRules: { rule: Rule; re: RegExp }[];
    detectors: DetectorBinding[];
    hashKey: KeyObject | null;
    blobRule: Rule | null;
    maxDepth: number;
    normalized: NormalizedInstruction[];
  }) {
    this.rules = parts.rules;
    this.paths = parts.paths;
    this.root = rootStates(parts.paths);
    this.keyRules = parts.keyRules;
    this.detectors = parts.detectors;
    const anchored = parts.detectors.filter((d) => d.det.anchors !== undefined);
    const literals = [...new Set(anchored.flatMap((d) => d.det.anchors!))].sort((a, b) => b.length - a.length);
    this.#anchors = literals.length === 0 ? null : new RegExp(prefixTrie(literals, true), 'g');
    this.#anchorMin = Math.min(...anchored.map((d) => d.det.minLength));
    // Literal hints and anchors as one trie (fast), the few patterns as a second regex.
    const hints = parts.detectors.flatMap((d) => (d.det.hint === undefined || d.det.hint === '' ? [] : [d.det.hint]));
    const isLiteral = (h: string) => !/[\\^$.*+?()[\]{}|]/.test(h);
    const hintLiterals = [...new Set([...hints.filter(isLiteral), ...parts.detectors.flatMap((d) => d.det.anchors ?? [])])];
    const patterns = hints.filter((h) => !isLiteral(h));
    const every = parts.detectors.every((d) => d.det.hint !== undefined || d.det.anchors !== undefined);
    this.#hint = every && hintLiterals.length > 0 ? new RegExp(prefixTrie(hintLiterals)) : null;
    this.#hintPatterns = every && patterns.length > 0 ? new RegExp(patterns.join('|')) : null;
    this.#hintAll = every;
    this.keyedDetectors = parts.detectors.flatMap((d, i) => (d.det.keyed === undefined ? [] : [i]));
    const textKeys = parts.keyRules.length > 0 || this.keyedDetectors.length > 0;
    this.minScanLength = Math.min(textKeys ? 3 : Infinity, ...parts.detectors.map((d) => d.det.minLength));
    // Alternatives another one implies are left out (a literal holding ":" when names in text
    // already make every ":" a candidate, "--user" next to "--"; the member opener `"…:` of key
    // rules holds ":", and key rules make names in text matter).
    const gate = [FOLDS.source];
    if (textKeys) gate.push(KEYED_HINT.source);
    const implied = (l: string) => (textKeys && KEYED_HINT.test(l)) || hintLiterals.some((o) => o !== l && l.includes(o));
    const gateLiterals = hintLiterals.filter((l) => !implied(l));
    if (every && gateLiterals.length > 0) gate.push(prefixTrie(gateLiterals));
    if (this.#hintPatterns !== null) gate.push(this.#hintPatterns.source);
    this.#gate = every ? new RegExp(gate.join('|')) : null;
    const D = parts.detectors.length;
    this.bindings = [
      ...parts.detectors.map((d) => ({ rule: d.rule, canon: (m: string) => d.det.canon(m), recur: d.det.keyed !== undefined })),
      ...parts.keyRules.map((k) => ({ rule: k.rule, canon: (m: string) => m, recur: true })),
    ];
    this.#lookup = {
      tag: (name) => {
        if (name === 'MASKED') return -1; // the engine's own "[MASKED:" outputs
        let info = this.#textNames.get(name);
        if (info === undefined) {
          info = this.keyInfo(name);
          // Short identifier-like names in text are cached (long ones could be tokens: not retained).
          if (SHORT_NAME.test(name)) {
            if (this.#textNames.size >= KEY_CACHE_LIMIT) this.#textNames.clear();
            this.#textNames.set(name, info);
          }
        }
        return info.keyIndex !== -1 ? D + info.keyIndex : info.det;
      },
      accept: (tag, value, name) => tag >= D || this.acceptsKeyed(tag, name, value),
      isDetector: (tag) => tag < D,
    };
    this.cardRule = parts.detectors.find((d) => d.det.name === 'credit_card')?.rule ?? null;
    this.hashKey = parts.hashKey;
    this.blobRule = parts.blobRule;
    this.maxDepth = parts.maxDepth;
    this.#normalized = parts.normalized;
  }

  /** True when the plan masks nothing (an empty instruction list). */
  get empty(): boolean {
    return this.rules.length === 0;
  }

  /** The instructions as understood after defaults, one per input instruction. */
  describe(): NormalizedInstruction[] {
    return this.#normalized.map((n) => ({ ...n, ...(n.detectors ? { detectors: [...n.detectors] } : {}) }));
  }

  /**
   * @internal False when nothing in this plan can mask anything in `s` (the original, unfolded
   * text): then `s` needs no folding, no member-fragment search and no span search.
   */
  mayMatch(s: string): boolean {
    return this.longEnough(s) && (this.#gate === null || this.#gate.test(s));
  }

  /**
   * @internal Whether `s` can be as long as the shortest match once folded: a non-ASCII string
   * may grow ("㊷" reads as "42"), so only an ASCII one is judged by its length.
   */
  longEnough(s: string): boolean {
    return s.length >= this.minScanLength || (this.minScanLength !== Infinity && NON_ASCII_CHAR.test(s));
  }

  /**
   * @internal Appends [start, end, tag] triples (see `bindings`) of every detector match and every
   * value of a selected name in `s`, which the caller has folded (see fold.ts).
   */
  findSpans(s: string, out: number[]): void {
    if (s.length < this.minScanLength) return;
    const ds = this.detectors;
    let present: Set<string> | null = null;
    const re = this.#anchors;
    // One regex says whether any detector could match; if none can, only names in text remain.
    const detect = !this.#hintAll || (this.#hint?.test(s) ?? false) || (this.#hintPatterns?.test(s) ?? false);
    if (detect && re !== null && s.length >= this.#anchorMin) {
      present = NONE;
      re.lastIndex = 0;
      let m: RegExpExecArray | null;
      // Step one character past each hit, so an anchor overlapping another is still seen.
      while ((m = re.exec(s)) !== null) {
        if (present === NONE) present = new Set();
        present.add(m[0]);
        re.lastIndex = m.index + 1;
      }
    }
    if (detect) {
      for (let i = 0; i < ds.length; i++) {
        const d = ds[i]!.det;
        if (s.length >= d.minLength) d.find(s, out, i, present);
      }
    }
    if ((this.keyRules.length > 0 || this.keyedDetectors.length > 0) && KEYED_HINT.test(s)) {
      findKeyedValues(s, this.#lookup, out);
    }
  }

  /** @internal Does any detector (or key name in text) of this plan match anywhere in `s`? */
  detectsIn(s: string): boolean {
    const out: number[] = [];
    this.findSpans(foldText(s)?.text ?? s, out);
    return out.length > 0;
  }

  /** @internal Does detector binding `i` mask this value of a member named `name` whole? */
  acceptsKeyed(i: number, name: string, value: string): boolean {
    const d = this.detectors[i]?.det;
    if (d?.keyed === undefined) return false;
    if (d.name === 'generic_secret') return genericAccepts(foldKey(name), value);
    return d.keyed.accept(value);
  }

  /** @internal Key-name rules and detector cleanliness of a member name (cached when safe). */
  keyInfo(key: string): KeyInfo {
    const hit = this.#keyCache.get(key);
    if (hit !== undefined) return hit;
    let rule: Rule | null = null;
    let keyIndex = -1;
    const folded = foldKey(key);
    const alt = folded !== key.toLowerCase() ? folded : null;
    for (let i = 0; i < this.keyRules.length; i++) {
      const k = this.keyRules[i]!;
      if (k.re.test(key) || (alt !== null && k.re.test(alt))) {
        rule = k.rule;
        keyIndex = i;
        break;
      }
    }
    let det = -1;
    for (const i of this.keyedDetectors) {
      if (this.detectors[i]!.det.keyed!.name.test(folded)) {
        det = i;
        break;
      }
    }
    // Not cached yet: the caller scans the name and calls remember() when nothing in it was masked,
    // so no name holding a secret is retained (and the name is scanned once, not twice).
    return { rule, keyIndex, det, folded, clean: false };
  }

  /** @internal Caches a name's info once a scan found nothing to mask in it. */
  remember(key: string, info: KeyInfo): void {
    if (key.length > KEY_CACHE_MAX_KEY_LENGTH || this.#keyCache.has(key)) return;
    if (this.#keyCache.size >= KEY_CACHE_LIMIT) this.#keyCache.clear();
    this.#keyCache.set(key, { ...info, clean: true });
  }
}

/**
 * Validates and compiles mask instructions. Throws MaskError naming the instruction index and
 * field (`mask[3].key_regex: invalid regular expression: …`).
 */
export function compileMask(instructions: readonly MaskInstruction[], options: CompileOptions): MaskPlan {
  if (!Array.isArray(instructions)) throw new MaskError('mask: instructions must be an array');
  if (!(options?.hashKey instanceof Uint8Array)) throw new MaskError('mask: options.hashKey must be a Uint8Array');
  const maxDepth = options.maxDepth ?? DEFAULT_MAX_DEPTH;
  if (!Number.isInteger(maxDepth) || maxDepth < 1 || maxDepth > 1000) throw new MaskError('mask: options.maxDepth must be an integer from 1 to 1000');

  const rules: Rule[] = [];
  const paths: CompiledPath[] = [];
  const keyRules: { rule: Rule; re: RegExp }[] = [];
  const detectors: DetectorBinding[] = [];
  const claimed = new Set<DetectorName>();
  const normalized: NormalizedInstruction[] = [];
  let usesHash = -1;
  let blobRule: Rule | null = null;
  let blobsSeen = false;

  instructions.forEach((raw: unknown, index) => {
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail(index, null, `must be an object, got ${quote(raw)}`);
    const ins = raw as Record<string, unknown>;
    for (const field of Object.keys(ins)) {
      if (!FIELDS.has(field)) fail(index, field, `unknown field (allowed: ${[...FIELDS].join(', ')})`);
    }
    const present = SELECTORS.filter((f) => ins[f] !== undefined);
    if (present.length !== 1) {
      fail(index, null, present.length === 0
        ? 'needs one of "path", "key", "key_regex", "detector" or "blobs"'
        : `has ${present.map((f) => `"${f}"`).join(' and ')}; use exactly one selector per instruction`);
    }
    const kind = present[0]!;
    const selector = ins[kind];
    if (typeof selector !== 'string' || selector.length === 0) fail(index, kind, `must be a non-empty string, got ${quote(selector)}`);
    if (selector.length > 1024) fail(index, kind, 'is longer than 1024 characters');

    const style = ins.style ?? 'marker';
    if (style !== 'marker' && style !== 'last' && style !== 'hash') fail(index, 'style', `must be "marker", "last" or "hash", got ${quote(style)}`);
    let keep = 0;
    if (style === 'last') {
      keep = (ins.keep ?? 4) as number;
      if (!Number.isInteger(keep) || keep < 1 || keep > MAX_KEEP) fail(index, 'keep', `must be an integer from 1 to ${MAX_KEEP}, got ${quote(ins.keep)}`);
    } else if (ins.keep !== undefined) {
      fail(index, 'keep', `only applies to style "last" (style is "${style}")`);
    }
    if (style === 'hash' && usesHash === -1) usesHash = index;
    if (ins.class !== undefined && (typeof ins.class !== 'string' || !CLASS_RE.test(ins.class))) {
      fail(index, 'class', `must be 1-64 characters of A-Z a-z 0-9 _ . : / - (not starting with . : / -), got ${quote(ins.class)}`);
    }
    const explicitClass = ins.class as string | undefined;

    let cls: string;
    const norm: NormalizedInstruction = { kind, selector, style, class: '' };
    if (style === 'last') norm.keep = keep;
    switch (kind) {
      case 'path': {
        const segs = parsePath(selector);
        if (typeof segs === 'string') fail(index, 'path', `${quote(selector)} ${segs}`);
        cls = explicitClass ?? pathClass(segs);
        const p = compilePath(index, selector, segs, false);
        paths.push(p);
        const m = mirrorOf(p);
        if (m !== null) paths.push(m);
        break;
      }
      case 'key': {
        if (selector.length > 256) fail(index, 'key', 'is longer than 256 characters');
        cls = explicitClass ?? globClass(selector);
        keyRules.push({ rule: makeRule(index, kind, cls, style, keep), re: globToRegExp(selector) });
        break;
      }
      case 'key_regex': {
        // RE2-style inline flags are common in Rego; matching is case-insensitive anyway.
        const src = selector.replace(/^\(\?i\)/, '');
        let re: RegExp;
        try {
          re = new RegExp(src, 'i');
        } catch (err) {
          fail(index, 'key_regex', `invalid regular expression: ${(err as Error).message}`);
        }
        cls = explicitClass ?? regexClass(src);
        keyRules.push({ rule: makeRule(index, kind, cls, style, keep), re });
        break;
      }
      case 'blobs': {
        if (selector !== 'pass' && selector !== 'withhold') fail(index, 'blobs', `must be "pass" or "withhold", got ${quote(selector)}`);
        if (style !== 'marker' || ins.keep !== undefined) fail(index, 'style', 'does not apply to "blobs" (a withheld blob becomes "")');
        cls = explicitClass ?? 'blob';
        // The first "blobs" instruction decides (list order, like every other precedence).
        if (!blobsSeen && selector === 'withhold') blobRule = makeRule(index, kind, cls, style, keep);
        blobsSeen = true;
        break;
      }
      case 'detector': {
        const names: readonly DetectorName[] | undefined = isDetectorName(selector)
          ? [selector]
          : Object.hasOwn(DETECTOR_GROUPS, selector) ? DETECTOR_GROUPS[selector] : undefined;
        if (names === undefined) {
          fail(index, 'detector', `unknown detector ${quote(selector)} (known: ${DETECTOR_NAMES.join(', ')}; groups: ${Object.keys(DETECTOR_GROUPS).join(', ')})`);
        }
        cls = explicitClass ?? selector;
        const mine: DetectorName[] = [];
        for (const name of names) {
          if (claimed.has(name)) continue;
          claimed.add(name);
          mine.push(name);
          const r = makeRule(index, kind, explicitClass ?? name, style, keep);
          detectors.push({ det: detector(name), rule: r });
        }
        norm.detectors = mine;
        break;
      }
    }
    norm.class = cls;
    const rule = kind === 'key' || kind === 'key_regex'
      ? keyRules[keyRules.length - 1]!.rule
      : kind === 'detector'
        ? (detectors.find((d) => d.rule.index === index)?.rule ?? makeRule(index, kind, cls, style, keep))
        : kind === 'blobs' && blobRule?.index === index ? blobRule : makeRule(index, kind, cls, style, keep);
    rules.push(rule);
    normalized.push(norm);
  });

  let hashKey: KeyObject | null = null;
  if (usesHash !== -1) {
    if (options.hashKey.length < MIN_HASH_KEY_BYTES) {
      fail(usesHash, 'style', `style "hash" needs options.hashKey of at least ${MIN_HASH_KEY_BYTES} bytes (got ${options.hashKey.length})`);
    }
    hashKey = createSecretKey(Buffer.from(options.hashKey));
  }

  const plan = new MaskPlan({ rules, paths, keyRules, detectors, hashKey, blobRule, maxDepth, normalized });

  // Self-check: no output of any rule may itself be detected, or masking would not be idempotent.
  const outputs = (r: Rule) => [r.marker, `${r.lastPrefix}]`, `${r.hashPrefix}0123456789abcdef]`];
  const all = [...rules, ...detectors.map((d) => d.rule)];
  for (const r of all) {
    for (const out of outputs(r)) {
      const spans: number[] = [];
      plan.findSpans(out, spans);
      if (spans.length > 0) {
        const tag = spans[2]!;
        const by = tag < detectors.length ? detectors[tag]!.det.name : `key rule mask[${plan.bindings[tag]!.rule.index}]`;
        fail(r.index, 'class', `the marker for class "${r.cls}" would itself be detected as ${by}; choose another class`);
      }
    }
  }
  return plan;
}
