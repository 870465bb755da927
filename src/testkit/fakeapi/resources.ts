import type { StrategicSchema } from './patch.js';
import type { Resource } from './types.js';

/** Static description of a served resource, shared by routing, discovery and the store. */
export interface ResourceInfo {
  readonly resource: Resource;
  readonly group: string; // '' for the core group
  readonly version: string;
  readonly apiVersion: string;
  readonly kind: string;
  readonly listKind: string;
  readonly singularName: string;
  readonly namespaced: boolean;
  readonly shortNames: readonly string[];
  readonly verbs: readonly string[];
  /** Field selector labels the real apiserver accepts for this resource. */
  readonly fieldLabels: readonly string[];
  /** Lists that strategic merge patch merges by key instead of replacing (mirrors the Go struct tags). */
  readonly strategicLists: StrategicSchema;
}

const ALL_VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'] as const;
const COMMON_FIELDS = ['metadata.name', 'metadata.namespace'] as const;
const META_LISTS: StrategicSchema = {
  'metadata.finalizers': { primitives: true },
  'metadata.ownerReferences': { mergeKey: 'uid' },
};

export const RESOURCES: Readonly<Record<Resource, ResourceInfo>> = {
  nodes: {
    resource: 'nodes',
    group: '',
    version: 'v1',
    apiVersion: 'v1',
    kind: 'Node',
    listKind: 'NodeList',
    singularName: 'node',
    namespaced: false,
    shortNames: ['no'],
    verbs: ALL_VERBS,
    fieldLabels: [...COMMON_FIELDS, 'spec.unschedulable'],
    strategicLists: {
      ...META_LISTS,
      'spec.podCIDRs': { primitives: true },
      'status.conditions': { mergeKey: 'type' },
      'status.addresses': { mergeKey: 'type' },
    },
  },
  services: {
    resource: 'services',
    group: '',
    version: 'v1',
    apiVersion: 'v1',
    kind: 'Service',
    listKind: 'ServiceList',
    singularName: 'service',
    namespaced: true,
    shortNames: ['svc'],
    // The real apiserver has no deletecollection for services.
    verbs: ALL_VERBS.filter((v) => v !== 'deletecollection'),
    fieldLabels: [...COMMON_FIELDS, 'spec.clusterIP', 'spec.type'],
    strategicLists: { ...META_LISTS, 'spec.ports': { mergeKey: 'port' } },
  },
  endpointslices: {
    resource: 'endpointslices',
    group: 'discovery.k8s.io',
    version: 'v1',
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    listKind: 'EndpointSliceList',
    singularName: 'endpointslice',
    namespaced: true,
    shortNames: [],
    verbs: ALL_VERBS,
    fieldLabels: [...COMMON_FIELDS, 'addressType'],
    strategicLists: META_LISTS,
  },
  events: {
    resource: 'events',
    group: 'events.k8s.io',
    version: 'v1',
    apiVersion: 'events.k8s.io/v1',
    kind: 'Event',
    listKind: 'EventList',
    singularName: 'event',
    namespaced: true,
    shortNames: ['ev'],
    verbs: ALL_VERBS,
    fieldLabels: [
      ...COMMON_FIELDS,
      'reason',
      'type',
      'reportingController',
      'regarding.kind',
      'regarding.namespace',
      'regarding.name',
      'regarding.uid',
      'regarding.apiVersion',
      'regarding.resourceVersion',
      'regarding.fieldPath',
    ],
    strategicLists: META_LISTS,
  },
  // Served so `kubectl describe node` can list the pods on a node; the demo keeps none.
  pods: {
    resource: 'pods',
    group: '',
    version: 'v1',
    apiVersion: 'v1',
    kind: 'Pod',
    listKind: 'PodList',
    singularName: 'pod',
    namespaced: true,
    shortNames: ['po'],
    verbs: ALL_VERBS,
    fieldLabels: [
      ...COMMON_FIELDS,
      'spec.nodeName',
      'spec.restartPolicy',
      'spec.schedulerName',
      'spec.serviceAccountName',
      'spec.hostNetwork',
      'status.phase',
      'status.podIP',
      'status.nominatedNodeName',
    ],
    strategicLists: { ...META_LISTS, 'spec.containers': { mergeKey: 'name' } },
  },
  // The coordinator publishes its guard decision in a ConfigMap and elects a leader on a Lease.
  configmaps: {
    resource: 'configmaps',
    group: '',
    version: 'v1',
    apiVersion: 'v1',
    kind: 'ConfigMap',
    listKind: 'ConfigMapList',
    singularName: 'configmap',
    namespaced: true,
    shortNames: ['cm'],
    verbs: ALL_VERBS,
    fieldLabels: COMMON_FIELDS,
    strategicLists: META_LISTS,
  },
  // The kubelet's heartbeat lease in kube-node-lease, which `kubectl describe node` shows.
  leases: {
    resource: 'leases',
    group: 'coordination.k8s.io',
    version: 'v1',
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    listKind: 'LeaseList',
    singularName: 'lease',
    namespaced: true,
    shortNames: [],
    verbs: ALL_VERBS,
    fieldLabels: COMMON_FIELDS,
    strategicLists: META_LISTS,
  },
};

export const RESOURCE_NAMES = Object.keys(RESOURCES) as Resource[];

export function isResource(name: string): name is Resource {
  return Object.hasOwn(RESOURCES, name);
}

/** Finds the resource served at /api/v1 (group '') or /apis/GROUP/VERSION. */
export function lookupResource(group: string, version: string, plural: string): ResourceInfo | undefined {
  if (!isResource(plural)) return undefined;
  const info = RESOURCES[plural];
  return info.group === group && info.version === version ? info : undefined;
}
