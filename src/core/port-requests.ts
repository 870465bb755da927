// Which Services ask for a dedicated agent port, in the order ports are handed out: oldest
// claimant first (core/port-claims.ts), so every node and every restart agree on the owner.
import { compareClaims } from './port-claims.js';
import type { ClaimOrder, ServiceView } from './views.js';

/** [port, service key] for each Service that asks for one, oldest claimant first, then by key. */
export function agentPortRequests(services: Iterable<[string, { view: ServiceView }]>): Array<[number, string]> {
  const out: Array<[number, string, ClaimOrder | undefined]> = [];
  for (const [key, { view }] of services) if (view.agentPort !== undefined) out.push([view.agentPort, key, view.claim]);
  return out
    .sort((a, b) => compareClaims(a[2], b[2]) || (a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0))
    .map(([p, k]) => [p, k]);
}
