#!/usr/bin/env node
// The `portcullis` command. The gateway is TypeScript; tsx compiles it in this process on load.
import { register } from 'tsx/esm/api';

register();
const { runCli } = await import('../gateway/main.ts');
await runCli(process.argv.slice(2));
