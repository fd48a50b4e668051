// What the policy runtime tells its subscribers (telemetry's metrics and span events, the replica
// status publisher): a bundle activated, a bundle refused (the last good one keeps serving), or a
// source checked without a new bundle (unchanged, 304, or a failed fetch). Plain data, so a
// subscriber needs nothing from this module but the type.

export interface PolicyEvent {
  type: 'activated' | 'refused' | 'checked';
  /** Which holder: 'enforced' or 'candidate'. */
  policy: string;
  /** Where the bundle (or the check) came from: a path, a URL, or a saved copy of one. */
  source: string;
  /** `activated`: the new revision; `refused` and `checked`: the revision serving (null: none). */
  revision: string | null;
  sha256: string | null;
  /** `refused`: why (a BundleError code); `checked`: a failed fetch or read; otherwise null. */
  error: { code: string; message: string } | null;
}

export type PolicyEventListener = (event: PolicyEvent) => void;

/** Calls a listener so that one that throws never stops a swap or a check; says so in the log. */
export function safeListener(listener: PolicyEventListener | undefined, log: (line: string) => void): PolicyEventListener {
  if (listener === undefined) return () => {};
  return (event) => {
    try {
      listener(event);
    } catch (err) {
      log(`portcullis: policy event listener failed on ${event.type} (ignored): ${(err as Error).message}`);
    }
  };
}
