// Tells the operator what changed: log lines, metrics and Kubernetes Events on the node, once per
// change rather than once per event. The agent state calls it as its StateObserver; the other parts of
// the daemon (API health, override file, staleness, coordinator decision, dedicated ports, informers,
// delivery receipts) report here too, so daemon.ts holds the wiring and none of the wording.
// The agent state needs its observer when it is built, so the observer comes first and is attached to
// the agent state, the dedicated ports and the Event recorder once those exist (attach()).
import type { RunConfig } from './run-config.js';
import type { Logger } from '../platform/log.js';
import type { Metrics } from './metrics.js';
import type { AgentState, StateObserver } from '../core/agent-state.js';
import type { Reply } from '../core/decide.js';
import type { NodeView, OperatorState } from '../core/views.js';
import type { GuardResult } from '../core/mass-drain-guard.js';
import { formatReply } from '../core/reply.js';
import type { AnnotationProblem } from '../core/views.js';
import { describe, type Transition } from '../kube/api-health.js';
import { MAX_OBJECT_BYTES } from '../kube/transport.js';
import type { AnswerClass, EventOutcome, NodeEventRecorder } from '../kube/events.js';
import type { DedicatedPorts, PortEvents } from './agent/ports.js';
import type { Receipts } from './agent/receipts.js';
import type { OverrideFailure, OverrideReading } from './override.js';

export type ObserverConfig = Pick<
  RunConfig,
  'nodeName' | 'events' | 'maxDrainFraction' | 'overrideFile' | 'maxStalenessMs' | 'guardNamespace'
>;

/** What the observer reads and posts to, built after it. */
export interface Observed {
  state: AgentState;
  ports: DedicatedPorts;
  events: NodeEventRecorder;
}

export class DaemonObserver implements StateObserver {
  private observed: Observed | undefined;
  /** The first list of Services is not a change: a summary line says how many arrived. */
  private servicesListed = false;
  /** The last answer class an Event was considered for: one Event per change of class. */
  private lastClass: AnswerClass = 'none';
  /** "cleared" only after something was there: no WARN at every start. */
  private overrideSeen = false;
  private delivered = false;

  constructor(
    private readonly cfg: ObserverConfig,
    private readonly log: Logger,
    private readonly metrics: Metrics,
    private readonly receipts: Receipts,
  ) {}

  attach(observed: Observed): void {
    this.observed = observed;
  }

  private get o(): Observed {
    if (this.observed === undefined) throw new Error('observer used before attach()');
    return this.observed;
  }

  // ---- StateObserver: the agent state's changes ----

  nodeAnswerChanged(from: Reply, to: Reply, node: NodeView | undefined): void {
    const { state, events } = this.o;
    this.receipts.nodeAnswerIs(state.nodeReplyBytes());
    const text = formatReply(to).trim() || '(no reply)';
    this.log.info(
      {
        node: this.cfg.nodeName,
        from: formatReply(from).trim() || null,
        to: text,
        why: to.why,
        known: node !== undefined,
      },
      `node answer is now "${text}": ${to.why}`,
    );
    const cls: AnswerClass = state.isHeld && to.kind === 'ready' ? 'held' : to.kind;
    if (cls !== this.lastClass && cls !== 'none' && this.cfg.events && state.synced) events.record(cls, text, to.why);
    this.lastClass = cls;
  }

  guardChanged(from: GuardResult, to: GuardResult): void {
    if (!this.o.state.synced && !to.engaged) return;
    const fields = {
      readyNodes: to.readyNodes,
      budget: to.budget,
      draining: [...to.explicit, ...to.draining],
      held: to.held,
    };
    if (to.engaged) {
      const why =
        `so that at most ${to.budget} of ${to.readyNodes} Ready nodes drain ` +
        `(--max-drain-fraction ${this.cfg.maxDrainFraction})`;
      this.log.warn(fields, `mass-drain guard engaged: ${to.held.length} node(s) held serving ${why}`);
    } else if (from.engaged) this.log.warn(fields, 'mass-drain guard released: every drain signal is honoured again');
  }

