// PURE: the mass-drain guard. Cordoning most of a cluster at once (an upgrade, a wrong script)
// must not take every load-balancer target away. Every agent sees the same Nodes and computes
// the same answer, so the cluster as a whole drains at most --max-drain-fraction of Ready nodes.
import { activeSignals } from './decide.js';
import type { NodeView } from './views.js';
import type { Policy } from './policy.js';

export interface GuardResult {
  /** True when at least one node is held. */
  engaged: boolean;
  readyNodes: number;
  /** How many Ready nodes may drain at once. */
  budget: number;
  /** Nodes draining on explicit operator intent (state annotation) or a down signal: never held. */
  explicit: string[];
  /** Nodes whose drain signal is honoured, earliest first. */
  draining: string[];
  /** Nodes whose drain signal the guard holds back (answered ready), in the order they would go. */
  held: string[];
}

/** No guard: nothing held, nothing counted (before the Node list, --guard-mode off, no coordinator decision). */
export const NO_GUARD: GuardResult = { engaged: false, readyNodes: 0, budget: 0, explicit: [], draining: [], held: [] };

/**
 * Ready nodes = nodes without the not-ready signal. Explicit intent uses the budget first; the
 * rest goes to automatic drains in order of when their signal appeared (unknown = last), then
 * name. At least one node may always drain, so small clusters can still be maintained.
 */
export function computeGuard(nodes: Iterable<NodeView>, policy: Policy, maxFraction: number): GuardResult {
  const explicit: string[] = [];
  const auto: Array<{ name: string; since: number }> = [];
  let readyNodes = 0;
  for (const n of nodes) {
    if (n.signals.some((s) => s.name === 'not-ready')) continue;
    readyNodes++;
    if (n.state === 'drain' || n.state === 'maint') {
      explicit.push(n.name);
      continue;
    }
    const active = activeSignals(n, policy);
    if (active.some((a) => a.action.kind === 'down')) {
      explicit.push(n.name);
      continue;
    }
    const drains = active.filter((a) => a.action.kind === 'drain');
    if (drains.length === 0) continue;
    let since = Number.POSITIVE_INFINITY;
    for (const d of drains) if (d.signal.since !== undefined && d.signal.since < since) since = d.signal.since;
    auto.push({ name: n.name, since });
  }
  auto.sort((a, b) =>
    a.since !== b.since ? (a.since < b.since ? -1 : 1) : a.name < b.name ? -1 : a.name > b.name ? 1 : 0,
  );
  explicit.sort();
  const budget = maxFraction >= 1 ? readyNodes : Math.max(1, Math.floor(maxFraction * readyNodes));
  const room = Math.max(0, budget - explicit.length);
  const draining = auto.slice(0, room).map((a) => a.name);
  const held = auto.slice(room).map((a) => a.name);
  return { engaged: held.length > 0, readyNodes, budget, explicit, draining, held };
}

/** Same verdict: the same budget and the same nodes in each list. */
export function sameGuard(a: GuardResult, b: GuardResult): boolean {
  return (
    a.budget === b.budget &&
    a.held.join() === b.held.join() &&
    a.draining.join() === b.draining.join() &&
    a.explicit.join() === b.explicit.join()
  );
}
