// Two HAProxy processes probe one agent (told apart by their source address, 127.0.0.1 and
// 127.0.0.2); the second stops. /drained waits for it until its window (3 × its observed probe
// interval) has passed, then forgets it and answers 200.
import t from 'tap';
import { renderHaproxyConfig } from '../../src/testkit/haproxy/edge-config.js';
import { startHaproxy } from '../../src/testkit/haproxy/process.js';
import { httpGet, kubectl, startSyncedAgent } from '../lib/agent-process.js';
import { drained, type DrainedAnswer } from '../lib/drained.js';
import { requireHaproxy } from '../lib/haproxy.js';
import { until } from '../lib/until.js';

/** Polls every 50ms; 60s unless said otherwise (HAProxy and kubectl on a loaded machine). */
const POLL_MS = 50;

const bin = requireHaproxy(t);
if (bin !== undefined) {
  t.test('a load balancer that stops probing is waited for only until its window passes', async (t) => {
    const { kubeconfig, agent } = await startSyncedAgent(t);
    const lb = (source: string, interMs: number) =>
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
                    agent: { addr: '127.0.0.1', port: agent.agentPort, send: 'shop/web\n', interMs },
                  },
                ],
              },
            ],
          }),
      });
    const one = await lb('127.0.0.1', 100);
    t.teardown(() => one.stop());
    // The second probes every 3 s: its window (9 s) outlasts a cordon by kubectl under load.
    const two = await lb('127.0.0.2', 3000);
    t.teardown(() => two.stop());
    type Peers = { peers: { list: Array<{ peer: string; keys: Array<{ intervalMs: number | null }> }> } };
    const status = () => httpGet(agent.httpPort, '/status').then((r) => JSON.parse(r.body) as Peers);
    const known = (s: Peers): boolean =>
      s.peers.list.length === 2 && s.peers.list.every((p) => p.keys.every((k) => k.intervalMs !== null));
    await until('both peers known with an interval', status, known, 60_000, POLL_MS);
    t.pass('two peers with their probe intervals');

    await two.stop();
    await kubectl(kubeconfig, 'cordon', 'n1');
    const read = () => drained(agent.httpPort);
    const onePending = (d: DrainedAnswer): boolean => d.status === 503 && (d.body.pending ?? []).length === 1;
    const pending = await until('the silent peer pending', read, onePending, 20_000, POLL_MS);
    t.same(
      pending.body.pending?.map((p) => p.peer),
      ['127.0.0.2'],
      'the live one has heard the drain; the silent one is pending',
    );
    const stoppedWaiting = Date.now();
    await until('/drained 200 once the window passed', read, (d) => d.status === 200, 60_000, POLL_MS);
    t.comment(`pending → 200 after ${Date.now() - stoppedWaiting}ms (window 3 × 3s)`);
    const s = await status();
    t.same(
      s.peers.list.map((p) => p.peer),
      ['127.0.0.1'],
      'the silent peer is forgotten',
    );
  });
}
