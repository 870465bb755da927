// The agent state alone (src/core/agent-state.ts), pure: views in, answers and what changed out, with a
// clock the test moves. What it must get right: no answer before every resource is listed, the
// bytes every probe gets after each change, each change reported once, slow start.
import t from 'tap';
import type { NodeSignal, NodeView, ServiceView } from '../../src/core/views.js';
import type { AnnotationProblem, Parsed, OperatorState, SliceView } from '../../src/core/views.js';
import { rejectedValue } from '../../src/core/rejected.js';
import { DEFAULT_POLICY } from '../../src/core/policy.js';
import { decide } from '../../src/core/decide.js';
import { formatReply } from '../../src/core/reply.js';
import type { Decision } from '../../src/core/guard-decision.js';
import { AgentState, type ResourceName, type AgentStateOptions, type Changes } from '../../src/core/agent-state.js';

/** Every change the updates report, as short strings in the order the daemon words them. */
class Recorder {
  readonly calls: string[] = [];
  /** Guard verdicts are recorded only where a test looks at them. */
  constructor(private readonly guard = false) {}
  add(c: Changes): Changes {
    for (const { subject, problem: p } of c.problems) this.calls.push(`problem ${subject} ${p.annotation}=${p.value}`);
    if (c.guard !== undefined && this.guard) this.calls.push(`guard held=${c.guard.to.held.join(',')}`);
    const w = c.serviceWeight;
    if (w !== undefined) this.calls.push(`weight ${w.key} ${w.from}→${w.to}`);
    if (c.agentPorts) this.calls.push('ports');
    if (c.nodeAnswer !== undefined) this.calls.push(`node ${c.nodeAnswer.from.kind}→${c.nodeAnswer.to.kind}`);
    return c;
  }
  take(): string[] {
    return this.calls.splice(0);
  }
}

/** The agent state, with what each update returns kept by a Recorder. */
class Recorded extends AgentState {
  constructor(
    opts: AgentStateOptions,
    readonly rec: Recorder,
  ) {
    super(opts);
  }
  override markListed(r: ResourceName): Changes {
    return this.rec.add(super.markListed(r));
  }
  override upsertNode(c: Parsed<NodeView>): Changes {
    return this.rec.add(super.upsertNode(c));
  }
  override deleteNode(name: string): Changes {
    return this.rec.add(super.deleteNode(name));
  }
  override upsertService(c: Parsed<ServiceView>): Changes {
    return this.rec.add(super.upsertService(c));
  }
  override deleteService(namespace: string, name: string): Changes {
    return this.rec.add(super.deleteService(namespace, name));
  }
  override setOverride(state: OperatorState | undefined): Changes {
    return this.rec.add(super.setOverride(state));
  }
  override setStale(stale: boolean): Changes {
    return this.rec.add(super.setStale(stale));
  }
  override setDecision(d: Decision | undefined): Changes {
    return this.rec.add(super.setDecision(d));
  }
  override decisionRead(): Changes {
    return this.rec.add(super.decisionRead());
  }
  override tick(): Changes {
    return this.rec.add(super.tick());
  }
}

const ALL: ResourceName[] = ['nodes', 'services', 'endpointslices'];

function setup(opts: Partial<AgentStateOptions> = {}, guard = false) {
  const clock = { now: 1_000_000 };
  const rec = new Recorder(guard);
  const snap = new Recorded(
    { nodeName: 'n1', slowStartMs: 0, now: () => clock.now, policy: DEFAULT_POLICY, maxDrainFraction: 1, ...opts },
    rec,
  );
  return {
    snap,
    rec,
    clock,
    node: () => snap.nodeAnswer().bytes.toString('latin1'),
    svc: (key: string) => snap.serviceAnswer(key)?.bytes.toString('latin1'),
  };
}

const cached = <V>(name: string, view: V, problems: AnnotationProblem[] = [], namespace?: string): Parsed<V> => ({
  metadata: { name, ...(namespace === undefined ? {} : { namespace }) },
  view,
  problems,
});
const nodeView = (name: string, signals: NodeSignal['name'][] = [], p: Partial<NodeView> = {}): Parsed<NodeView> =>
  cached(name, { name, signals: signals.map((s) => ({ name: s })), state: undefined, weight: 100, ...p });
