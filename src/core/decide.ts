// PURE decision core: what we tell HAProxy for (node, service). No I/O, no clock, no globals:
// everything that varies (time-based ramps, staleness, the override file) arrives as input.
// The README's decision table is this file in prose; test/unit/decide.test.ts has one row per case.
import { DOWN_TEXT, SIGNALS, SIGNAL_NAMES, type Policy, type SignalAction } from './policy.js';
import { DEFAULT_WEIGHT, MAX_WEIGHT } from './views.js';
import type { LocalEndpoints, NodeSignal, NodeView, OperatorState, ServiceView } from './views.js';

export type ReplyKind = 'ready' | 'drain' | 'maint' | 'down' | 'none';

export interface Reply {
  kind: ReplyKind;
  /** Weight percentage for `ready` replies. */
  weight?: number;
  /** Description for `down` replies (HAProxy shows it after `#`). */
  text?: string;
  /** Why, for /status and logs (never sent to HAProxy). */
  why: string;
}

/** Slow start begins at this fraction of the full weight. */
export const SLOW_START_FLOOR = 0.1;

export interface DecisionInput {
  /** True once the first full list of every watched resource has arrived. */
  synced: boolean;
  /** Undefined when the Node does not exist (after sync: deleted or a wrong --node-name). */
  node: NodeView | undefined;
  /** Undefined when the probe named no Service or one we do not know: answer for the node alone. */
  service: ServiceView | undefined;
  /** For Local Services: endpoints counted from EndpointSlices (undefined = none seen). */
  endpoints: LocalEndpoints | undefined;
  /** Break-glass override file content, validated. */
  override: OperatorState | undefined;
  /** No API contact for longer than --max-staleness. */
  stale: boolean;
  /** Slow-start factor in (0, 1]; 1 = full weight. See slowStartFactor(). */
  ramp: number;
  /** Which signals do what (policy.ts). */
  policy: Policy;
  /** The mass-drain guard keeps this node serving although a signal says drain (mass-drain-guard.ts). */
  held: boolean;
  /** The node has answered drain for longer than --drain-deadline (the clock tick decides). */
  drainExpired?: boolean;
}

const NONE: Reply = { kind: 'none', why: 'not synced: waiting for the first full list' };

/** The node-level verdict, before any Service is considered. */
export type NodeVerdict = Reply | { kind: 'ok'; why: string; factor: number };

/**
 * What the node verdict reads: not the Service, not the clocks (ramp, drain deadline), not sync. So
 * one verdict serves every answer of a recompute and the clocks that advance from it (agent-state.ts).
 */
export type NodeInput = Omit<DecisionInput, 'service' | 'endpoints' | 'ramp' | 'drainExpired' | 'synced'>;

/** Signals that act on this node under the policy, in SIGNAL_NAMES order (deterministic). */
export function activeSignals(node: NodeView, policy: Policy): Array<{ signal: NodeSignal; action: SignalAction }> {
  const out: Array<{ signal: NodeSignal; action: SignalAction }> = [];
  for (const name of SIGNAL_NAMES) {
    const signal = node.signals.find((s) => s.name === name);
    if (signal === undefined) continue;
    const action = policy[name];
    if (action.kind === 'ignore') continue;
    // state=ready is the operator saying "keep serving although scheduling says otherwise";
    // it silences drains and weight cuts, but not deletion and never a down (health facts).
    if (node.state === 'ready' && action.kind !== 'down' && name !== 'deletion') continue;
    // kube-proxy >= 1.28 (KEP-3836) also fails /healthz while the Node is being deleted or carries
    // ToBeDeletedByClusterAutoscaler: that 503 is those signals again, and their own rows decide.
    if (
      name === 'proxy-unhealthy' &&
      node.signals.some((s) => s.name === 'deletion' || s.name === 'autoscaler-to-be-deleted')
    )
      continue;
    out.push({ signal, action });
  }
  return out;
}

/**
 * True unless a signal acting under the policy says drain or down (a weight cut keeps the node).
 * `render` picks its servers with this, so a node leaves the config for the reasons it would leave
 * the agent's answers; the run-time inputs (override file, guard, staleness, state=drain/maint) stay the agent's.
 */
export function signalsKeepNode(node: NodeView, policy: Policy): boolean {
  return !activeSignals(node, policy).some((a) => a.action.kind === 'drain' || a.action.kind === 'down');
}

