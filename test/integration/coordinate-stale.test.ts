// What a coordinated agent answers while the coordinator's decision is missing, fresh, stale or deleted.
import t from 'tap';
import { probeUntil } from '../lib/probe.js';
import { httpGet, kubectl, metricValue, startAgent, startApi } from '../lib/agent-process.js';
import {
  NS,
  READY,
  WEB,
  agentStatus as status,
  cordonPatch,
  node,
  startCoordinator,
  waitFor,
} from '../lib/coordinator-process.js';

// Under a loaded machine, process start-ups dominate: a generous per-file deadline, no timing asserts.
t.setTimeout(600_000);

t.test(
  'decision missing, then fresh, then stale, then deleted: never a mass drain, explicit drains always honoured',
  async (t) => {
    const { api, kubeconfig } = await startApi(t);
    for (const n of ['a', 'b', 'c', 'd']) node(api, n);
    api.create('services', {
      metadata: { namespace: 'shop', name: 'web' },
      spec: { type: 'NodePort', ports: [{ port: 80, nodePort: 30080 }] },
    });
    const args = (n: string) => [
      '--node-name',
      n,
      '--kubeconfig',
      kubeconfig,
      '--guard-mode',
      'coordinated',
      '--guard-stale-after',
      '3s',
    ];
    const a = await startAgent(t, args('a'));
    const b = await startAgent(t, args('b'));
    for (const x of [a, b]) await probeUntil(x.agentPort, WEB, (r) => r === READY, 20_000);

    // Missing: no coordinator ever ran. A cordon is held; an explicit drain is not.
    t.equal((await status(a)).guardDecision?.state, 'missing');
    // The line comes over the stdout pipe, /status over HTTP: either may arrive first.
    const logged = (match: (l: Record<string, unknown>) => boolean) => () => a.logs.some(match);
    t.ok(
      await waitFor(
        'missing logged',
        logged((l) => l.level === 'warn' && String(l.msg).startsWith('no coordinator decision')),
        10_000,
      ).then(() => true),
      'logged once at start',
    );
    await kubectl(
      kubeconfig,
      'patch',
      'node',
      'a',
      '--type=merge',
      '-p',
      JSON.stringify(cordonPatch('2026-01-01T00:00:01Z')),
    );
    await kubectl(kubeconfig, 'annotate', 'node', 'b', 'haproxy-node-agent.io/state=drain');
    t.equal(
      await probeUntil(b.agentPort, WEB, (r) => r === 'drain\n', 10_000),
      'drain\n',
      'missing: explicit state=drain is honoured',
    );
    await waitFor('a held', async () => (await status(a)).guard.selfHeld, 10_000);
    t.equal(
      await probeUntil(a.agentPort, WEB, (r) => r === READY, 5000),
      READY,
      'missing: the cordon is held (keeps serving)',
    );
    const m = (await httpGet(a.httpPort, '/metrics')).body;
    t.equal(metricValue(m, 'haproxy_node_agent_guard_decision{state="missing"}'), 1);
    t.equal(metricValue(m, 'haproxy_node_agent_guard_self_held'), 1);
    await kubectl(kubeconfig, 'annotate', 'node', 'b', 'haproxy-node-agent.io/state-');
    t.equal(await probeUntil(b.agentPort, WEB, (r) => r === READY, 10_000), READY);

    // Fresh: the coordinator allows a (1 of budget 2).
    const coordinator = await startCoordinator(t, ['--kubeconfig', kubeconfig, '--namespace', NS]);
    t.equal(
      await probeUntil(a.agentPort, WEB, (r) => r === 'drain\n', 30_000),
      'drain\n',
      'fresh: the allowed cordon drains',
    );
    await waitFor('a fresh decision', async () => (await status(a)).guardDecision?.state === 'fresh', 10_000);
    t.ok(
      await waitFor(
        'fresh logged',
        logged((l) => String(l.msg).startsWith('coordinator decision is fresh')),
        10_000,
      ).then(() => true),
      'transition logged',
    );

    // Stale: the coordinator dies without releasing anything. The last decision is kept for a, and
    // a new cordon on b is held: a dead coordinator never lets more drain than it allowed.
    coordinator.proc.kill('SIGKILL');
    await coordinator.exited;
    await waitFor('a stale decision', async () => (await status(a)).guardDecision?.state === 'stale', 30_000);
    t.ok(
      await waitFor(
        'stale logged',
        logged((l) => l.level === 'warn' && String(l.msg).startsWith('coordinator decision is stale')),
        10_000,
      ).then(() => true),
      'stale logged',
    );
    t.equal(
      metricValue((await httpGet(a.httpPort, '/metrics')).body, 'haproxy_node_agent_guard_decision{state="stale"}'),
      1,
    );
    t.equal(
      await probeUntil(a.agentPort, WEB, (r) => r === 'drain\n', 5000),
      'drain\n',
      'stale: the last decision is kept (a still drains)',
    );
    await kubectl(
      kubeconfig,
      'patch',
      'node',
      'b',
      '--type=merge',
      '-p',
      JSON.stringify(cordonPatch('2026-01-01T00:00:02Z')),
    );
    await waitFor('b held', async () => (await status(b)).guard.selfHeld, 10_000);
    t.equal(
      await probeUntil(b.agentPort, WEB, (r) => r === READY, 5000),
      READY,
      'stale: a cordon the coordinator never counted is held',
    );
    await kubectl(kubeconfig, 'annotate', 'node', 'b', 'haproxy-node-agent.io/state=maint');
    t.equal(
      await probeUntil(b.agentPort, WEB, (r) => r === 'maint\n', 10_000),
      'maint\n',
      'stale: explicit maint is honoured',
    );

    // Deleted: nothing is allowed any more; the explicit one still is.
    await kubectl(kubeconfig, 'delete', 'configmap', '-n', NS, 'haproxy-node-agent-guard');
    await waitFor('a missing decision', async () => (await status(a)).guardDecision?.state === 'missing', 10_000);
    t.equal(await probeUntil(a.agentPort, WEB, (r) => r === READY, 10_000), READY, 'missing again: a is held');
    t.equal(await probeUntil(b.agentPort, WEB, (r) => r === 'maint\n', 5000), 'maint\n');
  },
);