const service = (name: string, p: Partial<ServiceView> = {}, problems: AnnotationProblem[] = []): Parsed<ServiceView> =>
  cached(name, { namespace: 'shop', name, weight: 100, local: false, agentPort: undefined, ...p }, problems, 'shop');
const slice = (name: string, service: string, perNode: Record<string, [number, number]>): Parsed<SliceView> =>
  cached(name, { serviceKey: `shop/${service}`, perNode: new Map(Object.entries(perNode)) }, [], 'shop');
const problem = (value: string): AnnotationProblem => ({
  annotation: 'haproxy-node-agent.io/weight',
  ...rejectedValue(value),
  reason: 'not a whole number 0..256',
  fallback: '100',
});

t.test('no answer until every resource is listed; then the node and each Service answer', async (t) => {
  const { snap, rec, node, svc } = setup();
  snap.upsertNode(nodeView('n1'));
  snap.upsertService(service('web', { weight: 40 }));
  t.equal(node(), '', 'nothing listed: an empty reply (HAProxy keeps what it has)');
  t.equal(svc('shop/web'), '', 'a known Service too');
  t.equal(svc('shop/nope'), undefined, 'an unknown Service: none (the agent then answers for the node)');
  snap.markListed('nodes');
  snap.markListed('services');
  t.equal(snap.synced, false);
  t.equal(node(), '', 'two of three listed: still nothing');
  rec.take();
  snap.markListed('endpointslices');
  t.equal(snap.synced, true);
  t.equal(node(), 'ready up 100%\n');
  t.equal(svc('shop/web'), 'ready up 40%\n');
  t.same(rec.take(), ['node none→ready'], 'the first answer is one change');
  snap.markListed('endpointslices');
  t.same(rec.take(), [], 'a relist of a listed resource changes nothing');
});

t.test('node changes reach every answer; each change told once; no-op updates are silent', async (t) => {
  const { snap, rec, node, svc } = setup();
  for (const r of ALL) snap.markListed(r);
  snap.upsertNode(nodeView('n1'));
  snap.upsertService(service('web', { weight: 25 }));
  rec.take();
  snap.upsertNode(nodeView('n1', ['cordon']));
  t.equal(node(), 'drain\n');
  t.equal(svc('shop/web'), 'drain\n', 'a Service on a cordoned node drains too');
  t.same(rec.take(), ['node ready→drain']);
  snap.upsertNode(nodeView('n1', ['cordon']));
  t.same(rec.take(), [], 'the same view again (a status heartbeat): nothing told');
  snap.upsertNode(nodeView('other', ['cordon']));
  t.equal(svc('shop/web'), 'drain\n');
  t.same(rec.take(), [], "another node's cordon does not change this node's answer");
  snap.upsertNode(nodeView('n1', [], { weight: 50 }));
  t.equal(svc('shop/web'), 'ready up 13%\n', 'node weight 50% × Service 25%, rounded');
  snap.deleteNode('n1');
  t.equal(node(), 'drain\n', 'our node deleted: drain');
  t.equal(snap.nodeView, undefined);
  snap.deleteNode('n1');
  t.same(rec.take(), ['node drain→ready', 'node ready→drain'], 'deleting it twice tells once');
});

