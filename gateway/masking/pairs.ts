// Names given as data: in a small name/value object (`{"name": "DB_PASSWORD", "value": …}`,
// Kubernetes env lists, header and form-field lists) and in a two-element array whose first element
// is a name (`["Authorization", "…"]`), the value is keyed by that name (README "Key names").

import { foldKey } from './fold.ts';

/** What can be a name given as data: identifier-like, short (not a sentence, not a marker). */
const NAME_LIKE = /^[A-Za-z_$@][A-Za-z0-9_.$@-]{0,63}$/;
const NON_ASCII = /[^\x00-\x7f]/;

/** Whether a string is a name given as data, as a person reads it (fullwidth, invisible characters folded). */
export function isNameLike(name: string): boolean {
  if (NAME_LIKE.test(name)) return true;
  return name.length <= 256 && NON_ASCII.test(name) && NAME_LIKE.test(foldKey(name));
}
const PAIR_NAMES = ['name', 'key', 'Name', 'Key', 'header', 'field', 'param', 'variable'];
const PAIR_VALUES = ['value', 'Value'];

/** A small name/value pair object ({"name": "DB_PASSWORD", "value": …}, Kubernetes env, header lists). */
export function pairOf(o: Record<string, unknown>, keys: readonly string[]): { name: string; value: string } | null {
  if (keys.length > 6) return null;
  const value = PAIR_VALUES.find((v) => Object.hasOwn(o, v));
  if (value === undefined) return null;
  for (const n of PAIR_NAMES) {
    const name = o[n];
    if (typeof name === 'string' && isNameLike(name)) return { name, value };
  }
  return null;
}
