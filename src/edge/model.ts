// Cluster snapshots (parsed Node and Service objects) → the HAProxy backends to render. Pure:
// no I/O, no clock; the same snapshots always give the same, fully sorted model.
import { isClusterName, isDnsLabel, isDnsSubdomain } from '../core/names.js';
import { arr, obj, str } from '../core/json.js';
import { shown } from '../core/escape.js';
import { groupBy } from '../core/group-by.js';
import { type EligibleNode, eligibleNode } from './eligible.js';
import { pickNodes } from './hash.js';
import type { SubsetIndex } from './subsets.js';
import { type ClaimsDocument, emptyClaims, sameClaims } from '../core/claims-document.js';
import { type ClaimRequest, type ClaimsToRecord, type KeyOwner, mayJoin, resolveClaims } from './claims.js';
import { shareEntry, who as claimant } from './ownership.js';
import { type TcpAsk, tcpAsk } from './tcp-annotations.js';
import { type PortRange, type RefusalReason, resolveTcpPorts, type TcpPortOptions } from './tcp-ports.js';

/** One cluster as read from a kubeconfig context or a snapshot file. Objects are parsed JSON. */
export interface ClusterSnapshot {
  name: string;
  nodes: readonly unknown[];
  services: readonly unknown[];
}

// Node eligibility lives in eligible.ts; these names stay importable from here.
export { type EligibleNode, eligibleNode, ZONE_LABEL } from './eligible.js';

export interface ModelOptions {
  annotationPrefix: string;
  nodesPerService: number;
  /**
   * Where the picks come from: pickNodes when absent (render); a long-running caller (sync) passes
   * its SubsetIndex (k = nodesPerService). The model is the same either way: each build hands the
   * index every cluster's eligible nodes (it applies only the difference) and then drops the
   * clusters and Services the model no longer has.
   */
  subsets?: SubsetIndex;
  /**
   * The claims record and the time to date new claims with (edge/claims.ts). Absent: an empty
   * record, and a `claims.record` nobody should write (its claims are dated 1970).
   */
  claims?: { record: ClaimsDocument; now: string };
  /**
   * TCP Services (PREFIX/tcp-port): the pool, and whether this caller assigns new ports (sync) or
   * only serves recorded ones (render, and when absent).
   */
  tcp?: { range: PortRange | undefined; assign: boolean };
}

/** Annotation names, after `PREFIX/`. */
export const ANNOTATION = {
  expose: 'expose',
  host: 'host',
  path: 'path',
  backend: 'backend',
  port: 'port',
  shareWith: 'share-with',
} as const;

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

/** One TCP Service with its port: a `mode tcp` frontend on the port and a backend behind it. */
export interface TcpService {
  port: number;
  /** Frontend and backend section name: tcp_PORT. */
  name: string;
  service: ExposedService;
  servers: Server[];
  timeoutClientMs: number;
  timeoutServerMs: number;
}

export interface Model {
  /** Most specific first: by host, then longer paths before shorter ones. */
  routes: Route[];
  backends: Backend[];
  /** By port. */
  tcp: TcpService[];
  /** TCP port requests refused this build (each also a warning), for a metric by reason. */
  tcpRefusals: { reason: RefusalReason; message: string }[];
  /** One line each, prefixed with the object they are about; nothing is fatal. */
  warnings: string[];
  /** What a writer of the claims record needs (edge/claims.ts, kube/claims-record.ts). */
  claims: ModelClaims;
}

export interface ModelClaims extends ClaimsToRecord {
  /** The record as this model resolved it, and whether it differs from the one given. */
  record: ClaimsDocument;
  changed: boolean;
}

const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** HAProxy identifiers allow letters, digits, '-', '_', '.' and ':'; anything else becomes '_'. */
export function haproxyIdent(s: string): string {
  return s.replace(/[^A-Za-z0-9._:-]/g, '_');
}

// Path characters that need no quoting in an HAProxy config line (no quotes, '#', '$', '\', braces).
const SAFE_PATH = /^\/[A-Za-z0-9\-._~%/:@+,;=!*]*$/;

/** What a Service asks for through its annotations, before grouping. */
interface Request extends ClaimRequest {
  path: string;
  nodePort: number;
  tcp: TcpAsk | undefined;
}