t.test('Services: weight changes, deletion, agent ports, shared answers', async (t) => {
  const { snap, rec, svc } = setup();
  for (const r of ALL) snap.markListed(r);
  snap.upsertNode(nodeView('n1'));
  rec.take();
  snap.upsertService(service('web', { weight: 50 }));
  snap.upsertService(service('api', { weight: 50, agentPort: 9400 }));
  t.same(rec.take(), ['weight shop/web undefined→50', 'weight shop/api undefined→50', 'ports']);
  t.equal(snap.serviceAnswer('shop/web'), snap.serviceAnswer('shop/api'), 'identical replies share one Answer');
  t.same(snap.agentPortRequests(), [[9400, 'shop/api']]);
  snap.upsertService(service('web', { weight: 50 }));
  t.same(rec.take(), [], 'an update that changes nothing we read: silent');
  snap.upsertService(service('web', { weight: 70 }));
  t.equal(svc('shop/web'), 'ready up 70%\n');
  snap.deleteService('shop', 'api');
  snap.deleteService('shop', 'api');
  t.equal(svc('shop/api'), undefined, 'deleted: unknown again');
  t.same(rec.take(), ['weight shop/web 50→70', 'weight shop/api 50→undefined', 'ports'], 'each once');
  t.same(snap.agentPortRequests(), []);
  t.equal(snap.serviceCount, 1);
});

t.test('a bad annotation is reported once per change of the bad value, not once per event', async (t) => {
  const { snap, rec } = setup();
  snap.upsertService(service('web', {}, [problem('heavy')]));
  snap.upsertService(service('web', {}, [problem('heavy')]));
  t.same(rec.take(), ['problem shop/web haproxy-node-agent.io/weight=heavy', 'weight shop/web undefined→100']);
  snap.upsertService(service('web', {}, [problem('huge')]));
  snap.upsertService(service('web', {}, []));
  snap.upsertService(service('web', {}, [problem('huge')]));
  t.same(
    rec.take(),
    ['problem shop/web haproxy-node-agent.io/weight=huge', 'problem shop/web haproxy-node-agent.io/weight=huge'],
    'new value: reported; cleared and back: reported again',
  );
  snap.upsertNode({ ...nodeView('n1'), problems: [problem('lots')] });
  snap.upsertNode({ ...nodeView('n1'), problems: [problem('lots')] });
  t.same(rec.take(), ['problem node/n1 haproxy-node-agent.io/weight=lots'], 'on the node too');
});

t.test('override and staleness beat the API; override works before any list', async (t) => {
  const { snap, node, svc } = setup();
  snap.setOverride('drain');
  t.equal(node(), 'drain\n', 'no list yet, yet the override answers');
  for (const r of ALL) snap.markListed(r);
  snap.upsertNode(nodeView('n1'));
  snap.upsertService(service('web', { weight: 30 }));
  t.equal(svc('shop/web'), 'drain\n');
  snap.setOverride(undefined);
  t.equal(svc('shop/web'), 'ready up 30%\n');
  snap.setStale(true);
  t.equal(node(), 'drain\n', 'stale past --max-staleness: drain');
  t.equal(snap.isStale, true);
  snap.setStale(false);
  t.equal(node(), 'ready up 100%\n');
});

t.test('externalTrafficPolicy Local: the answer follows the EndpointSlices on this node', async (t) => {
  const { snap, svc } = setup();
  for (const r of ALL) snap.markListed(r);
  snap.upsertNode(nodeView('n1'));
  snap.upsertService(service('web', { local: true }));
  t.equal(svc('shop/web'), 'down #no local endpoints\n', 'no slice: no local pod');
  snap.upsertSlice(slice('web-a', 'web', { n1: [1, 0], n2: [2, 0] }));
  t.equal(svc('shop/web'), 'ready up 50%\n', 'one ready pod here, two on the busiest node: half the weight');
  snap.upsertSlice(slice('web-b', 'web', { n1: [1, 0] }));
  t.equal(svc('shop/web'), 'ready up 100%\n', 'counted over every slice of the Service');
  t.same(snap.localEndpoints('shop/web'), { ready: 2, terminating: 0, maxReadyPerNode: 2 });
  snap.upsertSlice(slice('web-a', 'web', { n1: [0, 1] }));
  snap.deleteSlice(slice('web-b', 'web', {}));
  t.equal(svc('shop/web'), 'drain\n', 'only a terminating pod left here: drain');
  snap.deleteSlice(slice('web-a', 'web', {}));
  t.equal(svc('shop/web'), 'down #no local endpoints\n');
  t.equal(snap.sliceCount, 0);
});

