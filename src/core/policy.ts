// PURE: which node signals take traffic away, and how. The defaults are the README's decision
// table; `--signal-policy` changes single rows (e.g. "cordon=ignore,autoscaler-deletion-candidate=25%").

/** Every node signal the agent understands, with where it comes from. */
export const SIGNALS = {
  cordon: 'spec.unschedulable (kubectl cordon)',
  'unschedulable-taint': 'taint node.kubernetes.io/unschedulable',
  'autoscaler-to-be-deleted': 'taint ToBeDeletedByClusterAutoscaler',
  'autoscaler-deletion-candidate': 'taint DeletionCandidateOfClusterAutoscaler',
  'karpenter-disrupted': 'taint karpenter.sh/disrupted',
  'gke-impending-termination': 'taint cloud.google.com/impending-node-termination',
  'out-of-service': 'taint node.kubernetes.io/out-of-service',
  deletion: 'metadata.deletionTimestamp',
  'exclude-label': 'label node.kubernetes.io/exclude-from-external-load-balancers',
  'not-ready': 'condition Ready False or Unknown',
  'proxy-unhealthy': 'kube-proxy health port (--proxy-healthz-url) failing',
} as const;

export type SignalName = keyof typeof SIGNALS;
export const SIGNAL_NAMES = Object.keys(SIGNALS) as SignalName[];

/** Taint key → signal. */
export const TAINT_SIGNALS: Readonly<Record<string, SignalName>> = {
  'node.kubernetes.io/unschedulable': 'unschedulable-taint',
  ToBeDeletedByClusterAutoscaler: 'autoscaler-to-be-deleted',
  DeletionCandidateOfClusterAutoscaler: 'autoscaler-deletion-candidate',
  'karpenter.sh/disrupted': 'karpenter-disrupted',
  'cloud.google.com/impending-node-termination': 'gke-impending-termination',
  'node.kubernetes.io/out-of-service': 'out-of-service',
};

/** The signal a taint key raises, if any. Own keys only: "toString" or "constructor" is a valid taint key too. */
export function taintSignal(key: string): SignalName | undefined {
  return Object.hasOwn(TAINT_SIGNALS, key) ? TAINT_SIGNALS[key] : undefined;
}

export type SignalAction =
  | { kind: 'drain' }
  | { kind: 'down' }
  | { kind: 'ignore' }
  | { kind: 'weight'; percent: number };
export type Policy = Readonly<Record<SignalName, SignalAction>>;

export const DEFAULT_POLICY: Policy = {
  cordon: { kind: 'drain' },
  'unschedulable-taint': { kind: 'drain' },
  'autoscaler-to-be-deleted': { kind: 'drain' },
  // A candidate may or may not be removed: shed some load, keep serving.
  'autoscaler-deletion-candidate': { kind: 'weight', percent: 50 },
  'karpenter-disrupted': { kind: 'drain' },
  'gke-impending-termination': { kind: 'drain' },
  // Out-of-service means the node was shut down without draining: nothing there answers.
  'out-of-service': { kind: 'down' },
  deletion: { kind: 'drain' },
  'exclude-label': { kind: 'drain' },
  // kube-proxy on a NotReady node may be gone too: stop all traffic, not just new sessions.
  'not-ready': { kind: 'down' },
  // Rules stale or missing on this node: new and existing connections alike go nowhere.
  'proxy-unhealthy': { kind: 'down' },
};

/** What `down` replies say after '#', per signal. */
export const DOWN_TEXT: Readonly<Record<SignalName, string>> = {
  cordon: 'node cordoned',
  'unschedulable-taint': 'node unschedulable',
  'autoscaler-to-be-deleted': 'node being removed by the autoscaler',
  'autoscaler-deletion-candidate': 'node is an autoscaler deletion candidate',
  'karpenter-disrupted': 'node disrupted by karpenter',
  'gke-impending-termination': 'node terminating',
  'out-of-service': 'node out of service',
  deletion: 'node being deleted',
  'exclude-label': 'node excluded from load balancers',
  'not-ready': 'node not ready',
  'proxy-unhealthy': 'kube-proxy unhealthy',
};

/** Parses "name=action,..." over the defaults; throws Error with a message naming the bad part. */
export function parsePolicy(spec: string): Policy {
  const out: Record<SignalName, SignalAction> = { ...DEFAULT_POLICY };
  if (spec.trim() === '') return out;
  for (const part of spec.split(',')) {
    const [name, action, extra] = part.split('=').map((s) => s.trim());
    if (name === undefined || action === undefined || extra !== undefined || name === '')
      throw new Error(`"${part}" is not NAME=ACTION`);
    if (!(name in SIGNALS)) throw new Error(`unknown signal "${name}" (known: ${SIGNAL_NAMES.join(', ')})`);
    out[name as SignalName] = parseAction(action, name);
  }
  return out;
}

function parseAction(v: string, name: string): SignalAction {
  if (v === 'drain' || v === 'down' || v === 'ignore') return { kind: v };
  const m = /^([0-9]{1,3})%$/.exec(v);
  if (m !== null && Number(m[1]) <= 100) return { kind: 'weight', percent: Number(m[1]) };
  throw new Error(`signal ${name}: action "${v}" is not drain, down, ignore or a percentage 0%..100%`);
}
