// Agent side of coordinated mode: watch the coordinator's decision ConfigMap (by name, nothing
// else in the namespace) and judge its freshness by the heartbeat the leader rewrites. What the
// agent then answers is core/coordinated-verdict.ts; this file only keeps the decision and its state.
import { ResourceInformer, type InformerOptions, type InformerTiming } from './informer.js';
import type { ApiTransport } from './transport.js';
import { DECISION_NAME, decisionFromConfigMap, type Decision } from '../core/guard-decision.js';
import type { DecisionState } from '../core/coordinated-verdict.js';

export interface FollowerOptions {
  namespace: string;
  staleAfterMs: number;
  now?: () => number;
}

export interface FollowerHooks extends Pick<InformerOptions<Decision>, 'onRestart' | 'onEvent'> {
  /** The decision (or its absence) changed: re-run the verdict. */
  changed(decision: Decision | undefined): void;
  /** fresh / stale / missing changed: one log line per transition. */
  stateChanged(from: DecisionState, to: DecisionState, decision: Decision | undefined): void;
  /** The first list of the ConfigMap has landed (whether or not it exists), and the state it left. */
  firstListed(state: DecisionState): void;
}

/** How often staleness is checked. */
const CHECK_MS = 1000;

export class DecisionFollower {
  private decision: Decision | undefined;
  /** When (our clock) the heartbeat last moved; the first sighting trusts the object's own time. */
  private heartbeatAt = 0;
  private current: DecisionState = 'missing';
  private listedOnce = false;
  private timer: NodeJS.Timeout | undefined;
  private readonly informer: ResourceInformer<Decision>;
  private readonly now: () => number;

  constructor(
    transport: ApiTransport,
    private readonly opts: FollowerOptions,
    private readonly hooks: FollowerHooks,
    timing: InformerTiming,
  ) {
    this.now = opts.now ?? Date.now;
    this.informer = new ResourceInformer<Decision>(
      transport,
      {
        resource: 'configmaps',
        path: `/api/v1/namespaces/${opts.namespace}/configmaps`,
        // By name: RBAC can then limit the agent to this one object (resourceNames).
        fieldSelector: `metadata.name=${DECISION_NAME}`,
        trim: decisionFromConfigMap,
        onUpsert: (c) => this.set(c.view),
        onDelete: () => this.set(undefined),
        onListed: () => {
          if (this.listedOnce) return;
          this.listedOnce = true;
          hooks.firstListed(this.current);
        },
        onRestart: hooks.onRestart,
        ...(hooks.onEvent === undefined ? {} : { onEvent: hooks.onEvent }),
      },
      timing,
    );
  }

  start(): void {
    this.informer.start();
    this.timer = setInterval(() => this.judge(), CHECK_MS);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.informer.stop();
  }

  get latest(): Decision | undefined {
    return this.decision;
  }

  get state(): DecisionState {
    return this.current;
  }

  /** Seconds since the coordinator's heartbeat last moved; undefined without a decision. */
  get ageSeconds(): number | undefined {
    return this.decision === undefined ? undefined : Math.max(0, this.now() - this.heartbeatAt) / 1000;
  }

  status(): object {
    const d = this.decision;
    return {
      state: this.current,
      namespace: this.opts.namespace,
      name: DECISION_NAME,
      staleAfterSeconds: this.opts.staleAfterMs / 1000,
      ageSeconds: this.ageSeconds ?? null,
      ...(d === undefined
        ? {}
        : {
            generation: d.generation,
            updated: d.updated,
            heartbeat: d.heartbeat,
            holder: d.holder,
            maxDrainFraction: d.maxDrainFraction,
          }),
    };
  }

  private set(d: Decision | undefined): void {
    const prev = this.decision;
    this.decision = d;
    if (d !== undefined && d.heartbeat !== prev?.heartbeat) {
      const now = this.now();
      // First sighting: the object's own time tells an agent started beside a long-dead coordinator
      // that the decision is old (capped at now, so a clock behind the leader's is not "future").
      const stamped = Date.parse(d.heartbeat);
      this.heartbeatAt = prev === undefined && !Number.isNaN(stamped) ? Math.min(now, stamped) : now;
    }
    this.judge();
    this.hooks.changed(d);
  }

  private judge(): void {
    const next: DecisionState =
      this.decision === undefined
        ? 'missing'
        : this.now() - this.heartbeatAt > this.opts.staleAfterMs
          ? 'stale'
          : 'fresh';
    if (next === this.current) return;
    const from = this.current;
    this.current = next;
    this.hooks.stateChanged(from, next, this.decision);
  }
}
