// The mass-drain guard across 10 real agents (one per node) sharing one fake API server, and the
// Events each agent posts on its Node when its answer changes class.
import t from 'tap';
import { probe, probeUntil } from '../lib/probe.js';
import { httpGet, metricValue, startAgent, startApi, type AgentProcess } from '../lib/agent-process.js';

const WEB = 'shop/web\n';
const NODES = Array.from({ length: 10 }, (_, i) => `node-${i}`);

/** What a cordon looks like once the node controller has reacted: spec plus the dated taint. */
function cordonPatch(at: string) {
  return {
    spec: {
      unschedulable: true,
      taints: [{ key: 'node.kubernetes.io/unschedulable', effect: 'NoSchedule', timeAdded: at }],
    },
  };
}
const uncordonPatch = { spec: { unschedulable: null, taints: null } };

t.test('cordon 8 of 10: exactly 5 drain, earliest first; uncordon 3: the held ones drain in turn', async (t) => {
  const { api, kubeconfig } = await startApi(t);
  for (const name of NODES)
    api.create('nodes', { metadata: { name }, spec: {}, status: { conditions: [{ type: 'Ready', status: 'True' }] } });
  api.create('services', {
    metadata: { namespace: 'shop', name: 'web' },
    spec: { type: 'NodePort', ports: [{ port: 80, nodePort: 30080 }] },
  });
  const agents = new Map<string, AgentProcess>();
  await Promise.all(
    NODES.map(async (n) => agents.set(n, await startAgent(t, ['--node-name', n, '--kubeconfig', kubeconfig]))),
  );
  for (const a of agents.values()) await probeUntil(a.agentPort, WEB, (r) => r === 'ready up 100%\n', 20_000);

  // Cordon node-7 first, node-0 last: the guard's order is the signal's time, not the name.
  const cordoned = NODES.slice(0, 8).reverse();
  for (const [i, n] of cordoned.entries())
    api.patch('nodes', undefined, n, cordonPatch(`2026-01-01T00:00:${String(10 + i).padStart(2, '0')}Z`));
  const expectDrain = ['node-7', 'node-6', 'node-5', 'node-4', 'node-3'];
  const expectHeld = ['node-2', 'node-1', 'node-0'];
  const answers = async () =>
    Object.fromEntries(
      await Promise.all(
        NODES.map(
          async (n) =>
            [
              n,
              await probeUntil(
                agents.get(n)!.agentPort,
                WEB,
                (r) => (expectDrain.includes(n) ? r === 'drain\n' : r === 'ready up 100%\n'),
                10_000,
              ),
            ] as const,
        ),
      ),
    );
  const after = await answers();
  t.same(
    NODES.filter((n) => after[n] === 'drain\n'),
    expectDrain.slice().sort(),
    'exactly the 5 earliest drain',
  );
  t.same(
    NODES.filter((n) => after[n] !== 'drain\n'),
    [...expectHeld, 'node-8', 'node-9'].sort(),
    'the rest answer ready',
  );

  // Every agent computed the same guard.
  for (const n of NODES) {
    const st = JSON.parse((await httpGet(agents.get(n)!.httpPort, '/status')).body) as {
      guard: { draining: string[]; held: string[]; budget: number; selfHeld: boolean };
    };
    t.same([st.guard.draining, st.guard.held, st.guard.budget], [expectDrain, expectHeld, 5], `${n} agrees`);
    t.equal(st.guard.selfHeld, expectHeld.includes(n));
  }
  const m = (await httpGet(agents.get('node-0')!.httpPort, '/metrics')).body;
  t.equal(metricValue(m, 'haproxy_node_agent_guard_self_held'), 1);
  t.equal(metricValue(m, 'haproxy_node_agent_guard_nodes{state="held"}'), 3);
  t.ok(
    agents.get('node-0')!.logs.some((l) => l.level === 'warn' && String(l.msg).startsWith('mass-drain guard engaged')),
    'warning logged',
  );

  // Uncordon three of the draining ones: the held ones take their places.
  for (const n of ['node-7', 'node-6', 'node-5']) api.patch('nodes', undefined, n, uncordonPatch);
  for (const n of expectHeld)
    t.equal(
      await probeUntil(agents.get(n)!.agentPort, WEB, (r) => r === 'drain\n', 10_000),
      'drain\n',
      `${n} drains in turn`,
    );
  for (const n of ['node-7', 'node-6', 'node-5'])
    t.equal(
      await probeUntil(agents.get(n)!.agentPort, WEB, (r) => r === 'ready up 100%\n', 10_000),
      'ready up 100%\n',
      `${n} back`,
    );

  // Explicit intent is never held: state=drain on node-9 drains although the budget is full.
  api.patch('nodes', undefined, 'node-9', { metadata: { annotations: { 'haproxy-node-agent.io/state': 'drain' } } });
  t.equal(
    await probeUntil(agents.get('node-9')!.agentPort, WEB, (r) => r === 'drain\n', 10_000),
    'drain\n',
    'explicit drain honoured',
  );
  t.equal(
    await probeUntil(agents.get('node-0')!.agentPort, WEB, (r) => r === 'ready up 100%\n', 10_000),
    'ready up 100%\n',
    'it takes budget first: the latest cordon (node-0) is held again',
  );

  // Events: what each node's edge was told, visible through the API.
  await new Promise((r) => setTimeout(r, 500));
  const events = api.list('events', 'default') as Array<{
    reason?: string;
    regarding?: { name?: string };
    note?: string;
    type?: string;
  }>;
  // The answer classes only: HAProxyDrainDelivered (drain receipts) may come a tick after a drain.
  const reasons = (n: string) =>
    events.filter((e) => e.regarding?.name === n && e.reason !== 'HAProxyDrainDelivered').map((e) => e.reason);
  t.same(reasons('node-7'), ['HAProxyReady', 'HAProxyDrain', 'HAProxyReady'], 'node-7: ready, drain, ready');
  t.same(
    reasons('node-0'),
    ['HAProxyReady', 'HAProxyDrainHeld', 'HAProxyDrain', 'HAProxyDrainHeld'],
    'node-0: held, drained, held again',
  );
  t.same(reasons('node-8'), ['HAProxyReady'], 'node-8 never changed class');
  const drainEvent = events.find((e) => e.regarding?.name === 'node-7' && e.reason === 'HAProxyDrain');
  t.match(drainEvent?.note, /^edge HAProxy told "drain": signal cordon: spec.unschedulable/);
  t.equal(drainEvent?.type, 'Warning');
});

