// One row per line of the README's decision table, exact bytes on the wire.
import t from 'tap';
import { decide, effectiveWeight, slowStartFactor, type DecisionInput } from '../../src/core/decide.js';
import type { NodeView, ServiceView } from '../../src/core/views.js';
import { formatReply } from '../../src/core/reply.js';
import { DEFAULT_POLICY, parsePolicy, type SignalName } from '../../src/core/policy.js';

const healthy: NodeView = { name: 'n1', signals: [], state: undefined, weight: 100 };
/** A node with these signals present (cordon, taints, …) and other fields overridden. */
const node = (p: Partial<NodeView> & { with?: SignalName[] } = {}): NodeView => {
  const { with: sig = [], ...rest } = p;
  return { ...healthy, signals: sig.map((name) => ({ name })), ...rest };
};
const svc = (p: Partial<ServiceView> = {}): ServiceView => ({
  namespace: 'shop',
  name: 'web',
  weight: 100,
  local: false,
  agentPort: undefined,
  ...p,
});
const base: DecisionInput = {
  synced: true,
  node: healthy,
  service: undefined,
  endpoints: undefined,
  override: undefined,
  stale: false,
  ramp: 1,
  policy: DEFAULT_POLICY,
  held: false,
};
const row = (p: Partial<DecisionInput>): DecisionInput => ({ ...base, ...p });
const local = svc({ local: true });

