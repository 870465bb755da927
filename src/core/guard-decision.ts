// PURE: the coordinator's guard decision as one small ConfigMap, and back. Agents in coordinated
// mode read only this object (and their own Node), so its format is a contract: plain strings a
// human can read with `kubectl get configmap -o yaml`, validated like any hostile input.
import { obj } from './json.js';
import { isDnsSubdomain } from './names.js';
import type { GuardResult } from './mass-drain-guard.js';
import type { Parsed } from './views.js';

/** Name of the ConfigMap holding the decision, in the coordinator's namespace. */
export const DECISION_NAME = 'haproxy-node-agent-guard';
/** Name of the Lease the coordinators elect their leader on. */
export const LEASE_NAME = 'haproxy-node-agent-coordinator';

export interface Decision {
  /** Bumped whenever the verdict (budget, explicit, draining, held) changes; kept across failovers. */
  generation: number;
  /** When the verdict last changed (ISO). */
  updated: string;
  /** When the leader last rewrote the object (ISO): it does so every few seconds while alive. */
  heartbeat: string;
  /** Identity of the coordinator that wrote it. */
  holder: string;
  /**
   * The Lease's leaseTransitions while `holder` held it: a fence, since a later leader holds a
   * higher number. Absent in decisions written before it was added.
   */
  leaseTransitions?: number;
  maxDrainFraction: number;
  readyNodes: number;
  budget: number;
  /** Nodes draining on explicit intent or a down signal (never held). */
  explicit: string[];
  /** Nodes whose automatic drain signal may be honoured now, earliest first. */
  draining: string[];
  /** Nodes whose automatic drain signal is held back, in the order they would go. */
  held: string[];
}

/** The verdict part of a decision, as core/mass-drain-guard.ts computes it. */
export function sameVerdict(d: Decision, g: GuardResult): boolean {
  return (
    d.budget === g.budget &&
    d.readyNodes === g.readyNodes &&
    d.explicit.join() === g.explicit.join() &&
    d.draining.join() === g.draining.join() &&
    d.held.join() === g.held.join()
  );
}

export function decisionToConfigMap(namespace: string, d: Decision, resourceVersion?: string): object {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name: DECISION_NAME,
      namespace,
      labels: { 'app.kubernetes.io/name': 'haproxy-node-agent', 'app.kubernetes.io/component': 'coordinator' },
      ...(resourceVersion === undefined ? {} : { resourceVersion }),
    },
    data: {
      generation: String(d.generation),
      updated: d.updated,
      heartbeat: d.heartbeat,
      holder: d.holder,
      ...(d.leaseTransitions === undefined ? {} : { leaseTransitions: String(d.leaseTransitions) }),
      maxDrainFraction: String(d.maxDrainFraction),
      readyNodes: String(d.readyNodes),
      budget: String(d.budget),
      explicit: d.explicit.join(','),
      draining: d.draining.join(','),
      held: d.held.join(','),
    },
  };
}

/** Parses the ConfigMap; undefined when it is not a usable decision (treated like a missing one). */
export function decisionFromConfigMap(raw: unknown): Parsed<Decision> | undefined {
  const o = obj(raw);
  const md = obj(o.metadata);
  if (typeof md.name !== 'string') return undefined;
  const data = obj(o.data);
  const s = (k: string): string | undefined => (typeof data[k] === 'string' ? data[k] : undefined);
  const int = (k: string): number | undefined => {
    const v = s(k);
    return v !== undefined && /^[0-9]{1,15}$/.test(v) ? Number(v) : undefined;
  };
  const names = (k: string): string[] | undefined => {
    const v = s(k);
    if (v === undefined) return undefined;
    const list = v === '' ? [] : v.split(',');
    return list.every(isDnsSubdomain) ? list : undefined;
  };
  const generation = int('generation');
  const readyNodes = int('readyNodes');
  const budget = int('budget');
  const leaseTransitions = int('leaseTransitions');
  const fraction = Number(s('maxDrainFraction') ?? NaN);
  const explicit = names('explicit');
  const draining = names('draining');
  const held = names('held');
  const updated = s('updated');
  const heartbeat = s('heartbeat');
  if (
    generation === undefined ||
    readyNodes === undefined ||
    budget === undefined ||
    explicit === undefined ||
    draining === undefined ||
    held === undefined
  )
    return undefined;
  if (!(fraction > 0 && fraction <= 1) || updated === undefined || heartbeat === undefined) return undefined;
  const metadata = {
    name: md.name,
    ...(typeof md.namespace === 'string' ? { namespace: md.namespace } : {}),
    ...(typeof md.resourceVersion === 'string' ? { resourceVersion: md.resourceVersion } : {}),
  };
  return {
    metadata,
    view: {
      generation,
      updated,
      heartbeat,
      holder: s('holder') ?? '',
      ...(leaseTransitions === undefined ? {} : { leaseTransitions }),
      maxDrainFraction: fraction,
      readyNodes,
      budget,
      explicit,
      draining,
      held,
    },
    problems: [],
  };
}
