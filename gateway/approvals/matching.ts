// Which gates an approval's votes fill. A human counts once across all gates, so this is a
// bipartite matching (approvers x gate seats), not a greedy fill: with gates "sre" and "dba" and
// approvers Ann (sre, dba) and Bob (sre), greedy could seat Ann in sre and leave dba empty; the
// matching seats Bob in sre and Ann in dba. Augmenting paths (Kuhn); sizes are tiny (<= 50 seats
// per gate, a handful of voters), so O(V * E) is nothing.
import type { ApprovalGate } from './obligation.ts';

export interface Approver {
  /** Who, as a stable key (issuer + subject). */
  key: string;
  groups: readonly string[];
}

export interface GateProgress {
  name: string;
  groups: string[];
  count: number;
  /** Approvers seated in this gate by the matching. */
  filledBy: string[];
  missing: number;
}

export function qualifies(groups: readonly string[], gate: ApprovalGate): boolean {
  return gate.groups.includes('*') || gate.groups.some((g) => groups.includes(g));
}

/** Seats each approver in at most one gate seat, maximising the seats filled. */
export function matchGates(gates: readonly ApprovalGate[], approvers: readonly Approver[]): GateProgress[] {
  const seats: number[] = []; // seat index -> gate index
  gates.forEach((gate, g) => { for (let i = 0; i < gate.count; i++) seats.push(g); });
  const seatOf = new Map<number, number>(); // approver index -> seat
  const holder: (number | undefined)[] = seats.map(() => undefined); // seat -> approver index

  const tryPlace = (a: number, visited: Set<number>): boolean => {
    for (let s = 0; s < seats.length; s++) {
      if (visited.has(s) || !qualifies(approvers[a]!.groups, gates[seats[s]!]!)) continue;
      visited.add(s);
      const current = holder[s];
      if (current === undefined || tryPlace(current, visited)) {
        holder[s] = a;
        seatOf.set(a, s);
        return true;
      }
    }
    return false;
  };
  approvers.forEach((_, a) => { tryPlace(a, new Set()); });

  return gates.map((gate, g) => {
    const filledBy = seats.flatMap((gi, s) => (gi === g && holder[s] !== undefined ? [approvers[holder[s]!]!.key] : []));
    return { name: gate.name, groups: gate.groups, count: gate.count, filledBy, missing: gate.count - filledBy.length };
  });
}

export const allGatesPass = (progress: readonly GateProgress[]): boolean => progress.every((p) => p.missing === 0);
