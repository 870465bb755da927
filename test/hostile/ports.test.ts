// Issue 17 item 2: a tenant must not steal another tenant's dedicated agent port, not even by
// waiting for an agent restart. Built daemon + fake API server + real kubectl.
import t, { type Test } from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { probe, probeUntil } from '../lib/probe.js';
import { httpGet, kubectl, metricValue, startAgent, startApi } from '../lib/agent-process.js';

// Agent restarts, kubectl and haproxy -c runs add up on a loaded machine: a generous file deadline.
t.setTimeout(600_000);

const PORT_ANN = 'haproxy-node-agent.io/agent-port';

async function freePort(): Promise<number> {
  return new Promise<number>((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a !== null ? a.port : 0));
    });
  });
}

function tempDir(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'hna-hostile-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** shop/web (weight 70) and evil/x (weight 5, no endpoints anywhere) both ask for `port`. */
function serviceYaml(ns: string, name: string, weight: string, port: number): string {
  return `apiVersion: v1
kind: Service
metadata:
  namespace: ${ns}
  name: ${name}
  annotations:
    haproxy-node-agent.io/weight: "${weight}"
    ${PORT_ANN}: "${port}"
spec:
  type: NodePort
  ports: [{port: 80, nodePort: ${ns === 'shop' ? 30080 : 30666}}]
`;
}

/** The apiserver stamps creationTimestamp to the second: wait until the next second starts. */
async function nextSecond(): Promise<void> {
  await new Promise((r) => setTimeout(r, 1100 - (Date.now() % 1000)));
}

t.test('an older claimant keeps its port across restarts, whatever the names', async (t) => {
  const { api, kubeconfig } = await startApi(t);
  api.create('nodes', {
    metadata: { name: 'n1' },
    spec: {},
    status: { conditions: [{ type: 'Ready', status: 'True' }] },
  });
  const dir = tempDir(t);
  const port = await freePort();
  const args = [
    '--node-name',
    'n1',
    '--kubeconfig',
    kubeconfig,
    '--agent-port-range',
    `${port}-${port}`,
    '--override-file',
    join(dir, 'override'),
  ];

  writeFileSync(join(dir, 'shop.yaml'), serviceYaml('shop', 'web', '70', port));
  await kubectl(kubeconfig, 'create', '--validate=false', '-f', join(dir, 'shop.yaml'));
  const first = await startAgent(t, args);
  t.equal(
    await probeUntil(port, undefined, (r) => r === 'ready up 70%\n', 30_000),
    'ready up 70%\n',
    'shop/web answers on its port',
  );

  await nextSecond();
  // "evil/x" sorts before "shop/web": name order would hand it the port on the next start.
  writeFileSync(join(dir, 'evil.yaml'), serviceYaml('evil', 'x', '5', port));
  await kubectl(kubeconfig, 'create', '--validate=false', '-f', join(dir, 'evil.yaml'));
  const deadline = Date.now() + 20_000;
  while (!first.logs.some((l) => l.reason === 'clash') && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 50));
  t.equal(await probe(port), 'ready up 70%\n', 'evil/x is refused while the agent runs');
  first.proc.kill('SIGTERM');
  await first.exited;

  const second = await startAgent(t, args);
  t.equal(
    await probeUntil(port, undefined, (r) => r === 'ready up 70%\n', 30_000),
    'ready up 70%\n',
    'after a restart shop/web still owns the port',
  );
  // Give a wrong owner every chance to show up.
  await new Promise((r) => setTimeout(r, 300));
  t.equal(await probe(port), 'ready up 70%\n', 'still shop/web');
  const m = (await httpGet(second.httpPort, '/metrics')).body;
  t.equal(
    metricValue(m, 'haproxy_node_agent_agent_port_refusals_total{reason="clash"}'),
    1,
    'evil/x refused once, counted',
  );
  t.ok(
    second.logs.some((l) => l.reason === 'clash' && l.service === 'evil/x'),
    'the refusal names evil/x',
  );
  second.proc.kill('SIGTERM');
  await second.exited;
});

t.test('--agent-port-namespaces: other namespaces are refused, logged once and counted', async (t) => {
  const { api, kubeconfig } = await startApi(t);
  api.create('nodes', {
    metadata: { name: 'n1' },
    spec: {},
    status: { conditions: [{ type: 'Ready', status: 'True' }] },
  });
  const dir = tempDir(t);
  const [shopPort, evilPort] = [await freePort(), await freePort()];
  const range = `${Math.min(shopPort, evilPort)}-${Math.max(shopPort, evilPort)}`;
  const agent = await startAgent(
    t,
    [
      '--node-name',
      'n1',
      '--kubeconfig',
      kubeconfig,
      '--agent-port-range',
      range,
      '--override-file',
      join(dir, 'override'),
    ],
    {
      HAPROXY_NODE_AGENT_AGENT_PORT_NAMESPACES: 'shop,payments',
    },
  );
  writeFileSync(join(dir, 'evil.yaml'), serviceYaml('evil', 'x', '5', evilPort));
  writeFileSync(join(dir, 'shop.yaml'), serviceYaml('shop', 'web', '70', shopPort));
  await kubectl(kubeconfig, 'create', '--validate=false', '-f', join(dir, 'evil.yaml'));
  await kubectl(kubeconfig, 'create', '--validate=false', '-f', join(dir, 'shop.yaml'));
  t.equal(
    await probeUntil(shopPort, undefined, (r) => r === 'ready up 70%\n', 30_000),
    'ready up 70%\n',
    'an allowed namespace gets its port',
  );
  // Touch evil/x again: a refusal is logged once per claim, not once per event.
  await kubectl(kubeconfig, 'annotate', 'svc', '-n', 'evil', 'x', 'touched=1');
  await new Promise((r) => setTimeout(r, 300));
  await t.rejects(probe(evilPort), 'evil/x got no listener');
  const m = (await httpGet(agent.httpPort, '/metrics')).body;
  t.equal(
    metricValue(m, 'haproxy_node_agent_agent_port_refusals_total{reason="namespace"}'),
    1,
    'refusal counted once',
  );
  t.equal(agent.logs.filter((l) => l.reason === 'namespace' && l.service === 'evil/x').length, 1, 'and logged once');
});
