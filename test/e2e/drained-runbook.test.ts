// The maintenance runbook (docs/maintenance.md) end to end against real HAProxy, real kubectl and
// the fake API (issue 25): cordon → wait-drained exits 0 and HAProxy shows DRAIN → the agent
// restarts (the reboot, skipped) → agent ready → uncordon → wait-drained --for ready exits 0 and
// HAProxy shows the node UP at full weight again.
import t from 'tap';
import { allReady, onNode, requireHaproxy, startEdge } from '../lib/haproxy.js';
import { httpGet } from '../lib/agent-process.js';
import { waitDrained } from '../lib/drained.js';
import { until } from '../lib/until.js';

const POLL_MS = 50;
const DEADLINE_MS = 60_000;

const bin = requireHaproxy(t);
if (bin !== undefined) {
  const edge = await startEdge(t, bin);

  t.test('cordon → drained → restart → ready → uncordon → ready delivered', async (t) => {
    t.teardown(() => edge.reset());
    await edge.waitFor('all servers ready', allReady, DEADLINE_MS);
    const wait = (httpPort: number, ...more: string[]) =>
      waitDrained(['--url', `http://127.0.0.1:${httpPort}`, '--timeout', '60s', '--interval', '100ms', ...more]);

    await edge.kubectl('cordon', 'node-a');
    const drained = await wait(edge.agent('node-a').httpPort);
    t.equal(drained.code, 0, `wait-drained exits 0: ${drained.stdout}${drained.stderr}`);
    const out = onNode(await edge.servers(), 'node-a');
    t.ok(out.length > 0 && out.every((s) => s.status === 'DRAIN (agent)'), 'HAProxy shows every node-a server DRAIN');

    // The reboot: the agent goes away and comes back with no receipts; HAProxy keeps the drain.
    await edge.killAgent('node-a');
    const a = await edge.restartAgent('node-a');
    await until(
      'agent ready',
      () => httpGet(a.httpPort, '/readyz'),
      (r) => r.status === 200,
      DEADLINE_MS,
      POLL_MS,
    );
    t.ok(
      onNode(await edge.servers(), 'node-a').every((s) => s.status === 'DRAIN (agent)'),
      'still DRAIN after the restart (the node is still cordoned)',
    );
    // One agent interval: the restarted agent has seen its load balancer (docs: or --expected-peers).
    type Peers = { peers: { seen: number } };
    await until(
      'HAProxy seen again',
      () => httpGet(a.httpPort, '/status').then((r) => JSON.parse(r.body) as Peers),
      (s) => s.peers.seen === 1,
      DEADLINE_MS,
      POLL_MS,
    );

    await edge.kubectl('uncordon', 'node-a');
    const ready = await wait(a.httpPort, '--for', 'ready');
    t.equal(ready.code, 0, `wait-drained --for ready exits 0: ${ready.stdout}${ready.stderr}`);
    t.match(ready.stdout, /^ready delivered: /);
    const back = onNode(await edge.servers(), 'node-a');
    t.ok(
      back.length > 0 && back.every((s) => s.status === 'UP' && s.weight === 100),
      `HAProxy shows every node-a server UP at weight 100: ${JSON.stringify(back.map((s) => [s.status, s.weight]))}`,
    );
  });
}
