// The agent state: small views updated by the kube adapters, the override file and the
// clock, read by the agent and HTTP servers. Reply bytes are computed here on change, so answering
// a probe is one Map lookup.
import { decide, decideNode, slowStartFactor, type Reply } from './decide.js';
import type { ClaimOrder, LocalEndpoints, NodeView, OperatorState, ServiceView } from './views.js';
import { compareClaims } from './port-claims.js';
import { formatReply, replyBuffer, serviceKey } from './reply.js';
import { NO_GUARD, computeGuard, type GuardResult } from './mass-drain-guard.js';
import type { Policy } from './policy.js';
import type { AnnotationProblem, Cached, SliceView } from './views.js';

/** Notified of every change an operator should hear about (logs, metrics). */
export interface StateObserver {
  nodeAnswerChanged(from: Reply, to: Reply, node: NodeView | undefined): void;
  serviceWeightChanged(key: string, from: number | undefined, to: number | undefined): void;
  /** subject: "node/NAME" or "namespace/name" of a Service. */
  annotationProblem(subject: string, problem: AnnotationProblem): void;
  /** Some Service's agent-port annotation changed: reconcile the dedicated listeners. */
  agentPortsChanged(): void;
  /** The mass-drain guard's verdict changed (engaged, released, or other nodes held). */
  guardChanged(from: GuardResult, to: GuardResult): void;
}

interface ServiceEntry {
  view: ServiceView;
  reply: Reply;
  bytes: Buffer;
  /** Serialised problems, to report each bad annotation once per change, not once per event. */
  problemsKey: string;
}

export type ResourceName = 'nodes' | 'services' | 'endpointslices';

export interface AgentStateOptions {
  nodeName: string;
  slowStartMs: number;
  now: () => number;
  policy: Policy;
  maxDrainFraction: number;
  /** Coordinated or off mode: the guard's verdict comes from outside instead of all Nodes. */
  guardVerdict?: (node: NodeView | undefined) => { result: GuardResult; held: boolean };
  /** Answer down after answering drain this long; 0 = off. */
  drainDeadlineMs?: number;
}

export class AgentState {
  private node: NodeView | undefined;
  /** Every Node, as small views: the mass-drain guard needs the whole cluster's picture. */
  private readonly nodes = new Map<string, NodeView>();
  private guard: GuardResult = NO_GUARD;
  private held = false;
  private nodeProblemsKey = '';
  private readonly listed = new Set<ResourceName>();
  private readonly services = new Map<string, ServiceEntry>();
  private readonly slices = new Map<string, SliceView>();
  private readonly slicesByService = new Map<string, Set<string>>();
  /** Local endpoint counts per Service, dropped when one of its slices changes. */
  private readonly endpointsCache = new Map<string, LocalEndpoints | undefined>();
  private override: OperatorState | undefined;
  private stale = false;
  /** Since when kube-proxy's health port has said unhealthy (run/dataplane/), if it does. */
  private proxyUnhealthySince: number | undefined;
  /** When the node last turned ready after not being ready (slow start), if it did. */
  private readySince: number | undefined;
  private ramp = 1;
  /** When the node-level verdict turned drain (for --drain-deadline), and whether that deadline passed. */
  private drainSince: number | undefined;
  private drainExpired = false;
  private nodeAnswer: Reply;
  private nodeBytes: Buffer;
  /** Identical replies share one Buffer: thousands of services answer the same few lines. */
  private readonly interned = new Map<string, Buffer>();
  /** Bumped on every change status() could show: /status is serialized once per version. */
  version = 0;

  constructor(
    private readonly opts: AgentStateOptions,
    private readonly observer: StateObserver,
  ) {
    this.nodeAnswer = this.decideFor(undefined);
    this.nodeBytes = this.bytes(this.nodeAnswer);
  }

  // ---- probe path ----

  /** Bytes to write for a probe that names no Service (or one we do not know). */
  nodeReplyBytes(): Buffer {
    return this.nodeBytes;
  }

  /** Bytes for "namespace/name", or undefined when no such Service is known. */
  serviceReplyBytes(key: string): Buffer | undefined {
    return this.services.get(key)?.bytes;
  }

  get synced(): boolean {
    return this.listed.size === 3;
  }

  // ---- updates from the adapters ----

  markListed(resource: ResourceName): void {
    if (this.listed.has(resource)) return;
    this.listed.add(resource);
    this.version++;
    if (resource === 'nodes') this.nodesChanged(false);
    // Until every resource is listed all answers are "no reply" (or the override): one
    // recompute when the last list lands, not one per list.
    if (this.synced) this.recomputeAll();
  }

