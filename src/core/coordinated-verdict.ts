// PURE: what an agent in coordinated mode makes of the coordinator's decision for its own node.
//
// The rule, for every state of the decision (fresh, stale or missing): an AUTOMATIC drain signal
// (cordon, autoscaler taints, ...) is honoured only when the latest decision this agent has seen
// names this node as draining; otherwise it is held (the node keeps serving). Explicit intent
// (state annotation, override file) and down signals never depend on the guard (decide.ts).
// - fresh: the coordinator is alive; a signal it has not counted yet is held for a moment.
// - stale (no heartbeat for --guard-stale-after): the last decision is kept. It let at most the
//   budget drain, new signals are held, so a dead coordinator never lets more drain than that.
// - missing (no usable ConfigMap): nothing was allowed, so every automatic drain is held.
import { NO_GUARD, computeGuard, type GuardResult } from './mass-drain-guard.js';
import type { NodeView } from './views.js';
import type { Policy } from './policy.js';
import type { Decision } from './guard-decision.js';

export type DecisionState = 'fresh' | 'stale' | 'missing';
export const DECISION_STATES: readonly DecisionState[] = ['fresh', 'stale', 'missing'];

/** The cluster-wide picture (for /status and metrics) and whether this node is held. */
export function coordinatedVerdict(
  node: NodeView | undefined,
  policy: Policy,
  decision: Decision | undefined,
): { result: GuardResult; held: boolean } {
  const result: GuardResult =
    decision === undefined
      ? NO_GUARD
      : {
          engaged: decision.held.length > 0,
          readyNodes: decision.readyNodes,
          budget: decision.budget,
          explicit: decision.explicit,
          draining: decision.draining,
          held: decision.held,
        };
  if (node === undefined) return { result, held: false };
  // The guard's own classification of this one node: with fraction 1 an automatic drain lands in
  // `draining`; explicit intent, down signals, NotReady and no signal do not.
  const automatic = computeGuard([node], policy, 1).draining.length === 1;
  const allowed =
    decision !== undefined && (decision.draining.includes(node.name) || decision.explicit.includes(node.name));
  return { result, held: automatic && !allowed };
}
