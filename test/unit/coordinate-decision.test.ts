// The decision ConfigMap format (hostile input is normal input) and the agent's verdict from it.
import t from 'tap';
import { decisionFromConfigMap, decisionToConfigMap, type Decision } from '../../src/core/guard-decision.js';
import { coordinatedVerdict } from '../../src/core/coordinated-verdict.js';
import { DEFAULT_POLICY } from '../../src/core/policy.js';
import type { NodeView } from '../../src/core/views.js';

const d: Decision = {
  generation: 7,
  updated: '2026-01-01T00:00:00.000Z',
  heartbeat: '2026-01-01T00:00:10.000Z',
  holder: 'c-1_abc',
  maxDrainFraction: 0.5,
  readyNodes: 10,
  budget: 5,
  explicit: ['node-9'],
  draining: ['node-5', 'node-4'],
  held: ['node-0'],
};

t.test('round trip through the ConfigMap', async (t) => {
  t.same(decisionFromConfigMap(decisionToConfigMap('ns', d))?.view, d);
  const empty = { ...d, explicit: [], draining: [], held: [] };
  t.same(decisionFromConfigMap(decisionToConfigMap('ns', empty))?.view, empty, 'empty lists');
  const fenced = { ...d, leaseTransitions: 3 };
  t.same(decisionFromConfigMap(decisionToConfigMap('ns', fenced))?.view, fenced, 'with the lease fence');
  const cm = decisionToConfigMap('ns', fenced) as { data: Record<string, string> };
  t.same(
    decisionFromConfigMap({ ...cm, data: { ...cm.data, leaseTransitions: 'x' } })?.view,
    d,
    'a fence that is not a number is no fence (written before it existed, or by hand)',
  );
});

t.test('a hand-edited or hostile ConfigMap is not a decision', async (t) => {
  const cm = decisionToConfigMap('ns', d) as { data: Record<string, string> };
  const bad = (patch: Record<string, unknown>) => decisionFromConfigMap({ ...cm, data: { ...cm.data, ...patch } });
  t.equal(bad({ draining: 'node-5,,node-4' }), undefined, 'empty name');
  t.equal(bad({ draining: 'Node_5' }), undefined, 'not a DNS name');
  t.equal(bad({ generation: '-1' }), undefined);
  t.equal(bad({ budget: 'lots' }), undefined);
  t.equal(bad({ maxDrainFraction: '2' }), undefined);
  t.equal(bad({ held: 7 }), undefined, 'not a string');
  t.equal(bad({ heartbeat: undefined }), undefined, 'no heartbeat');
  t.equal(decisionFromConfigMap({ metadata: { name: 'x' } }), undefined, 'no data');
  t.equal(decisionFromConfigMap('garbage'), undefined);
  t.equal(decisionFromConfigMap(null), undefined);
});

t.test('verdict: only automatic drains named in the decision are honoured', async (t) => {
  const cordoned = (name: string, p: Partial<NodeView> = {}): NodeView => ({
    name,
    signals: [{ name: 'cordon', since: 1 }],
    state: undefined,
    weight: 100,
    ...p,
  });
  t.equal(coordinatedVerdict(cordoned('node-5'), DEFAULT_POLICY, d).held, false, 'draining: honoured');
  t.equal(coordinatedVerdict(cordoned('node-0'), DEFAULT_POLICY, d).held, true, 'held: held');
  t.equal(coordinatedVerdict(cordoned('node-7'), DEFAULT_POLICY, d).held, true, 'not counted yet: held');
  t.equal(coordinatedVerdict(cordoned('node-7'), DEFAULT_POLICY, undefined).held, true, 'no decision: held');
  t.equal(
    coordinatedVerdict(cordoned('node-7', { state: 'drain' }), DEFAULT_POLICY, undefined).held,
    false,
    'explicit intent: never held',
  );
  t.equal(
    coordinatedVerdict(
      { name: 'node-7', signals: [{ name: 'out-of-service' }], state: undefined, weight: 100 },
      DEFAULT_POLICY,
      undefined,
    ).held,
    false,
    'down signal: never held',
  );
  t.equal(
    coordinatedVerdict({ name: 'node-7', signals: [], state: undefined, weight: 100 }, DEFAULT_POLICY, undefined).held,
    false,
    'no signal: nothing to hold',
  );
  t.same(
    coordinatedVerdict(undefined, DEFAULT_POLICY, d).result.held,
    ['node-0'],
    'the cluster picture comes from the decision',
  );
});
