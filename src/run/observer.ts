// Tells the operator what changed: log lines, metrics and Kubernetes Events on the node, once per
// change rather than once per event. daemon.ts hands it what each agent-state update changed
// (Changes) and what the other parts of the daemon report (API health, override file, staleness,
// coordinator decision, dedicated ports, informers, delivery receipts), with the facts the words
// need; the observer only words them: it reads no state and changes nothing but its own counters.
import type { RunConfig } from './run-config.js';
import type { Logger } from '../platform/log.js';
import type { Metrics } from './metrics.js';
import type { Changes } from '../core/agent-state.js';
import type { Answer } from '../core/answer.js';
import type { OperatorState } from '../core/views.js';
import type { GuardResult } from '../core/mass-drain-guard.js';
import type { AnnotationProblem } from '../core/views.js';
import { describe, type Transition } from '../kube/api-health.js';
import { MAX_OBJECT_BYTES } from '../kube/transport.js';
import type { AnswerClass, EventOutcome, NodeEventRecorder } from '../kube/events.js';
import type { PortEvents } from './agent/ports.js';
import type { DeliveryView } from './agent/receipts.js';
import type { OverrideFailure, OverrideReading } from './override.js';
import { errorMessage } from '../core/error-message.js';

export type ObserverConfig = Pick<
  RunConfig,
  'nodeName' | 'events' | 'maxDrainFraction' | 'overrideFile' | 'maxStalenessMs' | 'guardNamespace'
>;

export class DaemonObserver {
  /** The first list of Services is not a change: a summary line says how many arrived. */
  private servicesListedOnce = false;
  /** The last answer class an Event was considered for: one Event per change of class. */
  private lastClass: AnswerClass = 'none';
  /** "cleared" only after something was there: no WARN at every start. */
  private overrideSeen = false;
  private delivered = false;

  constructor(
    private readonly cfg: ObserverConfig,
    private readonly log: Logger,
    private readonly metrics: Metrics,
    private readonly events: NodeEventRecorder,
  ) {}

  // ---- the agent state's changes ----

  /** What one agent-state update changed; `synced`: every resource listed, after the update. */
  stateChanged(c: Changes, synced: boolean): void {
    for (const { subject, problem } of c.problems) this.annotationProblem(subject, problem);
    if (c.guard !== undefined) this.guardChanged(c.guard.from, c.guard.to, synced);
    if (c.serviceWeight !== undefined) this.serviceWeightChanged(c.serviceWeight);
    if (c.nodeAnswer !== undefined) this.nodeAnswerChanged(c.nodeAnswer, synced);
  }

  private nodeAnswerChanged({ from, to, known, held }: NonNullable<Changes['nodeAnswer']>, synced: boolean): void {
    const text = to.text || '(no reply)';
    this.log.info(
      { node: this.cfg.nodeName, from: from.text || null, to: text, why: to.why, known },
      `node answer is now "${text}": ${to.why}`,
    );
    const cls: AnswerClass = held && to.kind === 'ready' ? 'held' : to.kind;
    if (cls !== this.lastClass && cls !== 'none' && this.cfg.events && synced) this.events.record(cls, text, to.why);
    this.lastClass = cls;
  }

  private guardChanged(from: GuardResult, to: GuardResult, synced: boolean): void {
    if (!synced && !to.engaged) return;
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

  private serviceWeightChanged({ key, from, to }: NonNullable<Changes['serviceWeight']>): void {
    if (!this.servicesListedOnce) return;
    const fields = { service: key, from: from ?? null, to: to ?? null };
    this.log.info(fields, to === undefined ? `service ${key} removed` : `service ${key} weight ${to}%`);
  }

  private annotationProblem(subject: string, p: AnnotationProblem): void {
    this.metrics.invalidAnnotations.inc({ annotation: p.annotation });
    // Once per change, the value cut to its first bytes and escaped (views.ts keeps no more).
    this.log.warn(
      { subject, annotation: p.annotation, value: p.value, bytes: p.length, reason: p.reason, using: p.fallback },
      `invalid annotation ${p.annotation}="${p.value}" on ${subject}: ${p.reason}; using ${p.fallback}`,
    );
  }

  // ---- the rest of the daemon ----

  /** The Node list landed; called before the agent state marks it listed. */
  nodesListed(synced: boolean, known: boolean): void {
    const node = this.cfg.nodeName;
    if (!synced && !known)
      this.log.warn(
        { node },
        `node ${node} not found in the cluster; answering drain; ` +
          'check --node-name / NODE_NAME (the DaemonSet sets it from spec.nodeName)',
      );
  }

  /** The Service list landed, with this many Services. */
  servicesListed(count: number): void {
    if (!this.servicesListedOnce) this.log.info({ services: count }, `services listed: ${count}`);
    this.servicesListedOnce = true;
  }

  /** One line per change of how the API server treats us, not one per retry. */
  apiHealthChanged({ resource, from, to, health: h }: Transition, synced: boolean): void {
    if (to === 'ok') {
      if (from !== 'connecting') this.log.info({ resource, from }, `API server answers for ${resource} again`);
      return;
    }
    const effect =
      resource === 'configmaps'
        ? // The coordinator's decision: what an agent does without it (core/coordinated-verdict.ts).
          'automatic drains are held unless the last decision read allows them; explicit intent still applies'
        : synced
          ? 'answers keep the last known state'
          : 'no answers yet (never synced)';
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
      { resource, reason, err: errorMessage(err), retryInMs: delayMs },
      `${resource} watch stopped (${reason}); restarting in ${delayMs}ms`,
    );
  }

  /** A credential file (token, CA, client certificate or key) became unusable, or usable again. */
  credentialFile(what: string, path: string, detail: string | null): void {
    if (detail === null) this.log.info({ path }, `${what} ${path} is readable again`);
    else this.log.warn({ path, detail }, `cannot read ${what} ${path}: ${detail}; the last good one stays in use`);
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
    if (this.cfg.events) this.events.recordDataplane(healthy, note);
  }

  /**
   * Every tick, with the receipts' view and the node answer: the Event when the drain is proven
   * delivered (the metric and /drained compute it on demand).
   */
  deliveryChecked(now: DeliveryView, synced: boolean, nodeAnswer: Answer): void {
    if (now.delivered && !this.delivered && this.cfg.events && synced) {
      const text = nodeAnswer.text;
      const peers = now.peers.length;
      this.log.info(
        { node: this.cfg.nodeName, peers },
        `drain delivered: all ${peers} load balancer(s) probing have received "${text}"`,
      );
      this.events.recordDrainDelivered(
        `every load balancer probing this node (${now.peers.length}) has received "${text}"`,
      );
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
}

/** What became of each Kubernetes Event the recorder tried to post (built before the recorder and the observer). */
export function eventOutcome(nodeName: string, log: Logger, metrics: Metrics): EventOutcome {
  return {
    posted: (reason) => metrics.events.inc({ reason, result: 'posted' }),
    dropped: (reason) => metrics.events.inc({ reason, result: 'dropped' }),
    failed: (reason, err) => {
      metrics.events.inc({ reason, result: 'failed' });
      const message = errorMessage(err);
      log.warn({ reason, err: message }, `could not post Event ${reason} on node ${nodeName}`);
    },
  };
}

/** What an unreadable override file leaves in force (nothing to add when there is none). */
function keeps(inForce: OperatorState | undefined): string {
  return inForce === undefined
    ? ''
    : `; the last good override (${inForce}) stays in force until the file is fixed or removed`;
}
