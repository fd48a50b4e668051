// Path instructions: parsing and the small NFA that matches them during the single document walk.
//
// Syntax (see README.md):  [$] segment ( "." segment | "[" bracket "]" )*
//   segment: a member name (any characters except . [ ] *), "*" (any one member or element),
//            "**" (zero or more levels)
//   bracket: a non-negative array index, "*", or a quoted member name ("a.b", 'x y')

export type Seg =
  | { readonly t: 'name'; readonly v: string }
  | { readonly t: 'index'; readonly v: number }
  | { readonly t: 'any' }
  | { readonly t: 'deep' }
  /** Internal: matches only the step from a string into the JSON document it contains. */
  | { readonly t: 'embed' };

export interface CompiledPath {
  /** Index of the rule (instruction) this path belongs to. */
  readonly rule: number;
  readonly segs: readonly Seg[];
  /** The path as written, for messages. */
  readonly text: string;
  /** Mirror paths never report shape mismatches. */
  readonly silent: boolean;
  /** Index of the first "**" (mismatches after it are not errors), or segs.length. */
  readonly firstDeep: number;
  /** Index of the first "*" or "**" (from `mismatchFrom` on): a value of another shape reached through a wildcard is not the target. */
  readonly firstWild: number;
  /** Shape mismatches before this segment are not the path's (a mirror's way to its text block). */
  readonly mismatchFrom: number;
}

/** A position in one path: `i` segments of `path` consumed. */
export interface PathState {
  readonly path: CompiledPath;
  readonly i: number;
}

export const ANY: Seg = { t: 'any' };
export const DEEP: Seg = { t: 'deep' };
export const EMBED: Seg = { t: 'embed' };

/** Parses a path; returns the segments or an error message. */
export function parsePath(src: string): Seg[] | string {
  if (src.length === 0) return 'is empty';
  if (src.length > 1024) return 'is longer than 1024 characters';
  const segs: Seg[] = [];
  let i = 0;
  const n = src.length;

  const readName = (): string | null => {
    const start = i;
    while (i < n && src[i] !== '.' && src[i] !== '[' && src[i] !== ']') i++;
    const tok = src.slice(start, i);
    if (tok === '') return `has an empty segment at offset ${start}`;
    if (tok === '*') segs.push(ANY);
    else if (tok === '**') {
      if (segs[segs.length - 1] !== DEEP) segs.push(DEEP);
    } else if (tok.includes('*')) {
      return `segment "${tok}": '*' must be a whole segment ("*" or "**"); use "key" for key-name globs`;
    } else segs.push({ t: 'name', v: tok });
    return null;
  };

  const readBracket = (): string | null => {
    const open = i;
    i++; // '['
    const c = src[i];
    if (c === '*') {
      i++;
      segs.push(ANY);
    } else if (c === '"' || c === "'") {
      let j = i + 1;
      let name = '';
      for (; j < n && src[j] !== c; j++) {
        if (src[j] === '\\' && j + 1 < n) j++;
        name += src[j];
      }
      if (j >= n) return `has an unterminated quoted name at offset ${open}`;
      i = j + 1;
      segs.push({ t: 'name', v: name });
    } else {
      const start = i;
      while (i < n && src[i]! >= '0' && src[i]! <= '9') i++;
      const digits = src.slice(start, i);
      if (digits === '') {
        if (src[i] === '-') return `has a negative index at offset ${open} (not supported)`;
        return `has an invalid bracket at offset ${open} (expected an index, * or a quoted name)`;
      }
      const v = Number(digits);
      if (!Number.isSafeInteger(v)) return `has an index too large at offset ${open}`;
      segs.push({ t: 'index', v });
    }
    if (src[i] !== ']') return `has an unclosed '[' at offset ${open}`;
    i++;
    return null;
  };

  if (src[0] === '$') {
    i = 1;
  } else if (src[0] !== '[') {
    const err = readName();
    if (err !== null) return err;
  }
  while (i < n) {
    const c = src[i];
    let err: string | null;
    if (c === '.') {
      i++;
      err = readName();
    } else if (c === '[') {
      err = readBracket();
    } else {
      err = `has an unexpected '${c}' at offset ${i}`;
    }
    if (err !== null) return err;
  }
  return segs;
}

