// One measurement of the edge subsets scenario (bench/subsets.ts), alone in its own process so its
// RSS and heap are its own: a full model build with pickNodes, the same with a SubsetIndex, or the
// index's cost per Node and Service event.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { eligibleNode, type EligibleNode } from '../src/edge/eligible.js';
import { pickNodes } from '../src/edge/hash.js';
import { buildModel, type ClusterSnapshot, type Model } from '../src/edge/model.js';
import { type Changed, SubsetIndex } from '../src/edge/subsets.js';

export interface SubsetsJob {
  mode: 'full-picknodes' | 'full-index' | 'events';
  nodes: number;
  services: number;
  zones: number;
  k: number;
  /** Events of each kind in 'events' mode. */
  events: number;
}

export interface FullResult {
  cpuMs: number;
  wallMs: number;
  /** After one full GC, before building and after (the model and, with it, the index held). */
  rssBeforeMb: number;
  rssAfterMb: number;
  peakRssMb: number;
  heapBeforeMb: number;
  heapAfterMb: number;
  /** sha256 of the model as JSON: both builds must give the same one. */
  modelDigest: string;
  servers: number;
}

export interface EventCost {
  n: number;
  p50Ms: number;
  maxMs: number;
  /** Services whose picks changed (moved + updated), summed over the events. */
  changed: number;
}

export interface EventsResult {
  fullCpuMs: number;
  keptEntries: number;
  /** How many Services held the deleted nodes (the most-picked nodes are the ones deleted). */
  deletedNodePickedBy: number[];
  costs: Record<string, EventCost>;
  /** One rebuild of the whole model with the index after an event (parse, ownership, routes). */
  rebuildWithIndex: EventCost;
  sampleChecked: number;
  sampleWrong: number;
}

const PREFIX = 'haproxy-node-agent.io';
const MB = 1024 * 1024;
const round = (v: number, d = 1): number => Math.round(v * 10 ** d) / 10 ** d;
const cpuNowMs = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};
const gc = ((): (() => void) => {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
})();
const peakRssMb = (): number =>
  Number(/^VmHWM:\s+(\d+) kB/m.exec(readFileSync('/proc/self/status', 'latin1'))?.[1] ?? NaN) / 1024;

