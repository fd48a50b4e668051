/**
 * npm run conformance [-- options]
 *
 * Starts the conformance fixture (test/fixtures/conformance-server.ts, SDK v2, both eras),
 * points @modelcontextprotocol/conformance's server suites at a target URL and prints one
 * summary line per suite. Exits non-zero when the CLI reports an unexpected failure (a
 * failing required scenario not in conformance/baseline.yml, or a stale baseline entry).
 *
 * Target (see startTarget below):
 *   --gateway    Portcullis in front of the fixture with the allow-all policy (default).
 *   --direct     the fixture itself: validates the fixture; use it to tell a gateway bug
 *                from a fixture bug.
 *
 * Other options:
 *   --requirements 2025-11-25,2026-07-28   revisions to run (default: both)
 *   --scenario <name>                       run one scenario only (uses --spec-version of each revision)
 *   --verbose                               stream the CLI output
 *
 * Results (checks.json per scenario) and the CLI log go to .cache/conformance/<revision>/.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { startConformanceServer } from '../test/fixtures/conformance-server.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BASELINE = path.join(ROOT, 'conformance', 'baseline.yml');
const OUT = path.join(ROOT, '.cache', 'conformance');
const DEFAULT_REVISIONS = ['2025-11-25', '2026-07-28'];

const require = createRequire(import.meta.url);
const PKG_DIR = path.dirname(require.resolve('@modelcontextprotocol/conformance/package.json'));
const CLI = path.join(PKG_DIR, 'dist', 'index.js');

interface Target {
  url: string;
  label: string;
  close(): Promise<void>;
}

type Mode = 'direct' | 'gateway';

/**
 * Where the suites are pointed: `direct` = the fixture itself (validates the fixture),
 * `gateway` = Portcullis in front of the fixture with the allow-all policy.
 */
async function startTarget(mode: Mode, fixtureUrl: string, args: Args): Promise<Target> {
  if (mode === 'direct') return { url: fixtureUrl, label: 'direct', close: async () => {} };
  return startGatewayInFront(fixtureUrl);
}

/**
 * Phase 2: Portcullis in front of the fixture, one target `conformance`, the allow-all policy
 * (rego/allow-all built with scripts/bundle.ts), listening on 127.0.0.1 (the
 * dns-rebinding-protection scenario needs a localhost URL). The gateway's log lines go to
 * .cache/conformance/gateway.log. Imported lazily so `--direct` works while the gateway is broken.
 */
async function startGatewayInFront(upstreamUrl: string): Promise<Target> {
  const { buildBundle } = await import('./bundle.ts');
  const { validateConfig } = await import('../gateway/config/load.ts');
  const { startGateway } = await import('../gateway/main.ts');
  mkdirSync(OUT, { recursive: true });
  const bundle = await buildBundle({ source: path.join(ROOT, 'rego', 'allow-all'), outFile: path.join(OUT, 'allow-all.tar.gz') });
  // Default security settings: on loopback the gateway accepts loopback Origins and Hosts only.
  const doc = {
    listen: { host: '127.0.0.1', port: 0 },
    policy: { bundle: bundle.file },
    targets: { conformance: { url: upstreamUrl } },
  };
  const config = validateConfig(doc, path.join(OUT, 'conformance-gateway.yaml'), process.env);
  const logs: string[] = [];
  const gw = await startGateway(config, { log: (line) => logs.push(line) });
  return {
    url: `${gw.url}/mcp/conformance`,
    label: 'gateway',
    async close() {
      await gw.close();
      writeFileSync(path.join(OUT, 'gateway.log'), logs.join('\n') + '\n');
    },
  };
}

interface Args {
  mode: Mode;
  revisions: string[];
  scenario?: string;
  verbose: boolean;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { mode: 'gateway', revisions: DEFAULT_REVISIONS, verbose: false };
  for (let i = 0; i < argv.length; i++) {
    const v = argv[i];
    if (v === '--direct') a.mode = 'direct';
    else if (v === '--gateway') a.mode = 'gateway';
    else if (v === '--verbose') a.verbose = true;
    else if (v === '--requirements') a.revisions = (argv[++i] ?? '').split(',').filter(Boolean);
    else if (v === '--scenario') a.scenario = argv[++i];
    else if (v === '--help' || v === '-h') {
      process.stdout.write(readFileSync(fileURLToPath(import.meta.url), 'utf8').split('*/')[0] + '*/\n');
      process.exit(0);
    } else {
      process.stderr.write(`unknown option ${v}\n`);
      process.exit(2);
    }
  }
  return a;
}

interface Check {
  id: string;
  status: string;
  errorMessage?: string;
}