t.test('a slice moved to another Service (its service-name label changed): both Services follow', async (t) => {
  const { snap, svc } = setup();
  for (const r of ALL) snap.markListed(r);
  snap.upsertNode(nodeView('n1'));
  snap.upsertService(service('local', { local: true }));
  snap.upsertService(service('other', { local: true }));
  snap.upsertSlice(slice('s1', 'local', { n1: [1, 0] }));
  t.equal(svc('shop/local'), 'ready up 100%\n');
  t.equal(svc('shop/other'), 'down #no local endpoints\n');
  // The same slice, relabelled: it now counts for shop/other only.
  snap.upsertSlice(slice('s1', 'other', { n1: [1, 0] }));
  t.equal(svc('shop/local'), 'down #no local endpoints\n', 'the old Service lost its only local endpoint');
  t.equal(svc('shop/other'), 'ready up 100%\n', 'the new Service gained it');
  t.same(snap.localEndpoints('shop/local'), undefined, 'no slice of the old Service is left');
  snap.upsertSlice(slice('s1', 'local', { n1: [1, 0] }));
  t.equal(svc('shop/local'), 'ready up 100%\n', 'and back');
  t.equal(svc('shop/other'), 'down #no local endpoints\n');
});

t.test('slow start: after a recovery this process saw, the weight ramps with the clock', async (t) => {
  const { snap, clock, svc } = setup({ slowStartMs: 10_000 });
  snap.upsertNode(nodeView('n1'));
  snap.upsertService(service('web'));
  for (const r of ALL) snap.markListed(r);
  t.equal(svc('shop/web'), 'ready up 100%\n', 'ready at start-up: no ramp (a restart is not a recovery)');
  snap.upsertNode(nodeView('n1', ['cordon']));
  snap.upsertNode(nodeView('n1'));
  t.equal(svc('shop/web'), 'ready up 10%\n', 'uncordoned: starts at the floor');
  clock.now += 5_000;
  snap.tick();
  t.equal(svc('shop/web'), 'ready up 55%\n', 'half way');
  t.ok(Math.abs(snap.rampFactor - 0.55) < 1e-9, `factor ${snap.rampFactor}`);
  clock.now += 5_000;
  snap.tick();
  t.equal(svc('shop/web'), 'ready up 100%\n', 'full weight at the end');
  clock.now += 5_000;
  snap.tick();
  t.equal(snap.status().slowStart.readySince, null, 'and the ramp is over');
});

t.test('the mass-drain guard holds our node when too many are cordoned', async (t) => {
  const { snap, rec, node } = setup({ maxDrainFraction: 0.5 }, true);
  for (const name of ['n1', 'n2', 'n3', 'n4']) snap.upsertNode(nodeView(name));
  for (const r of ALL) snap.markListed(r);
  rec.take();
  snap.upsertNode(nodeView('n2', [], { signals: [{ name: 'cordon', since: 1 }] }));
  snap.upsertNode(nodeView('n3', [], { signals: [{ name: 'cordon', since: 2 }] }));
  t.equal(snap.isHeld, false);
  snap.upsertNode(nodeView('n1', [], { signals: [{ name: 'cordon', since: 3 }] }));
  t.equal(snap.isHeld, true, 'the third cordon of four nodes is over the budget of two');
  t.equal(node(), 'ready up 100%\n', 'held: keeps serving');
  t.ok(rec.take().includes('guard held=n1'), 'the verdict told to the observer');
  snap.upsertNode(nodeView('n2'));
  t.equal(node(), 'drain\n', 'n2 uncordoned, budget freed: n1 drains now');
  t.equal(snap.status().guard.selfHeld, false);
});

