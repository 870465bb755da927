// Flags + environment → Config for `coordinate`. Same parser and validators as `run`, so a bad
// value exits 2 with one line naming the flag.
import { LOG_FORMATS, LOG_LEVELS, type LogFormat, type LogLevel } from '../platform/log.js';
import { dnsLabel, dnsSubdomain, fraction, ipAddress, signalPolicy } from '../platform/flag-values.js';
import { type FlagSpec, parseEnumFlag, parseFlags, parseIntFlag } from '../platform/flags.js';
import type { Policy } from '../core/policy.js';

export interface CoordinatorConfig {
  kubeconfig: string | undefined;
  /** Where the Lease and the decision ConfigMap live. */
  namespace: string;
  maxDrainFraction: number;
  policy: Policy;
  annotationPrefix: string;
  httpAddress: string;
  httpPort: number;
  logLevel: LogLevel;
  logFormat: LogFormat;
}

const P = 'HAPROXY_NODE_AGENT_';

export const COORDINATE_FLAGS = [
  {
    name: 'kubeconfig',
    env: 'KUBECONFIG',
    default: '',
    help: 'Kubeconfig file; in-cluster service account when unset',
  },
  {
    name: 'namespace',
    env: `${P}NAMESPACE`,
    default: 'haproxy-node-agent',
    help: 'Namespace of the leader Lease and the decision ConfigMap (agents: --guard-namespace)',
  },
  {
    name: 'max-drain-fraction',
    env: `${P}MAX_DRAIN_FRACTION`,
    default: '0.5',
    help: 'Mass-drain guard: at most this fraction of Ready nodes drain on automatic signals (1 = off)',
  },
  {
    name: 'signal-policy',
    env: `${P}SIGNAL_POLICY`,
    default: '',
    help: "Same as the agents' --signal-policy (which signals count as automatic drains); keep them equal",
  },
  {
    name: 'annotation-prefix',
    env: `${P}ANNOTATION_PREFIX`,
    default: 'haproxy-node-agent.io',
    help: "Same as the agents' --annotation-prefix (PREFIX/state is explicit intent)",
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
    default: '9291',
    help: 'Port of the HTTP server (0 = any free port, logged)',
  },
  { name: 'log-level', env: `${P}LOG_LEVEL`, default: 'info', help: `Log level: ${LOG_LEVELS.join(', ')}` },
  { name: 'log-format', env: `${P}LOG_FORMAT`, default: 'json', help: 'Log lines: json, or text for a person' },
  { name: 'help', default: '', help: 'Print this help and exit', boolean: true },
] as const satisfies readonly FlagSpec[];

type Name = (typeof COORDINATE_FLAGS)[number]['name'];

export function loadCoordinatorConfig(argv: readonly string[], env: NodeJS.ProcessEnv): CoordinatorConfig | 'help' {
  const raw = parseFlags<Name>(COORDINATE_FLAGS, argv, env);
  if (raw.help === 'true') return 'help';
  return {
    kubeconfig: raw.kubeconfig === '' ? undefined : raw.kubeconfig,
    namespace: dnsLabel('namespace', raw.namespace),
    maxDrainFraction: fraction('max-drain-fraction', raw['max-drain-fraction']),
    policy: signalPolicy('signal-policy', raw['signal-policy']),
    annotationPrefix: dnsSubdomain('annotation-prefix', raw['annotation-prefix']),
    httpAddress: ipAddress('http-address', raw['http-address']),
    httpPort: parseIntFlag('http-port', raw['http-port'], 0, 65535),
    logLevel: parseEnumFlag('log-level', raw['log-level'], LOG_LEVELS),
    logFormat: parseEnumFlag('log-format', raw['log-format'], LOG_FORMATS),
  };
}