export function compilePath(rule: number, text: string, segs: readonly Seg[], silent: boolean): CompiledPath {
  const d = segs.findIndex((s) => s.t === 'deep');
  // A mirror (content[*].text(json).rest) has its own mismatches only inside the JSON text.
  const from = silent ? segs.findIndex((s) => s.t === 'embed') + 1 : 0;
  const w = segs.findIndex((s, i) => i >= from && (s.t === 'deep' || s.t === 'any'));
  return { rule, segs, text, silent, firstDeep: d === -1 ? segs.length : d, firstWild: w === -1 ? segs.length : w, mismatchFrom: from };
}

/**
 * The mirror of a path rooted at `structuredContent`: the same path inside every
 * `content[*].text` that holds JSON (MCP servers send structured results twice).
 */
export function mirrorOf(p: CompiledPath): CompiledPath | null {
  const first = p.segs[0];
  if (first === undefined || first.t !== 'name' || first.v !== 'structuredContent') return null;
  return compilePath(p.rule, p.text, [{ t: 'name', v: 'content' }, ANY, { t: 'name', v: 'text' }, EMBED, ...p.segs.slice(1)], true);
}

export const NO_STATES: readonly PathState[] = [];

/** Adds `st` and, through "**" (which may match zero levels), the states it implies. */
function addClosed(out: PathState[], path: CompiledPath, i: number): void {
  for (const s of out) if (s.path === path && s.i === i) return;
  out.push({ path, i });
  if (path.segs[i]?.t === 'deep') addClosed(out, path, i + 1);
}

/** Initial states at the document root. */
export function rootStates(paths: readonly CompiledPath[]): readonly PathState[] {
  if (paths.length === 0) return NO_STATES;
  const out: PathState[] = [];
  for (const p of paths) addClosed(out, p, 0);
  return out;
}

/** States for the child `key` (member name) or `index` (element) of the current node. */
export function step(states: readonly PathState[], key: string | null, index: number): readonly PathState[] {
  let out: PathState[] | null = null;
  for (const st of states) {
    const seg = st.path.segs[st.i];
    if (seg === undefined) continue;
    let next = -1;
    switch (seg.t) {
      case 'name':
        if (key !== null && key === seg.v) next = st.i + 1;
        break;
      case 'index':
        if (key === null && index === seg.v) next = st.i + 1;
        break;
      case 'any':
        next = st.i + 1;
        break;
      case 'deep':
        // "**" consumes this level and stays; its zero-level continuation is already in `states`.
        addClosed((out ??= []), st.path, st.i);
        continue;
      case 'embed':
        continue;
    }
    if (next !== -1) addClosed((out ??= []), st.path, next);
  }
  return out ?? NO_STATES;
}

/** States inside the JSON document held by a string: "embed" advances, everything else carries over. */
export function enterEmbedded(states: readonly PathState[]): readonly PathState[] {
  let out: PathState[] | null = null;
  for (const st of states) {
    const seg = st.path.segs[st.i];
    if (seg === undefined) continue;
    addClosed((out ??= []), st.path, seg.t === 'embed' ? st.i + 1 : st.i);
  }
  return out ?? NO_STATES;
}

/** Human-readable prefix of a path up to (not including) segment `i`, for messages. */
export function pathPrefix(p: CompiledPath, i: number): string {
  let out = '';
  for (let k = 0; k < i; k++) {
    const s = p.segs[k]!;
    switch (s.t) {
      case 'name':
        out += /^[^.[\]*]+$/.test(s.v) ? `${out === '' ? '' : '.'}${s.v}` : `[${JSON.stringify(s.v)}]`;
        break;
      case 'index':
        out += `[${s.v}]`;
        break;
      case 'any':
        out += '[*]';
        break;
      case 'deep':
        out += `${out === '' ? '' : '.'}**`;
        break;
      case 'embed':
        out += '(json)';
        break;
    }
  }
  return out === '' ? '$' : out;
}
