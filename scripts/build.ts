/**
 * npm run build: the gateway as JavaScript in dist/ (what `npx portcullis` runs in production).
 * tsc emits the code (tsconfig.build.json); the files the code reads at run time beside itself
 * (the Lua scripts of the shared state, …: everything under gateway/ that is neither TypeScript
 * nor documentation) are copied to the same place under dist/.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const NOT_RUNTIME = /\.(ts|md)$/;

function* runtimeAssets(dir: string): Generator<string> {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const file = path.join(dir, entry.name);
    if (entry.isDirectory()) yield* runtimeAssets(file);
    else if (!NOT_RUNTIME.test(entry.name)) yield file;
  }
}

export function build(): void {
  execFileSync(process.execPath, [path.join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], { cwd: ROOT, stdio: 'inherit' });
  for (const file of runtimeAssets(path.join(ROOT, 'gateway'))) {
    const out = path.join(ROOT, 'dist', path.relative(ROOT, file));
    mkdirSync(path.dirname(out), { recursive: true });
    copyFileSync(file, out);
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) build();
