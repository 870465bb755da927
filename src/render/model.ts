// Cluster snapshots (parsed Node and Service objects) → the HAProxy backends to render. Pure:
// no I/O, no clock; the same snapshots always give the same, fully sorted model.
import { isIP } from 'node:net';
import { pickNodes } from './hash.js';

/** One cluster as read from a kubeconfig context or a snapshot file. Objects are parsed JSON. */
export interface ClusterSnapshot {
  name: string;
  nodes: readonly unknown[];
  services: readonly unknown[];
}

export interface ModelOptions {
  annotationPrefix: string;
  nodesPerService: number;
}

/** Annotation names, after `PREFIX/`. */
export const ANNOTATION = {
  expose: 'expose',
  host: 'host',
  path: 'path',
  backend: 'backend',
  port: 'port',
} as const;

export const EXCLUDE_LABEL = 'node.kubernetes.io/exclude-from-external-load-balancers';
export const AUTOSCALER_TAINT = 'ToBeDeletedByClusterAutoscaler';
export const ZONE_LABEL = 'topology.kubernetes.io/zone';

export interface EligibleNode {
  name: string;
  zone: string;
  address: string;
}

export interface ExposedService {
  cluster: string;
  namespace: string;
  name: string;
  /** What the rendezvous hash keys on: cluster/namespace/name. */
  identity: string;
  nodePort: number;
  /** Eligible nodes in the Service's cluster; picked ≤ min(eligible, nodes-per-service). */
  eligible: number;
  picked: number;
}

export interface Server {
  /** Unique within its backend; a valid HAProxy identifier. */
  name: string;
  cluster: string;
  node: string;
  zone: string;
  address: string;
  nodePort: number;
  namespace: string;
  service: string;
}

export interface Backend {
  name: string;
  services: ExposedService[];
  servers: Server[];
}

export interface Route {
  host: string;
  /** '/' or a prefix without trailing slash: matches the path itself and everything under it. */
  path: string;
  backend: string;
}

export interface Model {
  /** Most specific first: by host, then longer paths before shorter ones. */
  routes: Route[];
  backends: Backend[];
  /** One line each, prefixed with the object they are about; nothing is fatal. */
  warnings: string[];
}

type Json = Record<string, unknown>;

function obj(v: unknown): Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Json) : {};
}

