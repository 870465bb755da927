// Data-plane health never reached since start (no kube-proxy here, or a hung port): answers unchanged.
import t from 'tap';
import { probe } from '../lib/probe.js';
import { WEB, agentWith, dataplane, logged, metric, until } from '../lib/dataplane.js';
import { StandInHealthz } from '../lib/healthz.js';
import { freePort } from '../lib/haproxy.js';

t.test('never reachable: answers unchanged, unknown in /status and the metric, warned once', async (t) => {
  const port = await freePort(); // nobody listens: refused
  const { agent } = await agentWith(t, `http://127.0.0.1:${port}/healthz`);
  await until(
    'several polls',
    () => metric(agent, 'haproxy_node_agent_dataplane_polls_total{result="error"}'),
    (n) => (n ?? 0) >= 5,
  );
  t.match(
    await dataplane(agent),
    { state: 'unknown', lastStatusCode: null, lastResult: 'ECONNREFUSED', consecutiveFailures: 0 },
    '/status: unknown',
  );
  t.equal(await probe(agent.agentPort, { send: WEB }), 'ready up 100%\n', 'unknown never takes traffic away');
  t.equal(await metric(agent, 'haproxy_node_agent_dataplane_healthy'), -1, 'metric -1');
  t.equal(logged(agent, /not reachable/).length, 1, 'warned once, not once per poll');
});

t.test('hanging from the start: unknown (a timeout is not an answer)', async (t) => {
  const hz = new StandInHealthz(t);
  await hz.start('hang');
  const { agent } = await agentWith(t, hz.url);
  await until(
    'several timeouts',
    () => metric(agent, 'haproxy_node_agent_dataplane_polls_total{result="timeout"}'),
    (n) => (n ?? 0) >= 4,
  );
  t.match(await dataplane(agent), { state: 'unknown', lastResult: 'timeout' });
  t.equal(await probe(agent.agentPort, { send: WEB }), 'ready up 100%\n');
});
