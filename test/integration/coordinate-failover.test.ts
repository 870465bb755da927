// Two coordinators, one Lease: kill the leader and the standby takes over once the lease expires;
// meanwhile the last decision stays in force (agents keep answering it).
import t from 'tap';
import { probe, probeUntil } from '../lib/probe.js';
import { kubectl, startAgent, startApi } from '../lib/agent-process.js';
import {
  NS,
  READY,
  WEB,
  agentStatus,
  coordinatorStatus,
  cordonPatch,
  node,
  startCoordinator,
  waitFor,
} from '../lib/coordinator-process.js';

t.setTimeout(600_000);

t.test('kill the leader: the decision is kept, the standby takes over after the lease expires', async (t) => {
  const { api, kubeconfig } = await startApi(t);
  for (const n of ['a', 'b', 'c', 'd']) node(api, n);
  api.create('services', {
    metadata: { namespace: 'shop', name: 'web' },
    spec: { type: 'NodePort', ports: [{ port: 80, nodePort: 30080 }] },
  });
  const one = await startCoordinator(t, ['--kubeconfig', kubeconfig]);
  const two = await startCoordinator(t, ['--kubeconfig', kubeconfig]);
  const a = await startAgent(t, ['--node-name', 'a', '--kubeconfig', kubeconfig, '--guard-mode', 'coordinated']);
  const b = await startAgent(t, ['--node-name', 'b', '--kubeconfig', kubeconfig, '--guard-mode', 'coordinated']);
  for (const x of [a, b]) await probeUntil(x.agentPort, WEB, (r) => r === READY, 30_000);

  let leader = one;
  await waitFor('a leader', async () => {
    const [s1, s2] = await Promise.all([coordinatorStatus(one), coordinatorStatus(two)]);
    if (s1.leader && s2.leader) throw new Error('two leaders');
    leader = s1.leader ? one : two;
    return s1.leader || s2.leader;
  });
  const standby = leader === one ? two : one;
  t.equal((await coordinatorStatus(standby)).holder, leader.identity, 'the standby sees who leads');
  await kubectl(
    kubeconfig,
    'patch',
    'node',
    'a',
    '--type=merge',
    '-p',
    JSON.stringify(cordonPatch('2026-01-01T00:00:01Z')),
  );
  t.equal(
    await probeUntil(a.agentPort, WEB, (r) => r === 'drain\n', 30_000),
    'drain\n',
    'a drains under the first leader',
  );
  const generation = (await agentStatus(a)).guardDecision?.generation;

  leader.proc.kill('SIGKILL');
  await leader.exited;
  const killedAt = Date.now();
  // Until the standby leads: the decision stays, a keeps draining, b stays serving.
  const answers = new Set<string>();
  const failoverMs = await waitFor(
    'the standby to lead',
    async () => {
      answers.add(await probe(a.agentPort, { send: WEB }));
      return (await coordinatorStatus(standby)).leader;
    },
    90_000,
  );
  t.comment(
    `failover: standby leader ${(Date.now() - killedAt) / 1000}s after the kill ` +
      `(${failoverMs / 1000}s measured by polling)`,
  );
  t.same([...answers], ['drain\n'], 'a answered drain throughout the failover');
  t.equal(await probe(b.agentPort, { send: WEB }), READY);

  // The new leader publishes: its identity in the ConfigMap, the generation keeps growing, and a
  // new cordon is counted.
  await kubectl(
    kubeconfig,
    'patch',
    'node',
    'b',
    '--type=merge',
    '-p',
    JSON.stringify(cordonPatch('2026-01-01T00:00:02Z')),
  );
  t.equal(
    await probeUntil(b.agentPort, WEB, (r) => r === 'drain\n', 30_000),
    'drain\n',
    'b drains under the new leader (budget 2 of 4)',
  );
  const cm = JSON.parse(
    await kubectl(kubeconfig, 'get', 'configmap', '-n', NS, 'haproxy-node-agent-guard', '-o', 'json'),
  ) as { data: Record<string, string> };
  t.equal(cm.data.holder, standby.identity, 'written by the new leader');
  t.ok(
    Number(cm.data.generation) > (generation ?? Infinity),
    `generation grows (${generation} -> ${cm.data.generation})`,
  );
  const lease = JSON.parse(
    await kubectl(kubeconfig, 'get', 'lease', '-n', NS, 'haproxy-node-agent-coordinator', '-o', 'json'),
  ) as { spec: { holderIdentity: string; leaseTransitions: number } };
  t.equal(lease.spec.holderIdentity, standby.identity, 'kubectl get lease shows the new holder');

  // A graceful stop releases the lease (holderIdentity emptied) rather than letting it expire.
  standby.proc.kill('SIGTERM');
  t.equal(await standby.exited, 0, 'SIGTERM: exit 0');
  const released = JSON.parse(
    await kubectl(kubeconfig, 'get', 'lease', '-n', NS, 'haproxy-node-agent-coordinator', '-o', 'json'),
  ) as { spec: { holderIdentity?: string } };
  t.equal(released.spec.holderIdentity ?? '', '', 'lease released on SIGTERM');
});
