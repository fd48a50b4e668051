#!/usr/bin/env node
// The `portcullis` command. It runs the gateway's compiled JavaScript (dist/, written by
// `npm run build`, which `npm install` runs): nothing is compiled at start.
import { existsSync } from 'node:fs';

const main = new URL('../dist/gateway/main.js', import.meta.url);
if (!existsSync(main)) {
  console.error('portcullis: dist/ is missing: run `npm run build` (npm install runs it) first');
  process.exit(1);
}
const { runCli } = await import(main.href);
await runCli(process.argv.slice(2));
