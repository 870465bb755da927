// Data-plane truth against the built daemon: a stand-in kube-proxy health port on loopback (real
// HTTP) and what the agent then tells HAProxy: healthy, 503 past the threshold, and back.
import t from 'tap';
import { probe, probeUntil } from '../lib/probe.js';
import { DEADLINE_MS, DOWN, WEB, agentWith, dataplane, events, logged, metric, until } from '../lib/dataplane.js';
import { StandInHealthz } from '../lib/healthz.js';
import { httpGet } from '../lib/agent-process.js';

t.test('healthy → ready; 503 for the threshold → down for every Service; 200 twice → ready again', async (t) => {
  const hz = new StandInHealthz(t);
  await hz.start(200);
  const { agent, api } = await agentWith(t, hz.url);
  const healthy = await until(
    'healthy',
    () => dataplane(agent),
    (d) => d.state === 'healthy',
  );
  t.match(healthy, { url: hz.url, lastStatusCode: 200 }, '/status shows the data plane healthy with its last code');
  t.equal(await probe(agent.agentPort, { send: WEB }), 'ready up 100%\n', 'healthy kube-proxy: ready up');
  t.equal(await metric(agent, 'haproxy_node_agent_dataplane_healthy'), 1, 'metric 1');

  // Two 503s, then healthy again: below the threshold nothing changes.
  const mark = hz.served.length;
  hz.sequence([503, 503], 200);
  await until(
    'two 503s and a 200 served',
    async () =>
      hz.served
        .slice(mark)
        .map((s) => s.mode)
        .join(),
    (s) => s.startsWith('503,503,200'),
  );
  t.equal(
    await probe(agent.agentPort, { send: WEB }),
    'ready up 100%\n',
    'two 503s in a row: still ready (threshold 3)',
  );
  t.equal(logged(agent, /is unhealthy/).length, 0, 'no transition logged');

  // Three 503s: unhealthy, and the very next probe says so.
  hz.set(503);
  const firstBad = hz.served.length;
  const down = await until(
    'unhealthy',
    () => dataplane(agent),
    (d) => d.state === 'unhealthy',
  );
  t.ok(hz.count(503, firstBad) >= 3, `turned unhealthy after ${hz.count(503, firstBad)} 503s (threshold 3)`);
  t.match(down, { lastStatusCode: 503, lastResult: 'HTTP 503' }, '/status: last code 503');
  t.ok(
    down.since !== null && Date.parse(down.since) >= (hz.served[firstBad]?.at ?? 0),
    '/status: since the transition',
  );
  t.equal(await probe(agent.agentPort, { send: WEB }), DOWN, 'next probe for a Service: down #kube-proxy unhealthy');
  t.equal(await probe(agent.agentPort, { send: 'shop/api\n' }), DOWN, 'every Service');
  t.equal(await probe(agent.agentPort, {}), DOWN, 'and the node alone');
  t.equal(await metric(agent, 'haproxy_node_agent_dataplane_healthy'), 0, 'metric 0');
  t.ok(
    ((await metric(agent, 'haproxy_node_agent_dataplane_polls_total{result="non_2xx"}')) ?? 0) >= 3,
    'polls counted by result',
  );
  t.equal(logged(agent, /is unhealthy/).length, 1, 'one log line for the transition');
  await until(
    'Event KubeProxyUnhealthy',
    async () => events(api, 'KubeProxyUnhealthy').length,
    (n) => n === 1,
  );
  t.equal(events(api, 'KubeProxyUnhealthy')[0]?.type, 'Warning', 'a Warning Event on the Node');
  const status = JSON.parse((await httpGet(agent.httpPort, '/status')).body) as {
    node: { reply: string; why: string };
  };
  t.match(status.node, { reply: 'down #kube-proxy unhealthy', why: /proxy-unhealthy/ }, '/status says why');

  // One 200 is not enough to come back (threshold 2), a steady 200 is.
  const mark2 = hz.served.length;
  hz.sequence([200], 503);
  await until(
    'one 200 then a 503 served',
    async () =>
      hz.served
        .slice(mark2)
        .map((s) => s.mode)
        .join(),
    (s) => s.startsWith('200,503'),
  );
  t.equal(await probe(agent.agentPort, { send: WEB }), DOWN, 'a single 200 in between: still down');
  hz.set(200);
  const back = await probeUntil(agent.agentPort, WEB, (r) => r === 'ready up 100%\n', DEADLINE_MS);
  t.equal(back, 'ready up 100%\n', 'two 200s in a row: ready up again');
  t.match(await dataplane(agent), { state: 'healthy', lastStatusCode: 200 });
  t.equal(logged(agent, /is unhealthy/).length, 1, 'the single 200 caused no flap');
  t.equal(logged(agent, /is healthy/).length, 2, 'logged: healthy at start, healthy again');
  await until(
    'Event KubeProxyHealthy',
    async () => events(api, 'KubeProxyHealthy').length,
    (n) => n === 1,
  );
});
