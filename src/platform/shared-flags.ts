// Flag rows more than one program takes, declared once: the same name, environment variable,
// config field and bounds everywhere. A program spreads a row into its table and overrides only
// what differs for it (a default, its own help, or no environment variable).
import { LOG_FORMATS, LOG_LEVELS } from './log.js';
import {
  dnsSubdomainValue,
  duration,
  fractionValue,
  given,
  ipAddressValue,
  oneOf,
  optionalIpAddressValue,
  optionalPortRangeValue,
  optionalText,
  port,
  signalPolicyValue,
} from './flag-values.js';
import type { FlagSpec } from './flags.js';

/** Prefix of every environment variable but KUBECONFIG and NODE_NAME. */
export const ENV_PREFIX = 'HAPROXY_NODE_AGENT_';

export const HELP_FLAG = { name: 'help', default: '', help: 'Print this help and exit', boolean: true } as const;

export const KUBECONFIG_FLAG = {
  name: 'kubeconfig',
  field: 'kubeconfig',
  env: 'KUBECONFIG',
  default: '',
  help: 'Kubeconfig file; in-cluster service account when unset',
  ...optionalText,
} as const;

/** render and sync: the pool TCP Services get their ports from (docs/sync.md, TCP Services). */
export const TCP_PORT_RANGE_FLAG = {
  name: 'tcp-port-range',
  field: 'tcpPortRange',
  env: `${ENV_PREFIX}TCP_PORT_RANGE`,
  default: '',
  help: 'Pool of ports for TCP Services (PREFIX/tcp-port), MIN-MAX ("" = no TCP Services)',
  ...optionalPortRangeValue,
} as const;

export const TCP_BIND_ADDRESS_FLAG = {
  name: 'tcp-bind-address',
  field: 'tcpBindAddress',
  env: `${ENV_PREFIX}TCP_BIND_ADDRESS`,
  default: '',
  help: "Address TCP Services' frontends bind ('' = every address)",
  ...optionalIpAddressValue,
} as const;

export const HTTP_ADDRESS_FLAG = {
  name: 'http-address',
  field: 'httpAddress',
  env: `${ENV_PREFIX}HTTP_ADDRESS`,
  default: '0.0.0.0',
  help: 'Address of the HTTP server (/metrics /status /healthz /readyz)',
  ...ipAddressValue,
} as const;

/** Default 9290 (the agent's); the coordinator overrides it. */
export const HTTP_PORT_FLAG = {
  name: 'http-port',
  field: 'httpPort',
  env: `${ENV_PREFIX}HTTP_PORT`,
  default: '9290',
  help: 'Port of the HTTP server (0 = any free port, logged)',
  ...port(0),
} as const;

export const LOG_LEVEL_FLAG = {
  name: 'log-level',
  field: 'logLevel',
  env: `${ENV_PREFIX}LOG_LEVEL`,
  default: 'info',
  help: `Log level: ${LOG_LEVELS.join(', ')}`,
  ...oneOf(LOG_LEVELS),
} as const;

export const LOG_FORMAT_FLAG = {
  name: 'log-format',
  field: 'logFormat',
  env: `${ENV_PREFIX}LOG_FORMAT`,
  default: 'json',
  help: 'Log lines: json, or text for a person',
  ...oneOf(LOG_FORMATS),
} as const;

export const ANNOTATION_PREFIX_FLAG = {
  name: 'annotation-prefix',
  field: 'annotationPrefix',
  env: `${ENV_PREFIX}ANNOTATION_PREFIX`,
  default: 'haproxy-node-agent.io',
  help: 'Prefix of the annotations read (PREFIX/weight)',
  ...dnsSubdomainValue,
} as const;

export const SIGNAL_POLICY_FLAG = {
  name: 'signal-policy',
  field: 'policy',
  env: `${ENV_PREFIX}SIGNAL_POLICY`,
  default: '',
  help:
    'Override what node signals do: SIGNAL=ACTION,... with ACTION drain, down, ignore or N% ' +
    '(see the decision table)',
  ...signalPolicyValue,
} as const;

export const MAX_DRAIN_FRACTION_FLAG = {
  name: 'max-drain-fraction',
  field: 'maxDrainFraction',
  env: `${ENV_PREFIX}MAX_DRAIN_FRACTION`,
  default: '0.5',
  help: 'Mass-drain guard: at most this fraction of Ready nodes drain on automatic signals (1 = off)',
  ...fractionValue,
} as const;

/**
 * The removal guard (edge/removal-guard.ts), taken by sync (held for --removal-hold) and by render
 * --out (not written, exit 1). The environment variable is sync's: render reads none.
 */
export const MAX_REMOVAL_FRACTION_FLAG = {
  name: 'max-removal-fraction',
  field: 'maxRemovalFraction',
  env: `${ENV_PREFIX}SYNC_MAX_REMOVAL_FRACTION`,
  default: '0.5',
  help: 'Hold a change that empties a backend or takes away more than this fraction of all servers at once',
  ...fractionValue,
} as const;

export const ALLOW_REMOVAL_FLAG = {
  name: 'allow-removal',
  field: 'allowRemoval',
  default: '',
  help: 'Apply changes that remove many servers at once without holding them (for this run)',
  boolean: true,
  ...given,
} as const;

export const REQUEST_TIMEOUT_FLAG = {
  name: 'request-timeout',
  field: 'requestTimeoutMs',
  env: `${ENV_PREFIX}REQUEST_TIMEOUT`,
  default: '30s',
  help: 'Deadline for API list requests and watch response headers',
  ...duration({ minMs: 100, maxMs: 600_000 }),
} as const;

/** The row for a program that reads no environment for it (render, wait-drained, demo). */
export function withoutEnv<T extends FlagSpec>(row: T): Omit<T, 'env'> {
  const { env: _env, ...rest } = row;
  return rest;
}
