// Flags + environment → Config for `coordinate`. Same parser, validators and shared rows as `run`,
// so a bad value exits 2 with one line naming the flag.
import { dnsLabelValue } from '../platform/flag-values.js';
import { type ConfigOf, type FlagRow, parseConfig } from '../platform/flags.js';
import {
  ANNOTATION_PREFIX_FLAG,
  ENV_PREFIX,
  HELP_FLAG,
  HTTP_ADDRESS_FLAG,
  HTTP_PORT_FLAG,
  KUBECONFIG_FLAG,
  LOG_LEVEL_FLAG,
  LOG_FORMAT_FLAG,
  MAX_DRAIN_FRACTION_FLAG,
  SIGNAL_POLICY_FLAG,
} from '../platform/shared-flags.js';

export const COORDINATE_FLAGS = [
  KUBECONFIG_FLAG,
  {
    // Where the Lease and the decision ConfigMap live.
    name: 'namespace',
    field: 'namespace',
    env: `${ENV_PREFIX}NAMESPACE`,
    default: 'haproxy-node-agent',
    help: 'Namespace of the leader Lease and the decision ConfigMap (agents: --guard-namespace)',
    ...dnsLabelValue,
  },
  MAX_DRAIN_FRACTION_FLAG,
  {
    ...SIGNAL_POLICY_FLAG,
    help: "Same as the agents' --signal-policy (which signals count as automatic drains); keep them equal",
  },
  { ...ANNOTATION_PREFIX_FLAG, help: "Same as the agents' --annotation-prefix (PREFIX/state is explicit intent)" },
  HTTP_ADDRESS_FLAG,
  { ...HTTP_PORT_FLAG, default: '9291' },
  LOG_LEVEL_FLAG,
  LOG_FORMAT_FLAG,
  HELP_FLAG,
] as const satisfies readonly FlagRow[];

export interface CoordinatorConfig extends ConfigOf<typeof COORDINATE_FLAGS> {}

export function loadCoordinatorConfig(argv: readonly string[], env: NodeJS.ProcessEnv): CoordinatorConfig | 'help' {
  return parseConfig(COORDINATE_FLAGS, argv, env);
}
