// Flags + environment → one typed, validated RunConfig for `run`. Every error names its flag.
import type { Policy } from '../core/policy.js';
import { STATUS_DETAILS, type StatusDetail } from '../platform/http/status-body.js';
import { LOG_FORMATS, LOG_LEVELS, type LogFormat, type LogLevel } from '../platform/log.js';
import {
  ipAddress,
  dnsSubdomain,
  labelSelector,
  portRange,
  absolutePath,
  signalPolicy,
  fraction,
  boolValue,
  dnsLabel,
  httpUrl,
  namespaceList,
} from '../platform/flag-values.js';
import {
  FlagError,
  type FlagSpec,
  parseDurationFlag,
  parseEnumFlag,
  parseFlags,
  parseIntFlag,
} from '../platform/flags.js';

export interface RunConfig {
  nodeName: string;
  /** Path to a kubeconfig file; undefined = in-cluster service account. */
  kubeconfig: string | undefined;
  agentAddress: string;
  agentPort: number;
  httpAddress: string;
  httpPort: number;
  /** Who sees /status's per-Service list: clients on this node, everybody, nobody. */
  statusDetail: StatusDetail;
  annotationPrefix: string;
  serviceSelector: string;
  logLevel: LogLevel;
  logFormat: LogFormat;
  /** How long a probe may take to send its agent-send line before we answer for the node alone. */
  readTimeoutMs: number;
  maxConnections: number;
  /** Server-side watch timeout we ask for; a watch still open well past it is treated as hung. */
  watchTimeoutMs: number;
  /** Deadline for list requests and for a watch's response headers. */
  requestTimeoutMs: number;
  /** Ports Services may claim with the PREFIX/agent-port annotation. */
  agentPortRange: { min: number; max: number };
  /** Namespaces whose Services may claim a dedicated port; undefined = all. */
  agentPortNamespaces: ReadonlySet<string> | undefined;
  /** Break-glass file: drain | maint | ready. */
  overrideFile: string;
  /** Ramp weights from 10% to full over this long after the node turns ready again; 0 = off. */
  slowStartMs: number;
  /** Drain after this long without API contact; 0 = off (keep answering the last truth forever). */
  maxStalenessMs: number;
  /** Which node signals drain, go down, cut weight or are ignored. */
  policy: Policy;
  /** At most this fraction of Ready nodes drain on automatic signals at once (1 = guard off). */
  maxDrainFraction: number;
  /** Post Kubernetes Events on our Node when the answer changes class. */
  events: boolean;
  eventsNamespace: string;
  /** Data-plane health URL polled (kube-proxy's /healthz); undefined = off. */
  proxyHealthzUrl: URL | undefined;
  proxyHealthzIntervalMs: number;
  /** Consecutive failed polls before the node answers down (hysteresis, run/dataplane/tracker.ts). */
  proxyHealthzFailures: number;
  /** Consecutive 2xx polls before it serves again. */
  proxyHealthzSuccesses: number;
  /** Mass-drain guard: computed here over all Nodes, taken from the coordinator, or off. */
  guardMode: GuardMode;
  /** Namespace of the coordinator's decision ConfigMap (coordinated mode). */
  guardNamespace: string;
  /** The decision counts as stale after this long without a heartbeat from the coordinator. */
  guardStaleAfterMs: number;
  /** After answering drain this long, answer down (HAProxy closes sessions with on-marked-down); 0 = off. */
  drainDeadlineMs: number;
}

export const GUARD_MODES = ['local', 'coordinated', 'off'] as const;
export type GuardMode = (typeof GUARD_MODES)[number];

const P = 'HAPROXY_NODE_AGENT_';