  upsertNode(c: Cached<NodeView>): void {
    const prev = this.nodes.get(c.view.name);
    this.nodes.set(c.view.name, c.view);
    // Most Node updates (status heartbeats, images, conditions we ignore) change nothing we read.
    if (
      prev !== undefined &&
      sameNodeView(prev, c.view) &&
      (c.view.name !== this.opts.nodeName || problemsKey(c.problems) === this.nodeProblemsKey)
    ) {
      if (c.view.name === this.opts.nodeName) this.node = c.view;
      return;
    }
    if (c.view.name === this.opts.nodeName) {
      this.reportProblems(`node/${c.view.name}`, c.problems, this.nodeProblemsKey);
      this.nodeProblemsKey = problemsKey(c.problems);
      this.node = c.view;
    }
    this.nodesChanged(c.view.name === this.opts.nodeName);
  }

  deleteNode(name: string): void {
    if (!this.nodes.delete(name)) return;
    if (name === this.opts.nodeName) this.node = undefined;
    this.nodesChanged(name === this.opts.nodeName);
  }

  /** Re-run the guard; recompute our replies only when our node or our held status changed. */
  private nodesChanged(self: boolean): void {
    this.version++;
    const prev = this.guard;
    let held: boolean;
    if (this.opts.guardVerdict !== undefined) {
      const v = this.opts.guardVerdict(this.node);
      this.guard = v.result;
      held = v.held;
    } else {
      this.guard = this.listed.has('nodes')
        ? computeGuard(this.nodes.values(), this.opts.policy, this.opts.maxDrainFraction)
        : NO_GUARD;
      held = this.guard.held.includes(this.opts.nodeName);
    }
    if (!sameGuard(prev, this.guard)) this.observer.guardChanged(prev, this.guard);
    if (self || held !== this.held) {
      this.held = held;
      this.recomputeAll();
    }
  }

  /** The external guard verdict changed (a new coordinator decision): apply it. */
  refreshGuard(): void {
    this.nodesChanged(false);
  }

  upsertService(c: Cached<ServiceView>): void {
    const key = serviceKey(c.view.namespace, c.view.name);
    const prev = this.services.get(key);
    this.version++;
    this.reportProblems(key, c.problems, prev?.problemsKey ?? '');
    const reply = this.decideFor(c.view);
    this.services.set(key, { view: c.view, reply, bytes: this.bytes(reply), problemsKey: problemsKey(c.problems) });
    if (prev?.view.weight !== c.view.weight) this.observer.serviceWeightChanged(key, prev?.view.weight, c.view.weight);
    if (prev?.view.agentPort !== c.view.agentPort) this.observer.agentPortsChanged();
  }

  deleteService(namespace: string, name: string): void {
    const key = serviceKey(namespace, name);
    const prev = this.services.get(key);
    if (prev === undefined) return;
    this.services.delete(key);
    this.version++;
    this.observer.serviceWeightChanged(key, prev.view.weight, undefined);
    if (prev.view.agentPort !== undefined) this.observer.agentPortsChanged();
  }

  upsertSlice(c: Cached<SliceView>): void {
    const id = sliceId(c);
    const prev = this.slices.get(id);
    if (prev !== undefined && prev.serviceKey !== c.view.serviceKey) this.unindexSlice(id, prev.serviceKey);
    this.slices.set(id, c.view);
    let set = this.slicesByService.get(c.view.serviceKey);
    if (set === undefined) this.slicesByService.set(c.view.serviceKey, (set = new Set()));
    set.add(id);
    this.endpointsCache.delete(c.view.serviceKey);
    if (prev !== undefined) this.endpointsCache.delete(prev.serviceKey);
    this.recomputeService(c.view.serviceKey);
  }

  deleteSlice(c: Cached<SliceView>): void {
    const id = sliceId(c);
    const prev = this.slices.get(id);
    if (prev === undefined) return;
    this.slices.delete(id);
    this.unindexSlice(id, prev.serviceKey);
    this.endpointsCache.delete(prev.serviceKey);
    this.recomputeService(prev.serviceKey);
  }

  setOverride(state: OperatorState | undefined): void {
    if (state === this.override) return;
    this.override = state;
    this.recomputeAll();
  }

  setStale(stale: boolean): void {
    if (stale === this.stale) return;
    this.stale = stale;
    this.recomputeAll();
  }

  /** Data-plane verdict from the health poller: called on transitions only, never per poll. */
  setProxyUnhealthy(since: number | undefined): void {
    if (since === this.proxyUnhealthySince) return;
    this.proxyUnhealthySince = since;
    this.recomputeAll();
  }