interface ScenarioResult {
  scenario: string;
  checks: Check[];
  failed: Check[];
  warnings: number;
}

function readResults(dir: string): ScenarioResult[] {
  if (!existsSync(dir)) return [];
  const out: ScenarioResult[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (!entry.isDirectory()) continue;
    const file = path.join(dir, entry.name, 'checks.json');
    if (!existsSync(file)) continue;
    const scenario = entry.name.replace(/^server-/, '').replace(/-\d{4}-\d{2}-\d{2}T[\d-]+Z$/, '');
    const checks = JSON.parse(readFileSync(file, 'utf8')) as Check[];
    out.push({
      scenario,
      checks,
      failed: checks.filter((c) => c.status === 'FAILURE'),
      warnings: checks.filter((c) => c.status === 'WARNING').length,
    });
  }
  return out.sort((x, y) => x.scenario.localeCompare(y.scenario));
}

function requiredServerScenarios(revision: string): Set<string> {
  const file = path.join(PKG_DIR, 'requirements', `${revision}.yaml`);
  const doc = parseYaml(readFileSync(file, 'utf8')) as { server?: string[] };
  return new Set(doc.server ?? []);
}

function runCli(args: string[], logFile: string, verbose: boolean): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let log = '';
    const onData = (chunk: Buffer) => {
      log += chunk.toString('utf8');
      if (verbose) process.stdout.write(chunk);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('error', reject);
    child.on('close', (code) => {
      writeFileSync(logFile, log);
      resolve(code ?? 1);
    });
  });
}

async function runSuite(revision: string, target: Target, args: Args): Promise<boolean> {
  const dir = path.join(OUT, revision);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const logFile = path.join(OUT, `${revision}.log`);
  const cliArgs = ['server', '--url', target.url, '--expected-failures', BASELINE, '-o', dir];
  if (args.scenario) cliArgs.push('--scenario', args.scenario, '--spec-version', revision);
  else cliArgs.push('--requirements', revision);
  const code = await runCli(cliArgs, logFile, args.verbose);

  const required = requiredServerScenarios(revision);
  const results = readResults(dir);
  const scored = results.filter((r) => args.scenario !== undefined || required.has(r.scenario));
  const unscored = results.filter((r) => !scored.includes(r));
  const count = (rs: ScenarioResult[], s: string) => rs.reduce((n, r) => n + r.checks.filter((c) => c.status === s).length, 0);
  const scenFailed = scored.filter((r) => r.failed.length > 0);
  const missing = args.scenario ? [] : [...required].filter((s) => !results.some((r) => r.scenario === s));

  process.stdout.write(
    `[conformance] ${revision} via ${target.label}: required scenarios ${scored.length - scenFailed.length}/${required.size && !args.scenario ? required.size : scored.length} passed` +
      ` (checks: ${count(scored, 'SUCCESS')} passed, ${count(scored, 'FAILURE')} failed, ${count(scored, 'WARNING')} warnings)` +
      `; not scored: ${unscored.length} run, ${unscored.filter((r) => r.failed.length > 0).length} failing` +
      `; CLI exit ${code}\n`,
  );
  for (const r of scenFailed) {
    for (const c of r.failed) process.stdout.write(`  FAIL ${r.scenario}:${c.id} ${(c.errorMessage ?? '').slice(0, 240)}\n`);
  }
  for (const s of missing) process.stdout.write(`  MISSING ${s} (no results written)\n`);
  const unscoredFailing = unscored.filter((r) => r.failed.length > 0).map((r) => r.scenario);
  if (unscoredFailing.length > 0) process.stdout.write(`  not scored, failing: ${unscoredFailing.join(', ')}\n`);
  if (code !== 0) process.stdout.write(`  see ${path.relative(ROOT, logFile)}\n`);
  return code === 0 && missing.length === 0;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const fixture = await startConformanceServer({ port: 0 });
  let target: Target | undefined;
  let ok = true;
  try {
    target = await startTarget(args.mode, fixture.url, args);
    process.stdout.write(`[conformance] fixture ${fixture.url}; target ${target.url} (${target.label})\n`);
    for (const rev of args.revisions) {
      if (!(await runSuite(rev, target, args))) ok = false;
    }
  } catch (err) {
    process.stderr.write(`[conformance] ${err instanceof Error ? err.message : String(err)}\n`);
    ok = false;
  } finally {
    await target?.close().catch(() => {});
    await fixture.close();
  }
  process.stdout.write(`[conformance] ${ok ? 'OK' : 'FAILED'}\n`);
  process.exit(ok ? 0 : 1);
}

await main();
