// `coordinate` and --guard-mode: flags, the Node watch fan-out per agent in each mode, and what an
// agent answers when the coordinator's decision is missing or stale. Real CLI, fake API, kubectl.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { probeUntil } from './lib/probe.js';
import { CLI, httpGet, kubectl, metricValue, startAgent, startApi, type AgentProcess } from './lib/agent-process.js';
import { coordinatorStatus, startCoordinator, waitFor } from './lib/coordinator-process.js';
import type { FakeApiServer } from '../src/fakeapi/server.js';

const WEB = 'shop/web\n';
const NS = 'haproxy-node-agent';
const READY = 'ready up 100%\n';

function node(api: FakeApiServer, name: string): void {
  api.create('nodes', { metadata: { name }, spec: {}, status: { conditions: [{ type: 'Ready', status: 'True' }] } });
}
const cordonPatch = (at: string) => ({ spec: { unschedulable: true, taints: [{ key: 'node.kubernetes.io/unschedulable', effect: 'NoSchedule', timeAdded: at }] } });
const nodeEvents = async (a: AgentProcess): Promise<number> => {
  const m = (await httpGet(a.httpPort, '/metrics')).body;
  return ['ADDED', 'MODIFIED', 'DELETED'].reduce((sum, type) => sum + (metricValue(m, `haproxy_node_agent_watch_events_total{resource="nodes",type="${type}"}`) ?? 0), 0);
};
const status = async (a: AgentProcess) =>
  JSON.parse((await httpGet(a.httpPort, '/status')).body) as { guardMode: string; guardDecision?: { state: string; generation?: number }; guard: { selfHeld: boolean; draining: string[]; held: string[] } };

t.test('bad flags exit 2 with one line naming the flag', async (t) => {
  for (const [args, flag] of [
    [['coordinate', '--max-drain-fraction', '2'], '--max-drain-fraction'],
    [['coordinate', '--namespace', 'Not_A_Namespace'], '--namespace'],
    [['coordinate', '--nope'], '--nope'],
    [['run', '--node-name', 'n1', '--guard-mode', 'sometimes'], '--guard-mode'],
    [['run', '--node-name', 'n1', '--guard-stale-after', '5'], '--guard-stale-after'],
  ] as const) {
    const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 20_000 });
    t.equal(r.status, 2, `${args.join(' ')}: exit 2`);
    t.equal(r.stderr.trim().split('\n').length, 1, 'one line');
    t.match(r.stderr, flag);
  }
  const help = spawnSync(process.execPath, [CLI, 'coordinate', '--help'], { encoding: 'utf8', timeout: 20_000 });
  t.equal(help.status, 0);
  for (const f of ['--kubeconfig', '--namespace', '--max-drain-fraction', '--http-address', '--http-port', '--log-level']) t.match(help.stdout, f);
});

t.test('300 Nodes, 1,000 status writes on other Nodes: coordinated agent sees none, local agent sees all', async (t) => {
  const { api, kubeconfig } = await startApi(t);
  for (let i = 0; i < 300; i++) node(api, `node-${i}`);
  api.create('services', { metadata: { namespace: 'shop', name: 'web' }, spec: { type: 'NodePort', ports: [{ port: 80, nodePort: 30080 }] } });
  const coordinator = await startCoordinator(t, ['--kubeconfig', kubeconfig]);
  await waitFor('a published decision', async () => (await coordinatorStatus(coordinator)).published !== null);
  const coordinated = await startAgent(t, ['--node-name', 'node-0', '--kubeconfig', kubeconfig, '--guard-mode', 'coordinated']);
  const local = await startAgent(t, ['--node-name', 'node-1', '--kubeconfig', kubeconfig, '--guard-mode', 'local']);
  const off = await startAgent(t, ['--node-name', 'node-2', '--kubeconfig', kubeconfig, '--guard-mode', 'off']);
  for (const a of [coordinated, local, off]) await probeUntil(a.agentPort, WEB, (r) => r === READY, 20_000);
  const before = await Promise.all([coordinated, local, off].map(nodeEvents));

  for (let i = 0; i < 1000; i++) {
    const n = `node-${3 + (i % 297)}`;
    api.patch('nodes', undefined, n, { status: { conditions: [{ type: 'Ready', status: 'True', lastHeartbeatTime: new Date(Date.parse('2026-01-01T00:00:00Z') + i * 1000).toISOString() }] } });
  }
  // The local agent is the control: it must see all 1,000 before we read the others.
  await waitFor('the local agent to receive every write', async () => (await nodeEvents(local)) - before[1]! >= 1000, 60_000);
  // One more write on the coordinated agent's own Node proves its watch is alive.
  api.patch('nodes', undefined, 'node-0', { metadata: { labels: { touched: 'yes' } } });
  await waitFor('the coordinated agent to see its own Node', async () => (await nodeEvents(coordinated)) - before[0]! >= 1, 20_000);
  const [c, l, o] = (await Promise.all([coordinated, local, off].map(nodeEvents))).map((v, i) => v - before[i]!);
  t.comment(`node watch events per agent for 1,000 writes on other Nodes: local ${l}, coordinated ${c}, off ${o}`);
  t.ok(l! >= 1000, `local: ${l} events`);
  t.ok(c! <= 5, `coordinated: ${c} events (its own Node only)`);
  t.ok(o! <= 5, `off: ${o} events`);
  const cm = (await httpGet(coordinated.httpPort, '/metrics')).body;
  t.ok((metricValue(cm, 'haproxy_node_agent_snapshot_objects{resource="nodes"}') ?? 0) === 1, 'the coordinated agent holds one Node');
  t.equal(metricValue(cm, 'haproxy_node_agent_guard_decision{state="fresh"}'), 1, 'decision fresh');
  t.equal((await status(coordinated)).guardMode, 'coordinated');
  t.equal((await status(coordinated)).guardDecision?.state, 'fresh');
});

