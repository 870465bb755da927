// PURE decision core: what we tell HAProxy for (node, service). No I/O, no clock, no globals.
// The README's decision table is this file in prose; test/decide.test.ts has one row per case.

/** What this agent knows about its own Node: only the fields decisions need. */
export interface NodeView {
  name: string;
  /** spec.unschedulable, set by `kubectl cordon`. */
  unschedulable: boolean;
}

/** What this agent knows about one Service. */
export interface ServiceView {
  namespace: string;
  name: string;
  /** Effective weight percentage, already validated (invalid annotations fall back upstream). */
  weight: number;
}

export type ReplyKind = 'ready' | 'drain' | 'maint' | 'down' | 'none';

export interface Reply {
  kind: ReplyKind;
  /** Weight percentage for `ready` replies. */
  weight?: number;
  /** Description for `down` replies (HAProxy shows it after `#`). */
  text?: string;
}

export const DEFAULT_WEIGHT = 100;
/** HAProxy caps a server's weight at 256, so larger percentages mean nothing more. */
export const MAX_WEIGHT = 256;

export interface DecisionInput {
  /** True once the first full list of the Node and of Services has arrived. */
  synced: boolean;
  /** Undefined when the Node does not exist (after sync: deleted or a wrong --node-name). */
  node: NodeView | undefined;
  /** Undefined when the probe named no Service or one we do not know: answer for the node alone. */
  service: ServiceView | undefined;
}

const NONE: Reply = { kind: 'none' };
const DRAIN: Reply = { kind: 'drain' };

export function decide(input: DecisionInput): Reply {
  // Before the first full list we know nothing true to say; no reply = HAProxy changes nothing.
  if (!input.synced) return NONE;
  // A Node that is not (or no longer) in the cluster must not get new traffic.
  if (input.node === undefined) return DRAIN;
  if (input.node.unschedulable) return DRAIN;
  return { kind: 'ready', weight: input.service?.weight ?? DEFAULT_WEIGHT };
}
