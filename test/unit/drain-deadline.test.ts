// --drain-deadline, pure and through the snapshot's clock tick: drain turns "down #drain deadline"
// only after the deadline, only for drains, and ready again answers ready up.
import t from 'tap';
import { decide, type DecisionInput } from '../../src/core/decide.js';
import type { NodeView } from '../../src/core/views.js';
import { formatReply } from '../../src/core/reply.js';
import { DEFAULT_POLICY } from '../../src/core/policy.js';
import { AgentState } from '../../src/core/agent-state.js';
import type { Parsed } from '../../src/core/views.js';

const n = (p: Partial<NodeView> = {}): NodeView => ({ name: 'n1', signals: [], state: undefined, weight: 100, ...p });
const input = (p: Partial<DecisionInput>): DecisionInput => ({
  synced: true,
  node: n(),
  service: undefined,
  endpoints: undefined,
  override: undefined,
  stale: false,
  ramp: 1,
  policy: DEFAULT_POLICY,
  held: false,
  ...p,
});
const wire = (p: Partial<DecisionInput>): string => formatReply(decide(input(p)));

t.test('decide: past the deadline every drain is a down; maint, down and ready are untouched', async (t) => {
  const cordoned = n({ signals: [{ name: 'cordon' }] });
  t.equal(wire({ node: cordoned }), 'drain\n');
  t.equal(wire({ node: cordoned, drainExpired: true }), 'down #drain deadline\n');
  t.equal(wire({ override: 'drain', drainExpired: true }), 'down #drain deadline\n', 'override drain too');
  t.equal(wire({ node: n({ state: 'maint' }), drainExpired: true }), 'maint\n');
  t.equal(wire({ drainExpired: true }), 'ready up 100%\n');
  t.equal(
    wire({ node: cordoned, held: true, drainExpired: true }),
    'ready up 100%\n',
    'held by the guard: not draining, no deadline',
  );
});

const cached = (view: NodeView): Parsed<NodeView> =>
  ({ view, problems: [], metadata: { name: view.name } }) as unknown as Parsed<NodeView>;

t.test('snapshot: the tick turns a drain into down at the deadline; uncordon answers ready up', async (t) => {
  const clock = { now: 1_000_000 };
  const s = new AgentState({
    nodeName: 'n1',
    slowStartMs: 0,
    now: () => clock.now,
    policy: DEFAULT_POLICY,
    maxDrainFraction: 1,
    drainDeadlineMs: 2000,
  });
  s.upsertNode(cached(n()));
  for (const r of ['nodes', 'services', 'endpointslices'] as const) s.markListed(r);
  const text = () => s.nodeAnswer().bytes.toString('latin1');
  t.equal(text(), 'ready up 100%\n');
  s.upsertNode(cached(n({ signals: [{ name: 'cordon' }] })));
  t.equal(text(), 'drain\n');
  clock.now += 1999;
  s.tick();
  t.equal(text(), 'drain\n', 'before the deadline');
  clock.now += 1;
  s.tick();
  t.equal(text(), 'down #drain deadline\n', 'at the deadline');
  t.match(s.status().drainDeadline, { seconds: 2, passed: true });
  s.upsertNode(cached(n()));
  t.equal(text(), 'ready up 100%\n', 'ready again: ready up undoes the down');
  s.upsertNode(cached(n({ signals: [{ name: 'cordon' }] })));
  t.equal(text(), 'drain\n', 'a new drain starts a new deadline');
});

t.test(
  'snapshot: an override drain before the first list runs the deadline too; slow start does not ramp',
  async (t) => {
    const clock = { now: 1_000_000 };
    const s = new AgentState({
      nodeName: 'n1',
      slowStartMs: 10_000,
      now: () => clock.now,
      policy: DEFAULT_POLICY,
      maxDrainFraction: 1,
      drainDeadlineMs: 2000,
    });
    const text = () => s.nodeAnswer().bytes.toString('latin1');
    s.setOverride('drain');
    t.equal(text(), 'drain\n', 'the break-glass file answers before any list');
    clock.now += 2000;
    t.match(s.tick().nodeAnswer, { to: { text: 'down #drain deadline' } }, 'the tick reports the change');
    t.equal(text(), 'down #drain deadline\n');
    t.same(s.tick(), { problems: [], agentPorts: false }, 'the next tick: nothing changed');
    s.setOverride('ready');
    t.equal(text(), 'ready up 100%\n', 'override ready before sync: full weight, no ramp (nothing is synced)');
    t.equal(s.status().slowStart.readySince, null);
  },
);