t.test('the node is decided once per recompute, and every answer is what decide() gives for the inputs', async (t) => {
  const { snap, clock, node, svc } = setup({ slowStartMs: 10_000, drainDeadlineMs: 3000, maxDrainFraction: 0.5 });
  const keys = ['shop/web', 'shop/local', 'shop/other'];
  // What decide() answers for the state's inputs as /status and the getters show them.
  const expected = (service: ServiceView | undefined): string => {
    const key = service === undefined ? undefined : `${service.namespace}/${service.name}`;
    return formatReply(
      decide({
        synced: snap.synced,
        node: snap.nodeView,
        service,
        endpoints: key !== undefined && service?.local === true ? snap.localEndpoints(key) : undefined,
        override: snap.overrideState,
        stale: snap.isStale,
        ramp: snap.rampFactor,
        policy: DEFAULT_POLICY,
        held: snap.isHeld,
        drainExpired: snap.status().drainDeadline.passed,
      }),
    );
  };
  const views: Record<string, ServiceView> = {};
  const check = (step: string): void => {
    t.equal(node(), expected(undefined), `${step}: node`);
    for (const key of keys) if (views[key] !== undefined) t.equal(svc(key), expected(views[key]), `${step}: ${key}`);
  };
  const upsert = (c: Parsed<ServiceView>): void => {
    views[`shop/${c.view.name}`] = c.view;
    snap.upsertService(c);
  };
  const steps: Array<[string, () => void]> = [
    ['override before sync', () => snap.setOverride('drain')],
    ['a Service before sync', () => upsert(service('web', { weight: 30 }))],
    ['our node', () => snap.upsertNode(nodeView('n1'))],
    [
      'others',
      () => {
        for (const n of ['n2', 'n3', 'n4']) snap.upsertNode(nodeView(n));
      },
    ],
    [
      'listed',
      () => {
        for (const r of ALL) snap.markListed(r);
      },
    ],
    ['override gone', () => snap.setOverride(undefined)],
    ['a Local Service', () => upsert(service('local', { local: true }))],
    ['its slice', () => snap.upsertSlice(slice('local-a', 'local', { n1: [1, 0], n2: [3, 0] }))],
    [
      'two cordons',
      () => {
        snap.upsertNode(nodeView('n2', [], cordonAt(1)));
        snap.upsertNode(nodeView('n3', [], cordonAt(2)));
      },
    ],
    ['ours held', () => snap.upsertNode(nodeView('n1', [], cordonAt(9)))],
    ['a slice while held', () => snap.upsertSlice(slice('local-b', 'local', { n1: [1, 0] }))],
    ['a Service while held', () => upsert(service('other', { weight: 200 }))],
    ['budget freed: ours drains', () => snap.upsertNode(nodeView('n2'))],
    ['a slice while draining', () => snap.deleteSlice(slice('local-b', 'local', {}))],
    ['a Service while draining', () => upsert(service('other', { weight: 10 }))],
    [
      'deadline passes',
      () => {
        clock.now += 3000;
        snap.tick();
      },
    ],
    ['a Service past the deadline', () => upsert(service('web', { weight: 60 }))],
    ['uncordoned: the ramp starts', () => snap.upsertNode(nodeView('n1'))],
    ['a Service during the ramp', () => upsert(service('other', { weight: 90 }))],
    [
      'ramp half way',
      () => {
        clock.now += 5000;
        snap.tick();
      },
    ],
    ['stale', () => snap.setStale(true)],
    ['a slice while stale', () => snap.upsertSlice(slice('local-a', 'local', { n1: [0, 1] }))],
    ['fresh', () => snap.setStale(false)],
    ['our node gone', () => snap.deleteNode('n1')],
    ['a Service without our node', () => upsert(service('web', { weight: 5 }))],
  ];
  for (const [step, run] of steps) {
    run();
    check(step);
  }
});

const cordonAt = (since: number): Partial<NodeView> => ({ signals: [{ name: 'cordon', since }] });
const decision = (p: Partial<Decision>): Decision => ({
  generation: 1,
  updated: '2026-01-01T00:00:00Z',
  heartbeat: '2026-01-01T00:00:00Z',
  holder: 'c-0',
  maxDrainFraction: 0.5,
  readyNodes: 4,
  budget: 2,
  explicit: [],
  draining: [],
  held: [],
  ...p,
});

