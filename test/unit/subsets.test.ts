// The subset index promises pickNodes' answer for every Service after every node event, and names
// exactly the Services whose answer changed. Random event sequences on seeded clusters (small ones,
// so zones often hold fewer than k nodes or exactly k, where the edge cases live) check both after
// every step; buildModel with the index must equal buildModel without it.
import t from 'tap';
import { join } from 'node:path';
import { pickNodes } from '../../src/edge/hash.js';
import type { EligibleNode } from '../../src/edge/eligible.js';
import { buildModel, type ClusterSnapshot } from '../../src/edge/model.js';
import { type Changed, SubsetIndex } from '../../src/edge/subsets.js';
import { readSnapshotFile } from '../../src/render/source.js';
import { mulberry32 as prng } from '../lib/prng.js';

type Rnd = () => number;
const pick = <T>(rnd: Rnd, xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)] as T;

/** What the index should hold: the eligible nodes and Services of each cluster, and their picks. */
class Reference {
  readonly nodes = new Map<string, Map<string, EligibleNode>>();
  readonly picks = new Map<string, { cluster: string; picks: EligibleNode[] }>();
  constructor(readonly k: number) {}

  eligible(cluster: string): EligibleNode[] {
    return [...(this.nodes.get(cluster)?.values() ?? [])];
  }

  /** Recomputes every Service with pickNodes and says which changed, the way Changed must. */
  refresh(): Changed {
    const moved: string[] = [];
    const updated: string[] = [];
    for (const [id, held] of this.picks) {
      const now = pickNodes(id, this.eligible(held.cluster), this.k).map((n) => ({ ...n }));
      const names = (ns: EligibleNode[]): string => JSON.stringify(ns.map((n) => n.name).sort());
      if (names(now) !== names(held.picks)) moved.push(id);
      else if (JSON.stringify(now) !== JSON.stringify(held.picks)) updated.push(id);
      held.picks = now;
    }
    return { moved: moved.sort(), updated: updated.sort() };
  }
}

interface Trial {
  steps: number;
  /** First disagreement, described; undefined when the index always agreed. */
  wrong: string | undefined;
  kinds: Map<string, number>;
}

/** One seeded run: random clusters, then random events, each checked against the reference. */
function trial(seed: number, steps: number): Trial {
  const rnd = prng(seed);
  const k = pick(rnd, [0, 1, 1, 2, 3, 3, 4, 6]);
  const index = new SubsetIndex(k);
  const ref = new Reference(k);
  const clusters = ['east', 'west'];
  const zones = ['', 'a', 'b', 'c', 'd'].slice(0, 1 + Math.floor(rnd() * 5));
  let serial = 0;
  const newNode = (): EligibleNode => ({
    // Both clusters draw from one name pool, so the same node name lives in two clusters.
    name: `node-${Math.floor(rnd() * 60)}`,
    zone: pick(rnd, zones),
    address: `10.0.0.${serial++ % 250}`,
  });
  for (const c of clusters) {
    const nodes = new Map<string, EligibleNode>();
    for (let i = Math.floor(rnd() * 25); i > 0; i--) {
      const n = newNode();
      nodes.set(n.name, n);
    }
    ref.nodes.set(c, nodes);
    index.setNodes(c, [...nodes.values()]);
  }
  const out: Trial = { steps: 0, wrong: undefined, kinds: new Map() };
  const services = Array.from({ length: 30 }, (_, i) => `${pick(rnd, clusters)}/ns-${i % 4}/svc-${i}`);
  const clusterOf = (id: string): string => id.split('/')[0] as string;
  const asked = new Set<string>();

  for (let step = 0; step < steps && out.wrong === undefined; step++) {
    const c = pick(rnd, clusters);
    const nodes = ref.nodes.get(c) as Map<string, EligibleNode>;
    const existing = [...nodes.values()];
    const roll = rnd();
    let kind: string;
    let changed: Changed | undefined;
    if (roll < 0.2) {
      kind = 'service add';
      const id = pick(rnd, services);
      if (!ref.picks.has(id)) ref.picks.set(id, { cluster: clusterOf(id), picks: [] });
    } else if (roll < 0.27) {
      kind = 'service remove';
      const id = pick(rnd, services);
      ref.picks.delete(id);
      asked.delete(id);
      index.forget(id);
    } else if (roll < 0.45 || existing.length === 0) {
      kind = 'node add (or upsert of an existing name)';
      const n = newNode();
      nodes.set(n.name, n);
      changed = index.upsertNode(c, n);
    } else if (roll < 0.65) {
      kind = 'node remove';
      const n = pick(rnd, existing);
      nodes.delete(n.name);
      changed = index.removeNode(c, n.name);
    } else if (roll < 0.75) {
      kind = 'node zone change';
      const n = { ...pick(rnd, existing), zone: pick(rnd, zones) };
      nodes.set(n.name, n);
      changed = index.upsertNode(c, n);
    } else if (roll < 0.85) {
      kind = 'node address change';
      const n = { ...pick(rnd, existing), address: `10.1.0.${serial++ % 250}` };
      nodes.set(n.name, n);
      changed = index.upsertNode(c, n);
    } else if (roll < 0.9) {
      kind = 'remove of an unknown node';
      changed = index.removeNode(c, 'no-such-node');
    } else {
      // A relist: a few changes (applied one by one) or many (recomputed); both must agree.
      kind = 'setNodes';
      const churn = rnd() < 0.5 ? 2 : 30;
      for (let i = 0; i < churn; i++) {
        const n = newNode();
        if (rnd() < 0.4) nodes.delete(n.name);
        else nodes.set(n.name, n);
      }
      changed = index.setNodes(c, [...nodes.values()]);
    }
    out.kinds.set(kind, (out.kinds.get(kind) ?? 0) + 1);
    // Changed speaks of the Services the index held before the event; a new one is computed when asked.
    const expected = ref.refresh();
    const noted = (list: readonly string[]): string[] => list.filter((id) => asked.has(id));
    if (changed !== undefined) {
      const want = { moved: noted(expected.moved), updated: noted(expected.updated) };
      const got = { moved: noted(changed.moved), updated: noted(changed.updated) };
      if (JSON.stringify(got) !== JSON.stringify(want))
        out.wrong = `step ${step} (${kind}): Changed ${JSON.stringify(got)}, expected ${JSON.stringify(want)}`;
    }
    for (const [id, held] of ref.picks) {
      asked.add(id);
      const got = index.picks(held.cluster, id);
      if (JSON.stringify(got) !== JSON.stringify(held.picks))
        out.wrong ??=
          `step ${step} (${kind}): ${id} picks ${JSON.stringify(got)}, ` + `pickNodes ${JSON.stringify(held.picks)}`;
    }
    out.steps++;
  }
  return out;
}