t.test('decision missing, then fresh, then stale, then deleted: never a mass drain, explicit drains always honoured', async (t) => {
  const { api, kubeconfig } = await startApi(t);
  for (const n of ['a', 'b', 'c', 'd']) node(api, n);
  api.create('services', { metadata: { namespace: 'shop', name: 'web' }, spec: { type: 'NodePort', ports: [{ port: 80, nodePort: 30080 }] } });
  const args = (n: string) => ['--node-name', n, '--kubeconfig', kubeconfig, '--guard-mode', 'coordinated', '--guard-stale-after', '3s'];
  const a = await startAgent(t, args('a'));
  const b = await startAgent(t, args('b'));
  for (const x of [a, b]) await probeUntil(x.agentPort, WEB, (r) => r === READY, 20_000);

  // Missing: no coordinator ever ran. A cordon is held; an explicit drain is not.
  t.equal((await status(a)).guardDecision?.state, 'missing');
  t.ok(a.logs.some((l) => l.level === 40 && String(l.msg).startsWith('no coordinator decision')), 'logged once at start');
  await kubectl(kubeconfig, 'patch', 'node', 'a', '--type=merge', '-p', JSON.stringify(cordonPatch('2026-01-01T00:00:01Z')));
  await kubectl(kubeconfig, 'annotate', 'node', 'b', 'haproxy-node-agent.io/state=drain');
  t.equal(await probeUntil(b.agentPort, WEB, (r) => r === 'drain\n', 10_000), 'drain\n', 'missing: explicit state=drain is honoured');
  await waitFor('a held', async () => (await status(a)).guard.selfHeld, 10_000);
  t.equal(await probeUntil(a.agentPort, WEB, (r) => r === READY, 5000), READY, 'missing: the cordon is held (keeps serving)');
  const m = (await httpGet(a.httpPort, '/metrics')).body;
  t.equal(metricValue(m, 'haproxy_node_agent_guard_decision{state="missing"}'), 1);
  t.equal(metricValue(m, 'haproxy_node_agent_guard_self_held'), 1);
  await kubectl(kubeconfig, 'annotate', 'node', 'b', 'haproxy-node-agent.io/state-');
  t.equal(await probeUntil(b.agentPort, WEB, (r) => r === READY, 10_000), READY);

  // Fresh: the coordinator allows a (1 of budget 2).
  const coordinator = await startCoordinator(t, ['--kubeconfig', kubeconfig, '--namespace', NS]);
  t.equal(await probeUntil(a.agentPort, WEB, (r) => r === 'drain\n', 30_000), 'drain\n', 'fresh: the allowed cordon drains');
  await waitFor('a fresh decision', async () => (await status(a)).guardDecision?.state === 'fresh', 10_000);
  t.ok(a.logs.some((l) => String(l.msg).startsWith('coordinator decision is fresh')), 'transition logged');

  // Stale: the coordinator dies without releasing anything. The last decision is kept for a, and
  // a new cordon on b is held: a dead coordinator never lets more drain than it allowed.
  coordinator.proc.kill('SIGKILL');
  await coordinator.exited;
  await waitFor('a stale decision', async () => (await status(a)).guardDecision?.state === 'stale', 30_000);
  t.ok(a.logs.some((l) => l.level === 40 && String(l.msg).startsWith('coordinator decision is stale')), 'stale logged');
  t.equal(metricValue((await httpGet(a.httpPort, '/metrics')).body, 'haproxy_node_agent_guard_decision{state="stale"}'), 1);
  t.equal(await probeUntil(a.agentPort, WEB, (r) => r === 'drain\n', 5000), 'drain\n', 'stale: the last decision is kept (a still drains)');
  await kubectl(kubeconfig, 'patch', 'node', 'b', '--type=merge', '-p', JSON.stringify(cordonPatch('2026-01-01T00:00:02Z')));
  await waitFor('b held', async () => (await status(b)).guard.selfHeld, 10_000);
  t.equal(await probeUntil(b.agentPort, WEB, (r) => r === READY, 5000), READY, 'stale: a cordon the coordinator never counted is held');
  await kubectl(kubeconfig, 'annotate', 'node', 'b', 'haproxy-node-agent.io/state=maint');
  t.equal(await probeUntil(b.agentPort, WEB, (r) => r === 'maint\n', 10_000), 'maint\n', 'stale: explicit maint is honoured');

  // Deleted: nothing is allowed any more; the explicit one still is.
  await kubectl(kubeconfig, 'delete', 'configmap', '-n', NS, 'haproxy-node-agent-guard');
  await waitFor('a missing decision', async () => (await status(a)).guardDecision?.state === 'missing', 10_000);
  t.equal(await probeUntil(a.agentPort, WEB, (r) => r === READY, 10_000), READY, 'missing again: a is held');
  t.equal(await probeUntil(b.agentPort, WEB, (r) => r === 'maint\n', 5000), 'maint\n');
});
