// Every metric, named in one place. Probe-path counters are plain numbers (a probe costs one
// increment, no label hashing) that prom-client reads at scrape time.
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { ReplyKind } from '../core/decide.js';
import { VERSION } from '../common/version.js';

export const REJECT_REASONS = ['malformed', 'too_long', 'unknown_service', 'over_capacity'] as const;
export type RejectReason = (typeof REJECT_REASONS)[number];
const REPLY_KINDS: readonly ReplyKind[] = ['ready', 'drain', 'maint', 'down', 'none'];

/** Incremented on the probe path; read by the collectors below. */
export class ProbeCounters {
  readonly replies: Record<ReplyKind, number> = { ready: 0, drain: 0, maint: 0, down: 0, none: 0 };
  readonly rejections: Record<RejectReason, number> = { malformed: 0, too_long: 0, unknown_service: 0, over_capacity: 0 };
  open = 0;
}

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
  /** Data-plane health (src/dataplane/); absent or 'off' when not polled. */
  dataplane?(): 'healthy' | 'unhealthy' | 'unknown' | 'off';
  /** Per resource: does the API server answer; failures by "resource\0code" (api-health.ts). */
  api?(): { up: Record<string, boolean>; errors: ReadonlyMap<string, number> };
  /** --guard-mode coordinated: fresh/stale/missing and the heartbeat's age; undefined in other modes. */
  guardDecision?(): { state: string; ageSeconds: number | undefined } | undefined;
  /** Delivery receipts (agent/receipts.ts); absent = nothing recorded. */
  delivery?(): { peers: number; current: number; delivered: boolean; dropped: number };
}

export const METRIC_PREFIX = 'haproxy_node_agent_';