t.test('after every random node and Service event the picks equal pickNodes and Changed is exact', async (t) => {
  const kinds = new Map<string, number>();
  let steps = 0;
  for (let seed = 1; seed <= 60; seed++) {
    const r = trial(seed, 150);
    t.equal(r.wrong, undefined, `seed ${seed}: ${r.steps} steps agree`);
    steps += r.steps;
    for (const [kind, n] of r.kinds) kinds.set(kind, (kinds.get(kind) ?? 0) + n);
  }
  t.comment(`${steps} steps: ${[...kinds].map(([kind, n]) => `${kind} ${n}`).join(', ')}`);
  t.ok(
    [...kinds.values()].every((n) => n >= 250),
    'every kind of event ran often',
  );
});

t.test('Changed: moved when other nodes are picked, updated when the same ones change address', async (t) => {
  const index = new SubsetIndex(2);
  const nodes = ['n1', 'n2', 'n3'].map((name, i) => ({ name, zone: '', address: `10.0.0.${i}` }));
  index.setNodes('c', nodes);
  const id = 'c/ns/svc';
  const before = index.picks('c', id);
  t.same(before, pickNodes(id, nodes, 2));
  const picked = before[0] as EligibleNode;
  const spare = nodes.find((n) => !before.some((p) => p.name === n.name)) as EligibleNode;

  t.same(index.upsertNode('c', { ...picked, address: '10.9.9.9' }), { moved: [], updated: [id] });
  t.equal(index.picks('c', id)[0]?.address, '10.9.9.9', 'the picks carry the new address');
  t.same(index.upsertNode('c', { ...spare, address: '10.9.9.8' }), { moved: [], updated: [] }, 'an unpicked node');
  t.same(index.upsertNode('c', { ...spare, address: '10.9.9.8' }), { moved: [], updated: [] }, 'no change at all');
  t.same(index.removeNode('c', picked.name), { moved: [id], updated: [] });
  t.same(
    index
      .picks('c', id)
      .map((n) => n.name)
      .sort(),
    nodes.filter((n) => n.name !== picked.name).map((n) => n.name),
  );
  t.same(index.removeNode('elsewhere', 'n1'), { moved: [], updated: [] }, 'an unknown cluster');
});

