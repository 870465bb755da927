// Flags + environment → one typed, validated RunConfig for `run`. Each flag is declared once below
// (name, environment variable, default, help, config field, parser with its bounds); RunConfig is
// derived from the table, and runArgv turns a partial RunConfig back into the daemon's argv.
import { STATUS_DETAILS } from '../platform/http/status-body.js';
import {
  absolutePathValue,
  dnsLabelValue,
  dnsSubdomain,
  duration,
  httpUrlValue,
  ipAddress,
  ipAddressValue,
  labelSelectorValue,
  namespaceListValue,
  oneOf,
  port,
  portRangeValue,
  trueFalseValue,
  wholeNumber,
} from '../platform/flag-values.js';
import {
  argvOf,
  type ConfigOf,
  decodeFlags,
  FlagError,
  type FlagRow,
  type FlagValue,
  parseFlags,
} from '../platform/flags.js';
import {
  ANNOTATION_PREFIX_FLAG,
  ENV_PREFIX as P,
  HELP_FLAG,
  HTTP_ADDRESS_FLAG,
  HTTP_PORT_FLAG,
  KUBECONFIG_FLAG,
  LOG_LEVEL_FLAG,
  LOG_FORMAT_FLAG,
  MAX_DRAIN_FRACTION_FLAG,
  REQUEST_TIMEOUT_FLAG,
  SIGNAL_POLICY_FLAG,
} from '../platform/shared-flags.js';
import { GUARD_MODES } from '../core/guard-verdict.js';

const nodeName = {
  parse: (flag: string, v: string): string => {
    if (v === '') throw new FlagError(flag, 'required (or set NODE_NAME)');
    return dnsSubdomain(flag, v);
  },
  show: String,
};

/** --expected-peers: IP addresses, comma-separated; empty = whoever probes. */
const ipListValue: FlagValue<ReadonlySet<string>> = {
  parse: (flag, v) =>
    new Set(
      v
        .split(',')
        .map((a) => a.trim())
        .filter((a) => a !== '')
        .map((a) => ipAddress(flag, a)),
    ),
  show: (set) => [...set].join(','),
};

/** Upper bound of --max-staleness and --drain-deadline. */
const WEEK_MS = 7 * 86_400_000;

