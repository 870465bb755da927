// The built daemon when an EndpointSlice changes owner: `kubectl label` moves it to another Service,
// and both the Service it left and the one it joined answer from what they now have.
import t from 'tap';
import { probeUntil } from '../lib/probe.js';
import { kubectl, seedCluster, startAgent, startApi } from '../lib/agent-process.js';

const is = (want: string) => (r: string) => r === want;
const NO_LOCAL = 'down #no local endpoints\n';
const READY = 'ready up 100%\n';

t.test('eTP=Local: a slice relabelled to another Service leaves the old one down, the new one up', async (t) => {
  const { api, kubeconfig } = await startApi(t);
  seedCluster(api);
  for (const name of ['local', 'other'])
    api.create('services', {
      metadata: { namespace: 'shop', name },
      spec: { type: 'NodePort', externalTrafficPolicy: 'Local', ports: [{ port: 80 }] },
    });
  api.create('endpointslices', {
    metadata: { namespace: 'shop', name: 's1', labels: { 'kubernetes.io/service-name': 'local' } },
    addressType: 'IPv4',
    endpoints: [{ addresses: ['10.0.0.1'], nodeName: 'n1', conditions: { ready: true } }],
    ports: [{ port: 8080, protocol: 'TCP' }],
  });
  const agent = await startAgent(t, ['--node-name', 'n1', '--kubeconfig', kubeconfig]);
  const L = 'shop/local\n';
  const O = 'shop/other\n';
  t.equal(await probeUntil(agent.agentPort, L, is(READY)), READY, 'its one local endpoint: up');
  t.equal(await probeUntil(agent.agentPort, O, is(NO_LOCAL)), NO_LOCAL, 'no slice yet: down');

  await kubectl(
    kubeconfig,
    'label',
    '-n',
    'shop',
    'endpointslice',
    's1',
    'kubernetes.io/service-name=other',
    '--overwrite',
  );
  t.equal(await probeUntil(agent.agentPort, O, is(READY)), READY, 'the Service it joined: up');
  t.equal(
    await probeUntil(agent.agentPort, L, is(NO_LOCAL)),
    NO_LOCAL,
    'the Service it left has no local endpoint: down, not its old answer',
  );
});
