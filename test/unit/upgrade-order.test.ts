// Coordinator and agents of neighbouring releases run side by side during an upgrade (coordinator
// first, then the agents, docs/install.md). Each must read what the other writes: an older agent a
// newer coordinator's decision, a newer agent an older coordinator's, with the same verdict. The
// 0.1.0 side is that release's own parser and writer, frozen in test/fixtures/decision-0.1.0/.
import t from 'tap';
import * as current from '../../src/core/guard-decision.js';
import { coordinatedVerdict } from '../../src/core/coordinated-verdict.js';
import { parsePolicy } from '../../src/core/policy.js';
import type { NodeView } from '../../src/core/views.js';
import * as v010 from '../fixtures/decision-0.1.0/decision.js';

const base = {
  generation: 7,
  updated: '2026-12-04T10:00:00.000Z',
  heartbeat: '2026-12-04T10:00:10.000Z',
  holder: 'coordinator-a',
  maxDrainFraction: 0.5,
  readyNodes: 6,
  budget: 3,
  explicit: ['n1'],
  draining: ['n2', 'n3'],
  held: ['n4'],
};
const verdict = (d: current.Decision | v010.Decision) => ({
  generation: d.generation,
  budget: d.budget,
  readyNodes: d.readyNodes,
  explicit: d.explicit,
  draining: d.draining,
  held: d.held,
  maxDrainFraction: d.maxDrainFraction,
});

t.test(
  'an older (0.1.0) agent reads a newer coordinator’s decision, fence and all, with the same verdict',
  async (t) => {
    const written = current.decisionToConfigMap('haproxy-node-agent', { ...base, leaseTransitions: 4 });
    t.match(written, { data: { leaseTransitions: '4' } }, 'the newer coordinator writes its fence');
    const old = v010.decisionFromConfigMap(written);
    t.ok(old, 'the 0.1.0 parser accepts it (unknown keys are ignored)');
    t.same(verdict(old!.view), verdict(base));
  },
);

t.test('a newer agent reads an older (0.1.0) coordinator’s decision, which has no fence', async (t) => {
  const written = v010.decisionToConfigMap('haproxy-node-agent', base);
  const now = current.decisionFromConfigMap(written);
  t.ok(now, 'accepted without leaseTransitions');
  t.same(verdict(now!.view), verdict(base));
  t.equal(now!.view.leaseTransitions, undefined, 'no fence claimed');
});

t.test('both releases give a node the same coordinated verdict from either document', async (t) => {
  const policy = parsePolicy('');
  const node = (name: string): NodeView => ({
    name,
    state: undefined,
    weight: 100,
    signals: [{ name: 'cordon', since: 1 }],
  });
  const fromNew = current.decisionFromConfigMap(current.decisionToConfigMap('ns', { ...base, leaseTransitions: 2 }));
  const fromOld = current.decisionFromConfigMap(v010.decisionToConfigMap('ns', base));
  for (const n of ['n2', 'n4', 'n9']) {
    const a = coordinatedVerdict(node(n), policy, fromNew?.view);
    const b = coordinatedVerdict(node(n), policy, fromOld?.view);
    t.same(a, b, `${n}: held ${a.held}`);
  }
});
