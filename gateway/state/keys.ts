// Every Redis key the gateway uses is built here. The keys of one (target, session) share a hash
// tag, so a script that touches them all runs on one Redis Cluster slot.

/** A session's keys, in the order every script declares them (KEYS[1..8]). */
export const SESSION_KEY_PARTS = ['session', 'client', 'client:order', 'server', 'server:order', 'events', 'events:order', 'masks'] as const;

export type SessionKeys = readonly [string, string, string, string, string, string, string, string];

export class StateKeys {
  /** `prefix` has no braces (the configuration refuses them), so the tag below is the key's only one. */
  readonly prefix: string;
  constructor(prefix: string) {
    this.prefix = prefix;
  }

  /**
   * `{target/session}` is the hash tag. The session id comes from the upstream (any visible
   * ASCII): percent-encoding it keeps braces and the separator out of the tag.
   */
  session(target: string, sessionId: string): SessionKeys {
    const tag = `${this.prefix}{${target}/${encodeURIComponent(sessionId)}}:`;
    return SESSION_KEY_PARTS.map((part) => tag + part) as unknown as SessionKeys;
  }

  /**
   * What one replica last reported on `/status`, and the index of replicas that reported. One
   * hash tag for all of them (session tags always hold a `/`, so never this one): listing them is
   * one MGET on one Redis Cluster slot.
   */
  replicaStatus(replicaId: string): string {
    return `${this.prefix}{replicas}:status:${encodeURIComponent(replicaId)}`;
  }

  replicaIndex(): string {
    return `${this.prefix}{replicas}:index`;
  }

  /** A cached introspection result, by the token's hash (never the token). */
  introspection(tokenHash: string): string {
    return `${this.prefix}introspection:${tokenHash}`;
  }
}
