/**
 * Server-side printing: when kubectl asks for `application/json;as=Table;v=v1;g=meta.k8s.io`, the
 * apiserver answers with the columns `kubectl get` shows. These are the real apiserver's columns for
 * the kinds the demo has (pkg/printers/internalversion), so `kubectl get nodes` reads like a cluster.
 */
import { arr, obj, str } from '../../core/json.js';
import type { KubeObject, Resource } from './types.js';

interface Column {
  name: string;
  type: 'string' | 'integer' | 'date';
  format?: 'name';
  description: string;
  /** 0 = shown always, 1 = only with `-o wide`. */
  priority: number;
}

type Row = Array<string | number>;

interface Printer {
  columns: readonly Column[];
  row(o: KubeObject, now: number): Row;
}

const NAME: Column = {
  name: 'Name',
  type: 'string',
  format: 'name',
  description: 'Name must be unique within a namespace.',
  priority: 0,
};
const AGE: Column = {
  name: 'Age',
  type: 'string',
  description: 'CreationTimestamp is when this object was created.',
  priority: 0,
};

/** kubectl's short ages: 45s, 12m, 3h5m, 4d, 2y (k8s.io/apimachinery/pkg/util/duration). */
export function humanAge(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 120) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 10) return s % 60 === 0 ? `${m}m` : `${m}m${s % 60}s`;
  if (m < 180) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 8) return m % 60 === 0 ? `${h}h` : `${h}h${m % 60}m`;
  if (h < 48) return `${h}h`;
  const d = Math.floor(h / 24);
  if (h < 24 * 8) return h % 24 === 0 ? `${d}d` : `${d}d${h % 24}h`;
  if (d < 365 * 2) return `${d}d`;
  if (d < 365 * 8 && d % 365 !== 0) return `${Math.floor(d / 365)}y${d % 365}d`;
  return `${Math.floor(d / 365)}y`;
}

function age(o: KubeObject, now: number): string {
  const created = Date.parse(o.metadata.creationTimestamp ?? '');
  return Number.isNaN(created) ? '<unknown>' : humanAge(now - created);
}

function nodeStatus(o: KubeObject): string {
  const ready = arr(obj(o.status).conditions)
    .map(obj)
    .find((c) => c.type === 'Ready');
  const parts = [
    ready === undefined
      ? 'Unknown'
      : ready.status === 'True'
        ? 'Ready'
        : ready.status === 'False'
          ? 'NotReady'
          : 'Unknown',
  ];
  if (obj(o.spec).unschedulable === true) parts.push('SchedulingDisabled');
  return parts.join(',');
}

function nodeRoles(o: KubeObject): string {
  const roles = new Set<string>();
  for (const [k, v] of Object.entries(o.metadata.labels ?? {})) {
    if (k.startsWith('node-role.kubernetes.io/')) roles.add(k.slice('node-role.kubernetes.io/'.length));
    else if (k === 'kubernetes.io/role' && v !== '') roles.add(v);
  }
  return roles.size === 0 ? '<none>' : [...roles].sort().join(',');
}

function address(o: KubeObject, type: string): string {
  return (
    str(
      arr(obj(o.status).addresses)
        .map(obj)
        .find((a) => a.type === type)?.address,
    ) ?? '<none>'
  );
}

function servicePorts(o: KubeObject): string {
  const ports = arr(obj(o.spec).ports).map(obj);
  if (ports.length === 0) return '<none>';
  return ports
    .map(
      (p) => `${String(p.port)}${typeof p.nodePort === 'number' ? `:${p.nodePort}` : ''}/${str(p.protocol) ?? 'TCP'}`,
    )
    .join(',');
}

function externalIp(o: KubeObject): string {
  const spec = obj(o.spec);
  const ips = arr(spec.externalIPs).map(String);
  if (spec.type === 'LoadBalancer') {
    for (const i of arr(obj(obj(o.status).loadBalancer).ingress).map(obj)) ips.push(str(i.ip) ?? str(i.hostname) ?? '');
    return ips.length > 0 ? ips.join(',') : '<pending>';
  }
  if (spec.type === 'ExternalName') return str(spec.externalName) ?? '<none>';
  return ips.length > 0 ? ips.join(',') : '<none>';
}

