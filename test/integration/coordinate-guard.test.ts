// The mass-drain guard scenario of guard-events.test.ts, through the coordinator: ten agents in
// coordinated mode (each watching only its own Node), one coordinator, the cluster driven by the
// real kubectl. Budget in signal-time order, explicit intent first, Events posted by the agents.
import t from 'tap';
import { probeUntil } from '../lib/probe.js';
import { httpGet, kubectl, startAgent, startApi, type AgentProcess } from '../lib/agent-process.js';
import {
  NS,
  READY,
  WEB,
  agentStatus,
  cordonPatch,
  node,
  startCoordinator,
  waitFor,
} from '../lib/coordinator-process.js';

t.setTimeout(600_000);
const NODES = Array.from({ length: 10 }, (_, i) => `node-${i}`);
// Agents where the scenario has something to show: held, drained, never changed, explicit.
const WITH_AGENT = ['node-0', 'node-1', 'node-5', 'node-8', 'node-9'];
const uncordonPatch = { spec: { unschedulable: null, taints: null } };

t.test('six nodes cordoned over time: the five earliest drain, the sixth is held; explicit drains first', async (t) => {
  const { api, kubeconfig } = await startApi(t);
  for (const n of NODES) node(api, n);
  api.create('services', {
    metadata: { namespace: 'shop', name: 'web' },
    spec: { type: 'NodePort', ports: [{ port: 80, nodePort: 30080 }] },
  });
  const coordinator = await startCoordinator(t, ['--kubeconfig', kubeconfig, '--max-drain-fraction', '0.5']);
  const agents = new Map<string, AgentProcess>();
  await Promise.all(
    WITH_AGENT.map(async (n) =>
      agents.set(n, await startAgent(t, ['--node-name', n, '--kubeconfig', kubeconfig, '--guard-mode', 'coordinated'])),
    ),
  );
  for (const a of agents.values()) await probeUntil(a.agentPort, WEB, (r) => r === READY, 60_000);

  // Six cordons, one after another in time; node-5 first, node-0 last.
  const cordoned = ['node-5', 'node-4', 'node-3', 'node-2', 'node-1', 'node-0'];
  for (const [i, n] of cordoned.entries()) {
    await kubectl(
      kubeconfig,
      'patch',
      'node',
      n,
      '--type=merge',
      '-p',
      JSON.stringify(cordonPatch(`2026-01-01T00:00:${String(10 + i).padStart(2, '0')}Z`)),
    );
  }
  const expectDrain = ['node-5', 'node-4', 'node-3', 'node-2', 'node-1'];
  for (const n of WITH_AGENT) {
    const want = expectDrain.includes(n) ? 'drain\n' : READY;
    t.equal(
      await probeUntil(agents.get(n)!.agentPort, WEB, (r) => r === want, 30_000),
      want,
      `${n} answers ${want.trim()}`,
    );
  }
  // node-0 answered ready before its own cordon reached the coordinator too: wait for the verdict
  // that holds it, then check what kubectl and every agent show.
  const decision = async () =>
    (
      JSON.parse(await kubectl(kubeconfig, 'get', 'configmap', '-n', NS, 'haproxy-node-agent-guard', '-o', 'json')) as {
        data: Record<string, string>;
      }
    ).data;
  await waitFor('node-0 held in the decision', async () => (await decision()).held === 'node-0', 30_000);
  for (const n of WITH_AGENT)
    await waitFor(
      `${n} follows the decision`,
      async () => (await agentStatus(agents.get(n)!)).guard.held[0] === 'node-0',
      30_000,
    );
  const cm = { data: await decision() };
  t.same(
    [cm.data.draining, cm.data.held, cm.data.budget, cm.data.readyNodes],
    [expectDrain.join(','), 'node-0', '5', '10'],
    'the decision, as kubectl shows it',
  );
  t.equal(cm.data.holder, coordinator.identity);
  for (const n of WITH_AGENT) {
    const st = await agentStatus(agents.get(n)!);
    t.same(
      [st.guard.draining, st.guard.held, st.guard.selfHeld],
      [expectDrain, ['node-0'], n === 'node-0'],
      `${n} agrees`,
    );
  }

  // Uncordon the earliest: the held one drains in its place.
  await kubectl(kubeconfig, 'patch', 'node', 'node-5', '--type=merge', '-p', JSON.stringify(uncordonPatch));
  t.equal(
    await probeUntil(agents.get('node-0')!.agentPort, WEB, (r) => r === 'drain\n', 30_000),
    'drain\n',
    'node-0 drains in turn',
  );
  t.equal(await probeUntil(agents.get('node-5')!.agentPort, WEB, (r) => r === READY, 30_000), READY, 'node-5 back');

  // Explicit intent is never held and takes budget first: the latest cordon (node-0) is held again.
  await kubectl(kubeconfig, 'annotate', 'node', 'node-9', 'haproxy-node-agent.io/state=drain');
  t.equal(
    await probeUntil(agents.get('node-9')!.agentPort, WEB, (r) => r === 'drain\n', 30_000),
    'drain\n',
    'explicit drain honoured',
  );
  t.equal(
    await probeUntil(agents.get('node-0')!.agentPort, WEB, (r) => r === READY, 30_000),
    READY,
    'node-0 held again',
  );

  // Events, posted by the agents on their Nodes.
  const reasons = (n: string) =>
    // The answer classes only: HAProxyDrainDelivered (drain receipts) may come a tick after a drain.
    (api.list('events', 'default') as Array<{ reason?: string; regarding?: { name?: string } }>)
      .filter((e) => e.regarding?.name === n && e.reason !== 'HAProxyDrainDelivered')
      .map((e) => e.reason);
  await waitFor('node-0 events', () => reasons('node-0').length >= 4, 20_000);
  t.same(
    reasons('node-0'),
    ['HAProxyReady', 'HAProxyDrainHeld', 'HAProxyDrain', 'HAProxyDrainHeld'],
    'node-0: held, drained, held again',
  );
  // In coordinated mode a cordon is held until the coordinator's decision names the node; when the
  // agent sees its own cordon first, that moment is a real (brief) HAProxyDrainHeld. Never a lost drain.
  const node5 = reasons('node-5').filter((r, i, all) => !(r === 'HAProxyDrainHeld' && all[i + 1] === 'HAProxyDrain'));
  t.same(node5, ['HAProxyReady', 'HAProxyDrain', 'HAProxyReady'], 'node-5: ready, (held a moment,) drain, ready');
  t.same(reasons('node-8'), ['HAProxyReady'], 'node-8 never changed class');
  const m = (await httpGet(coordinator.httpPort, '/metrics')).body;
  t.match(m, /haproxy_node_agent_coordinator_leader 1/);
});