t.test('the index keeps its own copies, at most 2k entries per zone, and forgets', async (t) => {
  const index = new SubsetIndex(3);
  const nodes = Array.from({ length: 300 }, (_, i) => ({ name: `n${i}`, zone: `z${i % 3}`, address: `10.0.1.${i}` }));
  index.setNodes('c', nodes);
  for (let s = 0; s < 50; s++) index.picks('c', `c/ns/s${s}`);
  t.same(index.size(), { identities: 50, entries: 50 * 3 * 6 }, 'identities × zones × 2k entries, not × nodes');
  const id = 'c/ns/s0';
  const first = index.picks('c', id)[0] as EligibleNode;
  const mine = { ...first, address: '10.2.2.2' };
  index.upsertNode('c', mine);
  mine.address = 'edited later';
  t.equal(index.picks('c', id)[0]?.address, '10.2.2.2', "a caller's later edit does not reach the index");
  index.forget(id);
  index.forget(id);
  t.equal(index.size().identities, 49);
  t.throws(() => index.picks('other', 'c/ns/s1'), /held for cluster c/, 'an identity belongs to one cluster');
  t.throws(() => index.setNodes('c', [nodes[0] as EligibleNode, nodes[0] as EligibleNode]), /listed twice/);
  t.throws(() => new SubsetIndex(-1), RangeError);
  index.retain(new Set(['c']), new Set(['c/ns/s1', 'c/ns/s2']));
  t.equal(index.size().identities, 2, 'retain keeps the named Services');
  index.retain(new Set(), new Set(['c/ns/s1']));
  t.equal(index.size().identities, 0, 'and drops a whole cluster that is gone');
});

/** A raw Node object as the API sends it. */
function rawNode(name: string, zone: string, address: string, ready = true): object {
  return {
    metadata: { name, labels: zone === '' ? {} : { 'topology.kubernetes.io/zone': zone } },
    spec: {},
    status: {
      conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }],
      addresses: [{ type: 'InternalIP', address }],
    },
  };
}

function rawService(namespace: string, name: string, host: string, nodePort: number): object {
  return {
    metadata: {
      namespace,
      name,
      annotations: { 'haproxy-node-agent.io/expose': 'true', 'haproxy-node-agent.io/host': host },
    },
    spec: { type: 'NodePort', ports: [{ port: 80, nodePort }] },
  };
}

t.test('buildModel with the index equals buildModel with pickNodes: the render fixture', async (t) => {
  const snapshot = readSnapshotFile(join(import.meta.dirname, '..', 'fixtures', 'render', 'snapshot.yaml')).clusters;
  for (const k of [1, 2, 6]) {
    const plain = buildModel(snapshot, { annotationPrefix: 'haproxy-node-agent.io', nodesPerService: k });
    const subsets = new SubsetIndex(k);
    const opts = { annotationPrefix: 'haproxy-node-agent.io', nodesPerService: k, subsets };
    t.same(buildModel(snapshot, opts), plain, `k=${k}`);
    t.same(buildModel(snapshot, opts), plain, `k=${k}, again from the held picks`);
    t.ok(
      plain.backends.some((b) => b.servers.length > 0),
      'the fixture has servers',
    );
  }
  t.throws(
    () => buildModel(snapshot, { annotationPrefix: 'p', nodesPerService: 3, subsets: new SubsetIndex(2) }),
    /picks 2 nodes, nodesPerService is 3/,
  );
});

t.test('buildModel with one long-lived index equals buildModel with pickNodes as clusters churn', async (t) => {
  const rnd = prng(424242);
  const k = 3;
  const subsets = new SubsetIndex(k);
  const names = ['alpha', 'beta', 'gamma'];
  const state = names.map((name) => ({
    name,
    nodes: new Map<string, object>(),
    services: new Map<string, object>(),
  }));
  let mismatches = 0;
  for (let step = 0; step < 300; step++) {
    const c = pick(rnd, state);
    const i = Math.floor(rnd() * 40);
    const roll = rnd();
    if (roll < 0.5) c.nodes.set(`n${i}`, rawNode(`n${i}`, pick(rnd, ['', 'a', 'b']), `10.0.0.${i}`, rnd() < 0.85));
    else if (roll < 0.7) c.nodes.delete(`n${i}`);
    else if (roll < 0.9) c.services.set(`s${i}`, rawService(`ns${i % 3}`, `s${i}`, `h${i % 7}.example.com`, 30000 + i));
    else c.services.delete(`s${i}`);
    // A cluster that leaves the snapshot now and then: the index must drop it, then learn it anew.
    const present = state.filter((s) => s !== state[2] || step % 50 < 40);
    const snapshot: ClusterSnapshot[] = present.map((s) => ({
      name: s.name,
      nodes: [...s.nodes.values()],
      services: [...s.services.values()],
    }));
    const plain = buildModel(snapshot, { annotationPrefix: 'haproxy-node-agent.io', nodesPerService: k });
    const indexed = buildModel(snapshot, { annotationPrefix: 'haproxy-node-agent.io', nodesPerService: k, subsets });
    if (JSON.stringify(plain) !== JSON.stringify(indexed)) mismatches++;
    const exposed = plain.backends.reduce((n, b) => n + b.services.length, 0);
    if (subsets.size().identities !== exposed) mismatches++;
  }
  t.equal(mismatches, 0, '300 builds agree, and the index holds exactly the exposed Services');
});
