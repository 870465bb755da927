// The agent state: what the kube adapters, the override file, the data-plane poller and the clock
// tell the agent, and the answers that follow. It composes one unit per job (object-store.ts: the
// cached views; guard-verdict.ts: the mass-drain guard by mode; node-clocks.ts: slow start and the
// drain deadline; answer.ts: the interned answers; status-document.ts: /status; port-requests.ts:
// dedicated-port order) and recomputes the answers on change, deciding the node once per recompute,
// so a probe is one Map lookup. Every update returns what changed (Changes); the caller acts on it.
import { decide, decideNode, decideWith, type DecisionInput, type NodeInput, type NodeVerdict } from './decide.js';
import { AnswerInterner, type Answer } from './answer.js';
import { NodeClocks } from './node-clocks.js';
import { ObjectStore, type ResourceName } from './object-store.js';
import { statusDocument, type StatusDocument } from './status-document.js';
import { agentPortRequests } from './port-requests.js';
import { serviceKey } from './reply.js';
import { KeyPrefixes } from './key-prefixes.js';
import { NO_GUARD, sameGuard, type GuardResult } from './mass-drain-guard.js';
import { guardVerdict, type GuardMode } from './guard-verdict.js';
import { NO_CHANGES, finish, type Changes, type Pending } from './changes.js';
import type { Decision } from './guard-decision.js';
import type { Policy } from './policy.js';
import type { Parsed, LocalEndpoints, NodeView, OperatorState } from './views.js';
import type { ServiceView, SliceView } from './views.js';

export type { ResourceName } from './object-store.js';
export type { StatusDocument } from './status-document.js';
export type { Changes } from './changes.js';

export interface AgentStateOptions {
  nodeName: string;
  slowStartMs: number;
  now: () => number;
  policy: Policy;
  maxDrainFraction: number;
  /** Where the mass-drain guard's verdict comes from (guard-verdict.ts); local by default. */
  guardMode?: GuardMode;
  /** Answer down after answering drain this long; 0 = off. */
  drainDeadlineMs?: number;
}

export class AgentState {
  private readonly store: ObjectStore;
  private readonly clocks: NodeClocks;
  private readonly answers = new AnswerInterner();
  private readonly serviceAnswers = new Map<string, Answer>();
  /** The Service keys that are a prefix of a longer one (kept with serviceAnswers' keys). */
  private readonly prefixes = new KeyPrefixes();
  private current: Answer;
  /** The node verdict of the last recompute; undefined while nothing can be decided (see recompute). */
  private verdict: NodeVerdict | undefined;
  private guard: GuardResult = NO_GUARD;
  private held = false;
  /** Coordinated mode: the coordinator's decision as last seen. */
  private decision: Decision | undefined;
  /** Coordinated mode, until the decision's first read is over (see decisionRead). */
  private decisionPending: boolean;
  private override: OperatorState | undefined;
  private stale = false;
  /** Since when kube-proxy's health port has said unhealthy (run/dataplane/), if it does. */
  private proxyUnhealthySince: number | undefined;
  /** Bumped on every change status() could show: /status is serialized once per version. */
  version = 0;

  constructor(private readonly opts: AgentStateOptions) {
    this.store = new ObjectStore(opts.nodeName);
    this.decisionPending = opts.guardMode === 'coordinated';
    this.clocks = new NodeClocks({
      slowStartMs: opts.slowStartMs,
      drainDeadlineMs: opts.drainDeadlineMs ?? 0,
      now: opts.now,
    });
    this.current = this.answerFor(undefined);
  }

  // ---- probe path ----

  /** The answer for a probe that names no Service (or one we do not know). */
  nodeAnswer(): Answer {
    return this.current;
  }

  /** The answer for "namespace/name", or undefined when no such Service is known. */
  serviceAnswer(key: string): Answer | undefined {
    return this.serviceAnswers.get(key);
  }

  /** A longer known Service key starts with this one ("shop/api" of "shop/api-canary"). */
  isPrefixOfOtherKey(key: string): boolean {
    return this.prefixes.has(key);
  }

  /** Every resource listed and, in coordinated mode, the decision's first read over. */
  get synced(): boolean {
    return this.store.synced && !this.decisionPending;
  }

  // ---- updates from the adapters ----

  markListed(resource: ResourceName): Changes {
    if (!this.store.markListed(resource)) return NO_CHANGES;
    this.version++;
    const p: Pending = { problems: [] };
    if (resource === 'nodes') this.nodesChanged(false, p);
    // Until every resource is listed all answers are "no reply" (or the override): one
    // recompute when the last list lands, not one per list.
    if (this.synced) this.recompute(p);
    return this.finish(p);
  }

