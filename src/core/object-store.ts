// The agent's cache of API objects, as small views: every Node (the mass-drain guard compares this
// node with the others), our own Node, the Services, and the EndpointSlices indexed by Service
// with this node's endpoint counts. It only stores and indexes; each update says what it changed,
// and the agent state (agent-state.ts) decides what that means for the answers.
import type { AnnotationProblem, Parsed, LocalEndpoints, NodeView, ServiceView, SliceView } from './views.js';

export type ResourceName = 'nodes' | 'services' | 'endpointslices';

export interface StoredService {
  readonly view: ServiceView;
  /** Serialised problems, to report each bad annotation once per change, not once per event. */
  readonly problemsKey: string;
}

/** A Node update that changes something the agent reads. */
export interface NodeUpdate {
  /** The Node is ours (--node-name). */
  self: boolean;
  /** Our Node's bad annotations, when they changed (to report once per change). */
  problems: AnnotationProblem[];
}

export class ObjectStore {
  private ownNode: NodeView | undefined;
  private ownProblemsKey = '';
  private readonly nodes = new Map<string, NodeView>();
  private readonly listed = new Set<ResourceName>();
  private readonly serviceMap = new Map<string, StoredService>();
  private readonly slices = new Map<string, SliceView>();
  private readonly slicesByService = new Map<string, Set<string>>();
  /** Local endpoint counts per Service, dropped when one of its slices changes. */
  private readonly endpointsCache = new Map<string, LocalEndpoints | undefined>();

  constructor(private readonly nodeName: string) {}

  /** False when the resource was listed already (a relist). */
  markListed(resource: ResourceName): boolean {
    if (this.listed.has(resource)) return false;
    this.listed.add(resource);
    return true;
  }

  isListed(resource: ResourceName): boolean {
    return this.listed.has(resource);
  }

  /** Every resource has had its first full list. */
  get synced(): boolean {
    return this.listed.size === 3;
  }

  /** Undefined when nothing we read changed (status heartbeats, images, conditions we ignore). */
  upsertNode(c: Parsed<NodeView>): NodeUpdate | undefined {
    const self = c.view.name === this.nodeName;
    const prev = this.nodes.get(c.view.name);
    this.nodes.set(c.view.name, c.view);
    if (self) this.ownNode = c.view;
    const key = self ? problemsKey(c.problems) : '';
    if (prev !== undefined && sameNodeView(prev, c.view) && (!self || key === this.ownProblemsKey)) return undefined;
    if (!self) return { self, problems: [] };
    const problems = newProblems(c.problems, key, this.ownProblemsKey);
    this.ownProblemsKey = key;
    return { self, problems };
  }

  /** Undefined when no such Node was known. */
  deleteNode(name: string): { self: boolean } | undefined {
    if (!this.nodes.delete(name)) return undefined;
    const self = name === this.nodeName;
    if (self) this.ownNode = undefined;
    return { self };
  }

  /** Stores the Service; returns its previous view and its bad annotations, when they changed. */
  upsertService(key: string, c: Parsed<ServiceView>): { prev: ServiceView | undefined; problems: AnnotationProblem[] } {
    const prev = this.serviceMap.get(key);
    const pk = problemsKey(c.problems);
    this.serviceMap.set(key, { view: c.view, problemsKey: pk });
    return { prev: prev?.view, problems: newProblems(c.problems, pk, prev?.problemsKey ?? '') };
  }

  /** The view removed, or undefined when no such Service was known. */
  deleteService(key: string): ServiceView | undefined {
    const prev = this.serviceMap.get(key);
    if (prev !== undefined) this.serviceMap.delete(key);
    return prev?.view;
  }

  /**
   * The keys of the Services whose endpoint counts changed: the one it counts for now, and the one
   * it counted for before when its kubernetes.io/service-name label moved it (that one lost it).
   */
  upsertSlice(c: Parsed<SliceView>): readonly string[] {
    const id = sliceId(c);
    const prev = this.slices.get(id);
    const moved = prev !== undefined && prev.serviceKey !== c.view.serviceKey;
    if (moved) this.unindexSlice(id, prev.serviceKey);
    this.slices.set(id, c.view);
    let set = this.slicesByService.get(c.view.serviceKey);
    if (set === undefined) this.slicesByService.set(c.view.serviceKey, (set = new Set()));
    set.add(id);
    this.endpointsCache.delete(c.view.serviceKey);
    if (!moved) return [c.view.serviceKey];
    this.endpointsCache.delete(prev.serviceKey);
    return [c.view.serviceKey, prev.serviceKey];
  }

  /** Returns the key of the Service it counted for, or undefined when no such slice was known. */
  deleteSlice(c: Parsed<SliceView>): string | undefined {
    const id = sliceId(c);
    const prev = this.slices.get(id);
    if (prev === undefined) return undefined;
    this.slices.delete(id);
    this.unindexSlice(id, prev.serviceKey);
    this.endpointsCache.delete(prev.serviceKey);
    return prev.serviceKey;
  }

  get node(): NodeView | undefined {
    return this.ownNode;
  }

  allNodes(): IterableIterator<NodeView> {
    return this.nodes.values();
  }

  get services(): ReadonlyMap<string, StoredService> {
    return this.serviceMap;
  }

  get nodeCount(): number {
    return this.nodes.size;
  }

  get sliceCount(): number {
    return this.slices.size;
  }

  /** Endpoints of a Service on this node, and the most ready on any one node; undefined without slices. */
  localEndpoints(key: string): LocalEndpoints | undefined {
    if (this.endpointsCache.has(key)) return this.endpointsCache.get(key);
    const counted = this.countEndpoints(key);
    this.endpointsCache.set(key, counted);
    return counted;
  }

  private countEndpoints(key: string): LocalEndpoints | undefined {
    const ids = this.slicesByService.get(key);
    if (ids === undefined) return undefined;
    const perNode = new Map<string, number>();
    let ready = 0;
    let terminating = 0;
    for (const id of ids) {
      const s = this.slices.get(id);
      if (s === undefined) continue;
      for (const [node, [r, t]] of s.perNode) {
        perNode.set(node, (perNode.get(node) ?? 0) + r);
        if (node === this.nodeName) {
          ready += r;
          terminating += t;
        }
      }
    }
    let maxReadyPerNode = 0;
    for (const n of perNode.values()) if (n > maxReadyPerNode) maxReadyPerNode = n;
    return { ready, terminating, maxReadyPerNode };
  }

  private unindexSlice(id: string, key: string): void {
    const set = this.slicesByService.get(key);
    set?.delete(id);
    if (set?.size === 0) this.slicesByService.delete(key);
  }
}

function sameNodeView(a: NodeView, b: NodeView): boolean {
  if (a.state !== b.state || a.weight !== b.weight || a.signals.length !== b.signals.length) return false;
  return a.signals.every((s, i) => s.name === b.signals[i]?.name && s.since === b.signals[i]?.since);
}

function problemsKey(problems: AnnotationProblem[]): string {
  // The digest, not the value: a key per Service must stay small whatever the tenant wrote.
  return problems.map((p) => `${p.annotation}=${p.digest}`).join('\n');
}

/** The problems to report: all of them when they differ from the last reported, else none. */
function newProblems(problems: AnnotationProblem[], key: string, prevKey: string): AnnotationProblem[] {
  return problems.length > 0 && key !== prevKey ? problems : [];
}

function sliceId(c: Parsed<SliceView>): string {
  return `${c.metadata.namespace ?? ''}/${c.metadata.name}`;
}