  /** Called about once a second: advances the slow-start ramp. */
  tick(): void {
    const deadline = this.opts.drainDeadlineMs ?? 0;
    if (
      deadline > 0 &&
      this.drainSince !== undefined &&
      !this.drainExpired &&
      this.opts.now() - this.drainSince >= deadline
    ) {
      this.drainExpired = true;
      this.recomputeAll();
    }
    if (this.readySince === undefined) return;
    const ramp = slowStartFactor(this.opts.now(), this.readySince, this.opts.slowStartMs);
    if (ramp === this.ramp) return;
    if (ramp >= 1) this.readySince = undefined;
    this.recomputeAll();
  }

  // ---- reads for /status, metrics and the dedicated ports ----

  get nodeCount(): number {
    return this.nodes.size;
  }

  get guardResult(): GuardResult {
    return this.guard;
  }

  get isHeld(): boolean {
    return this.held;
  }

  get serviceCount(): number {
    return this.services.size;
  }

  get sliceCount(): number {
    return this.slices.size;
  }

  get nodeView(): NodeView | undefined {
    return this.node;
  }

  get nodeReply(): Reply {
    return this.nodeAnswer;
  }

  get overrideState(): OperatorState | undefined {
    return this.override;
  }

  get isStale(): boolean {
    return this.stale;
  }

  get rampFactor(): number {
    return this.ramp;
  }

  /** Services asking for a dedicated agent port, as [port, key], oldest claimant first (see claimOrder). */
  agentPortRequests(): Array<[number, string]> {
    const out: Array<[number, string, ClaimOrder | undefined]> = [];
    for (const [key, e] of this.services)
      if (e.view.agentPort !== undefined) out.push([e.view.agentPort, key, e.view.claim]);
    return out
      .sort((a, b) => compareClaims(a[2], b[2]) || (a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0))
      .map(([p, k]) => [p, k]);
  }

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
        if (node === this.opts.nodeName) {
          ready += r;
          terminating += t;
        }
      }
    }
    let maxReadyPerNode = 0;
    for (const n of perNode.values()) if (n > maxReadyPerNode) maxReadyPerNode = n;
    return { ready, terminating, maxReadyPerNode };
  }

  status(): StatusDocument {
    const services: StatusDocument['services'] = [];
    for (const [key, e] of this.services) {
      services.push({
        key,
        weight: e.view.weight,
        externalTrafficPolicyLocal: e.view.local,
        ...(e.view.local ? { localEndpoints: this.localEndpoints(key) ?? null } : {}),
        ...(e.view.agentPort === undefined ? {} : { agentPort: e.view.agentPort }),
        reply: formatReply(e.reply).trimEnd(),
        why: e.view.weightNote === undefined ? e.reply.why : `${e.reply.why}; ${e.view.weightNote}`,
      });
    }
    services.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    return {
      node: {
        name: this.opts.nodeName,
        known: this.node !== undefined,
        view: this.node ?? null,
        reply: formatReply(this.nodeAnswer).trimEnd(),
        why: this.nodeAnswer.why,
      },
      override: this.override ?? null,
      guard: { maxDrainFraction: this.opts.maxDrainFraction, selfHeld: this.held, ...this.guard },
      stale: this.stale,
      slowStart: {
        factor: this.ramp,
        readySince: this.readySince === undefined ? null : new Date(this.readySince).toISOString(),
      },
      drainDeadline: {
        seconds: (this.opts.drainDeadlineMs ?? 0) / 1000 || null,
        drainingSince: this.drainSince === undefined ? null : new Date(this.drainSince).toISOString(),
        passed: this.drainExpired,
      },
      synced: {
        nodes: this.listed.has('nodes'),
        services: this.listed.has('services'),
        endpointslices: this.listed.has('endpointslices'),
      },
      services,
    };
  }

  // ---- internals ----

  private baseInput() {
    return {
      synced: this.synced,
      node: this.decisionNode(),
      override: this.override,
      stale: this.stale,
      ramp: this.ramp,
      policy: this.opts.policy,
      held: this.held,
      drainExpired: this.drainExpired,
    };
  }

  /**
   * Our Node as the API says, plus the local-only proxy-unhealthy signal. Kept out of `nodes`: other
   * agents cannot see it, and the guard must compute the same answer on every node.
   */
  private decisionNode(): NodeView | undefined {
    if (this.node === undefined || this.proxyUnhealthySince === undefined) return this.node;
    return {
      ...this.node,
      signals: [...this.node.signals, { name: 'proxy-unhealthy', since: this.proxyUnhealthySince }],
    };
  }

  private decideFor(service: ServiceView | undefined): Reply {
    const endpoints =
      service?.local === true ? this.localEndpoints(serviceKey(service.namespace, service.name)) : undefined;
    return decide({ ...this.baseInput(), service, endpoints });
  }

  private recomputeAll(): void {
    this.version++;
    this.updateRamp();
    this.updateDrainClock();
    const prev = this.nodeAnswer;
    this.nodeAnswer = this.decideFor(undefined);
    this.nodeBytes = this.bytes(this.nodeAnswer);
    // A Service's answer depends only on its weight (and, for Local ones, its endpoint counts):
    // decide and format once per distinct input, not once per Service.
    const memo = new Map<string, { reply: Reply; bytes: Buffer }>();
    for (const [key, e] of this.services) {
      const ep = e.view.local ? this.localEndpoints(key) : undefined;
      const k =
        ep === undefined
          ? `${e.view.weight}${e.view.local ? ' L' : ''}`
          : `${e.view.weight} ${ep.ready} ${ep.terminating} ${ep.maxReadyPerNode}`;
      let hit = memo.get(k);
      if (hit === undefined) {
        const reply = this.decideFor(e.view);
        hit = { reply, bytes: this.bytes(reply) };
        memo.set(k, hit);
      }
      e.reply = hit.reply;
      e.bytes = hit.bytes;
    }
    if (formatReply(prev) !== formatReply(this.nodeAnswer) || prev.why !== this.nodeAnswer.why) {
      this.observer.nodeAnswerChanged(prev, this.nodeAnswer, this.node);
    }
  }

  /** Slow start: note when the node-level verdict turns ready after not being ready. */
  private updateRamp(): void {
    const wasOk = this.nodeAnswer.kind === 'ready';
    const verdict = this.synced ? decideNode(this.baseInput()) : undefined;
    const isOk = verdict?.kind === 'ok';
    // Only a transition this process saw: a restart is not a recovery.
    if (isOk && !wasOk && this.nodeAnswer.kind !== 'none' && this.opts.slowStartMs > 0)
      this.readySince = this.opts.now();
    if (!isOk) this.readySince = undefined;
    this.ramp = slowStartFactor(this.opts.now(), this.readySince, this.opts.slowStartMs);
  }

  /** --drain-deadline: note when the node-level verdict turns drain; any other verdict resets it. */
  private updateDrainClock(): void {
    const verdict =
      this.synced || this.override !== undefined ? decideNode({ ...this.baseInput(), drainExpired: false }) : undefined;
    if (verdict?.kind === 'drain') {
      this.drainSince ??= this.opts.now();
    } else {
      this.drainSince = undefined;
      this.drainExpired = false;
    }
  }

  private recomputeService(key: string): void {
    const e = this.services.get(key);
    if (e === undefined || !e.view.local) return;
    this.version++;
    e.reply = this.decideFor(e.view);
    e.bytes = this.bytes(e.reply);
  }

  private unindexSlice(id: string, key: string): void {
    const set = this.slicesByService.get(key);
    set?.delete(id);
    if (set?.size === 0) this.slicesByService.delete(key);
  }

  private reportProblems(subject: string, problems: AnnotationProblem[], prevKey: string): void {
    if (problems.length > 0 && problemsKey(problems) !== prevKey) {
      for (const p of problems) this.observer.annotationProblem(subject, p);
    }
  }

  private bytes(r: Reply): Buffer {
    const text = formatReply(r);
    let b = this.interned.get(text);
    if (b === undefined) {
      b = replyBuffer(r);
      this.interned.set(text, b);
    }
    return b;
  }
}

