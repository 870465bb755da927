// The built daemon end to end: fake API server over real HTTP, real kubectl, real probes.
import t from 'tap';
import { probe, probeUntil } from './lib/probe.js';
import { CLI, httpGet, kubectl, metricValue, seedCluster, startAgent, startApi } from './lib/agent-process.js';
import { execFile } from 'node:child_process';

const WEB = 'shop/web\n';

t.test('cordon, uncordon and weight annotations reach the next probe', async (t) => {
  const { api, kubeconfig } = await startApi(t);
  seedCluster(api);
  const agent = await startAgent(t, ['--node-name', 'n1', '--kubeconfig', kubeconfig]);
  t.equal(await probeUntil(agent.agentPort, WEB, (r) => r !== ''), 'ready up 100%\n');
  t.equal(await probe(agent.agentPort, { send: 'shop/api\n' }), 'ready up 50%\n');

  await kubectl(kubeconfig, 'cordon', 'n1');
  t.equal(await probeUntil(agent.agentPort, WEB, (r) => r === 'drain\n'), 'drain\n', 'cordon → drain');
  t.equal(await probe(agent.agentPort), 'drain\n', 'node alone drains too');
  await kubectl(kubeconfig, 'uncordon', 'n1');
  t.equal(await probeUntil(agent.agentPort, WEB, (r) => r !== 'drain\n'), 'ready up 100%\n', 'uncordon → ready');

  await kubectl(kubeconfig, 'annotate', 'svc', '-n', 'shop', 'web', 'haproxy-node-agent.io/weight=25', '--overwrite');
  t.equal(await probeUntil(agent.agentPort, WEB, (r) => r === 'ready up 25%\n'), 'ready up 25%\n', 'annotate → weight');

  await kubectl(kubeconfig, 'annotate', 'svc', '-n', 'shop', 'web', 'haproxy-node-agent.io/weight=heavy', '--overwrite');
  t.equal(await probeUntil(agent.agentPort, WEB, (r) => r === 'ready up 100%\n'), 'ready up 100%\n', 'invalid weight → default 100');
  const m = await httpGet(agent.httpPort, '/metrics');
  t.equal(metricValue(m.body, 'haproxy_node_agent_invalid_annotations_total{annotation="haproxy-node-agent.io/weight"}'), 1, 'counted once');
  t.ok(agent.logs.some((l) => l.level === 40 && l.value === 'heavy'), 'logged as a warning');
  t.equal(agent.logs.filter((l) => l.value === 'heavy').length, 1, 'logged once');

  const status = JSON.parse((await httpGet(agent.httpPort, '/status')).body) as { node: { reply: string }; services: Array<{ key: string; reply: string }> };
  t.equal(status.node.reply, 'ready up 100%');
  t.same(status.services.map((s) => `${s.key}=${s.reply}`), ['shop/api=ready up 50%', 'shop/web=ready up 100%']);

  const drains = agent.logs.filter((l) => typeof l.msg === 'string' && (l.msg as string).startsWith('node answer is now'));
  t.same(drains.map((l) => l.to), ['ready up 100%', 'drain', 'ready up 100%'], 'one log line per node state change');
  t.ok((metricValue(m.body, 'haproxy_node_agent_probes_total{reply="drain"}') ?? 0) >= 2, 'probes counted by reply');
  const before = api.requestLog.length;
  for (let i = 0; i < 50; i++) await probe(agent.agentPort, { send: WEB });
  t.equal(api.requestLog.length, before, 'answers come from memory: no API request per probe');
});

