// The rendezvous subsets of many Services, kept up to date node event by node event: what sync
// needs, where render calls pickNodes once per Service. Answers are always pickNodes' answers.
//
// Why it can be incremental: a node's score for a Service never depends on other nodes, and with
// zone round-robin the k picks never reach below rank k-1 of any zone (the k nodes ranked above
// any deeper one would all be taken first). So per Service we keep only the best of each zone,
// memory identities × zones × 2k, and a node event costs one score per Service of the cluster.
// Keeping up to 2k rather than k means a node that leaves costs a rescan of its zone (one score
// per node there) only for a Service whose list it brings below k: about one in k+1 of those that
// kept it, instead of every one.
import { type Candidate, rendezvousScore } from './hash.js';
import type { EligibleNode } from './eligible.js';

/** The Services whose picks a change altered, each list sorted. Only identities the index holds. */
export interface Changed {
  /** Another set of nodes is picked: servers come and go. */
  readonly moved: readonly string[];
  /** The same nodes, in another order or with another zone or address: servers stay, fields change. */
  readonly updated: readonly string[];
}

export const NOTHING_CHANGED: Changed = Object.freeze({ moved: [], updated: [] });

interface Entry {
  node: EligibleNode;
  score: string;
}

/**
 * One Service: for each zone, its best entries, best first: always the zone's top n for some n
 * with min(k, zone size) ≤ n ≤ 2k (never a gap). The picks are what the first k of each give.
 */
interface Held {
  cluster: string;
  zones: Map<string, Entry[]>;
  picks: readonly EligibleNode[];
}

interface Cluster {
  nodes: Map<string, EligibleNode>;
  /** zone → its nodes by name. */
  zones: Map<string, Map<string, EligibleNode>>;
  identities: Set<string>;
}

/** pickNodes' order inside a zone: score descending, then name ascending. */
function better(a: Entry, b: Entry): boolean {
  return a.score > b.score || (a.score === b.score && a.node.name < b.node.name);
}

/**
 * Inserts `e` into a best-first list capped at `cap`; returns its position, or -1 when it does not
 * make the cut. `whole`: the list holds every node of its zone, so `e` may also go at the end.
 */
function insert(list: Entry[], e: Entry, cap: number, whole: boolean): number {
  const last = list[list.length - 1];
  if (list.length >= cap || !whole) {
    if (last !== undefined && !better(e, last)) return -1;
  }
  let i = list.length;
  while (i > 0 && better(e, list[i - 1] as Entry)) i--;
  list.splice(i, 0, e);
  if (list.length > cap) list.length = cap;
  return i;
}

/** pickNodes' rule applied to per-zone top-k lists: round r takes every zone's r-th, best first. */
function merge(zones: ReadonlyMap<string, readonly Entry[]>, k: number): EligibleNode[] {
  const out: EligibleNode[] = [];
  for (let r = 0; r < k && out.length < k; r++) {
    const row: Entry[] = [];
    for (const list of zones.values()) {
      const e = list[r];
      if (e !== undefined) row.push(e);
    }
    if (row.length === 0) break;
    row.sort((a, b) => (better(a, b) ? -1 : better(b, a) ? 1 : 0));
    for (const e of row) {
      if (out.length === k) break;
      out.push(e.node);
    }
  }
  return out;
}

function sameNames(a: readonly Candidate[], b: readonly Candidate[]): boolean {
  if (a.length !== b.length) return false;
  const names = new Set(a.map((n) => n.name));
  return b.every((n) => names.has(n.name));
}

function sameNode(a: EligibleNode, b: EligibleNode | undefined): boolean {
  return b !== undefined && a.name === b.name && a.zone === b.zone && a.address === b.address;
}

function sameNodes(a: readonly EligibleNode[], b: readonly EligibleNode[]): boolean {
  return a.length === b.length && a.every((n, i) => sameNode(n, b[i]));
}

export class SubsetIndex {
  readonly k: number;
  /** How many entries a zone's list may hold: 2k (see the top of this file). */
  private readonly depth: number;
  private readonly clusters = new Map<string, Cluster>();
  private readonly held = new Map<string, Held>();

