// Why a bundle was refused, as a stable string code (as jose's errors carry): the status object,
// the log and the CLI switch on `code`; the message is for people. docs/policy-lifecycle.md lists
// every code.

export type BundleErrorCode =
  // reading the tarball
  | 'unreadable' | 'too_large' | 'not_gzip' | 'corrupt_tar' | 'bad_entry' | 'duplicate_file'
  | 'invalid_json' | 'bad_manifest' | 'no_wasm' | 'sha256_mismatch' | 'unsupported_file'
  // signatures (gateway/policy/verify.ts)
  | 'unsigned' | 'bad_signatures_file' | 'multiple_signatures' | 'bad_jws' | 'unknown_key'
  | 'key_id_missing' | 'bad_signature' | 'scope_mismatch' | 'file_not_signed' | 'file_missing'
  | 'digest_mismatch' | 'weak_hash'
  // loading and self-check (gateway/policy/engine.ts, holder.ts)
  | 'invalid_wasm' | 'not_opa_module' | 'missing_builtins' | 'wrong_entrypoint' | 'bad_data'
  | 'smoke_failed';

export class BundleError extends Error {
  override name = 'BundleError';
  readonly code: BundleErrorCode;
  constructor(code: BundleErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}
