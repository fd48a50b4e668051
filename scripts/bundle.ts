// Builds Portcullis policy bundles: rego/<name>/ -> bundles/<name>.tar.gz (`npm run bundle`).
//
//   npm run bundle                                 every bundle directory under rego/
//   npm run bundle -- rego/example                 only these source directories
//   npm run bundle -- --out-dir /tmp/b test/fixtures/rego/uses-http-send
//   npm run bundle -- --print-capabilities         the builtins a policy may use, and why
//   npm run bundle -- --print-capabilities-file    only the capabilities file's path (for scripts)
//   npm run bundle -- --signing-key ci.pem --signing-keyid ci rego/example   a signed bundle
//
// Each bundle is `opa build -t wasm -e portcullis/decision` with the pinned OPA (scripts/tools.sh),
// `--revision` derived from the policy content (see policyRevision), the `_test.rego` files and
// hidden files left out, and `--capabilities` listing exactly the builtins the gateway can run
// (see capabilities()), so a policy needing anything else fails here, not at request time.
// Beside each <name>.tar.gz goes <name>.tar.gz.sha256 (sha256sum format) for pinning in config.
// With a signing key, OPA writes /.signatures.json (`opa build --bundle --signing-key`), which the
// gateway verifies when policy.signing lists the matching key (gateway/policy/verify.ts).
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HOST_BUILTINS } from '../gateway/policy/builtins.ts';

// The entrypoint the gateway evaluates (gateway/policy/engine.ts), so the two cannot drift.
import { ENTRYPOINT } from '../gateway/policy/engine.ts';
export { ENTRYPOINT };
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const REGO_DIR = join(REPO_ROOT, 'rego');
export const BUNDLES_DIR = join(REPO_ROOT, 'bundles');

/**
 * Files OPA leaves out of a bundle: tests (kept beside the policy) and hidden files/dirs. `.?*`
 * rather than `.*`, because in bundle mode (used for signing) `.*` also matches the root `.`.
 */
export const IGNORED = ['*_test.rego', '.?*'] as const;

/**
 * Builtins the OPA compiler evaluates while compiling, so the WASM module never calls them:
 * `rego.metadata.chain()` / `rego.metadata.rule()` become constants built from annotations.
 */
export const COMPILE_TIME_BUILTINS = ['rego.metadata.chain', 'rego.metadata.rule'] as const;

export interface BuildBundleOptions {
  /** Bundle source directory: .rego files (tests beside them are left out) and data files. */
  source: string;
  /** Where to write the .tar.gz; a `.sha256` file is written beside it. */
  outFile: string;
  /** Sign the bundle (`.signatures.json`), as `opa build --signing-key` does. */
  signing?: SigningOptions;
}

export interface SigningOptions {
  /** A PEM private key file (RS*, PS*, ES*) or a file holding the HMAC secret (HS*). */
  keyFile: string;
  /** Default RS256, as OPA's. */
  algorithm?: string;
  /** Written into the signed payload (`keyid`), so verifiers pick the key without configuration. */
  keyId?: string;
  /** Written into the signed payload (`scope`); verifiers may demand it. */
  scope?: string;
}

export interface BuiltBundle {
  file: string;
  revision: string;
  /** sha256 of the .tar.gz, hex. */
  sha256: string;
}

export class BundleBuildError extends Error {
  override name = 'BundleBuildError';
}

export interface Tools {
  opa: string;
  regal: string;
  /** e.g. "v1.22.2" */
  opaVersion: string;
  /** The pinned OPA's builtin_metadata.json ("wasm": true marks WASM-native builtins). */
  builtinMetadata: string;
}

function run(file: string, args: string[], options: { cwd?: string } = {}): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolvePromise, reject) => {
    execFile(file, args, { cwd: options.cwd, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error) {
        reject(Object.assign(error, { stdout, stderr }));
      } else {
        resolvePromise({ stdout, stderr });
      }
    });
  });
}

let toolsPromise: Promise<Tools> | undefined;