function arr(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** HAProxy identifiers allow letters, digits, '-', '_', '.' and ':'; anything else becomes '_'. */
export function haproxyIdent(s: string): string {
  return s.replace(/[^A-Za-z0-9._:-]/g, '_');
}

const DNS_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
// Path characters that need no quoting in an HAProxy config line (no quotes, '#', '$', '\', braces).
const SAFE_PATH = /^\/[A-Za-z0-9\-._~%/:@+,;=!*]*$/;

/** A node that may carry traffic, or undefined (with a warning only when the cause is unexpected). */
export function eligibleNode(raw: unknown, warn: (msg: string) => void): EligibleNode | undefined {
  const o = obj(raw);
  const md = obj(o.metadata);
  const name = str(md.name);
  if (name === undefined) return undefined;
  const labels = obj(md.labels);
  const spec = obj(o.spec);
  const status = obj(o.status);
  const ready = arr(status.conditions).some((c) => obj(c).type === 'Ready' && obj(c).status === 'True');
  if (!ready || spec.unschedulable === true) return undefined;
  if (labels[EXCLUDE_LABEL] !== undefined) return undefined;
  if (arr(spec.taints).some((t) => obj(t).key === AUTOSCALER_TAINT)) return undefined;
  const address = nodeAddress(arr(status.addresses));
  if (address === undefined) {
    warn(`node ${name}: Ready but no usable InternalIP, ExternalIP or Hostname address; skipped`);
    return undefined;
  }
  return { name, zone: str(labels[ZONE_LABEL]) ?? '', address };
}

function nodeAddress(addresses: unknown[]): string | undefined {
  for (const type of ['InternalIP', 'ExternalIP', 'Hostname']) {
    for (const a of addresses) {
      const addr = str(obj(a).address);
      if (obj(a).type !== type || addr === undefined) continue;
      if (isIP(addr) !== 0 || (type === 'Hostname' && DNS_NAME.test(addr))) return addr;
    }
  }
  return undefined;
}

/** What a Service asks for through its annotations, before grouping. */
interface Request {
  cluster: string;
  namespace: string;
  name: string;
  host: string | undefined;
  path: string;
  /** Explicit PREFIX/backend, or undefined to derive the name from host and path. */
  backend: string | undefined;
  nodePort: number;
}

function exposeRequest(cluster: string, raw: unknown, prefix: string, warn: (msg: string) => void): Request | undefined {
  const o = obj(raw);
  const md = obj(o.metadata);
  const name = str(md.name);
  if (name === undefined) return undefined;
  const namespace = str(md.namespace) ?? 'default';
  const ann = obj(md.annotations);
  const a = (key: string): string | undefined => {
    const v = str(ann[`${prefix}/${key}`]);
    return v === undefined ? undefined : v.trim();
  };
  const expose = a(ANNOTATION.expose);
  if (expose === undefined || expose.toLowerCase() === 'false') return undefined;
  const who = `${cluster}/${namespace}/${name}`;
  const skip = (why: string): undefined => {
    warn(`service ${who}: ${why}; skipped`);
    return undefined;
  };
  if (expose.toLowerCase() !== 'true') return skip(`${prefix}/${ANNOTATION.expose} is "${expose}", expected "true" or "false"`);

  let host = a(ANNOTATION.host);
  if (host !== undefined) {
    host = host.toLowerCase();
    if (!DNS_NAME.test(host) || host.length > 253) return skip(`${prefix}/${ANNOTATION.host} "${host}" is not a DNS name`);
  }
  let path = a(ANNOTATION.path) ?? '/';
  if (!SAFE_PATH.test(path)) return skip(`${prefix}/${ANNOTATION.path} "${path}" must start with / and hold only URL path characters`);
  path = path.replace(/\/+$/, '') || '/';
  const backend = a(ANNOTATION.backend);
  if (backend !== undefined && !/^[A-Za-z0-9._:-]{1,100}$/.test(backend)) {
    return skip(`${prefix}/${ANNOTATION.backend} "${backend}" is not an HAProxy name (letters, digits, - _ . :)`);
  }
  if (host === undefined && backend === undefined) return skip(`needs ${prefix}/${ANNOTATION.host} or ${prefix}/${ANNOTATION.backend}`);

  const ports = arr(obj(o.spec).ports).map(obj);
  const tcp = ports.filter((p) => (p.protocol ?? 'TCP') === 'TCP' && typeof p.nodePort === 'number' && p.nodePort > 0);
  const wanted = a(ANNOTATION.port);
  const port = wanted === undefined ? tcp[0] : tcp.find((p) => p.name === wanted || String(p.port) === wanted);
  if (port === undefined) {
    return skip(wanted === undefined ? 'no TCP port with a nodePort (type NodePort or LoadBalancer needed)' : `${prefix}/${ANNOTATION.port} "${wanted}" names no TCP port with a nodePort`);
  }
  return { cluster, namespace, name, host, path, backend, nodePort: port.nodePort as number };
}

/** Builds the model. Cluster names must be unique (the source checks). */
export function buildModel(clusters: readonly ClusterSnapshot[], opts: ModelOptions): Model {
  const warnings: string[] = [];
  const eligibleByCluster = new Map<string, EligibleNode[]>();
  const requests: Request[] = [];
  for (const c of [...clusters].sort((x, y) => cmp(x.name, y.name))) {
    const warn = (msg: string): void => void warnings.push(`cluster ${c.name}: ${msg}`);
    const seen = new Set<string>();
    const eligible: EligibleNode[] = [];
    for (const raw of c.nodes) {
      const n = eligibleNode(raw, warn);
      if (n === undefined) continue;
      if (seen.has(n.name)) {
        warn(`node ${n.name} listed twice; the first one is used`);
        continue;
      }
      seen.add(n.name);
      eligible.push(n);
    }
    eligibleByCluster.set(c.name, eligible);
    const mine: Request[] = [];
    for (const raw of c.services) {
      const r = exposeRequest(c.name, raw, opts.annotationPrefix, (msg) => warnings.push(msg));
      if (r !== undefined) mine.push(r);
    }
    if (mine.length > 0 && eligible.length === 0) warn('no eligible nodes (Ready, schedulable, not excluded); its Services get no servers');
    requests.push(...mine);
  }
  requests.sort((x, y) => cmp(x.cluster, y.cluster) || cmp(x.namespace, y.namespace) || cmp(x.name, y.name));

  // Group: an explicit backend name, else the host+path the Service serves.
  const groups = new Map<string, { base: string; members: Request[] }>();
  for (const r of requests) {
    const key = r.backend !== undefined ? `b\0${r.backend}` : `r\0${r.host ?? ''}\0${r.path}`;
    const base = r.backend ?? haproxyIdent(`${r.host ?? ''}${r.path === '/' ? '' : r.path}`.replace(/\//g, '_'));
    const g = groups.get(key);
    if (g === undefined) groups.set(key, { base, members: [r] });
    else g.members.push(r);
  }

  // Names must be unique: a derived name can meet an explicit one; later groups get a suffix.
  const nameOf = new Map<string, string>();
  const used = new Set<string>();
  for (const [key, g] of [...groups].sort(([ka, a], [kb, b]) => cmp(a.base, b.base) || cmp(ka, kb))) {
    let name = g.base;
    for (let i = 2; used.has(name); i++) name = `${g.base}_${i}`;
    if (name !== g.base) warnings.push(`backend name ${g.base} is taken by another host/path or backend annotation; using ${name}`);
    used.add(name);
    nameOf.set(key, name);
  }

  const backends: Backend[] = [];
  const routeTargets = new Map<string, { host: string; path: string; backends: Set<string> }>();
  for (const [key, g] of groups) {
    const backendName = nameOf.get(key) as string;
    const services: ExposedService[] = [];
    const servers: Server[] = [];
    for (const r of g.members) {
      const identity = `${r.cluster}/${r.namespace}/${r.name}`;
      const eligible = eligibleByCluster.get(r.cluster) ?? [];
      const picked = pickNodes(identity, eligible, opts.nodesPerService);
      services.push({ cluster: r.cluster, namespace: r.namespace, name: r.name, identity, nodePort: r.nodePort, eligible: eligible.length, picked: picked.length });
      for (const n of picked) {
        servers.push({
          name: haproxyIdent(`${r.cluster}_${n.name}_${r.namespace}_${r.name}`),
          cluster: r.cluster,
          node: n.name,
          zone: n.zone,
          address: n.address,
          nodePort: r.nodePort,
          namespace: r.namespace,
          service: r.name,
        });
      }
      if (r.host !== undefined) {
        const rk = `${r.host}\0${r.path}`;
        const t = routeTargets.get(rk) ?? { host: r.host, path: r.path, backends: new Set<string>() };
        t.backends.add(backendName);
        routeTargets.set(rk, t);
      }
    }
    servers.sort((x, y) => cmp(x.name, y.name) || cmp(x.address, y.address));
    // Sanitizing can make two names equal (e.g. odd cluster names); keep them unique.
    const seen = new Set<string>();
    for (const s of servers) {
      const base = s.name;
      for (let i = 2; seen.has(s.name); i++) s.name = `${base}_${i}`;
      if (s.name !== base) warnings.push(`backend ${backendName}: server name ${base} repeats; using ${s.name}`);
      seen.add(s.name);
    }
    backends.push({ name: backendName, services, servers });
  }
  backends.sort((x, y) => cmp(x.name, y.name));

  const routes: Route[] = [];
  for (const t of routeTargets.values()) {
    const names = [...t.backends].sort(cmp);
    const backend = names[0] as string;
    if (names.length > 1) warnings.push(`host ${t.host} path ${t.path} is claimed by backends ${names.join(', ')}; routing it to ${backend}`);
    routes.push({ host: t.host, path: t.path, backend });
  }
  routes.sort((x, y) => cmp(x.host, y.host) || y.path.length - x.path.length || cmp(x.path, y.path));
  return { routes, backends, warnings };
}