function eventAge(o: KubeObject, now: number): string {
  const at = Date.parse(str(o.deprecatedLastTimestamp) ?? str(o.eventTime) ?? o.metadata.creationTimestamp ?? '');
  return Number.isNaN(at) ? '<unknown>' : humanAge(now - at);
}

const PRINTERS: Partial<Record<Resource, Printer>> = {
  // `kubectl get events` (events.k8s.io here): the apiserver's event columns.
  events: {
    columns: [
      { name: 'Last Seen', type: 'string', description: 'Time when last Event occurred', priority: 0 },
      {
        name: 'Type',
        type: 'string',
        description: 'Type of this event (Normal, Warning), new types could be added in the future.',
        priority: 0,
      },
      { name: 'Reason', type: 'string', description: 'Why the action was taken.', priority: 0 },
      { name: 'Object', type: 'string', description: 'The object that this event is about.', priority: 0 },
      {
        name: 'Message',
        type: 'string',
        description: 'A human-readable description of the status of this operation.',
        priority: 0,
      },
    ],
    row: (o, now) => {
      const r = obj(o.regarding);
      return [
        eventAge(o, now),
        str(o.type) ?? '',
        str(o.reason) ?? '',
        `${(str(r.kind) ?? '').toLowerCase()}/${str(r.name) ?? ''}`,
        str(o.note) ?? '',
      ];
    },
  },
  nodes: {
    columns: [
      NAME,
      { name: 'Status', type: 'string', description: 'The status of the node', priority: 0 },
      { name: 'Roles', type: 'string', description: 'The roles of the node', priority: 0 },
      AGE,
      { name: 'Version', type: 'string', description: 'Kubelet Version reported by the node.', priority: 0 },
      { name: 'Internal-IP', type: 'string', description: 'List of internal IPs.', priority: 1 },
      { name: 'External-IP', type: 'string', description: 'List of external IPs.', priority: 1 },
    ],
    row: (o, now) => [
      o.metadata.name,
      nodeStatus(o),
      nodeRoles(o),
      age(o, now),
      str(obj(obj(o.status).nodeInfo).kubeletVersion) ?? '',
      address(o, 'InternalIP'),
      address(o, 'ExternalIP'),
    ],
  },
  services: {
    columns: [
      NAME,
      { name: 'Type', type: 'string', description: 'The type of the service', priority: 0 },
      { name: 'Cluster-IP', type: 'string', description: 'The cluster IP of the service', priority: 0 },
      { name: 'External-IP', type: 'string', description: 'The external IPs of the service', priority: 0 },
      { name: 'Port(s)', type: 'string', description: 'The ports of the service', priority: 0 },
      AGE,
    ],
    row: (o, now) => [
      o.metadata.name,
      str(obj(o.spec).type) ?? 'ClusterIP',
      str(obj(o.spec).clusterIP) ?? '<none>',
      externalIp(o),
      servicePorts(o),
      age(o, now),
    ],
  },
};

/** True when the client asked for a Table first (kubectl get does; client libraries don't). */
export function wantsTable(accept: string | undefined): boolean {
  const first = (accept ?? '').split(',')[0] ?? '';
  const params = first.split(';').map((p) => p.trim());
  return params[0] === 'application/json' && params.includes('as=Table') && params.includes('g=meta.k8s.io');
}

export function hasPrinter(resource: Resource): boolean {
  return PRINTERS[resource] !== undefined;
}

/** A meta.k8s.io/v1 Table of the objects; rows carry the metadata so -A can show NAMESPACE. */
export function toTable(
  resource: Resource,
  objects: readonly KubeObject[],
  meta: { resourceVersion: string; continue?: string },
  now = Date.now(),
): object {
  const printer = PRINTERS[resource];
  if (printer === undefined) throw new Error(`no table printer for ${resource}`);
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata: meta,
    columnDefinitions: printer.columns,
    rows: objects.map((o) => ({
      cells: printer.row(o, now),
      object: { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: o.metadata },
    })),
  };
}