/** The pinned toolchain, installed by scripts/tools.sh when missing (once per process). */
export function tools(): Promise<Tools> {
  toolsPromise ??= (async () => {
    // tools.sh prints progress on stderr while installing; show it rather than hang silently.
    const child = execFile('bash', [join(REPO_ROOT, 'scripts', 'tools.sh')], { maxBuffer: 1024 * 1024 });
    child.stderr?.pipe(process.stderr);
    let stdout = '';
    child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    const code = await new Promise<number | null>((done) => child.on('close', done));
    if (code !== 0) throw new BundleBuildError(`scripts/tools.sh failed (exit ${code}): cannot install the pinned OPA`);
    const vars = Object.fromEntries(
      stdout.split('\n').filter((line) => line.includes('=')).map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
    );
    const { OPA_BIN, REGAL_BIN, OPA_BUILTIN_METADATA, PORTCULLIS_OPA_VERSION } = vars;
    if (!OPA_BIN || !REGAL_BIN || !OPA_BUILTIN_METADATA || !PORTCULLIS_OPA_VERSION) {
      throw new BundleBuildError(`scripts/tools.sh did not print the tool paths:\n${stdout}`);
    }
    return { opa: OPA_BIN, regal: REGAL_BIN, opaVersion: PORTCULLIS_OPA_VERSION, builtinMetadata: OPA_BUILTIN_METADATA };
  })();
  toolsPromise.catch(() => (toolsPromise = undefined));
  return toolsPromise;
}

// ---------------------------------------------------------------------------------------------
// Capabilities

export interface Capabilities {
  /** The capabilities JSON file passed to `opa build --capabilities`. */
  file: string;
  /** Allowed builtin names, sorted, each with where the gateway gets it from. */
  builtins: Array<{ name: string; source: 'wasm' | 'sdk' | 'host' | 'compile-time' }>;
  opaVersion: string;
}

interface OpaCapabilities {
  builtins: Array<{ name: string; [key: string]: unknown }>;
  features?: string[];
  future_keywords?: string[];
  wasm_abi_versions?: Array<{ version: number; minor_version: number }>;
  [key: string]: unknown;
}

/** Builtins OPA's WASM compiler implements natively: "wasm": true in OPA's builtin_metadata.json. */
async function wasmNativeBuiltins(metadataFile: string): Promise<string[]> {
  const metadata = JSON.parse(await readFile(metadataFile, 'utf8')) as Record<string, unknown>;
  return Object.entries(metadata)
    .filter(([name, entry]) => !name.startsWith('_') && (entry as { wasm?: unknown } | null)?.wasm === true)
    .map(([name]) => name);
}

/** Builtins the opa-wasm JS SDK implements itself (its src/builtins, checked before custom ones). */
function sdkBuiltins(): string[] {
  const require = createRequire(import.meta.url);
  // The package exports only ".", so resolve its main file (src/index.cjs) and go from there.
  const sdkSrc = dirname(require.resolve('@open-policy-agent/opa-wasm'));
  return Object.keys(require(join(sdkSrc, 'builtins', 'index.js')) as Record<string, unknown>);
}

let capabilitiesPromise: Promise<Capabilities> | undefined;

/**
 * The capabilities file: `opa capabilities --current` of the pinned OPA (declarations, features,
 * keywords) with `builtins` filtered to what the gateway can run:
 *   - "wasm": implemented natively by OPA's WASM compiler (pinned OPA's builtin_metadata.json,
 *     generated upstream from internal/compiler/wasm's builtin table);
 *   - "sdk": implemented by @open-policy-agent/opa-wasm in JS (sprintf, regex.split, yaml.*, ...);
 *   - "host": HOST_BUILTINS from gateway/policy/builtins.ts (time.*);
 *   - "compile-time": rego.metadata.*, replaced by constants during compilation.
 * Generated on every run from those pinned inputs (nothing committed that could drift), into a
 * temp file named by its content hash.
 */
