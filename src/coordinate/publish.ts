// Writes the decision ConfigMap: create when absent, else update conditioned on the resourceVersion
// just read (a write by anyone in between is a 409, never overwritten). The generation continues
// from what is stored, so it only ever grows across leaders. Each write carries the lease fence
// (holder, leaseTransitions), asked for right before the write: a leader whose lease may have
// passed, or that finds a decision from a later leader, does not write.
import { ApiError, type ApiTransport } from '../kube/transport.js';
import type { LeaseFence } from '../kube/lease.js';
import { shown } from '../core/escape.js';
import type { GuardResult } from '../core/mass-drain-guard.js';
import {
  DECISION_NAME,
  decisionFromConfigMap,
  decisionToConfigMap,
  sameVerdict,
  type Decision,
} from '../core/guard-decision.js';

export type PublishResult = 'created' | 'changed' | 'heartbeat';

/** Not written: this process may no longer hold the lease (or a later leader already wrote). */
export class FencedError extends Error {}

export class DecisionPublisher {
  private last: Decision | undefined;

  constructor(
    private readonly transport: ApiTransport,
    private readonly namespace: string,
    private readonly maxDrainFraction: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** What this process last wrote. */
  get published(): Decision | undefined {
    return this.last;
  }

  /** `fence` is asked right before the write; undefined means we must not write (FencedError). */
  async publish(g: GuardResult, fence: () => LeaseFence | undefined): Promise<PublishResult> {
    const at = new Date(this.now()).toISOString();
    const path = `/api/v1/namespaces/${this.namespace}/configmaps`;
    const mayWrite = (): LeaseFence => {
      const f = fence();
      if (f === undefined) throw new FencedError('the lease may have passed to another coordinator');
      return f;
    };
    mayWrite();
    let stored: unknown;
    try {
      stored = await this.transport.getJson(`${path}/${DECISION_NAME}`);
    } catch (err) {
      if (!(err instanceof ApiError && err.statusCode === 404)) throw err;
      // Create fails with 409 if someone created it meanwhile: that too is never overwritten.
      const d = this.make(g, 1, at, at, mayWrite());
      await this.transport.postJson(path, decisionToConfigMap(this.namespace, d));
      this.last = d;
      return 'created';
    }
    const prev = decisionFromConfigMap(stored);
    const rv = (stored as { metadata?: { resourceVersion?: unknown } }).metadata?.resourceVersion;
    if (typeof rv !== 'string' || rv === '') throw new Error('the stored decision has no resourceVersion');
    const f = mayWrite();
    const newer = prev?.view.leaseTransitions;
    if (newer !== undefined && newer > f.transitions)
      throw new FencedError(
        `a later leader (${shown(prev?.view.holder ?? '')}, lease transition ${newer}) wrote the decision`,
      );
    const same =
      prev !== undefined && sameVerdict(prev.view, g) && prev.view.maxDrainFraction === this.maxDrainFraction;
    const d = same
      ? this.make(g, prev.view.generation, prev.view.updated, at, f)
      : this.make(g, (prev?.view.generation ?? 0) + 1, at, at, f);
    await this.transport.putJson(`${path}/${DECISION_NAME}`, decisionToConfigMap(this.namespace, d, rv));
    this.last = d;
    return same ? 'heartbeat' : 'changed';
  }

  private make(g: GuardResult, generation: number, updated: string, heartbeat: string, f: LeaseFence): Decision {
    return {
      generation,
      updated,
      heartbeat,
      holder: f.holder,
      leaseTransitions: f.transitions,
      maxDrainFraction: this.maxDrainFraction,
      readyNodes: g.readyNodes,
      budget: g.budget,
      explicit: g.explicit,
      draining: g.draining,
      held: g.held,
    };
  }
}
