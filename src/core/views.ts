// What the decision core reads: small views of Nodes, Services and EndpointSlices, and the weight
// bounds they carry. Pure types and constants; src/kube/parse.ts builds them from API objects.
import type { SignalName } from './policy.js';
import type { RejectedValue } from './rejected.js';

/** Node-level states an operator can ask for (node annotation or override file). */
export type OperatorState = 'drain' | 'maint' | 'ready';

/** A node signal that is present, and when it appeared if the API says (epoch ms). */
export interface NodeSignal {
  name: SignalName;
  since?: number;
}

/** What this agent knows about a Node: only the fields decisions need. */
export interface NodeView {
  name: string;
  /** Signals present on the node now (cordon, taints, deletion, label, NotReady), see policy.ts. */
  signals: NodeSignal[];
  /** PREFIX/state annotation, validated; undefined when absent or invalid. */
  state: OperatorState | undefined;
  /** PREFIX/weight annotation on the node: scales every service, percent. */
  weight: number;
}

/** What this agent knows about one Service. */
export interface ServiceView {
  namespace: string;
  name: string;
  /** Effective weight percentage, already validated (invalid annotations fall back upstream). */
  weight: number;
  /** externalTrafficPolicy: Local on a NodePort/LoadBalancer Service: only local pods serve. */
  local: boolean;
  /** PREFIX/agent-port annotation, validated; undefined when absent or invalid. */
  agentPort: number | undefined;
  /** Where the weight came from, for /status (set only when the annotation exists). */
  weightNote?: string;
  /** Who asked first, for dedicated-port ownership (set only with agentPort): same on every node. */
  claim?: ClaimOrder;
}

/** metadata.creationTimestamp (ms; Infinity when absent) then metadata.uid: the oldest claimant wins. */
export interface ClaimOrder {
  created: number;
  uid: string;
}

/** Endpoints of a Local Service, from its EndpointSlices. */
export interface LocalEndpoints {
  /** Ready, not terminating, on this node. */
  ready: number;
  /** Terminating but still serving, on this node. */
  terminating: number;
  /** Most ready endpoints any single node has (this node included). */
  maxReadyPerNode: number;
}

export const DEFAULT_WEIGHT = 100;
/** HAProxy caps a server's weight at 256, so larger percentages mean nothing more. */
export const MAX_WEIGHT = 256;

/** An API object as parsed for us: its identity, our small view of it, and what we could not use. */
export interface Parsed<V> {
  metadata: { name: string; namespace?: string; resourceVersion?: string };
  view: V;
  /** Annotations we could not use, with why; empty when all is well. */
  problems: AnnotationProblem[];
}

/** A rejected annotation; its value is kept as a short prefix, never whole (tenants write 256 KB). */
export interface AnnotationProblem extends RejectedValue {
  annotation: string;
  reason: string;
  /** What we use instead, as the README documents. */
  fallback: string;
}

/** One EndpointSlice, reduced to endpoint counts per node. */
export interface SliceView {
  /** "namespace/service" this slice belongs to (label kubernetes.io/service-name). */
  serviceKey: string;
  /** node name → [ready, terminating-but-serving] endpoint counts. */
  perNode: Map<string, [number, number]>;
}