export function capabilities(): Promise<Capabilities> {
  capabilitiesPromise ??= (async () => {
    const t = await tools();
    const current = JSON.parse((await run(t.opa, ['capabilities', '--current'])).stdout) as OpaCapabilities;
    if (current.wasm_abi_versions === undefined) {
      // A binary built without cgo (no WASM runtime) omits the ABI versions it can emit; the
      // released capabilities of the same version carry them.
      const released = JSON.parse((await run(t.opa, ['capabilities', '--version', t.opaVersion])).stdout) as OpaCapabilities;
      if (released.wasm_abi_versions !== undefined) current.wasm_abi_versions = released.wasm_abi_versions;
    }
    const sources = new Map<string, Capabilities['builtins'][number]['source']>();
    for (const name of COMPILE_TIME_BUILTINS) sources.set(name, 'compile-time');
    for (const name of HOST_BUILTINS) sources.set(name, 'host');
    for (const name of sdkBuiltins()) sources.set(name, 'sdk');
    for (const name of await wasmNativeBuiltins(t.builtinMetadata)) sources.set(name, 'wasm');

    const known = new Set(current.builtins.map((b) => b.name));
    const unknown = [...sources.keys()].filter((name) => !known.has(name));
    if (unknown.length > 0) {
      throw new BundleBuildError(
        `builtins the gateway declares are unknown to OPA ${t.opaVersion}: ${unknown.join(', ')} ` +
          '(check HOST_BUILTINS in gateway/policy/builtins.ts)',
      );
    }
    const document = { ...current, builtins: current.builtins.filter((b) => sources.has(b.name)) };
    const text = `${JSON.stringify(document, null, 2)}\n`;
    const hash = createHash('sha256').update(text).digest('hex').slice(0, 16);
    const file = join(tmpdir(), `portcullis-capabilities-${t.opaVersion}-${hash}.json`);
    try {
      await stat(file);
    } catch {
      const partial = `${file}.${process.pid}.tmp`;
      await writeFile(partial, text);
      await rename(partial, file);
    }
    return {
      file,
      opaVersion: t.opaVersion,
      builtins: [...sources].map(([name, source]) => ({ name, source })).sort((a, b) => a.name.localeCompare(b.name)),
    };
  })();
  capabilitiesPromise.catch(() => (capabilitiesPromise = undefined));
  return capabilitiesPromise;
}

// ---------------------------------------------------------------------------------------------
// Revision

const DATA_OR_POLICY = /\.(rego|json|ya?ml)$/;

/** The files `opa build` takes from a source directory, as sorted POSIX paths relative to it. */
export async function bundleInputs(source: string): Promise<string[]> {
  const found: string[] = [];
  async function walk(dir: string): Promise<void> {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      if (entry.name.startsWith('.')) continue;
      const path = join(dir, entry.name);
      const info = entry.isSymbolicLink() ? await stat(path) : entry;
      if (info.isDirectory()) {
        await walk(path);
      } else if (DATA_OR_POLICY.test(entry.name) && !entry.name.endsWith('_test.rego')) {
        found.push(relative(source, path).split(sep).join('/'));
      }
    }
  }
  await walk(source);
  return found.sort();
}

/**
 * The bundle revision: "rego-" + the first 16 hex digits of a sha256 over the bundle's input
 * files (the .rego files other than tests, and the data files), taken in sorted path order, each
 * as `<relative path> NUL <byte length> NUL <bytes>`. It names the policy, not the build: it does
 * not change with the OPA version or the machine, and a test-only change keeps it. Two builds of
 * one revision by the same OPA are byte-identical (OPA writes deterministic tarballs), and the
 * tarball's own sha256 identifies an artifact exactly.
 */
export async function policyRevision(source: string, inputs?: string[]): Promise<string> {
  const files = inputs ?? (await bundleInputs(source));
  const hash = createHash('sha256');
  for (const file of files) {
    const bytes = await readFile(join(source, file));
    hash.update(`${file}\0${bytes.byteLength}\0`);
    hash.update(bytes);
  }
  return `rego-${hash.digest('hex').slice(0, 16)}`;
}

// ---------------------------------------------------------------------------------------------
// Build

/** Turns OPA's compile errors into one message; says plainly when a builtin is not available. */
function buildFailure(source: string, stderr: string, caps: Capabilities): BundleBuildError {
  const output = stderr.trim();
  const missing = [...output.matchAll(/undefined function ([\w.]+)/g)].map((m) => m[1]);
  const unavailable = [...new Set(missing)].filter((name) => !caps.builtins.some((b) => b.name === name));
  const hint = unavailable.length > 0
    ? `\npolicy uses builtins the gateway cannot run: ${unavailable.join(', ')}. Allowed are the builtins ` +
      "OPA's WASM compiler implements, the opa-wasm SDK's and gateway/policy/builtins.ts HOST_BUILTINS " +
      '(npm run bundle -- --print-capabilities lists them).'
    : '';
  return new BundleBuildError(`opa build failed for ${source}:\n${output}${hint}`);
}