  upsertNode(c: Parsed<NodeView>): Changes {
    const u = this.store.upsertNode(c);
    if (u === undefined) return NO_CHANGES;
    const p: Pending = { problems: u.problems.map((problem) => ({ subject: `node/${c.view.name}`, problem })) };
    this.nodesChanged(u.self, p);
    return this.finish(p);
  }

  deleteNode(name: string): Changes {
    const u = this.store.deleteNode(name);
    if (u === undefined) return NO_CHANGES;
    const p: Pending = { problems: [] };
    this.nodesChanged(u.self, p);
    return this.finish(p);
  }

  /**
   * Coordinated mode: the decision's first read is over, listed or failed (a 403, say). Until then
   * nothing is answered, as before a first list: a restarted agent never answers from "no decision
   * yet" while the decision is a moment away. After it, no decision means 'missing' (automatic
   * drains held, explicit intent honoured), so an unreadable decision never keeps answers away.
   */
  decisionRead(): Changes {
    if (!this.decisionPending) return NO_CHANGES;
    this.decisionPending = false;
    this.version++;
    const p: Pending = { problems: [] };
    if (this.synced) this.recompute(p);
    return this.finish(p);
  }

  /** Coordinated mode: the coordinator's decision changed (or went away). */
  setDecision(decision: Decision | undefined): Changes {
    this.decision = decision;
    const p: Pending = { problems: [] };
    this.nodesChanged(false, p);
    return this.finish(p);
  }

  upsertService(c: Parsed<ServiceView>): Changes {
    const key = serviceKey(c.view.namespace, c.view.name);
    this.version++;
    const { prev, problems } = this.store.upsertService(key, c);
    this.serviceAnswers.set(key, this.answerFor(c.view));
    if (prev === undefined) this.prefixes.add(key);
    return {
      problems: problems.map((problem) => ({ subject: key, problem })),
      ...(prev?.weight === c.view.weight ? {} : { serviceWeight: { key, from: prev?.weight, to: c.view.weight } }),
      agentPorts: prev?.agentPort !== c.view.agentPort,
    };
  }

  deleteService(namespace: string, name: string): Changes {
    const key = serviceKey(namespace, name);
    const prev = this.store.deleteService(key);
    if (prev === undefined) return NO_CHANGES;
    this.serviceAnswers.delete(key);
    this.prefixes.delete(key);
    this.version++;
    return {
      problems: [],
      serviceWeight: { key, from: prev.weight, to: undefined },
      agentPorts: prev.agentPort !== undefined,
    };
  }

  /** Slices change Local Services' answers only, and nothing an operator is told about. */
  upsertSlice(c: Parsed<SliceView>): void {
    // A slice relabelled to another Service changes both: the new one gains it, the old one loses it.
    for (const key of this.store.upsertSlice(c)) this.recomputeService(key);
  }

  deleteSlice(c: Parsed<SliceView>): void {
    const key = this.store.deleteSlice(c);
    if (key !== undefined) this.recomputeService(key);
  }

  setOverride(state: OperatorState | undefined): Changes {
    if (state === this.override) return NO_CHANGES;
    this.override = state;
    return this.recomputeAll();
  }

  setStale(stale: boolean): Changes {
    if (stale === this.stale) return NO_CHANGES;
    this.stale = stale;
    return this.recomputeAll();
  }

  /** Data-plane verdict from the health poller: called on transitions only, never per poll. */
  setProxyUnhealthy(since: number | undefined): Changes {
    if (since === this.proxyUnhealthySince) return NO_CHANGES;
    this.proxyUnhealthySince = since;
    return this.recomputeAll();
  }

  /** Called about once a second: advances the slow-start ramp and the drain deadline. */
  tick(): Changes {
    return this.clocks.tick() ? this.recomputeAll() : NO_CHANGES;
  }

  // ---- reads for /status, metrics and the dedicated ports ----

  get nodeCount(): number {
    return this.store.nodeCount;
  }

  get guardResult(): GuardResult {
    return this.guard;
  }

  get isHeld(): boolean {
    return this.held;
  }

  get serviceCount(): number {
    return this.store.services.size;
  }

  get sliceCount(): number {
    return this.store.sliceCount;
  }

  get nodeView(): NodeView | undefined {
    return this.store.node;
  }

  get overrideState(): OperatorState | undefined {
    return this.override;
  }

  get isStale(): boolean {
    return this.stale;
  }

  get rampFactor(): number {
    return this.clocks.ramp;
  }