  serviceWeightChanged(key: string, from: number | undefined, to: number | undefined): void {
    if (!this.servicesListed) return;
    const fields = { service: key, from: from ?? null, to: to ?? null };
    this.log.info(fields, to === undefined ? `service ${key} removed` : `service ${key} weight ${to}%`);
  }

  annotationProblem(subject: string, p: AnnotationProblem): void {
    this.metrics.invalidAnnotations.inc({ annotation: p.annotation });
    // Once per change, the value cut to its first bytes and escaped (views.ts keeps no more).
    this.log.warn(
      { subject, annotation: p.annotation, value: p.value, bytes: p.length, reason: p.reason, using: p.fallback },
      `invalid annotation ${p.annotation}="${p.value}" on ${subject}: ${p.reason}; using ${p.fallback}`,
    );
  }

  agentPortsChanged(): void {
    const { state, ports } = this.o;
    if (state.synced) ports.reconcile(state.agentPortRequests());
  }

  // ---- the rest of the daemon ----

  /** A resource's list landed; called before the agent state marks it listed. */
  listed(resource: 'nodes' | 'services'): void {
    const { state } = this.o;
    if (resource === 'nodes') {
      const node = this.cfg.nodeName;
      if (!state.synced && state.nodeView === undefined)
        this.log.warn({ node }, `node ${node} not found in the cluster; answering drain`);
      return;
    }
    if (!this.servicesListed) this.log.info({ services: state.serviceCount }, `services listed: ${state.serviceCount}`);
    this.servicesListed = true;
  }

  /** One line per change of how the API server treats us, not one per retry. */
  apiHealthChanged({ resource, from, to, health: h }: Transition): void {
    if (to === 'ok') {
      if (from !== 'connecting') this.log.info({ resource, from }, `API server answers for ${resource} again`);
      return;
    }
    const effect = this.o.state.synced ? 'answers keep the last known state' : 'no answers yet (never synced)';
    this.log.error(
      { resource, apiState: to, err: h.lastError, ...(h.detail === null ? {} : { detail: h.detail }) },
      `API server ${describe(to)} for ${resource}: ${h.detail ?? h.lastError ?? ''}; ${effect}`,
    );
  }

  /** A list/watch stopped and will restart (the health transition, if any, is the operator's line). */
  watchRestarted(resource: string, reason: string, err: unknown, delayMs: number): void {
    this.metrics.watchRestarts.inc({ resource, reason });
    // Each retry is only worth debug.
    this.log.debug(
      { resource, reason, err: err instanceof Error ? err.message : String(err), retryInMs: delayMs },
      `${resource} watch stopped (${reason}); restarting in ${delayMs}ms`,
    );
  }

  tooLarge(resource: string, where: 'list' | 'watch', bytes: number): void {
    this.metrics.tooLargeObjects.inc({ resource, where });
    this.log.warn(
      { resource, where, bytes },
      where === 'list'
        ? `${resource}: skipped an object of ${bytes} bytes in a list (over the ${MAX_OBJECT_BYTES}-byte cap)`
        : `${resource}: a watch event of over ${MAX_OBJECT_BYTES} bytes; relisting`,
    );
  }

  /** --max-staleness crossed, one way or the other. */
  staleChanged(stale: boolean): void {
    const max = this.cfg.maxStalenessMs;
    if (stale) {
      this.log.error(
        { maxStalenessMs: max },
        `no API contact for over ${max / 1000}s (--max-staleness): answering drain until it returns`,
      );
    } else this.log.warn('API contact is back: staleness drain lifted');
  }

  /** The override file says something new (once per distinct content). */
  overrideRead(r: OverrideReading): void {
    const file = this.cfg.overrideFile;
    const wasSeen = this.overrideSeen;
    this.overrideSeen = r.kind !== 'none';
    if (r.kind === 'none' && !wasSeen) {
      // missing or empty from the start: nothing to say
    } else if (r.kind === 'invalid') {
      this.metrics.invalidOverrides.inc();
      this.log.error(
        { file, content: r.content },
        `override file ${file} holds "${r.content}", not drain, maint or ready; ignored`,
      );
    } else if (r.kind === 'state') {
      this.log.warn({ file, override: r.state }, `override file says ${r.state}: it beats every other signal`);
    } else {
      this.log.warn({ file, override: null }, 'override file cleared');
    }
  }