export const RUN_FLAGS = [
  {
    name: 'node-name',
    env: 'NODE_NAME',
    default: '',
    help: 'Name of the Kubernetes Node this agent answers for (required)',
  },
  {
    name: 'kubeconfig',
    env: 'KUBECONFIG',
    default: '',
    help: 'Kubeconfig file; in-cluster service account when unset',
  },
  {
    name: 'agent-address',
    env: `${P}AGENT_ADDRESS`,
    default: '0.0.0.0',
    help: 'Address the agent-check TCP server listens on',
  },
  {
    name: 'agent-port',
    env: `${P}AGENT_PORT`,
    default: '9300',
    help: 'Port of the agent-check TCP server (HAProxy agent-port; 0 = any free port, logged)',
  },
  {
    name: 'http-address',
    env: `${P}HTTP_ADDRESS`,
    default: '0.0.0.0',
    help: 'Address of the HTTP server (/metrics /status /healthz /readyz)',
  },
  {
    name: 'http-port',
    env: `${P}HTTP_PORT`,
    default: '9290',
    help: 'Port of the HTTP server (0 = any free port, logged)',
  },
  {
    name: 'status-detail',
    env: `${P}STATUS_DETAIL`,
    default: 'loopback',
    help: `Who sees /status's per-Service list: ${STATUS_DETAILS.join(', ')} (loopback = clients on this node)`,
  },
  {
    name: 'annotation-prefix',
    env: `${P}ANNOTATION_PREFIX`,
    default: 'haproxy-node-agent.io',
    help: 'Prefix of the annotations read (PREFIX/weight)',
  },
  {
    name: 'service-selector',
    env: `${P}SERVICE_SELECTOR`,
    default: '',
    help: 'Label selector narrowing the Services watched (empty = all)',
  },
  { name: 'log-level', env: `${P}LOG_LEVEL`, default: 'info', help: `Log level: ${LOG_LEVELS.join(', ')}` },
  { name: 'log-format', env: `${P}LOG_FORMAT`, default: 'json', help: 'Log lines: json, or text for a person' },
  {
    name: 'read-timeout',
    env: `${P}READ_TIMEOUT`,
    default: '100ms',
    help: 'How long a probe may take to send its agent-send line',
  },
  {
    name: 'max-connections',
    env: `${P}MAX_CONNECTIONS`,
    default: '1024',
    help: 'Concurrent agent connections; more are closed without a reply and counted',
  },
  {
    name: 'watch-timeout',
    env: `${P}WATCH_TIMEOUT`,
    default: '60s',
    help: 'Watch length asked of the API server; a watch open past it plus a quarter (1s..10s) is treated as hung',
  },
  {
    name: 'request-timeout',
    env: `${P}REQUEST_TIMEOUT`,
    default: '30s',
    help: 'Deadline for API list requests and watch response headers',
  },
  {
    name: 'agent-port-range',
    env: `${P}AGENT_PORT_RANGE`,
    default: '9301-9399',
    help: 'Ports Services may claim with the PREFIX/agent-port annotation (MIN-MAX)',
  },
  {
    name: 'agent-port-namespaces',
    env: `${P}AGENT_PORT_NAMESPACES`,
    default: '',
    help: 'Namespaces whose Services may claim a dedicated agent port, comma-separated (empty = all)',
  },
  {
    name: 'override-file',
    env: `${P}OVERRIDE_FILE`,
    default: '/run/haproxy-node-agent/override',
    help: 'Break-glass file holding drain, maint or ready; beats everything, works without the API',
  },
  {
    name: 'slow-start',
    env: `${P}SLOW_START`,
    default: '0',
    help: 'After the node turns ready again, ramp weights from 10% to full over this long (0 = off)',
  },
  {
    name: 'max-staleness',
    env: `${P}MAX_STALENESS`,
    default: '0',
    help: 'Drain after this long without API contact (0 = off: keep answering the last truth)',
  },
  {
    name: 'signal-policy',
    env: `${P}SIGNAL_POLICY`,
    default: '',
    help:
      'Override what node signals do: SIGNAL=ACTION,... with ACTION drain, down, ignore or N% ' +
      '(see the decision table)',
  },
  {
    name: 'max-drain-fraction',
    env: `${P}MAX_DRAIN_FRACTION`,
    default: '0.5',
    help: 'Mass-drain guard: at most this fraction of Ready nodes drain on automatic signals (1 = off)',
  },
  {
    name: 'events',
    env: `${P}EVENTS`,
    default: 'true',
    help: 'Post Kubernetes Events on the Node when its answer changes class (true/false)',
  },
  {
    name: 'events-namespace',
    env: `${P}EVENTS_NAMESPACE`,
    default: 'default',
    help: 'Namespace for those Events (Node events conventionally live in default)',
  },
  {
    name: 'proxy-healthz-url',
    env: `${P}PROXY_HEALTHZ_URL`,
    default: 'http://127.0.0.1:10256/healthz',
    help:
      "Data-plane health URL (kube-proxy's health port): " +
      'failing means down #kube-proxy unhealthy (empty or off = off)',
  },
  {
    name: 'proxy-healthz-interval',
    env: `${P}PROXY_HEALTHZ_INTERVAL`,
    default: '1s',
    help: 'How often that URL is polled; each poll times out after 80% of it',
  },
  {
    name: 'proxy-healthz-failures',
    env: `${P}PROXY_HEALTHZ_FAILURES`,
    default: '3',
    help: 'Consecutive failed polls (non-2xx, timeout, refused once it has answered) before the node answers down',
  },
  {
    name: 'proxy-healthz-successes',
    env: `${P}PROXY_HEALTHZ_SUCCESSES`,
    default: '2',
    help: 'Consecutive 2xx polls before an unhealthy node serves again',
  },
  {
    name: 'guard-mode',
    env: `${P}GUARD_MODE`,
    default: 'local',
    help: 'Mass-drain guard: local (watch all Nodes), coordinated (watch own Node + the coordinator decision), off',
  },
  {
    name: 'guard-namespace',
    env: `${P}GUARD_NAMESPACE`,
    default: 'haproxy-node-agent',
    help: 'Namespace of the coordinator decision ConfigMap (--guard-mode coordinated)',
  },
  {
    name: 'guard-stale-after',
    env: `${P}GUARD_STALE_AFTER`,
    default: '30s',
    help:
      'Coordinated mode: the decision is stale after this long without a coordinator heartbeat ' +
      '(the last one is kept)',
  },
  {
    name: 'drain-deadline',
    env: `${P}DRAIN_DEADLINE`,
    default: '0',
    help: 'After answering drain this long, answer "down #drain deadline" (0 = off; see Maintenance)',
  },
  { name: 'help', default: '', help: 'Print this help and exit', boolean: true },
] as const satisfies readonly FlagSpec[];