  /** Services asking for a dedicated agent port, as [port, key], oldest claimant first. */
  agentPortRequests(): Array<[number, string]> {
    return agentPortRequests(this.store.services);
  }

  localEndpoints(key: string): LocalEndpoints | undefined {
    return this.store.localEndpoints(key);
  }

  status(): StatusDocument {
    return statusDocument({
      nodeName: this.opts.nodeName,
      store: this.store,
      nodeAnswer: this.current,
      serviceAnswers: this.serviceAnswers,
      override: this.override,
      guard: this.guard,
      held: this.held,
      maxDrainFraction: this.opts.maxDrainFraction,
      stale: this.stale,
      clocks: this.clocks,
      drainDeadlineMs: this.opts.drainDeadlineMs ?? 0,
    });
  }

  // ---- internals ----

  /** Re-run the guard; recompute our answers only when our node or our held status changed. */
  private nodesChanged(self: boolean, p: Pending): void {
    this.version++;
    const prev = this.guard;
    const { result, held } = this.guardVerdict();
    this.guard = result;
    if (!sameGuard(prev, result)) p.guard = { from: prev, to: result };
    if (self || held !== this.held) {
      this.held = held;
      this.recompute(p);
    }
  }

  private guardVerdict(): { result: GuardResult; held: boolean } {
    return guardVerdict({
      mode: this.opts.guardMode ?? 'local',
      nodeName: this.opts.nodeName,
      policy: this.opts.policy,
      maxDrainFraction: this.opts.maxDrainFraction,
      node: this.store.node,
      nodes: this.store.isListed('nodes') ? this.store.allNodes() : undefined,
      decision: this.decision,
    });
  }

  /**
   * Our Node as the API says, plus the local-only proxy-unhealthy signal. Kept out of the store:
   * other agents cannot see it, and the guard must compute the same answer on every node.
   */
  private decisionNode(): NodeView | undefined {
    const node = this.store.node;
    if (node === undefined || this.proxyUnhealthySince === undefined) return node;
    return { ...node, signals: [...node.signals, { name: 'proxy-unhealthy', since: this.proxyUnhealthySince }] };
  }

  private nodeInput(): NodeInput {
    return {
      node: this.decisionNode(),
      override: this.override,
      stale: this.stale,
      policy: this.opts.policy,
      held: this.held,
    };
  }

  private input(service: ServiceView | undefined): DecisionInput {
    return {
      ...this.nodeInput(),
      synced: this.synced,
      service,
      endpoints:
        service?.local === true ? this.store.localEndpoints(serviceKey(service.namespace, service.name)) : undefined,
      ramp: this.clocks.ramp,
      drainExpired: this.clocks.drainExpired,
    };
  }

  /** From the verdict of the last recompute: every input of decideNode changes only through recompute(). */
  private answerFor(service: ServiceView | undefined): Answer {
    const input = this.input(service);
    return this.answers.intern(this.verdict === undefined ? decide(input) : decideWith(this.verdict, input));
  }

  private recomputeAll(): Changes {
    const p: Pending = { problems: [] };
    this.recompute(p);
    return this.finish(p);
  }

  private recompute(p: Pending): void {
    this.version++;
    const synced = this.synced;
    // Not synced and no override: decide() answers "no reply" without a verdict.
    this.verdict = synced || this.override !== undefined ? decideNode(this.nodeInput()) : undefined;
    const prev = this.current;
    this.clocks.advance(this.verdict, synced, prev.kind);
    this.current = this.answerFor(undefined);
    // A Service's answer depends only on its weight (and, for Local ones, its endpoint counts):
    // decide once per distinct input, not once per Service.
    const memo = new Map<string, Answer>();
    for (const [key, { view }] of this.store.services) {
      const ep = view.local ? this.store.localEndpoints(key) : undefined;
      const k =
        ep === undefined
          ? `${view.weight}${view.local ? ' L' : ''}`
          : `${view.weight} ${ep.ready} ${ep.terminating} ${ep.maxReadyPerNode}`;
      let hit = memo.get(k);
      if (hit === undefined) {
        hit = this.answerFor(view);
        memo.set(k, hit);
      }
      this.serviceAnswers.set(key, hit);
    }
    if (prev !== this.current) p.nodeFrom ??= prev;
  }

  private recomputeService(key: string): void {
    const view = this.store.services.get(key)?.view;
    if (view === undefined || !view.local) return;
    this.version++;
    this.serviceAnswers.set(key, this.answerFor(view));
  }

  private finish(p: Pending): Changes {
    return finish(p, this.current, this.store.node !== undefined, this.held);
  }
}
