// The built daemon when watches break: 410 Gone, dropped watches, the API server stopped and back.
import t from 'tap';
import { probe, probeUntil } from '../lib/probe.js';
import { httpGet, metricValue, seedCluster, startAgent, startApi, startSyncedAgent } from '../lib/agent-process.js';
import { DECISION_NAME, decisionToConfigMap } from '../../src/core/guard-decision.js';
import type { KubeObject } from '../../src/testkit/fakeapi/server.js';

async function until(what: string, ok: () => boolean | Promise<boolean>, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms}ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const WEB = 'shop/web\n';

t.test('410 Gone and dropped watches: no wrong answer, updates continue', async (t) => {
  const { api, agent } = await startSyncedAgent(t);
  // The truth the test holds, and a probe loop that checks every answer against it.
  let truth = new Set(['ready up 100%\n']);
  let wrong = 0;
  let probes = 0;
  let looping = true;
  const loop = (async () => {
    while (looping) {
      const allowed = truth;
      const r = await probe(agent.agentPort, { send: WEB });
      probes++;
      if (!allowed.has(r) && !truth.has(r)) wrong++;
    }
  })();
  const change = async (annotate: () => void, expect: string) => {
    truth = new Set([...truth, expect]); // during the change either answer is true
    annotate();
    await probeUntil(agent.agentPort, WEB, (r) => r === expect);
    truth = new Set([expect]);
  };
  await change(() => api.patch('nodes', undefined, 'n1', { spec: { unschedulable: true } }), 'drain\n');
  api.compact();
  api.dropWatches();
  await change(() => api.patch('nodes', undefined, 'n1', { spec: { unschedulable: false } }), 'ready up 100%\n');
  api.compact();
  await change(
    () => api.patch('services', 'shop', 'web', { metadata: { annotations: { 'haproxy-node-agent.io/weight': '40' } } }),
    'ready up 40%\n',
  );
  api.dropWatches();
  await change(
    () => api.patch('services', 'shop', 'web', { metadata: { annotations: { 'haproxy-node-agent.io/weight': '60' } } }),
    'ready up 60%\n',
  );
  looping = false;
  await loop;
  t.equal(wrong, 0, `no wrong answer in ${probes} probes`);
  t.ok(probes > 5, 'the probe loop kept running');
  const relists = api.requestLog.filter((r) => !r.query.includes('watch') && r.path === '/api/v1/nodes');
  t.ok(relists.length >= 2, 'the node was listed again after 410');
});

t.test('API server stopped: last truth kept and reported; restarted: updates resume', async (t) => {
  const { api, agent } = await startSyncedAgent(t);
  api.patch('nodes', undefined, 'n1', { spec: { unschedulable: true } });
  await probeUntil(agent.agentPort, WEB, (r) => r === 'drain\n');
  await api.stop();
  await new Promise((r) => setTimeout(r, 1500));
  for (let i = 0; i < 5; i++) t.equal(await probe(agent.agentPort, { send: WEB }), 'drain\n', 'still the last truth');
  const m = (await httpGet(agent.httpPort, '/metrics')).body;
  t.ok((metricValue(m, 'haproxy_node_agent_api_last_contact_seconds') ?? 0) >= 1, 'staleness visible in metrics');
  t.match(
    m,
    /haproxy_node_agent_watch_restarts_total\{resource="nodes",reason="[a-z_0-9]+"\} [1-9]/,
    'restarts counted',
  );
  // While it is away the cluster changes; when it is back the agent catches up.
  api.patch('nodes', undefined, 'n1', { spec: { unschedulable: false } });
  await api.start();
  t.equal(
    await probeUntil(agent.agentPort, WEB, (r) => r !== 'drain\n', 20_000),
    'ready up 100%\n',
    'caught up after restart',
  );
  api.patch('services', 'shop', 'web', { metadata: { annotations: { 'haproxy-node-agent.io/weight': '10' } } });
  t.equal(await probeUntil(agent.agentPort, WEB, (r) => r === 'ready up 10%\n'), 'ready up 10%\n', 'watch resumed');
});

t.test('coordinated: a decision that becomes unreadable is kept across a 410 relist', async (t) => {
  const { api, kubeconfig } = await startApi(t);
  seedCluster(api);
  const ns = 'haproxy-node-agent';
  const now = new Date().toISOString();
  const decision = {
    generation: 1,
    updated: now,
    heartbeat: now,
    holder: 'test',
    maxDrainFraction: 0.5,
    readyNodes: 2,
    budget: 1,
    explicit: [],
    draining: ['n1'],
    held: [],
  };
  api.create('configmaps', decisionToConfigMap(ns, decision) as KubeObject);
  api.patch('nodes', undefined, 'n1', { spec: { unschedulable: true } });
  const agent = await startAgent(t, ['--node-name', 'n1', '--kubeconfig', kubeconfig, '--guard-mode', 'coordinated']);
  t.equal(await probeUntil(agent.agentPort, WEB, (r) => r === 'drain\n', 20_000), 'drain\n', 'allowed to drain');

  // The ConfigMap turns unparsable, then the watch is Gone: the relist sees only the unreadable object.
  const cm = api.get('configmaps', ns, DECISION_NAME) as KubeObject & { data: Record<string, string> };
  api.update('configmaps', { ...cm, data: { ...cm.data, generation: 'not a number' } });
  const from = api.requestLog.length;
  api.compact();
  api.dropWatches();
  // The watch after a list starts once the list is applied: then the relist has been judged.
  const relisted = (): boolean => {
    const seen = api.requestLog.slice(from).filter((r) => r.path.endsWith('/configmaps'));
    const list = seen.findIndex((r) => !r.query.includes('watch='));
    return list !== -1 && seen.slice(list + 1).some((r) => r.query.includes('watch='));
  };
  await until('the decision relisted and watched again', relisted);
  for (let i = 0; i < 5; i++)
    t.equal(await probe(agent.agentPort, { send: WEB }), 'drain\n', 'still draining on the last good decision');
  const status = JSON.parse((await httpGet(agent.httpPort, '/status')).body) as {
    guardDecision?: { state?: string; generation?: number };
  };
  t.not(status.guardDecision?.state, 'missing', `the decision is not "missing" (${status.guardDecision?.state})`);
  t.equal(status.guardDecision?.generation, 1, 'the last good generation');
});
