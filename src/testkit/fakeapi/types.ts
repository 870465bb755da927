/** Resources the fake API server knows about (plural names, as in URLs). */
export type Resource = 'nodes' | 'services' | 'endpointslices' | 'events' | 'pods' | 'leases' | 'configmaps';

export interface ObjectMeta {
  name: string;
  namespace?: string;
  generateName?: string;
  resourceVersion?: string;
  uid?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  [k: string]: unknown;
}

/** Any Kubernetes object; the fake only interprets metadata. */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  [k: string]: unknown;
}

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';

/** Fault injection switches; tests flip them at any time. */
export interface Faults {
  /** The next N non-watch requests fail with `failStatus`. */
  failRequests: number;
  failStatus: number;
  /** New watches get 200 and headers but never a byte (a silently hung watch). */
  hangWatches: boolean;
  /** Every new watch immediately gets a 410 ERROR event. */
  watchGone: boolean;
  /** Delay before answering list requests. */
  listDelayMs: number;
  /** Every request about these resources gets 403 Forbidden, worded like an RBAC refusal. */
  forbidden: Set<Resource>;
}
