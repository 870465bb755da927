// The built daemon when a watch hangs without a byte: noticed after --watch-timeout and replaced.
import t from 'tap';
import { probe, probeUntil } from '../lib/probe.js';
import { httpGet, metricValue, startSyncedAgent } from '../lib/agent-process.js';

const WEB = 'shop/web\n';

t.test('a watch that hangs silently is replaced', async (t) => {
  const { api, agent } = await startSyncedAgent(t, ['--watch-timeout', '1s']);
  // From now on every watch hangs: open, headers sent, then silence.
  api.faults.hangWatches = true;
  api.dropWatches();
  await new Promise((r) => setTimeout(r, 100));
  api.patch('nodes', undefined, 'n1', { spec: { unschedulable: true } });
  await new Promise((r) => setTimeout(r, 300));
  t.equal(await probe(agent.agentPort, { send: WEB }), 'ready up 100%\n', 'the hung watch delivers nothing');
  api.faults.hangWatches = false;
  // Open past --watch-timeout (1 s) + its grace (hungGraceMs: 1 s here), then replaced by a relist.
  t.equal(await probeUntil(agent.agentPort, WEB, (r) => r === 'drain\n', 20_000), 'drain\n');
  const m = (await httpGet(agent.httpPort, '/metrics')).body;
  t.ok(
    (metricValue(m, 'haproxy_node_agent_watch_restarts_total{resource="nodes",reason="hung"}') ?? 0) >= 1,
    'counted as hung',
  );
});