const rows: Array<[string, DecisionInput, string]> = [
  // sync
  ['not synced yet: no reply', row({ synced: false, service: svc() }), ''],
  [
    'not synced, override drain: drain (works without the API)',
    row({ synced: false, node: undefined, override: 'drain' }),
    'drain\n',
  ],
  ['not synced, override maint: maint', row({ synced: false, node: undefined, override: 'maint' }), 'maint\n'],
  // healthy
  // (also a node with no Ready condition at all: its view has no signal, exactly this row)
  ['healthy node alone', row({}), 'ready up 100%\n'],
  ['healthy, service weight 25', row({ service: svc({ weight: 25 }) }), 'ready up 25%\n'],
  ['healthy, service weight 0: up with weight 0, not drain', row({ service: svc({ weight: 0 }) }), 'ready up 0%\n'],
  ['healthy, service weight 256', row({ service: svc({ weight: 256 }) }), 'ready up 256%\n'],
  [
    'node weight 50 scales the service weight 80',
    row({ node: node({ weight: 50 }), service: svc({ weight: 80 }) }),
    'ready up 40%\n',
  ],
  [
    'node weight 200 × service 200 caps at 256',
    row({ node: node({ weight: 200 }), service: svc({ weight: 200 }) }),
    'ready up 256%\n',
  ],
  ['node weight 0: every service at 0', row({ node: node({ weight: 0 }), service: svc() }), 'ready up 0%\n'],
  // node going away
  ['node absent after sync: drain', row({ node: undefined, service: svc() }), 'drain\n'],
  ['cordoned: drain', row({ node: node({ with: ['cordon'] }), service: svc({ weight: 25 }) }), 'drain\n'],
  [
    'taint ToBeDeletedByClusterAutoscaler: drain',
    row({ node: node({ with: ['autoscaler-to-be-deleted'] }) }),
    'drain\n',
  ],
  ['taint node.kubernetes.io/unschedulable: drain', row({ node: node({ with: ['unschedulable-taint'] }) }), 'drain\n'],
  ['deletionTimestamp: drain', row({ node: node({ with: ['deletion'] }) }), 'drain\n'],
  ['exclude-from-external-load-balancers label: drain', row({ node: node({ with: ['exclude-label'] }) }), 'drain\n'],
  ['state annotation drain: drain', row({ node: node({ state: 'drain' }) }), 'drain\n'],
  ['state annotation maint: maint', row({ node: node({ state: 'maint' }) }), 'maint\n'],
  [
    'state annotation ready keeps a cordoned node serving',
    row({
      node: node({
        state: 'ready',
        with: ['cordon', 'exclude-label', 'unschedulable-taint', 'autoscaler-to-be-deleted'],
      }),
      service: svc({ weight: 30 }),
    }),
    'ready up 30%\n',
  ],
  [
    'state annotation ready does not hide deletion',
    row({ node: node({ state: 'ready', with: ['deletion'] }) }),
    'drain\n',
  ],
  // Ready=False and Ready=Unknown both become the not-ready signal in the node's view.
  [
    'Ready=False or Unknown: down',
    row({ node: node({ with: ['not-ready'] }), service: svc() }),
    'down #node not ready\n',
  ],
  ['NotReady beats cordon', row({ node: node({ with: ['not-ready', 'cordon'] }) }), 'down #node not ready\n'],
  [
    'NotReady beats state annotation ready',
    row({ node: node({ with: ['not-ready'], state: 'ready' }) }),
    'down #node not ready\n',
  ],
  ['state annotation maint beats NotReady', row({ node: node({ with: ['not-ready'], state: 'maint' }) }), 'maint\n'],
  // signal policy (defaults, then --signal-policy rows)
  ['karpenter disrupted taint: drain', row({ node: node({ with: ['karpenter-disrupted'] }) }), 'drain\n'],
  ['GKE impending termination taint: drain', row({ node: node({ with: ['gke-impending-termination'] }) }), 'drain\n'],
  ['out-of-service taint: down', row({ node: node({ with: ['out-of-service'] }) }), 'down #node out of service\n'],
  [
    'autoscaler deletion candidate: weight 50%',
    row({ node: node({ with: ['autoscaler-deletion-candidate'] }), service: svc({ weight: 80 }) }),
    'ready up 40%\n',
  ],
  [
    'policy cordon=ignore: a cordoned node serves',
    row({ node: node({ with: ['cordon'] }), policy: parsePolicy('cordon=ignore') }),
    'ready up 100%\n',
  ],
  [
    'policy cordon=25%: a cordoned node sheds load',
    row({ node: node({ with: ['cordon'] }), policy: parsePolicy('cordon=25%') }),
    'ready up 25%\n',
  ],
  [
    'policy not-ready=drain',
    row({ node: node({ with: ['not-ready'] }), policy: parsePolicy('not-ready=drain') }),
    'drain\n',
  ],
  [
    'policy exclude-label=down',
    row({ node: node({ with: ['exclude-label'] }), policy: parsePolicy('exclude-label=down') }),
    'down #node excluded from load balancers\n',
  ],
  // mass-drain guard
  [
    'guard holds a cordoned node: ready',
    row({ node: node({ with: ['cordon'] }), service: svc({ weight: 70 }), held: true }),
    'ready up 70%\n',
  ],
  ['guard never holds a down', row({ node: node({ with: ['not-ready'] }), held: true }), 'down #node not ready\n'],
  [
    'guard never holds explicit state=drain',
    row({ node: node({ state: 'drain', with: ['cordon'] }), held: true }),
    'drain\n',
  ],
  ['guard never holds the override file', row({ override: 'drain', held: true }), 'drain\n'],
  // staleness
  ['stale (past --max-staleness): drain', row({ stale: true, service: svc() }), 'drain\n'],
  // override file
  ['override drain beats a healthy node', row({ override: 'drain', service: svc() }), 'drain\n'],
  ['override maint', row({ override: 'maint' }), 'maint\n'],
  [
    'override ready beats cordon and NotReady',
    row({ override: 'ready', node: node({ with: ['cordon', 'not-ready'] }), service: svc({ weight: 60 }) }),
    'ready up 60%\n',
  ],
  ['override ready with the node unknown', row({ override: 'ready', node: undefined }), 'ready up 100%\n'],
  ['override drain beats a Local service with no endpoints', row({ override: 'drain', service: local }), 'drain\n'],
  // externalTrafficPolicy: Local
  ['Local, no slices seen: down', row({ service: local }), 'down #no local endpoints\n'],
  [
    'Local, none here: down',
    row({ service: local, endpoints: { ready: 0, terminating: 0, maxReadyPerNode: 3 } }),
    'down #no local endpoints\n',
  ],
  [
    'Local, only terminating-serving here: drain',
    row({ service: local, endpoints: { ready: 0, terminating: 2, maxReadyPerNode: 3 } }),
    'drain\n',
  ],
  [
    'Local, 1 of max 4 here: 25%',
    row({ service: local, endpoints: { ready: 1, terminating: 0, maxReadyPerNode: 4 } }),
    'ready up 25%\n',
  ],
  [
    'Local, most here: full weight',
    row({ service: local, endpoints: { ready: 4, terminating: 1, maxReadyPerNode: 4 } }),
    'ready up 100%\n',
  ],
  [
    'Local, 1 of 3, weight 50: 17%',
    row({ service: svc({ local: true, weight: 50 }), endpoints: { ready: 1, terminating: 0, maxReadyPerNode: 3 } }),
    'ready up 17%\n',
  ],
  [
    'Local, 1 of 300: rounds up to 1%, never 0',
    row({ service: local, endpoints: { ready: 1, terminating: 0, maxReadyPerNode: 300 } }),
    'ready up 1%\n',
  ],
  [
    'Local with no endpoints beats a cordon drain',
    row({ service: local, node: node({ with: ['cordon'] }) }),
    'down #no local endpoints\n',
  ],
  [
    'Local with endpoints on a cordoned node: drain',
    row({
      service: local,
      node: node({ with: ['cordon'] }),
      endpoints: { ready: 2, terminating: 0, maxReadyPerNode: 2 },
    }),
    'drain\n',
  ],
  [
    'Cluster policy ignores endpoints',
    row({ service: svc(), endpoints: { ready: 0, terminating: 0, maxReadyPerNode: 5 } }),
    'ready up 100%\n',
  ],
  // data plane: kube-proxy's health port (src/run/dataplane/)
  [
    'kube-proxy unhealthy: down for every Service',
    row({ node: node({ with: ['proxy-unhealthy'] }), service: svc({ weight: 30 }) }),
    'down #kube-proxy unhealthy\n',
  ],
  [
    'kube-proxy unhealthy: down for the node alone',
    row({ node: node({ with: ['proxy-unhealthy'] }) }),
    'down #kube-proxy unhealthy\n',
  ],
  [
    'kube-proxy unhealthy beats a cordon drain',
    row({ node: node({ with: ['cordon', 'proxy-unhealthy'] }) }),
    'down #kube-proxy unhealthy\n',
  ],
  [
    'NotReady is named before kube-proxy',
    row({ node: node({ with: ['not-ready', 'proxy-unhealthy'] }) }),
    'down #node not ready\n',
  ],
  [
    'override file ready beats kube-proxy unhealthy',
    row({ override: 'ready', node: node({ with: ['proxy-unhealthy'] }), service: svc({ weight: 60 }) }),
    'ready up 60%\n',
  ],
  [
    'override file drain beats kube-proxy unhealthy',
    row({ override: 'drain', node: node({ with: ['proxy-unhealthy'] }) }),
    'drain\n',
  ],
  [
    'state annotation maint beats kube-proxy unhealthy',
    row({ node: node({ state: 'maint', with: ['proxy-unhealthy'] }) }),
    'maint\n',
  ],
  [
    'policy proxy-unhealthy=drain',
    row({ node: node({ with: ['proxy-unhealthy'] }), policy: parsePolicy('proxy-unhealthy=drain') }),
    'drain\n',
  ],
  [
    'policy proxy-unhealthy=ignore',
    row({ node: node({ with: ['proxy-unhealthy'] }), policy: parsePolicy('proxy-unhealthy=ignore'), service: svc() }),
    'ready up 100%\n',
  ],
  [
    'guard never holds kube-proxy unhealthy',
    row({ node: node({ with: ['proxy-unhealthy'] }), held: true }),
    'down #kube-proxy unhealthy\n',
  ],
  [
    'autoscaler ToBeDeleted: kube-proxy 503 is that taint again (KEP-3836), so drain stays drain',
    row({ node: node({ with: ['autoscaler-to-be-deleted', 'proxy-unhealthy'] }) }),
    'drain\n',
  ],
  [
    'deletionTimestamp: kube-proxy 503 is the deletion again, drain stays drain',
    row({ node: node({ with: ['deletion', 'proxy-unhealthy'] }) }),
    'drain\n',
  ],
  // slow start
  ['slow start at 10%', row({ service: svc(), ramp: 0.1 }), 'ready up 10%\n'],
  ['slow start half way, weight 50', row({ service: svc({ weight: 50 }), ramp: 0.55 }), 'ready up 28%\n'],
];

