// sync's metrics, named in one place (docs/configuration.md's sync metrics table is checked
// against this registry).
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { METRIC_PREFIX } from '../platform/metric-prefix.js';
import { VERSION } from '../platform/version.js';

export const SYNC_METRIC_PREFIX = `${METRIC_PREFIX}sync_`;

export interface SyncMetricSources {
  pendingChanges(): number;
  serversDraining(): number;
  oldWorkers(): number | undefined;
  held(): boolean;
  haproxyUp(): boolean;
  synced(): boolean;
  secondsSinceContact(): number | undefined;
  servers(): { desired: number; running: number | undefined };
}

export function syncMetrics(src: SyncMetricSources) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const P = SYNC_METRIC_PREFIX;
  const gauge = (name: string, help: string, read: () => number | undefined): void =>
    void new Gauge({
      name: `${P}${name}`,
      help,
      registers: [registry],
      collect() {
        this.set(read() ?? -1);
      },
    });
  new Gauge({
    name: `${P}build_info`,
    help: 'Always 1; the version label says which release runs',
    labelNames: ['version'] as const,
    registers: [registry],
  }).set({ version: VERSION }, 1);
  const reloads = new Counter({
    name: `${P}reloads_total`,
    help: 'HAProxy reloads through the master CLI, by result (ok, failed: the old worker kept serving)',
    labelNames: ['result'] as const,
    registers: [registry],
  });
  // Both series exist from the start, so increase() sees a fresh sync's first failure.
  for (const result of ['ok', 'failed']) reloads.inc({ result }, 0);
  const reloadDuration = new Histogram({
    name: `${P}reload_duration_seconds`,
    help: 'From the reload command to the new worker listed in show proc (or the failure seen)',
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  });
  const runtimeCommands = new Counter({
    name: `${P}runtime_commands_total`,
    help: 'Runtime API commands sent to the stats socket, by operation and result (ok, failed)',
    labelNames: ['op', 'result'] as const,
    registers: [registry],
  });
  const watchRestarts = new Counter({
    name: `${P}watch_restarts_total`,
    help: 'Restarts of a Node or Service list/watch, by cluster, resource and reason',
    labelNames: ['cluster', 'resource', 'reason'] as const,
    registers: [registry],
  });
  const heldChanges = new Counter({
    name: `${P}held_changes_total`,
    help: 'Desired states held by the removal guard (a backend emptied or too many servers at once)',
    registers: [registry],
  });
  const tcpPortRefusals = new Counter({
    name: `${P}tcp_port_refusals_total`,
    help:
      'TCP port requests refused, each counted once when first seen, by reason (taken, quarantined, ' +
      'out-of-range, exhausted, record-full)',
    labelNames: ['reason'] as const,
    registers: [registry],
  });
  for (const reason of ['taken', 'quarantined', 'out-of-range', 'exhausted', 'record-full'])
    tcpPortRefusals.inc({ reason }, 0);
  gauge('pending_changes', 'Runtime operations and reloads wanted but not applied yet', src.pendingChanges);
  gauge(
    'servers_draining',
    'Servers removed from the desired state that wait for their connections to end before del server',
    src.serversDraining,
  );
  gauge('old_workers', 'HAProxy workers still serving old connections after a reload (-1: unknown)', src.oldWorkers);
  gauge('held', '1 while a change is held by the removal guard', () => (src.held() ? 1 : 0));
  gauge('haproxy_up', '1 while the stats socket answers', () => (src.haproxyUp() ? 1 : 0));
  gauge('synced', '1 once every cluster has listed its Nodes and Services', () => (src.synced() ? 1 : 0));
  gauge(
    'api_last_contact_seconds',
    'Seconds since the API server that answered least recently last answered (-1: never)',
    src.secondsSinceContact,
  );
  gauge('desired_servers', 'Servers in the desired state', () => src.servers().desired);
  gauge(
    'running_servers',
    'Servers in the managed backends of the running worker (-1: unknown)',
    () => src.servers().running,
  );
  return { registry, reloads, reloadDuration, runtimeCommands, watchRestarts, heldChanges, tcpPortRefusals };
}

export type SyncMetrics = ReturnType<typeof syncMetrics>;