t.test('coordinated: an automatic drain follows the decision it is given; explicit intent never waits', async (t) => {
  const { snap, rec, node } = setup({ guardMode: 'coordinated' }, true);
  snap.upsertNode(nodeView('n1'));
  for (const r of ALL) snap.markListed(r);
  snap.decisionRead();
  rec.take();
  snap.upsertNode(nodeView('n1', ['cordon']));
  t.equal(node(), 'ready up 100%\n', 'no decision seen: the cordon is held');
  t.equal(snap.isHeld, true);
  t.same(rec.take(), ['node ready→ready'], 'the why changed (held by the guard): one change');
  snap.setDecision(decision({ draining: ['n1'] }));
  t.equal(node(), 'drain\n', 'the decision lets it drain');
  t.same(rec.take(), ['guard held=', 'node ready→drain']);
  snap.setDecision(decision({ draining: ['n1'], generation: 2 }));
  t.same(rec.take(), [], 'a new generation with the same verdict: nothing changed');
  snap.setDecision(undefined);
  t.equal(node(), 'ready up 100%\n', 'the decision gone: held again');
  t.equal(snap.status().guard.budget, 0, 'and no cluster picture');
  rec.take();
  snap.upsertNode(nodeView('n1', ['cordon'], { state: 'drain' }));
  t.equal(node(), 'drain\n', 'state=drain is explicit: no decision needed');
});

t.test('coordinated: nothing is answered until the decision is read; an unreadable one means missing', async (t) => {
  const { snap, rec, node } = setup({ guardMode: 'coordinated' });
  snap.upsertNode(nodeView('n1', ['cordon']));
  for (const r of ALL) snap.markListed(r);
  t.equal(node(), '', 'listed, but the decision is a moment away: no reply yet, never a guess');
  t.equal(snap.synced, false);
  rec.take();
  // The decision's first read failed (RBAC 403): the agent answers as if no decision exists.
  snap.decisionRead();
  t.equal(snap.synced, true);
  t.equal(node(), 'ready up 100%\n', 'the cordon is held');
  t.equal(snap.isHeld, true);
  t.same(rec.take(), ['node none→ready'], 'the first answer is one change');
  t.same(snap.decisionRead(), { problems: [], agentPorts: false }, 'read once: a second call changes nothing');
  snap.upsertNode(nodeView('n1', ['cordon'], { state: 'drain' }));
  t.equal(node(), 'drain\n', 'explicit state=drain is honoured without a decision');
});

t.test('coordinated: the decision read before the last list: the first answer already follows it', async (t) => {
  const { snap, rec, node } = setup({ guardMode: 'coordinated' });
  snap.upsertNode(nodeView('n1', ['cordon']));
  snap.setDecision(decision({ draining: ['n1'] }));
  snap.decisionRead();
  t.equal(node(), '', 'nothing listed yet');
  for (const r of ALL) snap.markListed(r);
  t.equal(node(), 'drain\n', 'the allowed cordon drains from the first answer');
  t.same(rec.take(), ['node none→drain'], 'never a ready first');
});

t.test('guard off: nothing is ever held', async (t) => {
  const { snap, node } = setup({ guardMode: 'off', maxDrainFraction: 0.1 });
  for (const name of ['n1', 'n2', 'n3']) snap.upsertNode(nodeView(name, ['cordon']));
  for (const r of ALL) snap.markListed(r);
  t.equal(node(), 'drain\n');
  t.equal(snap.isHeld, false);
  t.same(snap.guardResult.held, []);
});

t.test('a node answer change says whether our Node is known and whether the guard holds it', async (t) => {
  const { snap } = setup({ maxDrainFraction: 0.5 });
  for (const name of ['n2', 'n3']) snap.upsertNode(nodeView(name));
  for (const r of ALL) snap.markListed(r);
  t.match(snap.upsertNode(nodeView('n1')).nodeAnswer, { from: { text: 'drain' }, to: { text: 'ready up 100%' } });
  snap.upsertNode(nodeView('n2', [], cordonAt(1)));
  const held = snap.upsertNode(nodeView('n1', [], cordonAt(2))).nodeAnswer;
  t.match(held, { to: { kind: 'ready' }, known: true, held: true }, 'held: the Event says so');
  t.match(snap.deleteNode('n1').nodeAnswer, { to: { text: 'drain' }, known: false, held: false });
});
