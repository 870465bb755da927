// Production traffic semantics end to end: the built daemon, the fake API server, real kubectl.
import t, { type Test } from 'tap';
import { writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { probe, probeUntil } from '../lib/probe.js';
import { httpGet, kubectl, metricValue, seedCluster, startAgent, startApi } from '../lib/agent-process.js';
import type { FakeApiServer } from '../../src/testkit/fakeapi/server.js';
import { tempDir } from '../lib/spawn.js';

const WEB = 'shop/web\n';
const is = (want: string) => (r: string) => r === want;

function overridePath(t: Test): string {
  return join(tempDir(t, 'hna-ovr-'), 'override');
}

function slice(
  api: FakeApiServer,
  name: string,
  service: string,
  endpoints: Array<{ node: string; ready?: boolean; serving?: boolean; terminating?: boolean }>,
): void {
  const obj = {
    metadata: { namespace: 'shop', name, labels: { 'kubernetes.io/service-name': service } },
    addressType: 'IPv4',
    endpoints: endpoints.map((e, i) => ({
      addresses: [`10.0.0.${i + 1}`],
      nodeName: e.node,
      conditions: { ready: e.ready ?? true, serving: e.serving ?? true, terminating: e.terminating ?? false },
    })),
    ports: [{ port: 8080, protocol: 'TCP' }],
  };
  if (api.get('endpointslices', 'shop', name) === undefined) api.create('endpointslices', obj);
  else
    api.update('endpointslices', {
      ...obj,
      metadata: { ...obj.metadata, resourceVersion: api.get('endpointslices', 'shop', name)?.metadata.resourceVersion },
    });
}

t.test(
  'node signals through kubectl: taints, exclusion label, state and weight annotations, NotReady, deletion',
  async (t) => {
    const { api, kubeconfig } = await startApi(t);
    seedCluster(api);
    const agent = await startAgent(t, [
      '--node-name',
      'n1',
      '--kubeconfig',
      kubeconfig,
      '--override-file',
      overridePath(t),
    ]);
    await probeUntil(agent.agentPort, WEB, is('ready up 100%\n'));

    await kubectl(kubeconfig, 'taint', 'node', 'n1', 'ToBeDeletedByClusterAutoscaler=1700000000:NoSchedule');
    t.equal(await probeUntil(agent.agentPort, WEB, is('drain\n')), 'drain\n', 'autoscaler taint drains');
    await kubectl(kubeconfig, 'taint', 'node', 'n1', 'ToBeDeletedByClusterAutoscaler:NoSchedule-');
    t.equal(await probeUntil(agent.agentPort, WEB, is('ready up 100%\n')), 'ready up 100%\n');

    await kubectl(kubeconfig, 'label', 'node', 'n1', 'node.kubernetes.io/exclude-from-external-load-balancers=true');
    t.equal(await probeUntil(agent.agentPort, WEB, is('drain\n')), 'drain\n', 'exclusion label drains');
    await kubectl(kubeconfig, 'label', 'node', 'n1', 'node.kubernetes.io/exclude-from-external-load-balancers-');
    await probeUntil(agent.agentPort, WEB, is('ready up 100%\n'));

    await kubectl(kubeconfig, 'annotate', 'node', 'n1', 'haproxy-node-agent.io/state=maint');
    t.equal(await probeUntil(agent.agentPort, WEB, is('maint\n')), 'maint\n', 'state=maint');
    await kubectl(kubeconfig, 'annotate', 'node', 'n1', 'haproxy-node-agent.io/state=ready', '--overwrite');
    await kubectl(kubeconfig, 'cordon', 'n1');
    await new Promise((r) => setTimeout(r, 300));
    t.equal(
      await probe(agent.agentPort, { send: WEB }),
      'ready up 100%\n',
      'state=ready keeps a cordoned node serving',
    );
    await kubectl(kubeconfig, 'annotate', 'node', 'n1', 'haproxy-node-agent.io/state-');
    t.equal(await probeUntil(agent.agentPort, WEB, is('drain\n')), 'drain\n', 'annotation removed: the cordon shows');
    await kubectl(kubeconfig, 'uncordon', 'n1');

    await kubectl(kubeconfig, 'annotate', 'node', 'n1', 'haproxy-node-agent.io/weight=50');
    t.equal(
      await probeUntil(agent.agentPort, 'shop/api\n', is('ready up 25%\n')),
      'ready up 25%\n',
      'node weight 50 × service weight 50',
    );
    await kubectl(kubeconfig, 'annotate', 'node', 'n1', 'haproxy-node-agent.io/state=sideways');
    await new Promise((r) => setTimeout(r, 300));
    t.equal(await probe(agent.agentPort, { send: WEB }), 'ready up 50%\n', 'an invalid state is ignored');
    const m = (await httpGet(agent.httpPort, '/metrics')).body;
    t.equal(
      metricValue(m, 'haproxy_node_agent_invalid_annotations_total{annotation="haproxy-node-agent.io/state"}'),
      1,
      'and counted',
    );

    api.patch('nodes', undefined, 'n1', { status: { conditions: [{ type: 'Ready', status: 'False' }] } });
    t.equal(
      await probeUntil(agent.agentPort, WEB, is('down #node not ready\n')),
      'down #node not ready\n',
      'NotReady → down',
    );
    api.patch('nodes', undefined, 'n1', { status: { conditions: [{ type: 'Ready', status: 'True' }] } });
    t.equal(await probeUntil(agent.agentPort, WEB, is('ready up 50%\n')), 'ready up 50%\n', 'Ready again → up');

    api.patch('nodes', undefined, 'n1', { metadata: { deletionTimestamp: new Date().toISOString() } });
    t.equal(await probeUntil(agent.agentPort, WEB, is('drain\n')), 'drain\n', 'deletionTimestamp drains');
  },
);

t.test('externalTrafficPolicy Local: weight follows local ready endpoints; none → down', async (t) => {
  const { api, kubeconfig } = await startApi(t);
  seedCluster(api);
  api.create('services', {
    metadata: { namespace: 'shop', name: 'local' },
    spec: { type: 'NodePort', externalTrafficPolicy: 'Local', ports: [{ port: 80, nodePort: 30090 }] },
  });
  const agent = await startAgent(t, [
    '--node-name',
    'n1',
    '--kubeconfig',
    kubeconfig,
    '--override-file',
    overridePath(t),
  ]);
  const L = 'shop/local\n';
  t.equal(await probeUntil(agent.agentPort, L, (r) => r !== ''), 'down #no local endpoints\n', 'no slices: down');
  slice(api, 'local-a', 'local', [
    { node: 'n1' },
    { node: 'other' },
    { node: 'other' },
    { node: 'other' },
    { node: 'other' },
  ]);
  t.equal(
    await probeUntil(agent.agentPort, L, is('ready up 25%\n')),
    'ready up 25%\n',
    '1 here, 4 on the busiest node',
  );
  slice(api, 'local-b', 'local', [{ node: 'n1' }, { node: 'n1' }, { node: 'n1' }]);
  t.equal(await probeUntil(agent.agentPort, L, is('ready up 100%\n')), 'ready up 100%\n', 'two slices add up: 4 here');
  api.delete('endpointslices', 'shop', 'local-b');
  slice(api, 'local-a', 'local', [{ node: 'n1', ready: false, terminating: true, serving: true }, { node: 'other' }]);
  t.equal(await probeUntil(agent.agentPort, L, is('drain\n')), 'drain\n', 'only terminating-but-serving here: drain');
  slice(api, 'local-a', 'local', [{ node: 'n1', ready: false }, { node: 'other' }]);
  t.equal(
    await probeUntil(agent.agentPort, L, is('down #no local endpoints\n')),
    'down #no local endpoints\n',
    'not ready here: down',
  );
  slice(api, 'local-a', 'local', [{ node: 'n1' }, { node: 'other' }]);
  t.equal(
    await probeUntil(agent.agentPort, L, is('ready up 100%\n')),
    'ready up 100%\n',
    'up again as soon as one is ready',
  );
  t.equal(await probe(agent.agentPort, { send: WEB }), 'ready up 100%\n', 'Cluster policy unaffected');
  const status = JSON.parse((await httpGet(agent.httpPort, '/status')).body) as {
    services: Array<{ key: string; localEndpoints?: unknown }>;
  };
  t.same(status.services.find((s) => s.key === 'shop/local')?.localEndpoints, {
    ready: 1,
    terminating: 0,
    maxReadyPerNode: 1,
  });
});

t.test('dedicated agent ports open and close with annotations; clashes refused', async (t) => {
  const { api, kubeconfig } = await startApi(t);
  seedCluster(api);
  const free = await freePorts(2);
  const [p1, p2] = free as [number, number];
  const range = `${Math.min(p1, p2)}-${Math.max(p1, p2)}`;
  const agent = await startAgent(t, [
    '--node-name',
    'n1',
    '--kubeconfig',
    kubeconfig,
    '--agent-port-range',
    range,
    '--override-file',
    overridePath(t),
  ]);
  await probeUntil(agent.agentPort, WEB, is('ready up 100%\n'));
  await kubectl(kubeconfig, 'annotate', 'svc', '-n', 'shop', 'api', `haproxy-node-agent.io/agent-port=${p1}`);
  t.equal(
    await probeUntil(p1, undefined, is('ready up 50%\n')),
    'ready up 50%\n',
    'answers for shop/api without agent-send',
  );
  t.equal(await probe(p1, { send: WEB }), 'ready up 50%\n', 'whatever the client sends');
  // A younger Service asks for the same port (seedCluster's two Services share one creation second).
  api.create('services', {
    metadata: {
      namespace: 'shop',
      name: 'late',
      creationTimestamp: '2099-01-01T00:00:00Z',
      annotations: { 'haproxy-node-agent.io/agent-port': String(p1) },
    },
    spec: { type: 'NodePort', ports: [{ port: 80, nodePort: 30090 }] },
  });
  await new Promise((r) => setTimeout(r, 300));
  t.equal(await probe(p1), 'ready up 50%\n', 'the older claimant keeps the port');
  await kubectl(
    kubeconfig,
    'annotate',
    'svc',
    '-n',
    'shop',
    'web',
    `haproxy-node-agent.io/agent-port=${agent.agentPort}`,
    '--overwrite',
  );
  await kubectl(
    kubeconfig,
    'annotate',
    'svc',
    '-n',
    'shop',
    'web',
    'haproxy-node-agent.io/agent-port=1',
    '--overwrite',
  );
  await new Promise((r) => setTimeout(r, 300));
  const m = (await httpGet(agent.httpPort, '/metrics')).body;
  t.equal(metricValue(m, 'haproxy_node_agent_agent_port_refusals_total{reason="clash"}'), 1, 'clash counted');
  t.ok(
    (metricValue(m, 'haproxy_node_agent_invalid_annotations_total{annotation="haproxy-node-agent.io/agent-port"}') ??
      0) >= 1,
    'out of range counted',
  );
  t.ok(
    agent.logs.some((l) => l.reason === 'clash'),
    'clash logged',
  );
  await kubectl(kubeconfig, 'delete', 'svc', '-n', 'shop', 'late');
  await kubectl(kubeconfig, 'annotate', 'svc', '-n', 'shop', 'api', 'haproxy-node-agent.io/agent-port-');
  await new Promise((r) => setTimeout(r, 300));
  await t.rejects(probe(p1), 'port closed when the annotation goes');
});

t.test('override file beats everything and works with the API server down', async (t) => {
  const { api, kubeconfig } = await startApi(t);
  seedCluster(api);
  const file = overridePath(t);
  const agent = await startAgent(t, ['--node-name', 'n1', '--kubeconfig', kubeconfig, '--override-file', file]);
  await probeUntil(agent.agentPort, WEB, is('ready up 100%\n'));
  await api.stop();
  writeFileSync(file, 'drain\n');
  t.equal(await probeUntil(agent.agentPort, WEB, is('drain\n')), 'drain\n', 'drain with the API down');
  writeFileSync(file, 'MAINT');
  t.equal(await probeUntil(agent.agentPort, WEB, is('maint\n')), 'maint\n');
  writeFileSync(file, 'bogus');
  t.equal(await probeUntil(agent.agentPort, WEB, is('ready up 100%\n')), 'ready up 100%\n', 'invalid content ignored');
  const m = (await httpGet(agent.httpPort, '/metrics')).body;
  t.equal(metricValue(m, 'haproxy_node_agent_invalid_override_total'), 1, 'and counted');
  await api.start();
  api.patch('nodes', undefined, 'n1', { spec: { unschedulable: true } });
  writeFileSync(file, 'ready');
  await new Promise((r) => setTimeout(r, 1500));
  t.equal(await probe(agent.agentPort, { send: WEB }), 'ready up 100%\n', 'override ready beats a cordon');
  const status = JSON.parse((await httpGet(agent.httpPort, '/status')).body) as { override: string | null };
  t.equal(status.override, 'ready', 'shown in /status');
  rmSync(file);
  t.equal(await probeUntil(agent.agentPort, WEB, is('drain\n')), 'drain\n', 'file removed: the cordon shows');
});

t.test('slow start ramps after uncordon; staleness drains when asked to', async (t) => {
  const { api, kubeconfig } = await startApi(t);
  seedCluster(api);
  const agent = await startAgent(t, [
    '--node-name',
    'n1',
    '--kubeconfig',
    kubeconfig,
    '--slow-start',
    '10s',
    '--watch-timeout',
    '1s',
    '--max-staleness',
    '3s',
    '--override-file',
    overridePath(t),
  ]);
  t.equal(await probeUntil(agent.agentPort, WEB, (r) => r !== ''), 'ready up 100%\n', 'no ramp at start-up');
  api.patch('nodes', undefined, 'n1', { spec: { unschedulable: true } });
  await probeUntil(agent.agentPort, WEB, is('drain\n'));
  api.patch('nodes', undefined, 'n1', { spec: { unschedulable: false } });
  const first = await probeUntil(agent.agentPort, WEB, (r) => r !== 'drain\n');
  const weight = (r: string): number => Number(/(\d+)%/.exec(r)?.[1]);
  const w1 = weight(first);
  // Shapes, not a stopwatch: below full weight at first (the floor is 10%), then higher, then full.
  t.ok(w1 >= 10 && w1 < 100, `ramp starts below full weight (${first.trim()})`);
  const w2 = weight(await probeUntil(agent.agentPort, WEB, (r) => weight(r) !== w1));
  t.ok(w2 > w1, `ramp climbs (${w1}% → ${w2}%)`);
  t.equal(
    await probeUntil(agent.agentPort, WEB, is('ready up 100%\n'), 20_000),
    'ready up 100%\n',
    'full weight at the end',
  );

  await api.stop();
  t.equal(
    await probeUntil(agent.agentPort, WEB, is('drain\n'), 20_000),
    'drain\n',
    'stale past --max-staleness: drain',
  );
  const m = (await httpGet(agent.httpPort, '/metrics')).body;
  t.equal(metricValue(m, 'haproxy_node_agent_stale'), 1);
  t.ok(
    agent.logs.some((l) => typeof l.msg === 'string' && (l.msg as string).includes('--max-staleness')),
    'one log line says so',
  );
  await api.start();
  t.not(
    await probeUntil(agent.agentPort, WEB, (r) => r !== 'drain\n', 15_000),
    'drain\n',
    'contact back: drain lifted',
  );
});

async function freePorts(n: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    out.push(
      await new Promise<number>((resolve) => {
        const s = createServer();
        s.listen(0, '127.0.0.1', () => {
          const a = s.address();
          s.close(() => resolve(typeof a === 'object' && a !== null ? a.port : 0));
        });
      }),
    );
  }
  return out;
}
