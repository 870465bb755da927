// What the operator configures around the data-plane signal: its policy, and turning it off.
import t from 'tap';
import { probe } from '../lib/probe.js';
import { WEB, agentWith, dataplane, metric, until } from '../lib/dataplane.js';
import { StandInHealthz } from '../lib/healthz.js';

t.test('the signal policy applies: proxy-unhealthy=drain drains instead', async (t) => {
  const hz = new StandInHealthz(t);
  await hz.start(503);
  const { agent } = await agentWith(t, hz.url, ['--signal-policy', 'proxy-unhealthy=drain']);
  await until(
    'unhealthy',
    () => dataplane(agent),
    (d) => d.state === 'unhealthy',
  );
  t.equal(await probe(agent.agentPort, { send: WEB }), 'drain\n', 'proxy-unhealthy=drain: drain');
});

t.test('an empty URL turns polling off', async (t) => {
  const { agent } = await agentWith(t, '');
  t.match(await dataplane(agent), { url: null, state: 'off' }, '/status: off');
  t.equal(await metric(agent, 'haproxy_node_agent_dataplane_healthy'), -1, 'metric -1');
  t.equal(await probe(agent.agentPort, { send: WEB }), 'ready up 100%\n');
});
