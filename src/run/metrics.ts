// Every metric, named in one place. Probe-path counters are plain numbers (a probe costs one
// increment, no label hashing) that prom-client reads at scrape time.
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { ReplyKind } from '../core/decide.js';
import { VERSION } from '../platform/version.js';
import { METRIC_PREFIX } from '../platform/metric-prefix.js';
import { ProbeCounters, REPLY_KINDS } from './agent/probe-counters.js';

export interface Metrics {
  registry: Registry;
  probes: ProbeCounters;
  invalidAnnotations: Counter<'annotation'>;
  watchRestarts: Counter<'resource' | 'reason'>;
  watchEvents: Counter<'resource' | 'type'>;
  agentPortRefusals: Counter<'reason'>;
  invalidOverrides: Counter;
  overrideErrors: Counter<'reason'>;
  unhandledRejections: Counter;
  tooLargeObjects: Counter<'resource' | 'where'>;
  events: Counter<'reason' | 'result'>;
  dataplanePolls: Counter<'result'>;
  /** Where the gauges read from, once the daemon has built it (createMetrics may take it at once). */
  readFrom(src: MetricSources): void;
}

export interface MetricSources {
  /** Seconds since the API server last answered, or undefined before any contact. */
  secondsSinceContact(): number | undefined;
  snapshotSizes(): Record<string, number>;
  synced(): boolean;
  nodeReplyKind(): ReplyKind;
  override(): string | undefined;
  stale(): boolean;
  slowStartFactor(): number;
  dedicatedPorts(): number;
  guard(): { held: number; draining: number; selfHeld: boolean };
  /** Data-plane health (run/dataplane/); absent or 'off' when not polled. */
  dataplane?(): 'healthy' | 'unhealthy' | 'unknown' | 'off';
  /** Per resource: does the API server answer; failures by "resource\0code" (api-health.ts). */
  api?(): { up: Record<string, boolean>; errors: ReadonlyMap<string, number> };
  /** --guard-mode coordinated: fresh/stale/missing and the heartbeat's age; undefined in other modes. */
  guardDecision?(): { state: string; ageSeconds: number | undefined } | undefined;
  /** Delivery receipts (agent/receipts.ts); absent = nothing recorded. */
  delivery?(): { peers: number; current: number; silent?: number; delivered: boolean; dropped: number };
}

