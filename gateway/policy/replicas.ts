// `/status` across replicas: this replica's live status, and beside it every replica that shared
// state lists (each with its id and when it reported). A listing that cannot be read is said so
// in the body (`replicas_error`), and `portcullis policy verify` then refuses to call it proven.

/** Where the reports of every replica are read (gateway/state ReplicaStatusBoard). */
export interface ReplicaListing {
  list(): Promise<Array<{ id: string; report: Record<string, unknown> }>>;
}

export interface ReplicaEntry extends Record<string, unknown> {
  replica: { id: string };
  reported_at: string;
}

export type ClusterStatusBody<T> = T & { replicas: ReplicaEntry[]; replicas_error?: string };

/** This replica's body plus `replicas`: its own live entry and every other live replica's last report. */
export async function clusterStatus<T extends { replica: { id: string } }>(own: T, listing: ReplicaListing): Promise<ClusterStatusBody<T>> {
  const self: ReplicaEntry = { ...own, reported_at: new Date().toISOString() };
  try {
    const others = (await listing.list())
      .filter(({ id, report }) => id !== own.replica.id && typeof report.replica === 'object' && report.replica !== null)
      .map(({ report }) => report as ReplicaEntry);
    const replicas = [self, ...others].sort((a, b) => (a.replica.id < b.replica.id ? -1 : a.replica.id > b.replica.id ? 1 : 0));
    return { ...own, replicas };
  } catch (err) {
    return { ...own, replicas: [self], replicas_error: `the other replicas could not be read from shared state: ${(err as Error).message}` };
  }
}
