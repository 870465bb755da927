// The mass-drain guard and the signal policy, as pure functions.
import t from 'tap';
import { computeGuard } from '../../src/core/mass-drain-guard.js';
import { DEFAULT_POLICY, parsePolicy } from '../../src/core/policy.js';
import type { NodeView } from '../../src/core/views.js';
import { nodeFromObject } from '../../src/kube/parse.js';

const n = (name: string, p: Partial<NodeView> = {}): NodeView => ({
  name,
  signals: [],
  state: undefined,
  weight: 100,
  ...p,
});
const cordoned = (name: string, since?: number): NodeView =>
  n(name, { signals: [since === undefined ? { name: 'cordon' } : { name: 'cordon', since }] });

t.test('10 nodes, 8 cordoned: the 5 earliest drain, 3 are held', async (t) => {
  const nodes = [
    ...Array.from({ length: 8 }, (_, i) => cordoned(`node-${i}`, 1000 + (7 - i) * 10)),
    n('node-8'),
    n('node-9'),
  ];
  const g = computeGuard(nodes, DEFAULT_POLICY, 0.5);
  t.equal(g.readyNodes, 10);
  t.equal(g.budget, 5);
  t.same(g.draining, ['node-7', 'node-6', 'node-5', 'node-4', 'node-3'], 'earliest signal first');
  t.same(g.held, ['node-2', 'node-1', 'node-0']);
  t.ok(g.engaged);
});

t.test('unknown signal times sort last, then by name', async (t) => {
  const g = computeGuard([cordoned('b'), cordoned('a'), cordoned('c', 5), n('d')], DEFAULT_POLICY, 0.5);
  t.same(g.draining, ['c', 'a']);
  t.same(g.held, ['b']);
});

t.test('explicit intent uses the budget first and is never held', async (t) => {
  const g = computeGuard(
    [n('a', { state: 'drain' }), n('b', { state: 'maint' }), cordoned('c', 1), n('d')],
    DEFAULT_POLICY,
    0.5,
  );
  t.same(g.explicit, ['a', 'b']);
  t.same(g.draining, []);
  t.same(g.held, ['c'], 'no room left for the cordon');
});

t.test('NotReady nodes are outside the population; at least one may always drain', async (t) => {
  const g = computeGuard([n('a', { signals: [{ name: 'not-ready' }] }), cordoned('b')], DEFAULT_POLICY, 0.5);
  t.equal(g.readyNodes, 1);
  t.same(g.draining, ['b'], 'a single Ready node can still be drained');
  t.notOk(g.engaged);
  t.same(
    computeGuard([cordoned('a'), cordoned('b'), cordoned('c')], DEFAULT_POLICY, 1).held,
    [],
    'fraction 1 = guard off',
  );
  t.same(
    computeGuard([cordoned('a'), n('b', { state: 'ready', signals: [{ name: 'cordon' }] })], DEFAULT_POLICY, 0.5)
      .draining,
    ['a'],
    'state=ready is not draining',
  );
});

t.test('signal times come from the API: taint timeAdded, autoscaler value, deletionTimestamp', async (t) => {
  const v = nodeFromObject(
    {
      metadata: { name: 'x', deletionTimestamp: '2026-01-01T00:00:10Z' },
      spec: {
        unschedulable: true,
        taints: [
          { key: 'node.kubernetes.io/unschedulable', effect: 'NoSchedule', timeAdded: '2026-01-01T00:00:05Z' },
          { key: 'ToBeDeletedByClusterAutoscaler', value: '1767225600', effect: 'NoSchedule' },
          { key: 'unrelated', effect: 'NoSchedule' },
        ],
      },
      status: { conditions: [{ type: 'Ready', status: 'Unknown' }] },
    },
    'haproxy-node-agent.io',
  )!.view;
  t.same(
    v.signals.map((s) => [s.name, s.since]),
    [
      ['unschedulable-taint', Date.parse('2026-01-01T00:00:05Z')],
      ['autoscaler-to-be-deleted', 1767225600_000],
      ['cordon', Date.parse('2026-01-01T00:00:05Z')],
      ['deletion', Date.parse('2026-01-01T00:00:10Z')],
      ['not-ready', undefined],
    ],
  );
});

t.test('without a taint time, the cordon is dated by managedFields', async (t) => {
  const v = nodeFromObject(
    {
      metadata: {
        name: 'y',
        managedFields: [
          { manager: 'kubelet', operation: 'Update', time: '2026-01-01T00:00:01Z', fieldsV1: { 'f:status': {} } },
          {
            manager: 'kubectl-cordon',
            operation: 'Update',
            time: '2026-01-01T00:00:07Z',
            fieldsV1: { 'f:spec': { 'f:unschedulable': {} } },
          },
        ],
      },
      spec: { unschedulable: true },
    },
    'haproxy-node-agent.io',
  )!.view;
  t.same(v.signals, [{ name: 'cordon', since: Date.parse('2026-01-01T00:00:07Z') }]);
});

t.test('taint keys that name Object.prototype members raise no signal and do not throw', async (t) => {
  // Taint keys are qualified names, so "toString" and "constructor" are valid; one such taint used to
  // make the conversion throw (a function where a signal name belongs) and every list of Nodes fail.
  const taints = ['toString', 'constructor', '__proto__', 'hasOwnProperty'].map((key) => ({
    key,
    effect: 'NoSchedule',
  }));
  const v = nodeFromObject(
    {
      metadata: { name: 'z' },
      spec: { taints: [...taints, { key: 'constructor', effect: 'NoSchedule', timeAdded: '2026-01-01T00:00:01Z' }] },
    },
    'haproxy-node-agent.io',
  );
  t.same(v?.view.signals, []);
});

t.test('--signal-policy parsing', async (t) => {
  const p = parsePolicy('cordon=ignore, autoscaler-deletion-candidate=25%,not-ready=drain');
  t.same(p.cordon, { kind: 'ignore' });
  t.same(p['autoscaler-deletion-candidate'], { kind: 'weight', percent: 25 });
  t.same(p['not-ready'], { kind: 'drain' });
  t.same(p.deletion, DEFAULT_POLICY.deletion, 'others keep their defaults');
  t.throws(() => parsePolicy('cordon'), /"cordon" is not NAME=ACTION/);
  t.throws(() => parsePolicy('cordn=drain'), /unknown signal "cordn"/);
  t.throws(() => parsePolicy('cordon=sometimes'), /action "sometimes" is not drain, down, ignore or a percentage/);
  t.throws(() => parsePolicy('cordon=150%'), /is not drain, down, ignore or a percentage 0%..100%/);
});
