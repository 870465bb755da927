// Which mass-drain guard verdict this node follows, by --guard-mode: the guard over every Node,
// computed here (local: every agent sees the same Nodes, so all agree); the coordinator's decision
// (coordinated, coordinated-verdict.ts); or none (off: nothing is ever held).
import { coordinatedVerdict } from './coordinated-verdict.js';
import type { Decision } from './guard-decision.js';
import { NO_GUARD, computeGuard, type GuardResult } from './mass-drain-guard.js';
import type { Policy } from './policy.js';
import type { NodeView } from './views.js';

/** --guard-mode's values, in the order its help lists them. */
export const GUARD_MODES = ['local', 'coordinated', 'off'] as const;
export type GuardMode = (typeof GUARD_MODES)[number];

export interface GuardInputs {
  mode: GuardMode;
  nodeName: string;
  policy: Policy;
  maxDrainFraction: number;
  /** Our Node, if it exists. */
  node: NodeView | undefined;
  /** local: every Node, once the Node list has landed (undefined before: no guard yet). */
  nodes: Iterable<NodeView> | undefined;
  /** coordinated: the coordinator's decision as last seen. */
  decision: Decision | undefined;
}

/** The cluster-wide picture (for /status and metrics) and whether this node is held. */
export function guardVerdict(g: GuardInputs): { result: GuardResult; held: boolean } {
  if (g.mode === 'off') return { result: NO_GUARD, held: false };
  if (g.mode === 'coordinated') return coordinatedVerdict(g.node, g.policy, g.decision);
  const result = g.nodes === undefined ? NO_GUARD : computeGuard(g.nodes, g.policy, g.maxDrainFraction);
  return { result, held: result.held.includes(g.nodeName) };
}