export const RUN_FLAGS = [
  {
    name: 'node-name',
    field: 'nodeName',
    env: 'NODE_NAME',
    default: '',
    help: 'Name of the Kubernetes Node this agent answers for (required)',
    ...nodeName,
  },
  KUBECONFIG_FLAG,
  {
    name: 'agent-address',
    field: 'agentAddress',
    env: `${P}AGENT_ADDRESS`,
    default: '0.0.0.0',
    help: 'Address the agent-check TCP server listens on',
    ...ipAddressValue,
  },
  {
    name: 'agent-port',
    field: 'agentPort',
    env: `${P}AGENT_PORT`,
    default: '9300',
    help: 'Port of the agent-check TCP server (HAProxy agent-port; 0 = any free port, logged)',
    ...port(0),
  },
  HTTP_ADDRESS_FLAG,
  HTTP_PORT_FLAG,
  {
    // Who sees /status's per-Service list: clients on this node, everybody, nobody.
    name: 'status-detail',
    field: 'statusDetail',
    env: `${P}STATUS_DETAIL`,
    default: 'loopback',
    help: `Who sees /status's per-Service list: ${STATUS_DETAILS.join(', ')} (loopback = clients on this node)`,
    ...oneOf(STATUS_DETAILS),
  },
  ANNOTATION_PREFIX_FLAG,
  {
    name: 'service-selector',
    field: 'serviceSelector',
    env: `${P}SERVICE_SELECTOR`,
    default: '',
    help: 'Label selector narrowing the Services watched (empty = all)',
    ...labelSelectorValue,
  },
  LOG_LEVEL_FLAG,
  LOG_FORMAT_FLAG,
  {
    // Past it the probe is answered for the node alone.
    name: 'read-timeout',
    field: 'readTimeoutMs',
    env: `${P}READ_TIMEOUT`,
    default: '100ms',
    help: 'How long a probe may take to send its agent-send line',
    ...duration({ minMs: 1, maxMs: 10_000 }),
  },
  {
    name: 'max-connections',
    field: 'maxConnections',
    env: `${P}MAX_CONNECTIONS`,
    default: '1024',
    help: 'Concurrent agent connections, agent port and dedicated ports together; more are closed without a reply',
    ...wholeNumber(1, 1_000_000),
  },
  {
    // A real HAProxy holds a few concurrent checks per server line; loopback is not limited.
    name: 'max-connections-per-source',
    field: 'maxConnectionsPerSource',
    env: `${P}MAX_CONNECTIONS_PER_SOURCE`,
    default: '64',
    help: 'Concurrent agent connections from one source address (loopback exempt); more are closed, charged to it',
    ...wholeNumber(1, 1_000_000),
  },
  {
    name: 'forget-silent-peers-after',
    field: 'forgetSilentPeersAfterMs',
    env: `${P}FORGET_SILENT_PEERS_AFTER`,
    default: '0',
    help: 'Forget a load balancer key silent this long: /drained stops waiting for it (0 = never; see Maintenance)',
    ...duration({ allowZero: true, minMs: 1000, maxMs: WEEK_MS }),
  },
  {
    name: 'expected-peers',
    field: 'expectedPeers',
    env: `${P}EXPECTED_PEERS`,
    default: '',
    help: 'HAProxy source addresses, comma-separated: /drained waits for each to probe (empty = whoever probes)',
    ...ipListValue,
  },
  {
    name: 'watch-timeout',
    field: 'watchTimeoutMs',
    env: `${P}WATCH_TIMEOUT`,
    default: '60s',
    help: 'Watch length asked of the API server; a watch open past it plus a quarter (1s..10s) is treated as hung',
    ...duration({ minMs: 1000, maxMs: 3_600_000 }),
  },
  REQUEST_TIMEOUT_FLAG,
  {
    name: 'agent-port-range',
    field: 'agentPortRange',
    env: `${P}AGENT_PORT_RANGE`,
    default: '9301-9399',
    help: 'Ports Services may claim with the PREFIX/agent-port annotation (MIN-MAX)',
    ...portRangeValue,
  },
  {
    // Parsed: undefined = every namespace.
    name: 'agent-port-namespaces',
    field: 'agentPortNamespaces',
    env: `${P}AGENT_PORT_NAMESPACES`,
    default: '',
    help: 'Namespaces whose Services may claim a dedicated agent port, comma-separated (empty = all)',
    ...namespaceListValue,
  },
  {
    name: 'override-file',
    field: 'overrideFile',
    env: `${P}OVERRIDE_FILE`,
    default: '/run/haproxy-node-agent/override',
    help: 'Break-glass file holding drain, maint or ready; beats everything, works without the API',
    ...absolutePathValue,
  },
  {
    name: 'slow-start',
    field: 'slowStartMs',
    env: `${P}SLOW_START`,
    default: '0',
    help: 'After the node turns ready again, ramp weights from 10% to full over this long (0 = off)',
    ...duration({ allowZero: true, maxMs: 3_600_000 }),
  },
  {
    // At least twice --watch-timeout, checked in loadConfig.
    name: 'max-staleness',
    field: 'maxStalenessMs',
    env: `${P}MAX_STALENESS`,
    default: '0',
    help: 'Drain after this long without API contact (0 = off: keep answering the last truth)',
    ...duration({ allowZero: true, minMs: 1000, maxMs: WEEK_MS }),
  },
  SIGNAL_POLICY_FLAG,
  MAX_DRAIN_FRACTION_FLAG,
  {
    name: 'events',
    field: 'events',
    env: `${P}EVENTS`,
    default: 'true',
    help: 'Post Kubernetes Events on the Node when its answer changes class (true/false)',
    ...trueFalseValue,
  },
  {
    name: 'events-namespace',
    field: 'eventsNamespace',
    env: `${P}EVENTS_NAMESPACE`,
    default: 'default',
    help: 'Namespace for those Events (Node events conventionally live in default)',
    ...dnsLabelValue,
  },
  {
    // Parsed: undefined = off.
    name: 'proxy-healthz-url',
    field: 'proxyHealthzUrl',
    env: `${P}PROXY_HEALTHZ_URL`,
    default: 'http://127.0.0.1:10256/healthz',
    help:
      "Data-plane health URL (kube-proxy's health port): " +
      'failing means down #kube-proxy unhealthy (empty or off = off)',
    ...httpUrlValue,
  },
  {
    name: 'proxy-healthz-interval',
    field: 'proxyHealthzIntervalMs',
    env: `${P}PROXY_HEALTHZ_INTERVAL`,
    default: '1s',
    help: 'How often that URL is polled; each poll times out after 80% of it',
    ...duration({ minMs: 100, maxMs: 60_000 }),
  },
  {
    // Hysteresis: run/dataplane/tracker.ts.
    name: 'proxy-healthz-failures',
    field: 'proxyHealthzFailures',
    env: `${P}PROXY_HEALTHZ_FAILURES`,
    default: '3',
    help: 'Consecutive failed polls (non-2xx, timeout, refused once it has answered) before the node answers down',
    ...wholeNumber(1, 100),
  },
  {
    name: 'proxy-healthz-successes',
    field: 'proxyHealthzSuccesses',
    env: `${P}PROXY_HEALTHZ_SUCCESSES`,
    default: '2',
    help: 'Consecutive 2xx polls before an unhealthy node serves again',
    ...wholeNumber(1, 100),
  },
  {
    name: 'guard-mode',
    field: 'guardMode',
    env: `${P}GUARD_MODE`,
    default: 'local',
    help: 'Mass-drain guard: local (watch all Nodes), coordinated (watch own Node + the coordinator decision), off',
    ...oneOf(GUARD_MODES),
  },
  {
    name: 'guard-namespace',
    field: 'guardNamespace',
    env: `${P}GUARD_NAMESPACE`,
    default: 'haproxy-node-agent',
    help: 'Namespace of the coordinator decision ConfigMap (--guard-mode coordinated)',
    ...dnsLabelValue,
  },
  {
    name: 'guard-stale-after',
    field: 'guardStaleAfterMs',
    env: `${P}GUARD_STALE_AFTER`,
    default: '30s',
    help:
      'Coordinated mode: the decision is stale after this long without a coordinator heartbeat ' +
      '(the last one is kept)',
    ...duration({ minMs: 1000, maxMs: 3_600_000 }),
  },
  {
    // HAProxy closes sessions on the down answer with on-marked-down shutdown-sessions.
    name: 'drain-deadline',
    field: 'drainDeadlineMs',
    env: `${P}DRAIN_DEADLINE`,
    default: '0',
    help: 'After answering drain this long, answer "down #drain deadline" (0 = off; see Maintenance)',
    ...duration({ allowZero: true, minMs: 1000, maxMs: WEEK_MS }),
  },
  HELP_FLAG,
] as const satisfies readonly FlagRow[];

/** What `run` runs with: one field per flag above, typed by its parser. */
export interface RunConfig extends ConfigOf<typeof RUN_FLAGS> {}

type RunFlagName = (typeof RUN_FLAGS)[number]['name'];

/** Parsed config, or 'help' when --help was asked for. Throws FlagError on any bad value. */
export function loadConfig(argv: readonly string[], env: NodeJS.ProcessEnv): RunConfig | 'help' {
  const raw = parseFlags<RunFlagName>(RUN_FLAGS, argv, env);
  if (raw.help === 'true') return 'help';
  const cfg: RunConfig = decodeFlags(RUN_FLAGS, raw);
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

/**
 * The daemon's argv (after `run`) for the fields given, e.g. runArgv({ nodeName: 'n1', agentPort: 0 }):
 * what the demo, tests and bench start the daemon with. Fields left out keep their defaults.
 */
export function runArgv(partial: Partial<RunConfig>): string[] {
  return argvOf(RUN_FLAGS, partial);
}
