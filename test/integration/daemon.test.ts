// The built daemon end to end: fake API server over real HTTP, real kubectl, real probes.
// Cluster changes through kubectl reach the next probe. (Split by theme into daemon-*.test.ts, so
// that each file stays well inside its tap timeout on a busy machine.)
import t from 'tap';
import { probe, probeUntil } from '../lib/probe.js';
import { until } from '../lib/until.js';
import { deadline } from '../lib/deadline.js';
import {
  httpGet,
  kubectl,
  metricValue,
  seedCluster,
  startAgent,
  startApi,
  startSyncedAgent,
} from '../lib/agent-process.js';

const WEB = 'shop/web\n';

t.test('cordon, uncordon and weight annotations reach the next probe', async (t) => {
  const { api, kubeconfig, agent } = await startSyncedAgent(t);
  t.equal(await probe(agent.agentPort, { send: WEB }), 'ready up 100%\n');
  t.equal(await probe(agent.agentPort, { send: 'shop/api\n' }), 'ready up 50%\n');

  await kubectl(kubeconfig, 'cordon', 'n1');
  t.equal(await probeUntil(agent.agentPort, WEB, (r) => r === 'drain\n'), 'drain\n', 'cordon → drain');
  t.equal(await probe(agent.agentPort), 'drain\n', 'node alone drains too');
  await kubectl(kubeconfig, 'uncordon', 'n1');
  t.equal(await probeUntil(agent.agentPort, WEB, (r) => r !== 'drain\n'), 'ready up 100%\n', 'uncordon → ready');

  await kubectl(kubeconfig, 'annotate', 'svc', '-n', 'shop', 'web', 'haproxy-node-agent.io/weight=25', '--overwrite');
  t.equal(await probeUntil(agent.agentPort, WEB, (r) => r === 'ready up 25%\n'), 'ready up 25%\n', 'annotate → weight');

  await kubectl(
    kubeconfig,
    'annotate',
    'svc',
    '-n',
    'shop',
    'web',
    'haproxy-node-agent.io/weight=heavy',
    '--overwrite',
  );
  t.equal(
    await probeUntil(agent.agentPort, WEB, (r) => r === 'ready up 100%\n'),
    'ready up 100%\n',
    'invalid weight → default 100',
  );
  const m = await httpGet(agent.httpPort, '/metrics');
  t.equal(
    metricValue(m.body, 'haproxy_node_agent_invalid_annotations_total{annotation="haproxy-node-agent.io/weight"}'),
    1,
    'counted once',
  );
  t.ok(
    agent.logs.some((l) => l.level === 'warn' && l.value === 'heavy'),
    'logged as a warning',
  );
  t.equal(agent.logs.filter((l) => l.value === 'heavy').length, 1, 'logged once');

  const status = JSON.parse((await httpGet(agent.httpPort, '/status')).body) as {
    node: { reply: string };
    services: Array<{ key: string; reply: string }>;
  };
  t.equal(status.node.reply, 'ready up 100%');
  t.same(
    status.services.map((s) => `${s.key}=${s.reply}`),
    ['shop/api=ready up 50%', 'shop/web=ready up 100%'],
  );

  const drains = agent.logs.filter(
    (l) => typeof l.msg === 'string' && (l.msg as string).startsWith('node answer is now'),
  );
  t.same(
    drains.map((l) => l.to),
    ['ready up 100%', 'drain', 'ready up 100%'],
    'one log line per node state change',
  );
  t.ok((metricValue(m.body, 'haproxy_node_agent_probes_total{reply="drain"}') ?? 0) >= 2, 'probes counted by reply');
  const before = api.requestLog.length;
  for (let i = 0; i < 50; i++) await probe(agent.agentPort, { send: WEB });
  t.equal(api.requestLog.length, before, 'answers come from memory: no API request per probe');
});

t.test('a node missing from the cluster drains', async (t) => {
  const { api, kubeconfig } = await startApi(t);
  seedCluster(api);
  const agent = await startAgent(t, ['--node-name', 'ghost', '--kubeconfig', kubeconfig]);
  t.equal(await probeUntil(agent.agentPort, WEB, (r) => r !== ''), 'drain\n');
  api.create('nodes', { metadata: { name: 'ghost' }, spec: {} });
  t.equal(await probeUntil(agent.agentPort, WEB, (r) => r !== 'drain\n'), 'ready up 100%\n', 'ready once it registers');
  api.delete('nodes', undefined, 'ghost');
  t.equal(await probeUntil(agent.agentPort, WEB, (r) => r === 'drain\n'), 'drain\n', 'drain when deleted');
});

t.test('a --node-name the cluster does not know: drain, and the log line says what to check', async (t) => {
  const { api, kubeconfig } = await startApi(t);
  seedCluster(api);
  const agent = await startAgent(t, ['--node-name', 'n-typo', '--kubeconfig', kubeconfig]);
  t.equal(await probeUntil(agent.agentPort, WEB, (r) => r === 'drain\n'), 'drain\n', 'unknown node → drain');
  const line = await until(
    'the not-found warning',
    async () => agent.logs.find((l) => String(l.msg).includes('n-typo not found')),
    (l) => l !== undefined,
    deadline(20_000),
    50,
  );
  t.match(String(line?.msg), 'check --node-name / NODE_NAME', 'ends with the next step');
});