  /** The override file is there but cannot be used (once per distinct failure); the override in force stays. */
  overrideFailed(reason: OverrideFailure, detail: string, inForce: OperatorState | undefined): void {
    const file = this.cfg.overrideFile;
    this.metrics.overrideErrors.inc({ reason });
    const effect = inForce === undefined ? '; no override in force' : keeps(inForce);
    this.log.error(
      { file, reason, detail, override: inForce ?? null },
      `override file ${file} cannot be used (${reason}): ${detail}${effect}`,
    );
  }

  /** Coordinated mode: one line per change of the decision's state (and one at start when there is none). */
  decisionStateChanged(from: string, to: string, generation: number | undefined): void {
    const namespace = this.cfg.guardNamespace;
    const fields = { from, to, generation: generation ?? null, configmap: `${namespace}/haproxy-node-agent-guard` };
    if (to === 'fresh') {
      this.log.info(
        fields,
        `coordinator decision is fresh (generation ${generation ?? '?'}): automatic drains follow it`,
      );
    } else if (to === 'stale') {
      const kept = 'keeping the last one; new automatic drains are held';
      this.log.warn(fields, `coordinator decision is stale (no heartbeat within --guard-stale-after): ${kept}`);
    } else {
      const still = 'explicit state annotations, the override file and down signals still apply';
      this.log.warn(fields, `no coordinator decision in ${namespace}: automatic drains are held (${still})`);
    }
  }

  /** kube-proxy's health port turned healthy or unhealthy. */
  dataplaneChanged(healthy: boolean, note: string): void {
    if (this.cfg.events) this.o.events.recordDataplane(healthy, note);
  }

  /** Called every tick: the Event when the drain is proven delivered (the metric and /drained compute it on demand). */
  deliveryChecked(): void {
    const { state, events } = this.o;
    const now = this.receipts.view();
    if (now.delivered && !this.delivered && this.cfg.events && state.synced) {
      const text = state.nodeReplyBytes().toString('latin1').trim();
      const peers = now.peers.length;
      this.log.info(
        { node: this.cfg.nodeName, peers },
        `drain delivered: all ${peers} load balancer(s) probing have received "${text}"`,
      );
      events.recordDrainDelivered(`every load balancer probing this node (${now.peers.length}) has received "${text}"`);
    }
    this.delivered = now.delivered;
  }

  readonly portEvents: PortEvents = {
    opened: (port, key) => this.log.info({ port, service: key }, `dedicated agent port ${port} answers for ${key}`),
    closed: (port, key) => this.log.info({ port, service: key }, `dedicated agent port ${port} for ${key} closed`),
    refused: (port, key, reason, detail) => {
      this.metrics.agentPortRefusals.inc({ reason });
      this.log.warn(
        { port, service: key, reason, detail },
        `agent port ${port} for ${key} refused (${reason}): ${detail}`,
      );
    },
  };

  /** What became of each Kubernetes Event the recorder tried to post. */
  readonly eventOutcome: EventOutcome = {
    posted: (reason) => this.metrics.events.inc({ reason, result: 'posted' }),
    dropped: (reason) => this.metrics.events.inc({ reason, result: 'dropped' }),
    failed: (reason, err) => {
      this.metrics.events.inc({ reason, result: 'failed' });
      const message = err instanceof Error ? err.message : String(err);
      this.log.warn({ reason, err: message }, `could not post Event ${reason} on node ${this.cfg.nodeName}`);
    },
  };
}

/** What an unreadable override file leaves in force (nothing to add when there is none). */
function keeps(inForce: OperatorState | undefined): string {
  return inForce === undefined
    ? ''
    : `; the last good override (${inForce}) stays in force until the file is fixed or removed`;
}