for (const [name, input, wire] of rows) {
  t.test(name, async (t) => {
    t.equal(formatReply(decide(input)), wire);
    t.type(decide(input).why, 'string');
  });
}

t.test('every reply ends in a newline; every ready carries ready and up', async (t) => {
  for (const [, input] of rows) {
    const wire = formatReply(decide(input));
    if (wire === '') continue;
    t.ok(wire.endsWith('\n'), wire);
    if (wire.startsWith('ready')) t.match(wire, /^ready up \d+%\n$/);
  }
});

t.test('slow-start factor', async (t) => {
  t.equal(slowStartFactor(1000, undefined, 60_000), 1, 'not ramping');
  t.equal(slowStartFactor(1000, 0, 0), 1, 'off');
  t.equal(slowStartFactor(0, 0, 60_000), 0.1, 'starts at the floor');
  t.equal(slowStartFactor(30_000, 0, 60_000), 0.55, 'linear');
  t.equal(slowStartFactor(60_000, 0, 60_000), 1, 'full at the end');
  t.equal(slowStartFactor(90_000, 0, 60_000), 1);
});

t.test('effective weight never rounds a serving node to 0', async (t) => {
  t.equal(effectiveWeight(row({ service: svc({ weight: 1 }), ramp: 0.1 })), 1);
  t.equal(effectiveWeight(row({ service: svc({ weight: 0 }), ramp: 0.5 })), 0, 'an operator 0 stays 0');
});
