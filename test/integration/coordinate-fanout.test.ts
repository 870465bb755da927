// The Node watch fan-out per agent in each --guard-mode, against 300 Nodes in the fake API server.
import t from 'tap';
import { probeUntil } from '../lib/probe.js';
import { httpGet, metricValue, startAgent, startApi } from '../lib/agent-process.js';
import {
  READY,
  WEB,
  agentStatus as status,
  coordinatorStatus,
  node,
  nodeEvents,
  startCoordinator,
  waitFor,
} from '../lib/coordinator-process.js';

// Under a loaded machine, process start-ups dominate: a generous per-file deadline, no timing asserts.
t.setTimeout(600_000);

t.test(
  '300 Nodes, 1,000 status writes on other Nodes: coordinated agent sees none, local agent sees all',
  async (t) => {
    const { api, kubeconfig } = await startApi(t);
    for (let i = 0; i < 300; i++) node(api, `node-${i}`);
    api.create('services', {
      metadata: { namespace: 'shop', name: 'web' },
      spec: { type: 'NodePort', ports: [{ port: 80, nodePort: 30080 }] },
    });
    const coordinator = await startCoordinator(t, ['--kubeconfig', kubeconfig]);
    await waitFor('a published decision', async () => (await coordinatorStatus(coordinator)).published !== null);
    const coordinated = await startAgent(t, [
      '--node-name',
      'node-0',
      '--kubeconfig',
      kubeconfig,
      '--guard-mode',
      'coordinated',
    ]);
    const local = await startAgent(t, ['--node-name', 'node-1', '--kubeconfig', kubeconfig, '--guard-mode', 'local']);
    const off = await startAgent(t, ['--node-name', 'node-2', '--kubeconfig', kubeconfig, '--guard-mode', 'off']);
    for (const a of [coordinated, local, off]) await probeUntil(a.agentPort, WEB, (r) => r === READY, 20_000);
    const before = await Promise.all([coordinated, local, off].map(nodeEvents));

    for (let i = 0; i < 1000; i++) {
      const n = `node-${3 + (i % 297)}`;
      api.patch('nodes', undefined, n, {
        status: {
          conditions: [
            {
              type: 'Ready',
              status: 'True',
              lastHeartbeatTime: new Date(Date.parse('2026-01-01T00:00:00Z') + i * 1000).toISOString(),
            },
          ],
        },
      });
    }
    // The local agent is the control: it must see all 1,000 before we read the others.
    await waitFor(
      'the local agent to receive every write',
      async () => (await nodeEvents(local)) - before[1]! >= 1000,
      60_000,
    );
    // One more write on the coordinated agent's own Node proves its watch is alive.
    api.patch('nodes', undefined, 'node-0', { metadata: { labels: { touched: 'yes' } } });
    await waitFor(
      'the coordinated agent to see its own Node',
      async () => (await nodeEvents(coordinated)) - before[0]! >= 1,
      20_000,
    );
    const [c, l, o] = (await Promise.all([coordinated, local, off].map(nodeEvents))).map((v, i) => v - before[i]!);
    t.comment(`node watch events per agent for 1,000 writes on other Nodes: local ${l}, coordinated ${c}, off ${o}`);
    t.ok(l! >= 1000, `local: ${l} events`);
    t.ok(c! <= 5, `coordinated: ${c} events (its own Node only)`);
    t.ok(o! <= 5, `off: ${o} events`);
    const cm = (await httpGet(coordinated.httpPort, '/metrics')).body;
    t.ok(
      (metricValue(cm, 'haproxy_node_agent_snapshot_objects{resource="nodes"}') ?? 0) === 1,
      'the coordinated agent holds one Node',
    );
    t.equal(metricValue(cm, 'haproxy_node_agent_guard_decision{state="fresh"}'), 1, 'decision fresh');
    t.equal((await status(coordinated)).guardMode, 'coordinated');
    t.equal((await status(coordinated)).guardDecision?.state, 'fresh');
  },
);