export function createMetrics(src: MetricSources): Metrics {
  const registry = new Registry();
  const probes = new ProbeCounters();
  collectDefaultMetrics({ register: registry });

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
  mirrored('probes_total', 'Agent-check probes answered, by reply kind (none = closed without a reply)', 'reply', () => probes.replies);
  mirrored('probe_rejections_total', 'Probes whose request could not be used as asked, by reason (the node answer was sent)', 'reason', () => probes.rejections);

  new Gauge({
    name: METRIC_PREFIX + 'agent_connections',
    help: 'Agent-check connections open now',
    registers: [registry],
    collect() {
      this.set(probes.open);
    },
  });
  const invalidAnnotations = new Counter({
    name: METRIC_PREFIX + 'invalid_annotations_total',
    help: 'Annotation values rejected (the documented default was used), counted once per change',
    labelNames: ['annotation'] as const,
    registers: [registry],
  });
  const watchRestarts = new Counter({
    name: METRIC_PREFIX + 'watch_restarts_total',
    help: 'List/watch restarts after an error or a hung watch, by resource and reason',
    labelNames: ['resource', 'reason'] as const,
    registers: [registry],
  });
  const watchEvents = new Counter({
    name: METRIC_PREFIX + 'watch_events_total',
    help: 'Watch events applied to the snapshot, by resource and type',
    labelNames: ['resource', 'type'] as const,
    registers: [registry],
  });
  new Gauge({
    name: METRIC_PREFIX + 'api_last_contact_seconds',
    help: 'Seconds since the API server last answered (list, watch event or clean watch end); -1 before any contact',
    registers: [registry],
    collect() {
      this.set(src.secondsSinceContact() ?? -1);
    },
  });
  new Gauge({
    name: METRIC_PREFIX + 'snapshot_objects',
    help: 'Objects held in the in-memory snapshot, by resource',
    labelNames: ['resource'] as const,
    registers: [registry],
    collect() {
      for (const [resource, n] of Object.entries(src.snapshotSizes())) this.set({ resource }, n);
    },
  });
  new Gauge({
    name: METRIC_PREFIX + 'synced',
    help: '1 once the first full list of Nodes, Services and EndpointSlices has arrived, else 0',
    registers: [registry],
    collect() {
      this.set(src.synced() ? 1 : 0);
    },
  });
  new Gauge({
    name: METRIC_PREFIX + 'node_reply',
    help: 'The reply given for the node alone: 1 for the current kind, 0 for the others',
    labelNames: ['reply'] as const,
    registers: [registry],
    collect() {
      const now = src.nodeReplyKind();
      for (const k of REPLY_KINDS) this.set({ reply: k }, k === now ? 1 : 0);
    },
  });
  const agentPortRefusals = new Counter({
    name: METRIC_PREFIX + 'agent_port_refusals_total',
    help: 'Dedicated agent-port requests refused (clash with an older Service, reserved port, namespace not allowed, listen failure)',
    labelNames: ['reason'] as const,
    registers: [registry],
  });
  new Gauge({
    name: METRIC_PREFIX + 'dedicated_agent_ports',
    help: 'Dedicated agent ports open now (PREFIX/agent-port annotations)',
    registers: [registry],
    collect() {
      this.set(src.dedicatedPorts());
    },
  });
  const invalidOverrides = new Counter({
    name: METRIC_PREFIX + 'invalid_override_total',
    help: 'Override file contents that were not drain, maint or ready (ignored), once per change',
    registers: [registry],
  });
  const overrideErrors = new Counter({
    name: METRIC_PREFIX + 'override_errors_total',
    help: 'Override file present but unusable (unreadable, not_regular, too_big, error): no override; once per distinct failure',
    labelNames: ['reason'] as const,
    registers: [registry],
  });
  const unhandledRejections = new Counter({
    name: METRIC_PREFIX + 'unhandled_rejections_total',
    help: 'Promise rejections nothing handled (a bug): logged, and the agent keeps answering',
    registers: [registry],
  });
  const tooLargeObjects = new Counter({
    name: METRIC_PREFIX + 'objects_too_large_total',
    help: 'Objects over the 10 MiB read cap: skipped in a list, or a watch event that forced a relist',
    labelNames: ['resource', 'where'] as const,
    registers: [registry],
  });
  new Gauge({
    name: METRIC_PREFIX + 'override',
    help: 'The break-glass override file in force: 1 for its state, 0 for the others (all 0 = none)',
    labelNames: ['state'] as const,
    registers: [registry],
    collect() {
      const now = src.override();
      for (const k of ['drain', 'maint', 'ready']) this.set({ state: k }, k === now ? 1 : 0);
    },
  });
  new Gauge({
    name: METRIC_PREFIX + 'stale',
    help: '1 while the API has been silent longer than --max-staleness (answers drain), else 0',
    registers: [registry],
    collect() {
      this.set(src.stale() ? 1 : 0);
    },
  });
  new Gauge({
    name: METRIC_PREFIX + 'slow_start_factor',
    help: 'Fraction of full weight being answered during slow start (1 = full)',
    registers: [registry],
    collect() {
      this.set(src.slowStartFactor());
    },
  });
  new Gauge({
    name: METRIC_PREFIX + 'guard_nodes',
    help: 'Mass-drain guard, cluster-wide: nodes draining on automatic signals and nodes held back (answered ready)',
    labelNames: ['state'] as const,
    registers: [registry],
    collect() {
      const g = src.guard();
      this.set({ state: 'draining' }, g.draining);
      this.set({ state: 'held' }, g.held);
    },
  });
  new Gauge({
    name: METRIC_PREFIX + 'guard_self_held',
    help: '1 while the mass-drain guard keeps this node serving although a signal says drain',
    registers: [registry],
    collect() {
      this.set(src.guard().selfHeld ? 1 : 0);
    },
  });
  new Gauge({
    name: METRIC_PREFIX + 'guard_decision',
    help: 'Coordinated mode: 1 for the state of the coordinator decision (fresh, stale, missing), 0 for the others',
    labelNames: ['state'] as const,
    registers: [registry],
    collect() {
      const d = src.guardDecision?.();
      if (d === undefined) return;
      for (const k of ['fresh', 'stale', 'missing']) this.set({ state: k }, k === d.state ? 1 : 0);
    },
  });
  new Gauge({
    name: METRIC_PREFIX + 'guard_decision_age_seconds',
    help: 'Coordinated mode: seconds since the coordinator heartbeat last moved (-1 without a decision)',
    registers: [registry],
    collect() {
      const d = src.guardDecision?.();
      if (d !== undefined) this.set(d.ageSeconds ?? -1);
    },
  });
  const delivery = () => src.delivery?.() ?? { peers: 0, current: 0, delivered: false, dropped: 0 };
  new Gauge({
    name: METRIC_PREFIX + 'peers',
    help: 'Load balancers (probe source addresses) seen within their window, and how many have received the node\'s current answer on every key they probe',
    labelNames: ['state'] as const,
    registers: [registry],
    collect() {
      const d = delivery();
      this.set({ state: 'seen' }, d.peers);
      this.set({ state: 'current' }, d.current);
    },
  });
  new Gauge({
    name: METRIC_PREFIX + 'drain_delivered',
    help: '1 when the node answers drain, maint or down and every peer has received it (what /drained says), else 0',
    registers: [registry],
    collect() {
      this.set(delivery().delivered ? 1 : 0);
    },
  });
  let droppedSeen = 0;
  new Counter({
    name: METRIC_PREFIX + 'receipts_dropped_total',
    help: 'Delivery receipts not kept because the table (peers x keys) was full',
    registers: [registry],
    collect() {
      const d = delivery().dropped;
      this.inc(d - droppedSeen);
      droppedSeen = d;
    },
  });
  const events = new Counter({
    name: METRIC_PREFIX + 'events_total',
    help: 'Kubernetes Events about this node, by reason and result (posted, failed, dropped by the rate limit)',
    labelNames: ['reason', 'result'] as const,
    registers: [registry],
  });
  // Constant 1: the labels say which build answers, so a rollout can be watched node by node.
  new Gauge({
    name: METRIC_PREFIX + 'build_info',
    help: 'Always 1; the labels name the release and the Node.js runtime of this agent',
    labelNames: ['version', 'node_version'] as const,
    registers: [registry],
  }).set({ version: VERSION, node_version: process.version }, 1);
  new Gauge({
    name: METRIC_PREFIX + 'dataplane_healthy',
    help: "kube-proxy's health port (--proxy-healthz-url): 1 healthy, 0 unhealthy (answers down), -1 unknown (never reached) or off",
    registers: [registry],
    collect() {
      const s = src.dataplane?.() ?? 'off';
      this.set(s === 'healthy' ? 1 : s === 'unhealthy' ? 0 : -1);
    },
  });
  const dataplanePolls = new Counter({
    name: METRIC_PREFIX + 'dataplane_polls_total',
    help: 'Polls of --proxy-healthz-url, by result (2xx, non_2xx, timeout, error)',
    labelNames: ['result'] as const,
    registers: [registry],
  });
  new Gauge({
    name: METRIC_PREFIX + 'api_up',
    help: '1 while the API server answers list/watch for the resource, 0 while it fails (or before its first answer)',
    labelNames: ['resource'] as const,
    registers: [registry],
    collect() {
      for (const [resource, up] of Object.entries(src.api?.().up ?? {})) this.set({ resource }, up ? 1 : 0);
    },
  });
  const apiErrorsSeen = new Map<string, number>();
  new Counter({
    name: METRIC_PREFIX + 'api_errors_total',
    help: 'Failed list/watch requests by resource and code (HTTP status, tls, credentials or unreachable)',
    labelNames: ['resource', 'code'] as const,
    registers: [registry],
    collect() {
      for (const [key, n] of src.api?.().errors ?? []) {
        const [resource = '', code = ''] = key.split('\0');
        this.inc({ resource, code }, n - (apiErrorsSeen.get(key) ?? 0));
        apiErrorsSeen.set(key, n);
      }
    },
  });
  return { registry, probes, invalidAnnotations, watchRestarts, watchEvents, agentPortRefusals, invalidOverrides, events, dataplanePolls, overrideErrors, unhandledRejections, tooLargeObjects };
}
