// JSON Schema keywords (draft 2020-12 and the older ones MCP servers still send), by what their
// value is: a schema, a map of named schemas, data (instances: default, const, enum, examples) or
// an annotation (type, title, description, pattern, limits). A tool's inputSchema/outputSchema is
// walked with these, so key rules do not break its structure (a property named "password" keeps
// its {"type": "string"}) while the data a schema carries is still masked by the property's rule.
// A member that is not a keyword is data and is masked as in any document.
import { ArrayCopy, ObjectCopy } from './cow.ts';
import { isObject } from '../json.ts';
import { NO_STATES, type PathState } from './path.ts';
import type { KeyInfo, MaskPlan, Rule } from './plan.ts';

export type SchemaKeyword = 'schema' | 'names' | 'data' | 'annotation' | 'other';

const KINDS = new Map<string, SchemaKeyword>();
for (const k of ['items', 'additionalItems', 'prefixItems', 'contains', 'additionalProperties', 'unevaluatedProperties',
  'unevaluatedItems', 'propertyNames', 'not', 'if', 'then', 'else', 'anyOf', 'oneOf', 'allOf']) KINDS.set(k, 'schema');
for (const k of ['properties', 'patternProperties', '$defs', 'definitions', 'dependentSchemas']) KINDS.set(k, 'names');
for (const k of ['default', 'const', 'enum', 'examples', 'example']) KINDS.set(k, 'data');
for (const k of ['type', 'title', 'description', 'format', 'pattern', 'required', 'dependentRequired', '$schema', '$id', '$ref',
  '$anchor', '$dynamicRef', '$dynamicAnchor', '$comment', '$vocabulary', 'minLength', 'maxLength', 'minimum', 'maximum',
  'exclusiveMinimum', 'exclusiveMaximum', 'multipleOf', 'minItems', 'maxItems', 'uniqueItems', 'minProperties',
  'maxProperties', 'minContains', 'maxContains', 'contentMediaType', 'contentEncoding', 'contentSchema', 'readOnly',
  'writeOnly', 'deprecated', 'nullable']) KINDS.set(k, 'annotation');

export const schemaKeyword = (k: string): SchemaKeyword => KINDS.get(k) ?? 'other';

/** What walking a schema needs from the document walk. */
export interface SchemaHost {
  readonly plan: MaskPlan;
  /** Walks data (no path states: a path reaching into a schema walks it as data). */
  node(v: unknown, states: readonly PathState[], cand: Rule | null, depth: number): unknown;
  /** Masks everything under a value. */
  maskAll(v: unknown, rule: Rule, depth: number): unknown;
  /** A member name after detectors. */
  name(k: string, info: KeyInfo): string;
  /** Counts member names seen (duplicate-name check of embedded JSON). */
  members(n: number): void;
  /** The depth limit was passed (throws in strict mode). */
  tooDeep(): string;
}

/**
 * A tool's inputSchema/outputSchema: structure is kept, data in it is masked (by the rule of the
 * property it belongs to, `prop`), annotations are scanned, non-keywords are data.
 */
export function walkSchema(w: SchemaHost, v: unknown, prop: Rule | null, depth: number): unknown {
  if (depth > w.plan.maxDepth) return w.tooDeep();
  if (Array.isArray(v)) {
    const out = new ArrayCopy(v);
    for (let i = 0; i < v.length; i++) out.put(i, walkSchema(w, v[i], prop, depth + 1));
    return out.result;
  }
  if (!isObject(v)) return prop !== null ? w.maskAll(v, prop, depth) : w.node(v, NO_STATES, null, depth);
  const keys = Object.keys(v);
  w.members(keys.length);
  const out = new ObjectCopy(v, keys);
  for (let n = 0; n < keys.length; n++) {
    const k = keys[n]!;
    const el = v[k];
    const kind = schemaKeyword(k);
    let r: unknown;
    let info: KeyInfo | undefined;
    if (kind === 'names' && isObject(el)) {
      // properties / patternProperties / $defs: each member is a schema named by its key; a
      // property whose name a key rule selects has its data (default, const, enum, examples) masked.
      const names = Object.keys(el);
      w.members(names.length);
      const inner = new ObjectCopy(el, names);
      for (let m = 0; m < names.length; m++) {
        const name = names[m]!;
        const ni = w.plan.keyInfo(name);
        const nk = w.name(name, ni);
        inner.put(m, nk, walkSchema(w, el[name], k === '$defs' || k === 'definitions' ? prop : (ni.rule ?? prop), depth + 2));
      }
      r = inner.result;
    } else if (kind === 'schema') r = walkSchema(w, el, prop, depth + 1);
    else if (kind === 'data') r = prop !== null ? w.maskAll(el, prop, depth + 1) : w.node(el, NO_STATES, null, depth + 1);
    else if (kind === 'annotation') r = w.node(el, NO_STATES, null, depth + 1);
    else r = w.node(el, NO_STATES, (info ??= w.plan.keyInfo(k)).rule, depth + 1); // not a keyword: data
    const nk = kind === 'other' ? w.name(k, (info ??= w.plan.keyInfo(k))) : k;
    out.put(n, nk, r);
  }
  return out.result;
}
