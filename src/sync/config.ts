// `sync`'s flags, each declared once: render's model flags (same names, same meaning) plus what a
// long-running controller of a live HAProxy needs. SyncConfig is derived from the table.
import {
  bindArgumentsValue,
  claimsConfigMapValue,
  duration,
  given,
  port,
  text,
  wholeNumber,
} from '../platform/flag-values.js';
import { type ConfigOf, FlagError, type FlagRow, parseConfig } from '../platform/flags.js';
import {
  ALLOW_REMOVAL_FLAG,
  ANNOTATION_PREFIX_FLAG,
  ENV_PREFIX,
  HELP_FLAG,
  HTTP_ADDRESS_FLAG,
  HTTP_PORT_FLAG,
  KUBECONFIG_FLAG,
  LOG_FORMAT_FLAG,
  LOG_LEVEL_FLAG,
  MAX_REMOVAL_FRACTION_FLAG,
  REQUEST_TIMEOUT_FLAG,
  TCP_BIND_ADDRESS_FLAG,
  TCP_PORT_RANGE_FLAG,
} from '../platform/shared-flags.js';

const E = `${ENV_PREFIX}SYNC_`;

export const SYNC_FLAGS = [
  { ...KUBECONFIG_FLAG, help: 'Kubeconfig file (default $KUBECONFIG, then ~/.kube/config, then in-cluster)' },
  {
    name: 'context',
    field: 'context',
    env: `${E}CONTEXT`,
    default: '',
    help:
      'Contexts to watch, comma-separated, one per cluster; ALIAS=CONTEXT names the cluster ALIAS ' +
      '(default: current context)',
    ...text,
  },
  {
    name: 'nodes-per-service',
    field: 'nodesPerService',
    env: `${E}NODES_PER_SERVICE`,
    default: '6',
    help: 'Nodes chosen per Service, spread across zones (as render)',
    ...wholeNumber(1, 1000),
  },
  {
    name: 'agent-port',
    field: 'agentPort',
    env: `${E}AGENT_PORT`,
    default: '9300',
    help: "agent-port of every server: the daemon's port on each node",
    ...port(1),
  },
  {
    name: 'agent-inter',
    field: 'agentInterMs',
    env: `${E}AGENT_INTER`,
    default: '2s',
    help: 'agent-inter of every server: how often HAProxy asks the daemon',
    ...duration({ minMs: 10, maxMs: 3_600_000 }),
  },
  {
    name: 'slowstart',
    field: 'slowstartMs',
    env: `${E}SLOWSTART`,
    default: '0',
    help: 'slowstart of every server, e.g. 30s (0 = off)',
    ...duration({ allowZero: true, maxMs: 3_600_000 }),
  },
  {
    name: 'shutdown-sessions-on-down',
    field: 'shutdownSessionsOnDown',
    default: '',
    help: 'Add "on-marked-down shutdown-sessions" to every server (pairs with the daemon\'s --drain-deadline)',
    boolean: true,
    ...given,
  },
  { ...ANNOTATION_PREFIX_FLAG, help: 'Prefix of the annotations read (as render)' },
  {
    name: 'bind',
    field: 'bind',
    env: `${E}BIND`,
    default: ':80',
    help: "Arguments of the generated frontend's bind line",
    ...bindArgumentsValue,
  },
  { ...TCP_PORT_RANGE_FLAG, env: `${E}TCP_PORT_RANGE` },
  { ...TCP_BIND_ADDRESS_FLAG, env: `${E}TCP_BIND_ADDRESS` },
  {
    name: 'template',
    field: 'template',
    env: `${E}TEMPLATE`,
    default: '',
    help: 'Template file replacing the built-in one; with a template every change is applied by a reload',
    ...text,
  },
  {
    name: 'out',
    field: 'out',
    env: `${E}OUT`,
    default: '',
    help: 'The generated fragment HAProxy loads (-f OUT); always equal to what runs (required)',
    ...text,
  },
  {
    name: 'haproxy-socket',
    field: 'haproxySocket',
    env: `${E}HAPROXY_SOCKET`,
    default: '',
    help: 'HAProxy stats socket at level admin: the runtime API (required unless --dry-run)',
    ...text,
  },
  {
    name: 'master-socket',
    field: 'masterSocket',
    env: `${E}MASTER_SOCKET`,
    default: '',
    help: 'HAProxy master CLI socket (haproxy -W -S PATH): reload and show proc (required unless --dry-run)',
    ...text,
  },
  {
    name: 'state-file',
    field: 'stateFile',
    env: `${E}STATE_FILE`,
    default: '',
    help: "The server-state-file of HAProxy's global section, written before each reload (required unless --dry-run)",
    ...text,
  },
  {
    name: 'haproxy-config',
    field: 'haproxyConfig',
    env: `${E}HAPROXY_CONFIG`,
    default: '',
    help: "HAProxy's main configuration (optional): checked once at start for what sync needs",
    ...text,
  },
  {
    name: 'min-reload-interval',
    field: 'minReloadIntervalMs',
    env: `${E}MIN_RELOAD_INTERVAL`,
    default: '10s',
    help: 'At most one reload per this interval (plus up to 20% jitter, so edges do not reload together)',
    ...duration({ minMs: 100, maxMs: 3_600_000 }),
  },
  {
    name: 'debounce',
    field: 'debounceMs',
    env: `${E}DEBOUNCE`,
    default: '200ms',
    help: 'Changes arriving within this window are applied together',
    ...duration({ allowZero: true, maxMs: 60_000 }),
  },
  {
    name: 'resync-interval',
    field: 'resyncIntervalMs',
    env: `${E}RESYNC_INTERVAL`,
    default: '30s',
    help: 'Compare the running HAProxy with the desired state this often and repair drift',
    ...duration({ minMs: 100, maxMs: 3_600_000 }),
  },
  {
    name: 'replace-after',
    field: 'replaceAfterMs',
    env: `${E}REPLACE_AFTER`,
    default: '5m',
    help:
      'A node that turns ineligible (cordon, NotReady, taint) keeps its servers this long before they move ' +
      'to other nodes (its agent drains it meanwhile); a deleted node is replaced at once (0 = at once)',
    ...duration({ allowZero: true, maxMs: 86_400_000 }),
  },
  MAX_REMOVAL_FRACTION_FLAG,
  {
    name: 'removal-hold',
    field: 'removalHoldMs',
    env: `${E}REMOVAL_HOLD`,
    default: '10m',
    help: 'A held change that persists this long is applied (0 = hold until --allow-removal)',
    ...duration({ allowZero: true, maxMs: 86_400_000 }),
  },
  ALLOW_REMOVAL_FLAG,
  {
    name: 'reload-timeout',
    field: 'reloadTimeoutMs',
    env: `${E}RELOAD_TIMEOUT`,
    default: '30s',
    help: 'How long a reload may take before it counts as failed',
    ...duration({ minMs: 100, maxMs: 600_000 }),
  },
  {
    name: 'drain-timeout',
    field: 'drainTimeoutMs',
    env: `${E}DRAIN_TIMEOUT`,
    default: '1h',
    help: 'A server leaving the desired state drains; its sessions left after this are closed (0 = never)',
    ...duration({ allowZero: true, maxMs: 7 * 86_400_000 }),
  },
  {
    name: 'haproxy',
    field: 'haproxy',
    env: `${E}HAPROXY`,
    default: 'haproxy',
    help: 'HAProxy binary: "haproxy -c" judges a new configuration before --out is replaced ("" = no check)',
    ...text,
  },
  {
    name: 'claims-configmap',
    field: 'claimsConfigMap',
    env: `${E}CLAIMS_CONFIGMAP`,
    default: 'haproxy-node-agent/haproxy-node-agent-edge-claims',
    help:
      'NAMESPACE/NAME of the ConfigMap recording who owns each host and backend name, in the first ' +
      '--context\'s cluster; sync reads and writes it ("" = no record: contested hosts serve nobody)',
    ...claimsConfigMapValue,
  },
  {
    name: 'dry-run',
    field: 'dryRun',
    default: '',
    help: 'Print the runtime commands and "reload needed because ..." on stdout; change nothing',
    boolean: true,
    ...given,
  },
  { ...HTTP_ADDRESS_FLAG, env: `${E}HTTP_ADDRESS`, default: '127.0.0.1' },
  { ...HTTP_PORT_FLAG, env: `${E}HTTP_PORT`, default: '9292' },
  LOG_LEVEL_FLAG,
  LOG_FORMAT_FLAG,
  { ...REQUEST_TIMEOUT_FLAG, env: `${E}REQUEST_TIMEOUT` },
  HELP_FLAG,
] as const satisfies readonly FlagRow[];