function sameNodeView(a: NodeView, b: NodeView): boolean {
  if (a.state !== b.state || a.weight !== b.weight || a.signals.length !== b.signals.length) return false;
  return a.signals.every((s, i) => s.name === b.signals[i]?.name && s.since === b.signals[i]?.since);
}

function sameGuard(a: GuardResult, b: GuardResult): boolean {
  return (
    a.budget === b.budget &&
    a.held.join() === b.held.join() &&
    a.draining.join() === b.draining.join() &&
    a.explicit.join() === b.explicit.join()
  );
}

function problemsKey(problems: AnnotationProblem[]): string {
  // The digest, not the value: a key per Service must stay small whatever the tenant wrote.
  return problems.map((p) => `${p.annotation}=${p.digest}`).join('\n');
}

function sliceId(c: Cached<SliceView>): string {
  return `${c.metadata.namespace ?? ''}/${c.metadata.name}`;
}

export interface StatusDocument {
  node: { name: string; known: boolean; view: NodeView | null; reply: string; why: string };
  override: OperatorState | null;
  guard: GuardResult & { maxDrainFraction: number; selfHeld: boolean };
  stale: boolean;
  slowStart: { factor: number; readySince: string | null };
  drainDeadline: { seconds: number | null; drainingSince: string | null; passed: boolean };
  synced: Record<ResourceName, boolean>;
  services: Array<{
    key: string;
    weight: number;
    externalTrafficPolicyLocal: boolean;
    localEndpoints?: LocalEndpoints | null;
    agentPort?: number;
    reply: string;
    why: string;
  }>;
}