  constructor(k: number) {
    if (!Number.isInteger(k) || k < 0) throw new RangeError(`k must be a whole number ≥ 0, got ${k}`);
    this.k = k;
    this.depth = 2 * k;
  }

  /**
   * Makes the cluster's eligible nodes exactly `nodes` (a relist, or each model build). Applies the
   * difference node by node when that costs fewer scores than recomputing every Service it holds.
   */
  setNodes(cluster: string, nodes: readonly EligibleNode[]): Changed {
    const c = this.cluster(cluster);
    const wanted = new Map<string, EligibleNode>();
    for (const n of nodes) {
      if (wanted.has(n.name)) throw new Error(`setNodes: node ${n.name} listed twice in cluster ${cluster}`);
      wanted.set(n.name, n);
    }
    const gone = [...c.nodes.keys()].filter((name) => !wanted.has(name));
    const changed = nodes.filter((n) => !sameNode(n, c.nodes.get(n.name)));
    if (gone.length === 0 && changed.length === 0) return NOTHING_CHANGED;
    // Per held Service: a node that arrives (or changes zone) costs one score; one that leaves
    // costs a rescan of its zone with chance below k / zone size: at most about k scores.
    // Recomputing costs one score per node.
    const arriving = changed.filter((n) => c.nodes.get(n.name)?.zone !== n.zone);
    const leaving = gone.length + arriving.filter((n) => c.nodes.has(n.name)).length;
    const incremental = arriving.length + this.k * leaving < Math.max(c.nodes.size, wanted.size);
    return this.tracking(c, () => {
      if (incremental) {
        for (const name of gone) this.remove(c, name);
        for (const n of changed) this.upsert(c, n);
        return;
      }
      c.nodes.clear();
      c.zones.clear();
      for (const n of nodes) this.place(c, { ...n });
      for (const id of c.identities) {
        const h = this.held.get(id) as Held;
        h.zones = this.topOf(id, c.nodes.values());
        h.picks = merge(h.zones, this.k);
      }
    });
  }

  /** A node is eligible now (new, or its zone or address changed). */
  upsertNode(cluster: string, node: EligibleNode): Changed {
    const c = this.cluster(cluster);
    if (sameNode(node, c.nodes.get(node.name))) return NOTHING_CHANGED;
    return this.tracking(c, () => this.upsert(c, node));
  }

  /** A node is no longer eligible (deleted, cordoned, NotReady, ...). Unknown names change nothing. */
  removeNode(cluster: string, name: string): Changed {
    const c = this.clusters.get(cluster);
    if (c === undefined || !c.nodes.has(name)) return NOTHING_CHANGED;
    return this.tracking(c, () => this.remove(c, name));
  }

  /** pickNodes(identity, the cluster's eligible nodes, k), from then on kept up to date. */
  picks(cluster: string, identity: string): readonly EligibleNode[] {
    const h = this.held.get(identity);
    if (h !== undefined) {
      if (h.cluster !== cluster)
        throw new Error(`identity ${identity} is held for cluster ${h.cluster}, not ${cluster}`);
      return h.picks;
    }
    const c = this.cluster(cluster);
    const zones = this.topOf(identity, c.nodes.values());
    const made: Held = { cluster, zones, picks: merge(zones, this.k) };
    this.held.set(identity, made);
    c.identities.add(identity);
    return made.picks;
  }

  /** Drops a Service (it was deleted or is no longer exposed); picks() would compute it afresh. */
  forget(identity: string): void {
    const h = this.held.get(identity);
    if (h === undefined) return;
    this.held.delete(identity);
    this.clusters.get(h.cluster)?.identities.delete(identity);
  }

  /** Drops every cluster and Service not named, so a long-running caller never holds the departed. */
  retain(clusters: ReadonlySet<string>, identities: ReadonlySet<string>): void {
    for (const [name, c] of this.clusters) {
      if (clusters.has(name)) continue;
      for (const id of c.identities) this.held.delete(id);
      this.clusters.delete(name);
    }
    for (const id of [...this.held.keys()]) if (!identities.has(id)) this.forget(id);
  }

  /** How many Services and kept entries the index holds (the memory it is bounded by). */
  size(): { identities: number; entries: number } {
    let entries = 0;
    for (const h of this.held.values()) for (const list of h.zones.values()) entries += list.length;
    return { identities: this.held.size, entries };
  }