export function decideNode(input: NodeInput): NodeVerdict {
  const { node, override } = input;
  // The break-glass file beats everything, API or not: the way to empty a node when all else is broken.
  if (override === 'maint') return { kind: 'maint', why: 'override file: maint' };
  if (override === 'drain') return { kind: 'drain', why: 'override file: drain' };
  if (override === 'ready') return { kind: 'ok', why: 'override file: ready', factor: 1 };
  if (node === undefined) return { kind: 'drain', why: 'node not found in the cluster' };
  if (node.state === 'maint') return { kind: 'maint', why: 'node annotation state=maint' };
  const active = activeSignals(node, input.policy);
  // Facts about the node's health beat intent: a NotReady node may have lost kube-proxy too.
  const down = active.find((a) => a.action.kind === 'down');
  if (down !== undefined)
    return {
      kind: 'down',
      text: DOWN_TEXT[down.signal.name],
      why: `signal ${down.signal.name}: ${SIGNALS[down.signal.name]}`,
    };
  if (node.state === 'drain') return { kind: 'drain', why: 'node annotation state=drain' };
  if (input.stale) return { kind: 'drain', why: 'no API contact for longer than --max-staleness' };
  const drain = active.find((a) => a.action.kind === 'drain');
  let why = node.state === 'ready' ? 'node annotation state=ready' : 'node ready';
  if (drain !== undefined) {
    if (!input.held) return { kind: 'drain', why: `signal ${drain.signal.name}: ${SIGNALS[drain.signal.name]}` };
    why = `signal ${drain.signal.name} held by the mass-drain guard (--max-drain-fraction)`;
  }
  let factor = 1;
  for (const a of active) {
    if (a.action.kind === 'weight') {
      factor = Math.min(factor, a.action.percent / 100);
      why = `signal ${a.signal.name}: weight ${a.action.percent}%`;
    }
  }
  return { kind: 'ok', why, factor };
}

export function decide(input: DecisionInput): Reply {
  // Before the first full list we know nothing true to say; no reply = HAProxy changes nothing.
  if (!input.synced && input.override === undefined) return NONE;
  return decideWith(decideNode(input), input);
}

/**
 * decide() with the node verdict already made: the agent state decides the node once per recompute
 * and answers every Service from that one verdict. `nodeVerdict` must be decideNode(input).
 */
export function decideWith(nodeVerdict: NodeVerdict, input: DecisionInput): Reply {
  if (!input.synced && input.override === undefined) return NONE;
  const verdict = pastDeadline(nodeVerdict, input.drainExpired === true);
  if (verdict.kind === 'maint' || verdict.kind === 'down') return verdict;
  const svc = input.service;
  // A Local Service with no pod here black-holes traffic: down beats a node-level drain, which
  // would still let persistent sessions through. An explicit override still wins.
  if (svc?.local === true && input.override === undefined) {
    const ep = input.endpoints;
    if (ep === undefined || ep.ready === 0) {
      if (ep !== undefined && ep.terminating > 0)
        return { kind: 'drain', why: 'only terminating endpoints on this node' };
      return {
        kind: 'down',
        text: 'no local endpoints',
        why: 'externalTrafficPolicy Local and no ready endpoint on this node',
      };
    }
  }
  if (verdict.kind === 'drain') return verdict;
  if (!input.synced) return { kind: 'ready', weight: DEFAULT_WEIGHT, why: verdict.why }; // override=ready before sync
  return { kind: 'ready', weight: effectiveWeight(input, 'factor' in verdict ? verdict.factor : 1), why: verdict.why };
}

/** Past --drain-deadline a drain becomes a down, so HAProxy ends what drain leaves open. */
function pastDeadline(v: NodeVerdict, expired: boolean): NodeVerdict {
  if (!expired || v.kind !== 'drain') return v;
  return { kind: 'down', text: 'drain deadline', why: `${v.why}; draining longer than --drain-deadline` };
}

/** Service weight × node weight × signal factor × local endpoint share × slow-start ramp, 0..256. */
export function effectiveWeight(input: DecisionInput, factor = 1): number {
  const base = (input.service?.weight ?? DEFAULT_WEIGHT) * ((input.node?.weight ?? DEFAULT_WEIGHT) / 100);
  let share = 1;
  const ep = input.endpoints;
  if (input.service?.local === true && ep !== undefined && ep.maxReadyPerNode > 0)
    share = ep.ready / ep.maxReadyPerNode;
  const w = base * factor * share * input.ramp;
  if (w <= 0) return 0;
  // A node that serves must never round down to 0 (that would look like an operator's 0).
  return Math.min(MAX_WEIGHT, Math.max(1, Math.round(w)));
}

/** Linear ramp from SLOW_START_FLOOR to 1 over durationMs after the node became ready at sinceMs. */
export function slowStartFactor(nowMs: number, sinceMs: number | undefined, durationMs: number): number {
  if (durationMs <= 0 || sinceMs === undefined) return 1;
  const t = (nowMs - sinceMs) / durationMs;
  if (t >= 1) return 1;
  return SLOW_START_FLOOR + (1 - SLOW_START_FLOOR) * Math.max(0, t);
}
