// node:fs plus a minimal `globSync` for Node 20 (the conformance CLI uses it only as
// globSync('**/checks.json', { cwd }) in `tier-check`). Supports patterns of the form
// '**/<name>' and '<name>' with an optional { cwd }; returns paths relative to cwd.
import fs from 'node:fs';
import path from 'node:path';

export * from 'node:fs';
export default fs;

export function globSync(pattern, options = {}) {
  const cwd = options.cwd ?? process.cwd();
  const recursive = pattern.startsWith('**/');
  const name = recursive ? pattern.slice(3) : pattern;
  if (name.includes('*') || name.includes('/')) {
    throw new Error(`fs-shim globSync: unsupported pattern ${pattern}`);
  }
  const out = [];
  const walk = (rel) => {
    let entries;
    try {
      entries = fs.readdirSync(path.join(cwd, rel), { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const r = rel ? path.join(rel, e.name) : e.name;
      if (e.isDirectory()) {
        if (recursive) walk(r);
      } else if (e.name === name) {
        out.push(r);
      }
    }
  };
  walk('');
  return out;
}