/** Builds one bundle with the pinned OPA and the gateway's capabilities. */
export async function buildBundle({ source, outFile, signing }: BuildBundleOptions): Promise<BuiltBundle> {
  const sourceDir = resolve(source);
  const file = resolve(outFile);
  const inputs = await bundleInputs(sourceDir).catch((err: NodeJS.ErrnoException) => {
    throw new BundleBuildError(`cannot read bundle source ${source}: ${err.code ?? err.message}`);
  });
  if (!inputs.some((path) => path.endsWith('.rego'))) {
    throw new BundleBuildError(`no policy in ${source}: expected .rego files (tests excluded)`);
  }
  const [t, caps, revision] = await Promise.all([tools(), capabilities(), policyRevision(sourceDir, inputs)]);
  await mkdir(dirname(file), { recursive: true });
  const partial = `${file}.${process.pid}.${Date.now()}.tmp`;
  const claims = signing?.keyId !== undefined || signing?.scope !== undefined ? `${partial}.claims.json` : undefined;
  if (claims !== undefined) {
    await writeFile(claims, JSON.stringify({ ...(signing?.keyId !== undefined && { keyid: signing.keyId }), ...(signing?.scope !== undefined && { scope: signing.scope }) }));
  }
  const signArgs = signing === undefined ? [] : [
    // Bundle mode is what OPA signs in; for a source directory it builds the same files.
    '--bundle', '--signing-key', resolve(signing.keyFile), '--signing-alg', signing.algorithm ?? 'RS256',
    ...(claims === undefined ? [] : ['--claims-file', claims]),
  ];
  const args = [
    'build', '--target', 'wasm', '--entrypoint', ENTRYPOINT, ...signArgs,
    '--revision', revision,
    '--capabilities', caps.file,
    ...IGNORED.flatMap((pattern) => ['--ignore', pattern]),
    '--output', partial,
    // Relative to cwd, so the paths stored in the tarball do not depend on where the clone is.
    '.',
  ];
  try {
    await run(t.opa, args, { cwd: sourceDir });
  } catch (err) {
    await rm(partial, { force: true });
    if (claims !== undefined) await rm(claims, { force: true });
    // OPA prints compile errors on stdout.
    const { stdout = '', stderr = '' } = err as { stdout?: string; stderr?: string };
    throw buildFailure(source, `${stdout}\n${stderr}`.trim() || (err as Error).message, caps);
  }
  if (claims !== undefined) await rm(claims, { force: true });
  const bytes = await readFile(partial);
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  await rename(partial, file);
  await writeFile(`${file}.sha256`, `${sha256}  ${basename(file)}\n`);
  return { file, revision, sha256 };
}

/** Bundle source directories under rego/: every non-hidden directory. */
export async function bundleSources(root = REGO_DIR): Promise<string[]> {
  const entries = await readdir(root, { withFileTypes: true });
  return entries
    .filter((e) => e.isDirectory() && !e.name.startsWith('.'))
    .map((e) => join(root, e.name))
    .sort();
}

// ---------------------------------------------------------------------------------------------
// CLI

const USAGE = `usage: npm run bundle -- [--out-dir DIR] [--signing-key FILE ...] [--print-capabilities[-file]] [SOURCE_DIR ...]
  SOURCE_DIR                 bundle source directories (default: every directory under rego/)
  --out-dir DIR              write DIR/<name>.tar.gz and DIR/<name>.tar.gz.sha256 (default: bundles/)
  --signing-key FILE         sign: a PEM private key, or a file holding the HMAC secret (HS*)
  --signing-key-env VAR      sign with the PEM key or HMAC secret held in environment variable VAR
  --signing-alg ALG          RS256 (default), PS256, ES256, HS256, ... (as opa build)
  --signing-keyid ID         key id written into the signed payload
  --signing-scope SCOPE      scope written into the signed payload
  --print-capabilities       list the builtins policies may use and the capabilities file, then exit
  --print-capabilities-file  print only the capabilities file's path, then exit`;