  private cluster(name: string): Cluster {
    let c = this.clusters.get(name);
    if (c === undefined) this.clusters.set(name, (c = { nodes: new Map(), zones: new Map(), identities: new Set() }));
    return c;
  }

  /** Runs a change and reports the held Services whose picks it altered. */
  private tracking(c: Cluster, change: () => void): Changed {
    const before = new Map<string, readonly EligibleNode[]>();
    for (const id of c.identities) before.set(id, (this.held.get(id) as Held).picks);
    change();
    const moved: string[] = [];
    const updated: string[] = [];
    for (const [id, old] of before) {
      const now = (this.held.get(id) as Held).picks;
      if (now === old || sameNodes(old, now)) continue;
      (sameNames(old, now) ? updated : moved).push(id);
    }
    if (moved.length === 0 && updated.length === 0) return NOTHING_CHANGED;
    return { moved: moved.sort(), updated: updated.sort() };
  }

  /** The best 2k of each zone of `nodes` for one Service: one score per node. */
  private topOf(identity: string, nodes: Iterable<EligibleNode>): Map<string, Entry[]> {
    const zones = new Map<string, Entry[]>();
    if (this.k === 0) return zones;
    for (const node of nodes) {
      let list = zones.get(node.zone);
      if (list === undefined) zones.set(node.zone, (list = []));
      insert(list, { node, score: rendezvousScore(identity, node.name) }, this.depth, true);
    }
    return zones;
  }

  private place(c: Cluster, node: EligibleNode): void {
    c.nodes.set(node.name, node);
    let zone = c.zones.get(node.zone);
    if (zone === undefined) c.zones.set(node.zone, (zone = new Map()));
    zone.set(node.name, node);
  }

  private upsert(c: Cluster, given: EligibleNode): void {
    const node = { ...given }; // ours: a caller that edits its object later must not edit the index
    const old = c.nodes.get(node.name);
    if (old !== undefined && old.zone === node.zone) {
      this.readdress(c, node);
      return;
    }
    if (old !== undefined) this.remove(c, node.name);
    const zoneSize = c.zones.get(node.zone)?.size ?? 0;
    this.place(c, node);
    if (this.k === 0) return;
    for (const id of c.identities) {
      const h = this.held.get(id) as Held;
      let list = h.zones.get(node.zone);
      if (list === undefined) h.zones.set(node.zone, (list = []));
      const at = insert(list, { node, score: rendezvousScore(id, node.name) }, this.depth, list.length === zoneSize);
      if (at !== -1 && at < this.k) h.picks = merge(h.zones, this.k);
    }
  }

  /** Same name and zone, another address: scores and ranks stay, only the objects are replaced. */
  private readdress(c: Cluster, node: EligibleNode): void {
    this.place(c, node);
    for (const id of c.identities) {
      const h = this.held.get(id) as Held;
      const e = h.zones.get(node.zone)?.find((x) => x.node.name === node.name);
      if (e === undefined) continue;
      e.node = node;
      if (h.picks.some((p) => p.name === node.name)) h.picks = h.picks.map((p) => (p.name === node.name ? node : p));
    }
  }

  private remove(c: Cluster, name: string): void {
    const node = c.nodes.get(name) as EligibleNode;
    c.nodes.delete(name);
    const zone = c.zones.get(node.zone) as Map<string, EligibleNode>;
    zone.delete(name);
    if (zone.size === 0) c.zones.delete(node.zone);
    for (const id of c.identities) {
      const h = this.held.get(id) as Held;
      const list = h.zones.get(node.zone);
      const i = list?.findIndex((e) => e.node.name === name) ?? -1;
      if (list === undefined || i === -1) continue;
      list.splice(i, 1);
      if (zone.size === 0) h.zones.delete(node.zone);
      else if (list.length < Math.min(this.k, zone.size))
        h.zones.set(node.zone, this.topOf(id, zone.values()).get(node.zone) ?? []);
      // Below the first k of its zone the node was never picked, and no pick moves up past it.
      if (i < this.k) h.picks = merge(h.zones, this.k);
    }
  }
}
