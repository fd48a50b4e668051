// The pinned OPA binary, for tests that build bundles the normal build would refuse.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { tools } from '../../scripts/bundle.ts';

export async function opa(...args: string[]): Promise<string> {
  const { stdout } = await promisify(execFile)((await tools()).opa, args);
  return stdout;
}
