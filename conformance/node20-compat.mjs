// Node 20 compatibility shim for @modelcontextprotocol/conformance (its dist imports
// `globSync` from 'fs', which only exists from Node 22). Loaded with
// `node --import ./conformance/node20-compat.mjs`; it registers a resolve hook that
// redirects the conformance CLI's `fs` import to fs-shim.mjs (node:fs + globSync).
import { register } from 'node:module';
import fs from 'node:fs';

if (typeof fs.globSync !== 'function') {
  register('./node20-compat-hooks.mjs', import.meta.url);
}
