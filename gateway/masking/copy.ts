// MCP tool results carry structuredContent and, per the spec's backwards-compatibility advice, the
// same JSON serialized in a text block. When a text block is exactly JSON.stringify of
// structuredContent, masking it would parse it and repeat, step for step, the walk of
// structuredContent (same values, same rules: key rules and detectors do not depend on where a
// value is, paths rooted at structuredContent are mirrored into the copy). So structuredContent is
// masked first and the copy becomes JSON.stringify of the result, with its counts counted again,
// exactly as the full walk would (walk.ts). Taken only when the path states reaching the copy are
// equivalent to those reaching structuredContent and the depth limit cannot be reached.
import type { PathState } from './path.ts';

export interface StructuredCopy {
  /** JSON.stringify(structuredContent) */
  readonly text: string;
  readonly sc: unknown;
  readonly masked: unknown;
  /** Counts the walk of structuredContent added. */
  readonly delta: ReadonlyMap<string, number>;
  /** Deepest level reached inside structuredContent (which sits at level 1). */
  readonly deepest: number;
  /** `signature` of the path states that reached structuredContent. */
  readonly signature: string;
  /** JSON.stringify(masked), once the copy was used. */
  json: string | null;
}

/** What path states still have to match, independent of where they started (mirror or not). */
export function signature(states: readonly PathState[]): string {
  const parts: string[] = [];
  for (const st of states) parts.push(`${st.path.rule}:${JSON.stringify(st.path.segs.slice(st.i))}`);
  return parts.sort().join('|');
}

/** JSON.stringify(o.structuredContent) when a `content` block's text is exactly that, else null. */
export function exactCopyText(o: Record<string, unknown>): string | null {
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
  return content.some((b) => typeof b === 'object' && b !== null && (b as Record<string, unknown>).text === text) ? text : null;
}
