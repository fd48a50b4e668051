// The pinned OPA binary (scripts/tools.sh installs it when missing), for tests that build bundles
// the normal build would refuse.
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';

let cached: string | undefined;

export function opaBinary(): string {
  cached ??= execFileSync('bash', ['scripts/tools.sh', 'opa'], { encoding: 'utf8' }).trim();
  return cached;
}

export async function opa(...args: string[]): Promise<string> {
  const { stdout } = await promisify(execFile)(opaBinary(), args);
  return stdout;
}