function rawNode(i: number, zone: string): object {
  return {
    metadata: { name: `node-${i}`, labels: { 'topology.kubernetes.io/zone': zone, 'kubernetes.io/hostname': `n${i}` } },
    spec: {},
    status: {
      conditions: [
        { type: 'MemoryPressure', status: 'False' },
        { type: 'Ready', status: 'True' },
      ],
      addresses: [{ type: 'InternalIP', address: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}` }],
    },
  };
}

function rawService(i: number): object {
  return {
    metadata: {
      namespace: `team-${i % 50}`,
      name: `svc-${i}`,
      annotations: { [`${PREFIX}/expose`]: 'true', [`${PREFIX}/host`]: `svc-${i}.example.com` },
    },
    spec: { type: 'NodePort', ports: [{ port: 80, nodePort: 30000 + (i % 2000) }] },
  };
}

function cluster(job: SubsetsJob): ClusterSnapshot {
  return {
    name: 'big',
    nodes: Array.from({ length: job.nodes }, (_, i) => rawNode(i, `zone-${i % job.zones}`)),
    services: Array.from({ length: job.services }, (_, i) => rawService(i)),
  };
}

function full(job: SubsetsJob, withIndex: boolean): FullResult {
  const snapshot = [cluster(job)];
  gc();
  const rssBefore = process.memoryUsage.rss();
  const heapBefore = process.memoryUsage().heapUsed;
  const subsets = withIndex ? new SubsetIndex(job.k) : undefined;
  const cpu0 = cpuNowMs();
  const t0 = performance.now();
  const model = buildModel(snapshot, { annotationPrefix: PREFIX, nodesPerService: job.k, subsets });
  const cpuMs = cpuNowMs() - cpu0;
  const wallMs = performance.now() - t0;
  gc();
  return {
    cpuMs: round(cpuMs, 0),
    wallMs: round(wallMs, 0),
    rssBeforeMb: round(rssBefore / MB),
    rssAfterMb: round(process.memoryUsage.rss() / MB),
    peakRssMb: round(peakRssMb()),
    heapBeforeMb: round(heapBefore / MB),
    heapAfterMb: round(process.memoryUsage().heapUsed / MB),
    modelDigest: digest(model),
    servers: model.backends.reduce((n, b) => n + b.servers.length, 0),
  };
}

function digest(model: Model): string {
  return createHash('sha256').update(JSON.stringify(model)).digest('hex');
}

function summary(samples: number[], changed: number): EventCost {
  const s = [...samples].sort((a, b) => a - b);
  return {
    n: s.length,
    p50Ms: round(s[Math.ceil(s.length / 2) - 1] ?? NaN, 2),
    maxMs: round(s[s.length - 1] ?? NaN, 2),
    changed,
  };
}

/** CPU ms of one call. */
function timed<T>(fn: () => T): [T, number] {
  const c0 = cpuNowMs();
  const out = fn();
  return [out, cpuNowMs() - c0];
}

function events(job: SubsetsJob): EventsResult {
  const snap = cluster(job);
  const nodes = snap.nodes as object[];
  const services = snap.services as object[];
  const subsets = new SubsetIndex(job.k);
  const opts = { annotationPrefix: PREFIX, nodesPerService: job.k, subsets };
  const [model, fullCpuMs] = timed(() => buildModel([snap], opts));
  const identities = model.backends.flatMap((b) => b.services.map((s) => s.identity));
  // The cluster as the events leave it: raw objects by name, and what they parse to.
  const raws = new Map<string, object>();
  const eligible = new Map<string, EligibleNode>();
  for (const raw of nodes) {
    const n = eligibleNode(raw, () => undefined, PREFIX) as EligibleNode;
    raws.set(n.name, raw);
    eligible.set(n.name, n);
  }
  const costs: Record<string, EventCost> = {};
  const run = (kind: string, make: (i: number) => () => Changed): void => {
    const samples: number[] = [];
    let changed = 0;
    for (let i = 0; i < job.events; i++) {
      const event = make(i);
      const [c, ms] = timed(event);
      samples.push(ms);
      changed += c.moved.length + c.updated.length;
    }
    costs[kind] = summary(samples, changed);
  };

  // The most-picked nodes, counted before any event: their deletion is the costly case (rescans).
  const pickedBy = new Map<string, number>();
  for (const id of identities)
    for (const n of subsets.picks('big', id)) pickedBy.set(n.name, (pickedBy.get(n.name) ?? 0) + 1);
  const mostPicked = [...pickedBy].sort((a, b) => b[1] - a[1]).slice(0, job.events);
  const picked = [...pickedBy.keys()];

  // Each event as sync would see it: parse the one Node object, then tell the index.
  const nodeEvent = (raw: object): (() => Changed) => {
    return () => {
      const n = eligibleNode(raw, () => undefined, PREFIX);
      if (n === undefined) throw new Error('bench node not eligible');
      raws.set(n.name, raw);
      eligible.set(n.name, n);
      return subsets.upsertNode('big', n);
    };
  };
  run('node add', (i) => nodeEvent(rawNode(job.nodes + i, `zone-${i % job.zones}`)));
  run('node delete (most-picked)', (i) => {
    const name = (mostPicked[i] as [string, number])[0];
    return () => {
      raws.delete(name);
      eligible.delete(name);
      return subsets.removeNode('big', name);
    };
  });
  const survivors = picked.filter((name) => eligible.has(name));
  run('node zone change (picked node)', (i) => {
    const index = Number((survivors[i] as string).slice('node-'.length));
    return nodeEvent(rawNode(index, `zone-${(index + 1) % job.zones}`));
  });
  run('node address change (picked node)', (i) => {
    const name = survivors[job.events + i] as string;
    const raw = rawNode(Number(name.slice('node-'.length)), (eligible.get(name) as EligibleNode).zone);
    (raw as { status: { addresses: object[] } }).status.addresses = [{ type: 'InternalIP', address: `192.0.2.${i}` }];
    return nodeEvent(raw);
  });
  // A new Service is computed when first asked: one score per node.
  run('service add', (i) => () => {
    const id = `big/new/svc-${i}`;
    identities.push(id);
    subsets.picks('big', id);
    return { moved: [id], updated: [] };
  });

  // What a caller pays when it rebuilds the whole model per event instead (the index answers
  // picks; every Node and Service is parsed again). Drops the Services added above from the index.
  const rebuilds: number[] = [];
  for (let i = 0; i < Math.min(job.events, 5); i++) {
    const raw = rawNode(job.nodes + job.events + i, `zone-${i % job.zones}`);
    const n = eligibleNode(raw, () => undefined, PREFIX) as EligibleNode;
    raws.set(n.name, raw);
    eligible.set(n.name, n);
    const [, ms] = timed(() => buildModel([{ ...snap, nodes: [...raws.values()], services }], opts));
    rebuilds.push(ms);
  }

  // The promise: the index's picks are pickNodes' picks over the same eligible nodes.
  const current = [...eligible.values()];
  let wrong = 0;
  const sample = identities.filter((_, i) => i % Math.ceil(identities.length / 100) === 0);
  for (const id of sample) {
    const want = JSON.stringify(pickNodes(id, current, job.k));
    if (JSON.stringify(subsets.picks('big', id)) !== want) wrong++;
  }
  return {
    fullCpuMs: round(fullCpuMs, 0),
    keptEntries: subsets.size().entries,
    deletedNodePickedBy: mostPicked.map(([, n]) => n),
    costs,
    rebuildWithIndex: summary(rebuilds, 0),
    sampleChecked: sample.length,
    sampleWrong: wrong,
  };
}

process.on('message', (job: SubsetsJob) => {
  const result = job.mode === 'events' ? events(job) : full(job, job.mode === 'full-index');
  process.send?.(result, () => process.exit(0));
});
