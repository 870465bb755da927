// Writes the decision ConfigMap: create when absent, else update with the read resourceVersion.
// The generation continues from what is stored, so it only ever grows across leaders.
import { ApiError, type ApiTransport } from '../kube/transport.js';
import type { GuardResult } from '../core/mass-drain-guard.js';
import {
  DECISION_NAME,
  decisionFromConfigMap,
  decisionToConfigMap,
  sameVerdict,
  type Decision,
} from '../core/guard-decision.js';

export type PublishResult = 'created' | 'changed' | 'heartbeat';

export class DecisionPublisher {
  private last: Decision | undefined;

  constructor(
    private readonly transport: ApiTransport,
    private readonly namespace: string,
    private readonly identity: string,
    private readonly maxDrainFraction: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** What this process last wrote. */
  get published(): Decision | undefined {
    return this.last;
  }

  async publish(g: GuardResult): Promise<PublishResult> {
    const at = new Date(this.now()).toISOString();
    const path = `/api/v1/namespaces/${this.namespace}/configmaps`;
    let stored: unknown;
    try {
      stored = await this.transport.getJson(`${path}/${DECISION_NAME}`);
    } catch (err) {
      if (!(err instanceof ApiError && err.statusCode === 404)) throw err;
      const d = this.make(g, 1, at, at);
      await this.transport.postJson(path, decisionToConfigMap(this.namespace, d));
      this.last = d;
      return 'created';
    }
    const prev = decisionFromConfigMap(stored);
    const rv = (stored as { metadata?: { resourceVersion?: unknown } }).metadata?.resourceVersion;
    const same =
      prev !== undefined && sameVerdict(prev.view, g) && prev.view.maxDrainFraction === this.maxDrainFraction;
    const d = same
      ? this.make(g, prev.view.generation, prev.view.updated, at)
      : this.make(g, (prev?.view.generation ?? 0) + 1, at, at);
    await this.transport.putJson(
      `${path}/${DECISION_NAME}`,
      decisionToConfigMap(this.namespace, d, typeof rv === 'string' ? rv : undefined),
    );
    this.last = d;
    return same ? 'heartbeat' : 'changed';
  }

  private make(g: GuardResult, generation: number, updated: string, heartbeat: string): Decision {
    return {
      generation,
      updated,
      heartbeat,
      holder: this.identity,
      maxDrainFraction: this.maxDrainFraction,
      readyNodes: g.readyNodes,
      budget: g.budget,
      explicit: g.explicit,
      draining: g.draining,
      held: g.held,
    };
  }
}