t.test('a failed Event post is logged and counted, never fatal', async (t) => {
  const { api, kubeconfig } = await startApi(t);
  api.create('nodes', { metadata: { name: 'n1' }, spec: {} });
  api.create('services', { metadata: { namespace: 'shop', name: 'web' }, spec: {} });
  const agent = await startAgent(t, ['--node-name', 'n1', '--kubeconfig', kubeconfig]);
  await probeUntil(agent.agentPort, WEB, (r) => r === 'ready up 100%\n');
  await new Promise((r) => setTimeout(r, 300));
  api.faults.failRequests = 1;
  api.patch('nodes', undefined, 'n1', { spec: { unschedulable: true } });
  t.equal(await probeUntil(agent.agentPort, WEB, (r) => r === 'drain\n'), 'drain\n');
  await new Promise((r) => setTimeout(r, 500));
  const m = (await httpGet(agent.httpPort, '/metrics')).body;
  t.equal(metricValue(m, 'haproxy_node_agent_events_total{reason="HAProxyDrain",result="failed"}'), 1, 'counted');
  t.ok(
    agent.logs.some((l) => String(l.msg).startsWith('could not post Event HAProxyDrain')),
    'logged',
  );
  t.equal(await probe(agent.agentPort, { send: WEB }), 'drain\n', 'still answering');
  t.equal(agent.proc.exitCode, null, 'still running');
});
