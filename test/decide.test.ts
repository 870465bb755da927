// One row per line of the README's decision table, exact bytes on the wire.
import t from 'tap';
import { decide, effectiveWeight, slowStartFactor, type DecisionInput, type NodeView, type ServiceView } from '../src/decide.js';
import { formatReply } from '../src/reply.js';

const healthy: NodeView = { name: 'n1', unschedulable: false, drainTaints: [], deleting: false, excluded: false, ready: 'True', state: undefined, weight: 100 };
const node = (p: Partial<NodeView> = {}): NodeView => ({ ...healthy, ...p });
const svc = (p: Partial<ServiceView> = {}): ServiceView => ({ namespace: 'shop', name: 'web', weight: 100, local: false, agentPort: undefined, ...p });
const base: DecisionInput = { synced: true, node: healthy, service: undefined, endpoints: undefined, override: undefined, stale: false, ramp: 1 };
const row = (p: Partial<DecisionInput>): DecisionInput => ({ ...base, ...p });
const local = svc({ local: true });

const rows: Array<[string, DecisionInput, string]> = [
  // sync
  ['not synced yet: no reply', row({ synced: false, service: svc() }), ''],
  ['not synced, override drain: drain (works without the API)', row({ synced: false, node: undefined, override: 'drain' }), 'drain\n'],
  ['not synced, override maint: maint', row({ synced: false, node: undefined, override: 'maint' }), 'maint\n'],
  // healthy
  ['healthy node alone', row({}), 'ready up 100%\n'],
  ['healthy, service weight 25', row({ service: svc({ weight: 25 }) }), 'ready up 25%\n'],
  ['healthy, service weight 0: up with weight 0, not drain', row({ service: svc({ weight: 0 }) }), 'ready up 0%\n'],
  ['healthy, service weight 256', row({ service: svc({ weight: 256 }) }), 'ready up 256%\n'],
  ['node weight 50 scales the service weight 80', row({ node: node({ weight: 50 }), service: svc({ weight: 80 }) }), 'ready up 40%\n'],
  ['node weight 200 × service 200 caps at 256', row({ node: node({ weight: 200 }), service: svc({ weight: 200 }) }), 'ready up 256%\n'],
  ['node weight 0: every service at 0', row({ node: node({ weight: 0 }), service: svc() }), 'ready up 0%\n'],
  ['Ready condition absent: treated as ready', row({ node: node({ ready: undefined }) }), 'ready up 100%\n'],
  // node going away
  ['node absent after sync: drain', row({ node: undefined, service: svc() }), 'drain\n'],
  ['cordoned: drain', row({ node: node({ unschedulable: true }), service: svc({ weight: 25 }) }), 'drain\n'],
  ['taint ToBeDeletedByClusterAutoscaler: drain', row({ node: node({ drainTaints: ['ToBeDeletedByClusterAutoscaler'] }) }), 'drain\n'],
  ['taint node.kubernetes.io/unschedulable: drain', row({ node: node({ drainTaints: ['node.kubernetes.io/unschedulable'] }) }), 'drain\n'],
  ['deletionTimestamp: drain', row({ node: node({ deleting: true }) }), 'drain\n'],
  ['exclude-from-external-load-balancers label: drain', row({ node: node({ excluded: true }) }), 'drain\n'],
  ['state annotation drain: drain', row({ node: node({ state: 'drain' }) }), 'drain\n'],
  ['state annotation maint: maint', row({ node: node({ state: 'maint' }) }), 'maint\n'],
  ['state annotation ready keeps a cordoned node serving', row({ node: node({ state: 'ready', unschedulable: true, excluded: true, drainTaints: ['node.kubernetes.io/unschedulable'] }), service: svc({ weight: 30 }) }), 'ready up 30%\n'],
  ['state annotation ready does not hide deletion', row({ node: node({ state: 'ready', deleting: true }) }), 'drain\n'],
  ['Ready=False: down', row({ node: node({ ready: 'False' }) }), 'down #node not ready\n'],
  ['Ready=Unknown: down', row({ node: node({ ready: 'Unknown' }), service: svc() }), 'down #node not ready\n'],
  ['NotReady beats cordon', row({ node: node({ ready: 'False', unschedulable: true }) }), 'down #node not ready\n'],
  ['NotReady beats state annotation ready', row({ node: node({ ready: 'False', state: 'ready' }) }), 'down #node not ready\n'],
  ['state annotation maint beats NotReady', row({ node: node({ ready: 'False', state: 'maint' }) }), 'maint\n'],
  // staleness
  ['stale (past --max-staleness): drain', row({ stale: true, service: svc() }), 'drain\n'],
  // override file
  ['override drain beats a healthy node', row({ override: 'drain', service: svc() }), 'drain\n'],
  ['override maint', row({ override: 'maint' }), 'maint\n'],
  ['override ready beats cordon and NotReady', row({ override: 'ready', node: node({ unschedulable: true, ready: 'False' }), service: svc({ weight: 60 }) }), 'ready up 60%\n'],
  ['override ready with the node unknown', row({ override: 'ready', node: undefined }), 'ready up 100%\n'],
  ['override drain beats a Local service with no endpoints', row({ override: 'drain', service: local }), 'drain\n'],
  // externalTrafficPolicy: Local
  ['Local, no slices seen: down', row({ service: local }), 'down #no local endpoints\n'],
  ['Local, none here: down', row({ service: local, endpoints: { ready: 0, terminating: 0, maxReadyPerNode: 3 } }), 'down #no local endpoints\n'],
  ['Local, only terminating-serving here: drain', row({ service: local, endpoints: { ready: 0, terminating: 2, maxReadyPerNode: 3 } }), 'drain\n'],
  ['Local, 1 of max 4 here: 25%', row({ service: local, endpoints: { ready: 1, terminating: 0, maxReadyPerNode: 4 } }), 'ready up 25%\n'],
  ['Local, most here: full weight', row({ service: local, endpoints: { ready: 4, terminating: 1, maxReadyPerNode: 4 } }), 'ready up 100%\n'],
  ['Local, 1 of 3, weight 50: 17%', row({ service: svc({ local: true, weight: 50 }), endpoints: { ready: 1, terminating: 0, maxReadyPerNode: 3 } }), 'ready up 17%\n'],
  ['Local, 1 of 300: rounds up to 1%, never 0', row({ service: local, endpoints: { ready: 1, terminating: 0, maxReadyPerNode: 300 } }), 'ready up 1%\n'],
  ['Local with no endpoints beats a cordon drain', row({ service: local, node: node({ unschedulable: true }) }), 'down #no local endpoints\n'],
  ['Local with endpoints on a cordoned node: drain', row({ service: local, node: node({ unschedulable: true }), endpoints: { ready: 2, terminating: 0, maxReadyPerNode: 2 } }), 'drain\n'],
  ['Cluster policy ignores endpoints', row({ service: svc(), endpoints: { ready: 0, terminating: 0, maxReadyPerNode: 5 } }), 'ready up 100%\n'],
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
