// Dedicated-port ownership must be the same on every node and survive restarts, so it is a pure
// function of the cluster: the oldest claimant (creationTimestamp, then uid) wins, never name order.
// edge/ownership.ts orders host and backend claims by the same rule.
import type { ClaimOrder } from './views.js';

/** Oldest first; a claimant without a timestamp sorts after every dated one. */
export function compareClaims(a: ClaimOrder | undefined, b: ClaimOrder | undefined): number {
  const ca = a?.created ?? Infinity;
  const cb = b?.created ?? Infinity;
  if (ca !== cb) return ca < cb ? -1 : 1;
  const ua = a?.uid ?? '';
  const ub = b?.uid ?? '';
  return ua < ub ? -1 : ua > ub ? 1 : 0;
}

/** --agent-port-namespaces: undefined = every namespace may claim; else only those listed. */
export function namespaceMayClaim(allowed: ReadonlySet<string> | undefined, key: string): boolean {
  if (allowed === undefined) return true;
  const slash = key.indexOf('/');
  return allowed.has(slash === -1 ? key : key.slice(0, slash));
}
