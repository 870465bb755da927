// The /status document's state part: what the agent knows and answers, built from the agent
// state's units on demand (serialized once per state version by the ops server).
import type { Answer } from './answer.js';
import type { GuardResult } from './mass-drain-guard.js';
import type { NodeClocks } from './node-clocks.js';
import type { ObjectStore, ResourceName } from './object-store.js';
import type { LocalEndpoints, NodeView, OperatorState } from './views.js';

export interface StatusDocument {
  node: { name: string; known: boolean; view: NodeView | null; reply: string; why: string };
  override: OperatorState | null;
  guard: GuardResult & { maxDrainFraction: number; selfHeld: boolean };
  stale: boolean;
  slowStart: { factor: number; readySince: string | null };
  drainDeadline: { seconds: number | null; drainingSince: string | null; passed: boolean };
  synced: Record<ResourceName, boolean>;
  services: Array<{
    key: string;
    weight: number;
    externalTrafficPolicyLocal: boolean;
    localEndpoints?: LocalEndpoints | null;
    agentPort?: number;
    reply: string;
    why: string;
  }>;
}

export interface StatusParts {
  nodeName: string;
  store: ObjectStore;
  nodeAnswer: Answer;
  serviceAnswers: ReadonlyMap<string, Answer>;
  override: OperatorState | undefined;
  guard: GuardResult;
  held: boolean;
  maxDrainFraction: number;
  stale: boolean;
  clocks: NodeClocks;
  drainDeadlineMs: number;
}

export function statusDocument(p: StatusParts): StatusDocument {
  const services: StatusDocument['services'] = [];
  for (const [key, { view }] of p.store.services) {
    const answer = p.serviceAnswers.get(key);
    if (answer === undefined) continue;
    services.push({
      key,
      weight: view.weight,
      externalTrafficPolicyLocal: view.local,
      ...(view.local ? { localEndpoints: p.store.localEndpoints(key) ?? null } : {}),
      ...(view.agentPort === undefined ? {} : { agentPort: view.agentPort }),
      reply: answer.text,
      why: view.weightNote === undefined ? answer.why : `${answer.why}; ${view.weightNote}`,
    });
  }
  services.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const { clocks, store } = p;
  return {
    node: {
      name: p.nodeName,
      known: store.node !== undefined,
      view: store.node ?? null,
      reply: p.nodeAnswer.text,
      why: p.nodeAnswer.why,
    },
    override: p.override ?? null,
    guard: { maxDrainFraction: p.maxDrainFraction, selfHeld: p.held, ...p.guard },
    stale: p.stale,
    slowStart: {
      factor: clocks.ramp,
      readySince: clocks.readySince === undefined ? null : new Date(clocks.readySince).toISOString(),
    },
    drainDeadline: {
      seconds: p.drainDeadlineMs / 1000 || null,
      drainingSince: clocks.drainSince === undefined ? null : new Date(clocks.drainSince).toISOString(),
      passed: clocks.drainExpired,
    },
    synced: {
      nodes: store.isListed('nodes'),
      services: store.isListed('services'),
      endpointslices: store.isListed('endpointslices'),
    },
    services,
  };
}