export type SyncConfig = ConfigOf<typeof SYNC_FLAGS>;

export const SYNC_USAGE = `Usage: haproxy-node-agent sync [flags]

Keeps a running HAProxy (master-worker: haproxy -W -S MASTER -f main.cfg -f OUT) equal to what
"render" would write, for as long as it runs: it watches Nodes and Services in every --context,
writes --out, changes servers through the runtime API (add/del server, set server addr) and reloads
through the master CLI only when a backend, frontend or route changes.`;

/** Parses argv and the environment; 'help' for --help. Throws FlagError naming the first bad flag. */
export function loadSyncConfig(argv: readonly string[], env: NodeJS.ProcessEnv): SyncConfig | 'help' {
  const cfg = parseConfig(SYNC_FLAGS, argv, env);
  if (cfg === 'help') return cfg;
  if (cfg.out === '') throw new FlagError('out', 'is required: the fragment file HAProxy loads with -f');
  if (!cfg.dryRun) {
    for (const [flag, v] of [
      ['haproxy-socket', cfg.haproxySocket],
      ['master-socket', cfg.masterSocket],
      ['state-file', cfg.stateFile],
    ] as const)
      if (v === '') throw new FlagError(flag, 'is required (or pass --dry-run to only print what would change)');
  }
  return cfg;
}