type RunFlagName = (typeof RUN_FLAGS)[number]['name'];

/** Parsed config, or 'help' when --help was asked for. Throws FlagError on any bad value. */
export function loadConfig(argv: readonly string[], env: NodeJS.ProcessEnv): RunConfig | 'help' {
  const raw = parseFlags<RunFlagName>(RUN_FLAGS, argv, env);
  if (raw.help === 'true') return 'help';
  if (raw['node-name'] === '') throw new FlagError('node-name', 'required (or set NODE_NAME)');
  const cfg: RunConfig = {
    nodeName: dnsSubdomain('node-name', raw['node-name']),
    kubeconfig: raw.kubeconfig === '' ? undefined : raw.kubeconfig,
    agentAddress: ipAddress('agent-address', raw['agent-address']),
    agentPort: parseIntFlag('agent-port', raw['agent-port'], 0, 65535),
    httpAddress: ipAddress('http-address', raw['http-address']),
    httpPort: parseIntFlag('http-port', raw['http-port'], 0, 65535),
    statusDetail: parseEnumFlag('status-detail', raw['status-detail'], STATUS_DETAILS),
    annotationPrefix: dnsSubdomain('annotation-prefix', raw['annotation-prefix']),
    serviceSelector: labelSelector('service-selector', raw['service-selector']),
    logLevel: parseEnumFlag('log-level', raw['log-level'], LOG_LEVELS),
    logFormat: parseEnumFlag('log-format', raw['log-format'], LOG_FORMATS),
    readTimeoutMs: parseDurationFlag('read-timeout', raw['read-timeout'], { minMs: 1, maxMs: 10_000 }),
    maxConnections: parseIntFlag('max-connections', raw['max-connections'], 1, 1_000_000),
    watchTimeoutMs: parseDurationFlag('watch-timeout', raw['watch-timeout'], { minMs: 1000, maxMs: 3_600_000 }),
    requestTimeoutMs: parseDurationFlag('request-timeout', raw['request-timeout'], { minMs: 100, maxMs: 600_000 }),
    agentPortRange: portRange('agent-port-range', raw['agent-port-range']),
    agentPortNamespaces: namespaceList('agent-port-namespaces', raw['agent-port-namespaces']),
    overrideFile: absolutePath('override-file', raw['override-file']),
    slowStartMs: parseDurationFlag('slow-start', raw['slow-start'], { allowZero: true, maxMs: 3_600_000 }),
    maxStalenessMs: parseDurationFlag('max-staleness', raw['max-staleness'], {
      allowZero: true,
      minMs: 1000,
      maxMs: 7 * 86_400_000,
    }),
    policy: signalPolicy('signal-policy', raw['signal-policy']),
    maxDrainFraction: fraction('max-drain-fraction', raw['max-drain-fraction']),
    events: boolValue('events', raw.events),
    eventsNamespace: dnsLabel('events-namespace', raw['events-namespace']),
    proxyHealthzUrl: httpUrl('proxy-healthz-url', raw['proxy-healthz-url']),
    proxyHealthzIntervalMs: parseDurationFlag('proxy-healthz-interval', raw['proxy-healthz-interval'], {
      minMs: 100,
      maxMs: 60_000,
    }),
    proxyHealthzFailures: parseIntFlag('proxy-healthz-failures', raw['proxy-healthz-failures'], 1, 100),
    proxyHealthzSuccesses: parseIntFlag('proxy-healthz-successes', raw['proxy-healthz-successes'], 1, 100),
    guardMode: parseEnumFlag('guard-mode', raw['guard-mode'], GUARD_MODES),
    guardNamespace: dnsLabel('guard-namespace', raw['guard-namespace']),
    guardStaleAfterMs: parseDurationFlag('guard-stale-after', raw['guard-stale-after'], {
      minMs: 1000,
      maxMs: 3_600_000,
    }),
    drainDeadlineMs: parseDurationFlag('drain-deadline', raw['drain-deadline'], {
      allowZero: true,
      minMs: 1000,
      maxMs: 7 * 86_400_000,
    }),
  };
  // A healthy but quiet watch proves contact only when it ends (every --watch-timeout), so a
  // shorter staleness limit would drain healthy nodes of quiet clusters.
  if (cfg.maxStalenessMs > 0 && cfg.maxStalenessMs < 2 * cfg.watchTimeoutMs) {
    throw new FlagError(
      'max-staleness',
      `must be 0 or at least twice --watch-timeout (${(2 * cfg.watchTimeoutMs) / 1000}s), got ${raw['max-staleness']}`,
    );
  }
  return cfg;
}
