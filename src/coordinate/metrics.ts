// The coordinator's metrics, named in one place (the README's coordinator metrics table is checked
// against this registry).
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { GuardResult } from '../core/mass-drain-guard.js';
import { METRIC_PREFIX } from '../platform/metric-prefix.js';

export const COORDINATOR_METRIC_PREFIX = `${METRIC_PREFIX}coordinator_`;

export interface CoordinatorMetricSources {
  leader(): boolean;
  generation(): number | undefined;
  nodes(): number;
  guard(): GuardResult;
}

export function coordinatorMetrics(src: CoordinatorMetricSources) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const P = COORDINATOR_METRIC_PREFIX;
  new Gauge({
    name: `${P}leader`,
    help: '1 while this coordinator holds the Lease and publishes the decision, else 0',
    registers: [registry],
    collect() {
      this.set(src.leader() ? 1 : 0);
    },
  });
  new Gauge({
    name: `${P}decision_generation`,
    help: 'Generation of the decision this coordinator last wrote (-1 before its first write)',
    registers: [registry],
    collect() {
      this.set(src.generation() ?? -1);
    },
  });
  const publishes = new Counter({
    name: `${P}publishes_total`,
    help: 'Writes of the decision ConfigMap, by result (created, changed, heartbeat, failed, fenced)',
    labelNames: ['result'] as const,
    registers: [registry],
  });
  new Gauge({
    name: `${P}nodes`,
    help: 'Nodes in the coordinator cache',
    registers: [registry],
    collect() {
      this.set(src.nodes());
    },
  });
  new Gauge({
    name: `${P}guard_nodes`,
    help: 'The last published guard: nodes draining (explicit and automatic) and nodes held back',
    labelNames: ['state'] as const,
    registers: [registry],
    collect() {
      const g = src.guard();
      this.set({ state: 'draining' }, g.explicit.length + g.draining.length);
      this.set({ state: 'held' }, g.held.length);
    },
  });
  const watchEvents = new Counter({
    name: `${P}watch_events_total`,
    help: 'Node watch events received, by type',
    labelNames: ['type'] as const,
    registers: [registry],
  });
  const watchRestarts = new Counter({
    name: `${P}watch_restarts_total`,
    help: 'Node list/watch restarts after an error or a hung watch, by reason',
    labelNames: ['reason'] as const,
    registers: [registry],
  });
  return { registry, publishes, watchEvents, watchRestarts };
}
