// Two HAProxy processes probe one agent (told apart by their source address, 127.0.0.1 and
// 127.0.0.2). Issue 22 #1a: the second's agent-check is stopped (`disable agent` on its stats
// socket, as an operator or a stuck process would) while the node serves, so it keeps the server UP.
// After a cordon, /drained must not say 200 however long it stays silent: the silent one is pending,
// shown silent, until it hears the drain (`enable agent`). --forget-silent-peers-after is the
// operator's explicit way to let a load balancer that is gone for good go.
import t from 'tap';
import { renderHaproxyConfig } from '../../src/testkit/haproxy/edge-config.js';
import { startHaproxy } from '../../src/testkit/haproxy/process.js';
import { readServerStats, statsCommand } from '../../src/testkit/haproxy/stats.js';
import { httpGet, kubectl, metricValue, startSyncedAgent } from '../lib/agent-process.js';
import { drained, type DrainedAnswer } from '../lib/drained.js';
import { requireHaproxy } from '../lib/haproxy.js';
import { until } from '../lib/until.js';

/** Polls every 50ms; 60s unless said otherwise (HAProxy and kubectl on a loaded machine). */
const POLL_MS = 50;

type Pending = Array<{ peer: string; silentKeys?: number; keys?: Array<{ silent?: boolean; lastReply: string }> }>;

const bin = requireHaproxy(t);
if (bin !== undefined) {
  const lbFor = (agent: { httpPort: number; agentPort: number }, source: string) =>
    startHaproxy({
      bin,
      config: ({ statsSocket }) =>
        renderHaproxyConfig({
          statsSocket,
          checkTimeoutMs: 500,
          idleTimeoutMs: 30_000,
          frontends: [],
          backends: [
            {
              name: 'web',
              mode: 'http',
              balance: 'roundrobin',
              servers: [
                {
                  name: 'web.n1',
                  address: '127.0.0.1',
                  port: agent.httpPort,
                  weight: 100,
                  checkInterMs: 5000,
                  source,
                  agent: { addr: '127.0.0.1', port: agent.agentPort, send: 'shop/web\n', interMs: 100 },
                },
              ],
            },
          ],
        }),
    });
  type Peers = { peers: { list: Array<{ peer: string; keys: Array<{ intervalMs: number | null }> }> } };
  const peers = (port: number) => () => httpGet(port, '/status').then((r) => JSON.parse(r.body) as Peers);
  /** Both load balancers seen, each key probed at least twice (so its interval is known). */
  const known = (s: Peers): boolean =>
    s.peers.list.length === 2 && s.peers.list.every((p) => p.keys.every((k) => k.intervalMs !== null));
  const status = async (statsSocket: string) => (await readServerStats(statsSocket))[0]?.status;

  t.test('a load balancer whose agent-check stopped while serving is never taken as drained', async (t) => {
    const { kubeconfig, agent } = await startSyncedAgent(t);
    const one = await lbFor(agent, '127.0.0.1');
    t.teardown(() => one.stop());
    const two = await lbFor(agent, '127.0.0.2');
    t.teardown(() => two.stop());
    await until('both peers known with an interval', peers(agent.httpPort), known, 60_000, POLL_MS);
    t.pass('two peers with their probe intervals');

    // The second HAProxy stops asking while the node serves: it keeps the server UP.
    await statsCommand(two.statsSocket, 'disable agent web/web.n1');
    await kubectl(kubeconfig, 'cordon', 'n1');
    const read = () => drained(agent.httpPort);
    const silentPending = (d: DrainedAnswer): boolean => {
      const p = (d.body.pending ?? []) as Pending;
      return d.status === 503 && p.length === 1 && (p[0]?.keys ?? []).every((k) => k.silent === true);
    };
    // Long past its window (3 × 100 ms, at least 1 s): the key is shown silent, still pending.
    const pending = await until('the silent peer pending and shown silent', read, silentPending, 60_000, POLL_MS);
    t.match(
      pending.body.pending as Pending,
      [{ peer: '127.0.0.2', silentKeys: 1, keys: [{ silent: true, lastReply: 'ready up 100%' }] }],
      'the live one has heard the drain; the silent one, last told ready, is pending',
    );
    t.match(pending.body.reason, /1 silent: a load balancer that stopped probing keeps what it was last told/);
    t.equal(await status(two.statsSocket), 'UP', 'and HAProxy really still routes to the node');
    t.equal(await status(one.statsSocket), 'DRAIN (agent)', 'while the live one drains it');
    const m = (await httpGet(agent.httpPort, '/metrics')).body;
    t.equal(metricValue(m, 'haproxy_node_agent_drain_delivered'), 0, 'drain_delivered 0');
    t.equal(metricValue(m, 'haproxy_node_agent_peers{state="silent"}'), 1, 'one peer silent');

    // Its check resumes: it hears the drain, and only then is the drain delivered.
    await statsCommand(two.statsSocket, 'enable agent web/web.n1');
    const done = await until('/drained 200 once it heard', read, (d) => d.status === 200, 60_000, POLL_MS);
    t.match(done.body, { drained: true, peers: 2 });
    t.equal(await status(two.statsSocket), 'DRAIN (agent)', 'HAProxy two drains too');
  });

  t.test('--forget-silent-peers-after lets a silent load balancer go, after that long', async (t) => {
    const { kubeconfig, agent } = await startSyncedAgent(t, ['--forget-silent-peers-after', '2s']);
    const one = await lbFor(agent, '127.0.0.1');
    t.teardown(() => one.stop());
    const two = await lbFor(agent, '127.0.0.2');
    t.teardown(() => two.stop());
    await until('both peers known with an interval', peers(agent.httpPort), known, 60_000, POLL_MS);
    await two.stop();
    await kubectl(kubeconfig, 'cordon', 'n1');
    const done = await until(
      '/drained 200',
      () => drained(agent.httpPort),
      (d) => d.status === 200,
      60_000,
      POLL_MS,
    );
    t.match(done.body, { drained: true, peers: 1 }, 'the stopped one was forgotten as configured');
  });
}
