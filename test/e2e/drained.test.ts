// /drained against real HAProxy probing two agents (agent-inter 100 ms), real kubectl and the fake
// API server: 503 before a cordon, 200 once HAProxy has been told, 503 after the uncordon; the
// metric and the Event say the same; wait-drained exits 0 when drained (its timeout and bad flags:
// wait-drained.test.ts).
import t from 'tap';
import { allReady, onNode, requireHaproxy, startEdge } from '../lib/haproxy.js';
import { httpGet, metricValue } from '../lib/agent-process.js';
import { drained, waitDrained } from '../lib/drained.js';
import { until } from '../lib/until.js';

/** Polled every 20ms (the comment below reports how soon 200 was seen); 30s before giving up. */
const POLL_MS = 20;
const DEADLINE_MS = 30_000;

const bin = requireHaproxy(t);
if (bin !== undefined) {
  const edge = await startEdge(t, bin);

  t.test(
    '/drained: 503 before a cordon, 200 once HAProxy has received the drain, 503 after the uncordon',
    async (t) => {
      t.teardown(() => edge.reset());
      await edge.waitFor('all servers ready', allReady, 60_000);
      const a = edge.agent('node-a');
      const before = await drained(a.httpPort);
      t.equal(before.status, 503, 'ready node: 503');
      t.match(before.body, { drained: false, reason: /not draining/, answer: 'ready up 100%' });
      const status = JSON.parse((await httpGet(a.httpPort, '/status')).body) as {
        peers: { seen: number; current: number; list: Array<{ peer: string; keys: Array<{ key: string }> }> };
      };
      t.equal(status.peers.seen, 1, '/status lists HAProxy as one peer');
      t.same(
        status.peers.list[0]?.keys.map((k) => k.key),
        ['', 'shop/api', 'shop/web', 'shop/web-blue', 'shop/web-green'],
        'with every key it probes ("" = the node answer, here for the unknown shop/ghost)',
      );
      t.equal(status.peers.current, 1, 'and it has the current (ready) answer');

      const cordoned = Date.now();
      await edge.kubectl('cordon', 'node-a');
      const after = await until(
        '/drained 200',
        () => drained(a.httpPort),
        (r) => r.status === 200,
        DEADLINE_MS,
        POLL_MS,
      );
      const seenAt = Date.now();
      const tookMs = seenAt - cordoned;
      const changed = edge.answerChangedAt('node-a', 'drain', cordoned);
      t.match(after.body, { drained: true, answer: 'drain', peers: 1 });
      // HAProxy really shows it: the receipt is not just our own bookkeeping.
      const servers = await edge.servers();
      t.ok(
        onNode(servers, 'node-a').every((s) => s.status === 'DRAIN (agent)'),
        'HAProxy shows every node-a server DRAIN',
      );
      t.comment(
        `kubectl cordon → /drained 200: ${tookMs}ms (kubectl run included); ` +
          `agent answer change → 200 seen: ${changed === undefined ? '?' : `${seenAt - changed}ms`} ` +
          `(polled every 20ms; agent-inter 100ms)`,
      );
      const m = (await httpGet(a.httpPort, '/metrics')).body;
      t.equal(metricValue(m, 'haproxy_node_agent_drain_delivered'), 1, 'metric drain_delivered 1');
      t.equal(metricValue(m, 'haproxy_node_agent_peers{state="current"}'), 1);
      const mb = (await httpGet(edge.agent('node-b').httpPort, '/metrics')).body;
      t.equal(metricValue(mb, 'haproxy_node_agent_drain_delivered'), 0, 'node-b (not cordoned): 0');
      type Event = { reason?: string; regarding?: { name?: string } };
      const delivered = async () =>
        (edge.api.list('events', 'default') as Event[])
          .filter((e) => e.reason === 'HAProxyDrainDelivered')
          .map((e) => e.regarding?.name);
      await until('Event HAProxyDrainDelivered', delivered, (names) => names.includes('node-a'), DEADLINE_MS, POLL_MS);
      t.pass('Event HAProxyDrainDelivered posted on node-a');

      const ok = await waitDrained([
        '--url',
        `http://127.0.0.1:${a.httpPort}`,
        '--timeout',
        '30s',
        '--interval',
        '100ms',
      ]);
      t.equal(ok.code, 0, `wait-drained exits 0 on a drained node: ${ok.stdout}${ok.stderr}`);
      t.match(ok.stdout, /^drained: /);

      await edge.kubectl('uncordon', 'node-a');
      const back = await until(
        '/drained 503 again',
        () => drained(a.httpPort),
        (r) => r.status === 503,
        DEADLINE_MS,
        POLL_MS,
      );
      t.match(back.body, { drained: false, reason: /not draining/ });
    },
  );
}