t.test('not ready until the first full list; then ready', async (t) => {
  const { api, kubeconfig } = await startApi(t);
  seedCluster(api);
  api.faults.listDelayMs = 1500;
  const agent = await startAgent(t, ['--node-name', 'n1', '--kubeconfig', kubeconfig]);
  t.equal((await httpGet(agent.httpPort, '/readyz')).status, 503);
  t.equal(await probe(agent.agentPort, { send: WEB }), '', 'no reply before sync');
  t.equal(await probeUntil(agent.agentPort, WEB, (r) => r !== ''), 'ready up 100%\n');
  t.equal((await httpGet(agent.httpPort, '/readyz')).status, 200);
  t.equal((await httpGet(agent.httpPort, '/healthz')).status, 200);
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

t.test('410 Gone and dropped watches: no wrong answer, updates continue', async (t) => {
  const { api, kubeconfig } = await startApi(t);
  seedCluster(api);
  const agent = await startAgent(t, ['--node-name', 'n1', '--kubeconfig', kubeconfig]);
  await probeUntil(agent.agentPort, WEB, (r) => r !== '');
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
  await change(() => api.patch('services', 'shop', 'web', { metadata: { annotations: { 'haproxy-node-agent.io/weight': '40' } } }), 'ready up 40%\n');
  api.dropWatches();
  await change(() => api.patch('services', 'shop', 'web', { metadata: { annotations: { 'haproxy-node-agent.io/weight': '60' } } }), 'ready up 60%\n');
  looping = false;
  await loop;
  t.equal(wrong, 0, `no wrong answer in ${probes} probes`);
  t.ok(probes > 5, 'the probe loop kept running');
  const relists = api.requestLog.filter((r) => !r.query.includes('watch') && r.path === '/api/v1/nodes');
  t.ok(relists.length >= 2, 'the node was listed again after 410');
});

t.test('API server stopped: last truth kept and reported; restarted: updates resume', async (t) => {
  const { api, kubeconfig } = await startApi(t);
  seedCluster(api);
  const agent = await startAgent(t, ['--node-name', 'n1', '--kubeconfig', kubeconfig]);
  await probeUntil(agent.agentPort, WEB, (r) => r !== '');
  api.patch('nodes', undefined, 'n1', { spec: { unschedulable: true } });
  await probeUntil(agent.agentPort, WEB, (r) => r === 'drain\n');
  await api.stop();
  await new Promise((r) => setTimeout(r, 1500));
  for (let i = 0; i < 5; i++) t.equal(await probe(agent.agentPort, { send: WEB }), 'drain\n', 'still the last truth');
  const m = (await httpGet(agent.httpPort, '/metrics')).body;
  t.ok((metricValue(m, 'haproxy_node_agent_api_last_contact_seconds') ?? 0) >= 1, 'staleness visible in metrics');
  t.match(m, /haproxy_node_agent_watch_restarts_total\{resource="nodes",reason="[a-z_0-9]+"\} [1-9]/, 'restarts counted');
  // While it is away the cluster changes; when it is back the agent catches up.
  api.patch('nodes', undefined, 'n1', { spec: { unschedulable: false } });
  await api.start();
  t.equal(await probeUntil(agent.agentPort, WEB, (r) => r !== 'drain\n', 20_000), 'ready up 100%\n', 'caught up after restart');
  api.patch('services', 'shop', 'web', { metadata: { annotations: { 'haproxy-node-agent.io/weight': '10' } } });
  t.equal(await probeUntil(agent.agentPort, WEB, (r) => r === 'ready up 10%\n'), 'ready up 10%\n', 'watch resumed');
});

t.test('a watch that hangs silently is replaced', async (t) => {
  const { api, kubeconfig } = await startApi(t);
  seedCluster(api);
  api.faults.hangWatches = true;
  const agent = await startAgent(t, ['--node-name', 'n1', '--kubeconfig', kubeconfig, '--watch-timeout', '1s']);
  await probeUntil(agent.agentPort, WEB, (r) => r !== '');
  api.patch('nodes', undefined, 'n1', { spec: { unschedulable: true } });
  await new Promise((r) => setTimeout(r, 300));
  t.equal(await probe(agent.agentPort, { send: WEB }), 'ready up 100%\n', 'the hung watch delivers nothing');
  api.faults.hangWatches = false;
  // Hung for 1s + 10s grace, then restarted: the change arrives.
  t.equal(await probeUntil(agent.agentPort, WEB, (r) => r === 'drain\n', 20_000), 'drain\n');
  const m = (await httpGet(agent.httpPort, '/metrics')).body;
  t.ok((metricValue(m, 'haproxy_node_agent_watch_restarts_total{resource="nodes",reason="hung"}') ?? 0) >= 1, 'counted as hung');
});

t.test('SIGTERM: exits 0 promptly', async (t) => {
  const { api, kubeconfig } = await startApi(t);
  seedCluster(api);
  const agent = await startAgent(t, ['--node-name', 'n1', '--kubeconfig', kubeconfig]);
  await probeUntil(agent.agentPort, WEB, (r) => r !== '');
  const started = Date.now();
  agent.proc.kill('SIGTERM');
  t.equal(await agent.exited, 0);
  t.ok(Date.now() - started < 3000, `exited in ${Date.now() - started}ms`);
});

t.test('bad flags: non-zero exit, one line naming the flag', async (t) => {
  const run = (args: string[], env: Record<string, string> = {}) =>
    new Promise<{ code: number | null; stderr: string }>((resolve) => {
      execFile(process.execPath, [CLI, ...args], { env: { PATH: process.env.PATH ?? '', ...env } }, (err, _out, stderr) => resolve({ code: err === null ? 0 : (err.code as number), stderr }));
    });
  const cases: Array<[string[], Record<string, string>, RegExp]> = [
    [['run'], {}, /^haproxy-node-agent: --node-name: required/],
    [['run', '--node-name', 'n1', '--agent-port', 'abc'], {}, /^haproxy-node-agent: --agent-port: expected a whole number/],
    [['run', '--node-name', 'n1'], {}, /^haproxy-node-agent: --kubeconfig: not set, and not running in a Pod/],
    [['run', '--node-name', 'n1', '--kubeconfig', '/nonexistent/kc'], {}, /^haproxy-node-agent: --kubeconfig: cannot load/],
    [['run', '--nope'], { NODE_NAME: 'n1' }, /^haproxy-node-agent: --nope: unknown flag/],
    [['frobnicate'], {}, /^haproxy-node-agent: unknown command "frobnicate"/],
  ];
  for (const [args, env, re] of cases) {
    const r = await run(args, env);
    t.equal(r.code, 2, args.join(' '));
    t.match(r.stderr, re);
    t.equal(r.stderr.trim().split('\n').length, 1, 'one line');
  }
  const help = await run(['run', '--help']);
  t.equal(help.code, 0);
  const out = await new Promise<string>((resolve) => execFile(process.execPath, [CLI, 'run', '--help'], (_e, stdout) => resolve(stdout)));
  for (const flag of ['--node-name', '--kubeconfig', '--agent-address', '--agent-port', '--http-address', '--http-port', '--annotation-prefix', '--service-selector', '--log-level']) t.match(out, flag, `--help lists ${flag}`);
});
