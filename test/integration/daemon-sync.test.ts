// The built daemon's life cycle: no answer before the first full list, readiness endpoints, SIGTERM.
import t from 'tap';
import { probe, probeUntil } from '../lib/probe.js';
import { httpGet, seedCluster, startAgent, startApi, startSyncedAgent } from '../lib/agent-process.js';
import { within } from '../lib/deadline.js';

const WEB = 'shop/web\n';

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

t.test('SIGTERM: exits 0, without waiting to be killed', async (t) => {
  const { agent } = await startSyncedAgent(t);
  const started = Date.now();
  agent.proc.kill('SIGTERM');
  // A deadline, not a timing goal: it must exit on its own (a hung shutdown never would).
  t.equal(await within(agent.exited, 30_000, 'still running after 30 s'), 0);
  t.comment(`exited ${Date.now() - started} ms after SIGTERM`);
});
