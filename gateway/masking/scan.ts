// Free text: detector matches and values of selected names written in text, found in the text as
// a person reads it (folded) and replaced in the original. Also JSON members inside text that is
// not a JSON document (truncated JSON, JSON lines, a log line quoting a body).
import type { Counts } from './counts.ts';
import { foldText } from './fold.ts';
import { endOfJsonComposite, endOfJsonString } from './jsontext.ts';
import type { MaskPlan, Rule } from './plan.ts';
import { isOutputOf, type Replacements } from './styles.ts';

/** [start, end, rule, text, canon, recur]: one merged match, in offsets of the original text. */
export type Match = readonly [number, number, Rule, string, string, boolean];
const NO_MATCHES: readonly Match[] = Object.freeze([]) as readonly Match[];

const FRAGMENT_HINT = /"\s*:/;
const FRAGMENT_MEMBER = /"((?:[^"\\\r\n]|\\.){1,256})"[ \t\r\n]*:[ \t\r\n]*/g;
const FRAGMENT_SCALAR = /-?[0-9][0-9.eE+-]*|true|false/y;

/** Scanning during one call (short strings found clean are remembered for the call). */
export class TextScanner {
  readonly #plan: MaskPlan;
  readonly #styles: Replacements;
  readonly #counts: Counts;
  /** Scratch for detector spans (reused: scanning is not reentrant). */
  readonly #spans: number[] = [];
  /** Short strings scanned clean during this call. */
  readonly #clean = new Set<string>();

  constructor(plan: MaskPlan, styles: Replacements, counts: Counts) {
    this.#plan = plan;
    this.#styles = styles;
    this.#counts = counts;
  }

  /** A string value that is not a JSON document: JSON members in it, then detectors and names in text. */
  text(s: string): string {
    return this.#known(s) || !this.#mayMatch(s) ? s : this.#scan(this.#fragments(s));
  }

  /** A member name: detectors and names in text. */
  name(s: string): string {
    return this.#known(s) || !this.#mayMatch(s) ? s : this.#scan(s);
  }

  /** A short string found clean earlier in this call. */
  #known(s: string): boolean {
    return s.length <= 64 && this.#clean.has(s);
  }

  /** The plan's gate; a short string it rejects is remembered (statuses, currencies repeat). */
  #mayMatch(s: string): boolean {
    if (this.#plan.mayMatch(s)) return true;
    if (s.length <= 64 && this.#clean.size < 16384) this.#clean.add(s);
    return false;
  }

  /**
   * Matches in free text (detectors, and values of selected names written in text), merged, in
   * offsets of `s`. The text is read folded (fold.ts: fullwidth, invisible and lookalike
   * characters as a person reads them). A match that is exactly an output of its own rule is left
   * alone (idempotence); anything else shaped like a marker is masked.
   */
  matches(s: string): readonly Match[] {
    const plan = this.#plan;
    if (!plan.longEnough(s)) return NO_MATCHES;
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

  /** Every match replaced per its rule's style. */
  #scan(s: string): string {
    // Short strings repeat within a message (statuses, currencies, names): each is scanned once per
    // call. Only strings found clean are remembered, and only for this call.
    const short = s.length <= 64;
    const found = this.matches(s);
    if (found.length === 0) {
      if (short && this.#clean.size < 16384) this.#clean.add(s);
      return s;
    }
    let out = '';
    let pos = 0;
    for (const [start, end, rule, text, canon, recur] of found) {
      if (start < pos) continue;
      out += s.slice(pos, start) + this.#styles.of(rule, text, canon, recur);
      pos = end;
    }
    return out + s.slice(pos);
  }

  /**
   * Key rules inside text that is not a JSON document but contains JSON members: `"<name>":
   * <value>` where the decoded name matches a key rule. A string value is replaced per style
   * (re-escaped); a number or boolean becomes the marker string; an object or array (through its
   * balanced end, or the end of the text if it is cut off) becomes the marker string. Detectors
   * run afterwards on the result.
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
        replacement = JSON.stringify(this.#styles.of(rule, value, value, true));
      } else if (c === 123 || c === 91) {
        end = endOfJsonComposite(s, v);
        this.#counts.add(rule);
        replacement = JSON.stringify(rule.marker);
      } else {
        FRAGMENT_SCALAR.lastIndex = v;
        const lit = FRAGMENT_SCALAR.exec(s);
        if (lit === null) continue;
        end = v + lit[0].length;
        this.#counts.add(rule);
        replacement = JSON.stringify(rule.marker);
      }
      out += s.slice(pos, v) + replacement;
      pos = end;
      re.lastIndex = end;
    }
    return pos === 0 ? s : out + s.slice(pos);
  }
}