/** The backend name of a Service without PREFIX/backend: its host and path. */
function derivedBackendName(r: ClaimRequest): string {
  const { host, path } = r as Request;
  return haproxyIdent(`${host ?? ''}${path === '/' ? '' : path}`.replace(/\//g, '_'));
}

function exposeRequest(
  cluster: string,
  raw: unknown,
  prefix: string,
  warn: (msg: string) => void,
): Request | undefined {
  const o = obj(raw);
  const md = obj(o.metadata);
  const name = str(md.name);
  if (name === undefined) return undefined;
  const namespace = str(md.namespace) ?? 'default';
  const ann = obj(md.annotations);
  if (ann[`${prefix}/${ANNOTATION.expose}`] === undefined) return undefined;
  // Names reach agent-send, comments, server names and templates: what Kubernetes allows, only.
  if (!isDnsLabel(namespace) || !isDnsLabel(name)) {
    warn(`service ${cluster}/${shown(namespace)}/${shown(name)}: namespace and name must be DNS-1123 labels; skipped`);
    return undefined;
  }
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
  if (expose.toLowerCase() !== 'true')
    return skip(`${prefix}/${ANNOTATION.expose} is ${shown(expose)}, expected "true" or "false"`);

  let host = a(ANNOTATION.host);
  if (host !== undefined) {
    host = host.toLowerCase();
    if (!isDnsSubdomain(host)) return skip(`${prefix}/${ANNOTATION.host} ${shown(host)} is not a DNS name`);
  }
  let path = a(ANNOTATION.path) ?? '/';
  if (!SAFE_PATH.test(path) || path.length > 1024)
    return skip(`${prefix}/${ANNOTATION.path} ${shown(path)} must start with / and hold only URL path characters`);
  path = path.replace(/\/+$/, '') || '/';
  const backend = a(ANNOTATION.backend);
  if (backend !== undefined && !/^[A-Za-z0-9._:-]{1,100}$/.test(backend)) {
    return skip(`${prefix}/${ANNOTATION.backend} ${shown(backend)} is not an HAProxy name (letters, digits, - _ . :)`);
  }
  let tcpSide = tcpAsk(prefix, a);
  if (tcpSide !== undefined && 'error' in tcpSide) {
    warn(`service ${who}: ${tcpSide.error}; no TCP port`);
    tcpSide = undefined;
  }
  if (host === undefined && backend === undefined && tcpSide === undefined)
    return skip(`needs ${prefix}/${ANNOTATION.host}, ${prefix}/${ANNOTATION.backend} or ${prefix}/tcp-port`);

  const ports = arr(obj(o.spec).ports).map(obj);
  const tcp = ports.filter((p) => (p.protocol ?? 'TCP') === 'TCP' && typeof p.nodePort === 'number' && p.nodePort > 0);
  const wanted = a(ANNOTATION.port);
  const port = wanted === undefined ? tcp[0] : tcp.find((p) => p.name === wanted || String(p.port) === wanted);
  if (port === undefined) {
    return skip(
      wanted === undefined
        ? 'no TCP port with a nodePort (type NodePort or LoadBalancer needed)'
        : `${prefix}/${ANNOTATION.port} ${shown(wanted)} names no TCP port with a nodePort`,
    );
  }
  const nodePort = port.nodePort as number;
  // 1e300 is a number too: only a whole port number may reach ADDR:PORT.
  if (!Number.isInteger(nodePort) || nodePort > 65535)
    return skip(`nodePort ${shown(String(nodePort))} is not a port number 1..65535`);

  // `ns` (this cluster) or `cluster/ns`: a same-named namespace of another cluster is a stranger.
  const shareWith = new Set<string>();
  for (const ns of (a(ANNOTATION.shareWith) ?? '').split(',')) {
    const n = ns.trim();
    if (n === '') continue;
    const owner = shareEntry(cluster, n);
    if (owner !== undefined) shareWith.add(owner);
    else
      warn(
        `service ${who}: ${prefix}/${ANNOTATION.shareWith} entry ${shown(n)} is not a namespace name ` +
          '(NAMESPACE or CLUSTER/NAMESPACE); ignored',
      );
  }
  const created = Date.parse(str(md.creationTimestamp) ?? '');
  const uid = str(md.uid) ?? '';
  return {
    cluster,
    namespace,
    name,
    created: Number.isNaN(created) ? Infinity : created,
    uid,
    shareWith,
    host,
    path,
    backend,
    nodePort,
    tcp: tcpSide,
  };
}

/** Builds the model. Cluster names must be unique (the source checks). */
export function buildModel(clusters: readonly ClusterSnapshot[], opts: ModelOptions): Model {
  const subsets = opts.subsets;
  if (subsets !== undefined && subsets.k !== opts.nodesPerService)
    throw new RangeError(`the subset index picks ${subsets.k} nodes, nodesPerService is ${opts.nodesPerService}`);
  const warnings: string[] = [];
  const eligibleByCluster = new Map<string, EligibleNode[]>();
  const requests: Request[] = [];
  for (const c of [...clusters].sort((x, y) => cmp(x.name, y.name))) {
    // Cluster names come from a file or a kubeconfig, not from Kubernetes: any text but a line break.
    if (!isClusterName(c.name)) {
      warnings.push(`cluster ${shown(c.name)}: name holds control characters or is too long; skipped`);
      continue;
    }
    const warn = (msg: string): void => void warnings.push(`cluster ${c.name}: ${msg}`);
    const seen = new Set<string>();
    const eligible: EligibleNode[] = [];
    for (const raw of c.nodes) {
      const n = eligibleNode(raw, warn, opts.annotationPrefix);
      if (n === undefined) continue;
      if (seen.has(n.name)) {
        warn(`node ${n.name} listed twice; the first one is used`);
        continue;
      }
      seen.add(n.name);
      eligible.push(n);
    }
    eligibleByCluster.set(c.name, eligible);
    subsets?.setNodes(c.name, eligible);
    const mine: Request[] = [];
    for (const raw of c.services) {
      const r = exposeRequest(c.name, raw, opts.annotationPrefix, (msg) => warnings.push(msg));
      if (r !== undefined) mine.push(r);
    }
    if (mine.length > 0 && eligible.length === 0)
      warn('no eligible nodes (Ready, schedulable, not excluded); its Services get no servers');
    requests.push(...mine);
  }
  requests.sort((x, y) => cmp(x.cluster, y.cluster) || cmp(x.namespace, y.namespace) || cmp(x.name, y.name));

  // Tenants: a host (all its paths), then an explicit backend name, belongs to one owner (claims.ts).
  const share = `${opts.annotationPrefix}/${ANNOTATION.shareWith}`;
  const clustersRead = new Set([...eligibleByCluster.keys()]);
  const given = opts.claims ?? { record: emptyClaims(), now: new Date(0).toISOString() };
  const claimOptions = { shareKey: share, clusters: clustersRead, derivedName: derivedBackendName };
  const httpRequests = requests.filter((r) => r.host !== undefined || r.backend !== undefined);
  const resolved = resolveClaims(httpRequests, given.record, given.now, claimOptions);
  warnings.push(...resolved.warnings);
  const admitted = resolved.admitted;
  const hostOwners = resolved.hosts;

  // Group: an explicit backend name, else the host+path the Service serves.
  const groups = new Map<string, { base: string; derived: boolean; members: Request[] }>();
  for (const r of admitted) {
    const key = r.backend !== undefined ? `b\0${r.backend}` : `r\0${r.host ?? ''}\0${r.path}`;
    const base = r.backend ?? derivedBackendName(r);
    const g = groups.get(key);
    if (g === undefined) groups.set(key, { base, derived: r.backend === undefined, members: [r] });
    else g.members.push(r);
  }

  // A name derived from a host belongs to the host's owner; an explicit name that meets it from an
  // owner the host's owner did not let in is dropped, never renamed around. Two derived names meet
  // only within one host (a host holds no '_'), so they have one owner.
  const groupOwner = new Map<string, KeyOwner<Request>>();
  for (const [key, g] of groups) {
    const m = g.members[0] as Request;
    const o = g.derived ? hostOwners.get(m.host as string) : resolved.backends.get(m.backend as string);
    groupOwner.set(key, o as KeyOwner<Request>);
  }
  for (const [, same] of groupBy([...groups], ([, g]) => g.base)) {
    if (same.length < 2) continue;
    const [holderKey, holder] = [...same].sort(
      ([ka, a], [kb, b]) => Number(b.derived) - Number(a.derived) || cmp(ka, kb),
    )[0] as [string, { base: string }];
    const owner = groupOwner.get(holderKey) as KeyOwner<Request>;
    for (const [key] of same) {
      const intruder = groupOwner.get(key) as KeyOwner<Request>;
      if (key === holderKey || mayJoin(owner, intruder.owner)) continue;
      groups.delete(key);
      warnings.push(
        `service ${claimant(intruder.first)}: backend name ${holder.base} belongs to ${owner.owner} ` +
          `(service ${claimant(owner.first)}), which does not share it with ${intruder.owner} (${share}); skipped`,
      );
    }
  }

  // TCP Services: a port each, from the record or (sync only) the pool (tcp-ports.ts).
  const tcpRequests = requests
    .filter((r) => r.tcp !== undefined)
    .map((r) => ({ ...r, wanted: (r.tcp as TcpAsk).wanted, ask: r.tcp as TcpAsk }));
  const tcpOptions: TcpPortOptions = {
    range: opts.tcp?.range,
    clusters: clustersRead,
    assign: opts.tcp?.assign === true,
  };
  const otherEntries = resolved.record.hosts.size + resolved.record.backends.size;
  const ports = resolveTcpPorts(tcpRequests, given.record.ports, given.now, tcpOptions, otherEntries);
  for (const r of ports.refusals) warnings.push(r.message);
  const tcpRefusals = ports.refusals.map((r) => ({ reason: r.reason, message: r.message }));
  const tcp: TcpService[] = [];
  for (const { request: r, port } of ports.assigned) {
    const identity = `${r.cluster}/${r.namespace}/${r.name}`;
    const eligible = eligibleByCluster.get(r.cluster) ?? [];
    const picked = subsets?.picks(r.cluster, identity) ?? pickNodes(identity, eligible, opts.nodesPerService);
    const servers = picked.map((n) => ({
      name: haproxyIdent(`${r.cluster}_${n.name}_${r.namespace}_${r.name}`),
      cluster: r.cluster,
      node: n.name,
      zone: n.zone,
      address: n.address,
      nodePort: r.nodePort,
      namespace: r.namespace,
      service: r.name,
    }));
    servers.sort((x, y) => cmp(x.name, y.name) || cmp(x.address, y.address));
    for (const [i, s] of servers.entries())
      if (servers.findIndex((o) => o.name === s.name) !== i) s.name += `_${i + 1}`;
    const service = { cluster: r.cluster, namespace: r.namespace, name: r.name, identity, nodePort: r.nodePort };
    tcp.push({
      port,
      name: `tcp_${port}`,
      service: { ...service, eligible: eligible.length, picked: picked.length },
      servers,
      timeoutClientMs: r.ask.timeoutClientMs,
      timeoutServerMs: r.ask.timeoutServerMs,
    });
  }

  // Names must be unique: a derived name can meet an explicit one; later groups get a suffix. TCP
  // sections hold theirs first: a port's name never moves.
  const nameOf = new Map<string, string>();
  const used = new Set<string>(tcp.map((t) => t.name));
  for (const [key, g] of [...groups].sort(([ka, a], [kb, b]) => cmp(a.base, b.base) || cmp(ka, kb))) {
    let name = g.base;
    for (let i = 2; used.has(name); i++) name = `${g.base}_${i}`;
    if (name !== g.base)
      warnings.push(`backend name ${g.base} is taken by another host/path or backend annotation; using ${name}`);
    used.add(name);
    nameOf.set(key, name);
  }

  const backends: Backend[] = [];
  const routeTargets = new Map<
    string,
    { host: string; path: string; backends: Set<string>; ownBackends: Set<string> }
  >();
  for (const [key, g] of groups) {
    const backendName = nameOf.get(key) as string;
    const services: ExposedService[] = [];
    const servers: Server[] = [];
    for (const r of g.members) {
      const identity = `${r.cluster}/${r.namespace}/${r.name}`;
      const eligible = eligibleByCluster.get(r.cluster) ?? [];
      const picked = subsets?.picks(r.cluster, identity) ?? pickNodes(identity, eligible, opts.nodesPerService);
      services.push({
        cluster: r.cluster,
        namespace: r.namespace,
        name: r.name,
        identity,
        nodePort: r.nodePort,
        eligible: eligible.length,
        picked: picked.length,
      });
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
        const t = routeTargets.get(rk) ?? {
          host: r.host,
          path: r.path,
          backends: new Set<string>(),
          ownBackends: new Set<string>(),
        };
        t.backends.add(backendName);
        // A namespace let into a host joins it; it does not take the host's routes over.
        if (groupOwner.get(key)?.owner === hostOwners.get(r.host)?.owner) t.ownBackends.add(backendName);
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
    const backend = [...(t.ownBackends.size > 0 ? t.ownBackends : t.backends)].sort(cmp)[0] as string;
    if (names.length > 1)
      warnings.push(
        `host ${t.host} path ${t.path} is claimed by backends ${names.join(', ')}; routing it to ${backend}`,
      );
    routes.push({ host: t.host, path: t.path, backend });
  }
  routes.sort((x, y) => cmp(x.host, y.host) || y.path.length - x.path.length || cmp(x.path, y.path));
  subsets?.retain(
    new Set(eligibleByCluster.keys()),
    new Set([...backends.flatMap((b) => b.services.map((s) => s.identity)), ...tcp.map((t) => t.service.identity)]),
  );
  const record = { ...resolved.record, ports: ports.ports };
  const claims = {
    requests: httpRequests,
    options: claimOptions,
    ...(tcpOptions.assign ? { tcp: { requests: tcpRequests, options: tcpOptions } } : {}),
    record,
    changed: !sameClaims(given.record, record),
  };
  return { routes, backends, tcp, tcpRefusals, warnings, claims };
}