async function main(argv: string[]): Promise<number> {
  let outDir = BUNDLES_DIR;
  let printCapabilities: 'list' | 'file' | undefined;
  const sources: string[] = [];
  const sign: { keyFile?: string; keyEnv?: string; algorithm?: string; keyId?: string; scope?: string } = {};
  const signFlags: Record<string, keyof typeof sign> = {
    '--signing-key': 'keyFile', '--signing-key-env': 'keyEnv', '--signing-alg': 'algorithm', '--signing-keyid': 'keyId', '--signing-scope': 'scope',
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    const flag = signFlags[arg.split('=')[0] as string];
    if (flag !== undefined) {
      const value = arg.includes('=') ? arg.slice(arg.indexOf('=') + 1) : argv[++i];
      if (value === undefined || value === '') throw new BundleBuildError(`${arg} needs a value\n${USAGE}`);
      sign[flag] = value;
    } else if (arg === '--out-dir') {
      const value = argv[++i];
      if (value === undefined) throw new BundleBuildError(`--out-dir needs a directory\n${USAGE}`);
      outDir = resolve(value);
    } else if (arg.startsWith('--out-dir=')) {
      outDir = resolve(arg.slice('--out-dir='.length));
    } else if (arg === '--print-capabilities') {
      printCapabilities = 'list';
    } else if (arg === '--print-capabilities-file') {
      printCapabilities = 'file';
    } else if (arg === '-h' || arg === '--help') {
      console.log(USAGE);
      return 0;
    } else if (arg.startsWith('-')) {
      throw new BundleBuildError(`unknown option ${arg}\n${USAGE}`);
    } else {
      sources.push(arg);
    }
  }

  if (printCapabilities === 'file') {
    console.log((await capabilities()).file);
    return 0;
  }
  if (printCapabilities === 'list') {
    const caps = await capabilities();
    for (const b of caps.builtins) console.log(`${b.name.padEnd(40)} ${b.source}`);
    console.log(`\n${caps.builtins.length} builtins (OPA ${caps.opaVersion}); capabilities file: ${caps.file}`);
    return 0;
  }

  const dirs = sources.length > 0 ? sources : (await bundleSources()).map((dir) => relative(process.cwd(), dir) || '.');
  if (dirs.length === 0) throw new BundleBuildError(`no bundle directories under ${REGO_DIR}`);
  const names = dirs.map((dir) => basename(resolve(dir)));
  const duplicate = names.find((name, i) => names.indexOf(name) !== i);
  if (duplicate) throw new BundleBuildError(`two bundle sources are named ${duplicate}; build them into different --out-dir`);

  if (sign.keyFile !== undefined && sign.keyEnv !== undefined) throw new BundleBuildError(`--signing-key and --signing-key-env exclude each other\n${USAGE}`);
  const signingOptions = sign.keyFile === undefined && sign.keyEnv === undefined ? undefined : sign;
  if (signingOptions === undefined && (sign.algorithm ?? sign.keyId ?? sign.scope) !== undefined) {
    throw new BundleBuildError(`--signing-alg, --signing-keyid and --signing-scope need --signing-key or --signing-key-env\n${USAGE}`);
  }
  // A key from the environment goes to OPA as a private temp file, never on a command line.
  let keyDir: string | undefined;
  let signing: SigningOptions | undefined;
  if (signingOptions !== undefined) {
    let keyFile = signingOptions.keyFile;
    if (signingOptions.keyEnv !== undefined) {
      const value = process.env[signingOptions.keyEnv];
      if (!value) throw new BundleBuildError(`--signing-key-env: environment variable ${signingOptions.keyEnv} is not set`);
      keyDir = await mkdtemp(join(tmpdir(), 'portcullis-signing-'));
      keyFile = join(keyDir, 'key');
      await writeFile(keyFile, value, { mode: 0o600 });
    }
    signing = { keyFile: keyFile as string, algorithm: signingOptions.algorithm, keyId: signingOptions.keyId, scope: signingOptions.scope };
  }

  await capabilities(); // install tools and write the capabilities once, before building in parallel
  const results = await Promise.allSettled(
    dirs.map(async (dir) => {
      const started = performance.now();
      const built = await buildBundle({ source: dir, outFile: join(outDir, `${basename(resolve(dir))}.tar.gz`), signing });
      return { ...built, ms: Math.round(performance.now() - started) };
    }),
  ).finally(() => (keyDir === undefined ? undefined : rm(keyDir, { recursive: true, force: true })));
  let failed = 0;
  results.forEach((result, i) => {
    const source = dirs[i] as string;
    if (result.status === 'fulfilled') {
      const { file, revision, sha256, ms } = result.value;
      console.log(`${source} -> ${relative(process.cwd(), file)}  revision ${revision}  sha256 ${sha256}${signing ? '  signed' : ''}  (${ms} ms)`);
    } else {
      failed++;
      // buildBundle's errors name the source already.
      console.error((result.reason as Error).message);
    }
  });
  return failed > 0 ? 1 : 0;
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      console.error(err instanceof BundleBuildError ? err.message : err);
      process.exit(1);
    },
  );
}