export function createMetrics(initial?: MetricSources): Metrics {
  const registry = new Registry();
  const probes = new ProbeCounters();
  collectDefaultMetrics({ register: registry });
  // The daemon builds what the gauges read after the counters it hands around: readFrom() then.
  let src = initial;

  // Counters fed from plain numbers: report the growth since the last scrape.
  const mirrored = (name: string, help: string, label: string, read: () => Record<string, number>): void => {
    const seen: Record<string, number> = {};
    new Counter({
      name: METRIC_PREFIX + name,
      help,
      labelNames: [label],
      registers: [registry],
      collect() {
        for (const [k, v] of Object.entries(read())) {
          this.inc({ [label]: k }, v - (seen[k] ?? 0));
          seen[k] = v;
        }
      },
    });
  };
  const counter = <L extends string = string>(name: string, help: string, labelNames: readonly L[] = []): Counter<L> =>
    new Counter<L>({ name: METRIC_PREFIX + name, help, labelNames, registers: [registry] });
  // Gauges read at scrape time: one value, values by `label`, or undefined to leave them as they are.
  type Reading = number | Record<string, number> | undefined;
  const gauge = (name: string, help: string, read: (s: MetricSources) => Reading, label?: string): void => {
    new Gauge({
      name: METRIC_PREFIX + name,
      help,
      labelNames: label === undefined ? [] : [label],
      registers: [registry],
      collect() {
        const v = src === undefined ? undefined : read(src);
        if (typeof v === 'number') this.set(v);
        else if (v !== undefined) for (const [k, n] of Object.entries(v)) this.set({ [label ?? '']: k }, n);
      },
    });
  };
  const flag = (b: boolean): number => (b ? 1 : 0);

  mirrored(
    'probes_total',
    'Agent-check probes answered, by reply kind (none = closed without a reply)',
    'reply',
    () => probes.replies,
  );
  mirrored(
    'probe_rejections_total',
    'Probes whose request could not be used as asked, by reason (the node answer was sent)',
    'reason',
    () => probes.rejections,
  );
  gauge('agent_connections', 'Agent-check connections open now', () => probes.open);
  const invalidAnnotations = counter(
    'invalid_annotations_total',
    'Annotation values rejected (the documented default was used), counted once per change',
    ['annotation'],
  );
  const watchRestarts = counter(
    'watch_restarts_total',
    'List/watch restarts after an error or a hung watch, by resource and reason',
    ['resource', 'reason'],
  );
  const watchEvents = counter('watch_events_total', 'Watch events applied to the snapshot, by resource and type', [
    'resource',
    'type',
  ]);
  gauge(
    'api_last_contact_seconds',
    'Seconds since the API server last answered (list, watch event or clean watch end); -1 before any contact',
    (s) => s.secondsSinceContact() ?? -1,
  );
  gauge(
    'snapshot_objects',
    'Objects held in the in-memory snapshot, by resource',
    (s) => s.snapshotSizes(),
    'resource',
  );
  gauge('synced', '1 once the first full list of Nodes, Services and EndpointSlices has arrived, else 0', (s) =>
    flag(s.synced()),
  );
  gauge(
    'node_reply',
    'The reply given for the node alone: 1 for the current kind, 0 for the others',
    (s) => oneHot(REPLY_KINDS, s.nodeReplyKind()),
    'reply',
  );
  const agentPortRefusals = counter(
    'agent_port_refusals_total',
    'Dedicated agent-port requests refused ' +
      '(clash with an older Service, reserved port, namespace not allowed, listen failure)',
    ['reason'],
  );
  gauge('dedicated_agent_ports', 'Dedicated agent ports open now (PREFIX/agent-port annotations)', (s) =>
    s.dedicatedPorts(),
  );
  const invalidOverrides = counter(
    'invalid_override_total',
    'Override file contents that were not drain, maint or ready (ignored), once per change',
  );
  const overrideErrors = counter(
    'override_errors_total',
    'Override file present but unreadable (unreadable, not_regular, too_big, error): ' +
      'the last good override stays; once per distinct failure',
    ['reason'],
  );
  const unhandledRejections = counter(
    'unhandled_rejections_total',
    'Promise rejections nothing handled (a bug): logged, and the agent keeps answering',
  );
  const tooLargeObjects = counter(
    'objects_too_large_total',
    'Objects over the 10 MiB read cap: skipped in a list, or a watch event that forced a relist',
    ['resource', 'where'],
  );
  gauge(
    'override',
    'The break-glass override file in force: 1 for its state, 0 for the others (all 0 = none)',
    (s) => oneHot(['drain', 'maint', 'ready'], s.override()),
    'state',
  );
  gauge('stale', '1 while the API has been silent longer than --max-staleness (answers drain), else 0', (s) =>
    flag(s.stale()),
  );
  gauge('slow_start_factor', 'Fraction of full weight being answered during slow start (1 = full)', (s) =>
    s.slowStartFactor(),
  );
  gauge(
    'guard_nodes',
    'Mass-drain guard, cluster-wide: nodes draining on automatic signals and nodes held back (answered ready)',
    (s) => {
      const g = s.guard();
      return { draining: g.draining, held: g.held };
    },
    'state',
  );
  gauge('guard_self_held', '1 while the mass-drain guard keeps this node serving although a signal says drain', (s) =>
    flag(s.guard().selfHeld),
  );
  gauge(
    'guard_decision',
    'Coordinated mode: 1 for the state of the coordinator decision (fresh, stale, missing), 0 for the others',
    (s) => {
      const d = s.guardDecision?.();
      return d === undefined ? undefined : oneHot(['fresh', 'stale', 'missing'], d.state);
    },
    'state',
  );
  gauge(
    'guard_decision_age_seconds',
    'Coordinated mode: seconds since the coordinator heartbeat last moved (-1 without a decision)',
    (s) => {
      const d = s.guardDecision?.();
      return d === undefined ? undefined : (d.ageSeconds ?? -1);
    },
  );
  const delivery = (s: MetricSources | undefined) =>
    s?.delivery?.() ?? { peers: 0, current: 0, silent: 0, delivered: false, dropped: 0 };
  gauge(
    'peers',
    "Load balancers (probe source addresses) known (seen), how many have received the node's current answer " +
      'on every key they probe (current), and how many have a key silent past its window (silent)',
    (s) => {
      const d = delivery(s);
      return { seen: d.peers, current: d.current, silent: d.silent ?? 0 };
    },
    'state',
  );
  gauge(
    'drain_delivered',
    '1 when the node answers drain, maint or down and every peer has received it (what /drained says), else 0',
    (s) => flag(delivery(s).delivered),
  );
  let droppedSeen = 0;
  new Counter({
    name: `${METRIC_PREFIX}receipts_dropped_total`,
    help: "Delivery receipts not kept because the table (peers x keys) or a peer's key quota was full",
    registers: [registry],
    collect() {
      const d = delivery(src).dropped;
      this.inc(d - droppedSeen);
      droppedSeen = d;
    },
  });
  const events = counter(
    'events_total',
    'Kubernetes Events about this node, by reason and result (posted, failed, dropped by the rate limit)',
    ['reason', 'result'],
  );
  // Constant 1: the labels say which build answers, so a rollout can be watched node by node.
  new Gauge({
    name: `${METRIC_PREFIX}build_info`,
    help: 'Always 1; the labels name the release and the Node.js runtime of this agent',
    labelNames: ['version', 'node_version'] as const,
    registers: [registry],
  }).set({ version: VERSION, node_version: process.version }, 1);
  gauge(
    'dataplane_healthy',
    "kube-proxy's health port (--proxy-healthz-url): " +
      '1 healthy, 0 unhealthy (answers down), -1 unknown (never reached) or off',
    (s) => {
      const d = s.dataplane?.() ?? 'off';
      return d === 'healthy' ? 1 : d === 'unhealthy' ? 0 : -1;
    },
  );
  const dataplanePolls = counter(
    'dataplane_polls_total',
    'Polls of --proxy-healthz-url, by result (2xx, non_2xx, timeout, error)',
    ['result'],
  );
  gauge(
    'api_up',
    '1 while the API server answers list/watch for the resource, 0 while it fails (or before its first answer)',
    (s) => Object.fromEntries(Object.entries(s.api?.().up ?? {}).map(([resource, up]) => [resource, flag(up)])),
    'resource',
  );
  const apiErrorsSeen = new Map<string, number>();
  new Counter({
    name: `${METRIC_PREFIX}api_errors_total`,
    help: 'Failed list/watch requests by resource and code (HTTP status, tls, credentials or unreachable)',
    labelNames: ['resource', 'code'] as const,
    registers: [registry],
    collect() {
      for (const [key, n] of src?.api?.().errors ?? []) {
        const [resource = '', code = ''] = key.split('\0');
        this.inc({ resource, code }, n - (apiErrorsSeen.get(key) ?? 0));
        apiErrorsSeen.set(key, n);
      }
    },
  });
  const readFrom = (s: MetricSources): void => {
    src = s;
  };
  return {
    registry,
    probes,
    invalidAnnotations,
    watchRestarts,
    watchEvents,
    agentPortRefusals,
    invalidOverrides,
    events,
    dataplanePolls,
    overrideErrors,
    unhandledRejections,
    tooLargeObjects,
    readFrom,
  };
}

/** 1 for the value in force, 0 for every other one it could be. */
function oneHot(kinds: readonly string[], now: string | undefined): Record<string, number> {
  return Object.fromEntries(kinds.map((k) => [k, k === now ? 1 : 0]));
}
