// Real HAProxy: a weight annotation on one of two Services sharing a backend moves real traffic.
import t from 'tap';
import { allReady, NODES, requireHaproxy, startEdge, table } from '../lib/haproxy.js';
import type { ServerStat } from '../../src/testkit/haproxy/stats.js';

const REQUESTS = 2000;
const blue = (ss: ServerStat[]): ServerStat[] =>
  ss.filter((s) => s.backend === 'store' && s.server.startsWith('web-blue.'));
const green = (ss: ServerStat[]): ServerStat[] =>
  ss.filter((s) => s.backend === 'store' && s.server.startsWith('web-green.'));
const share = (counts: Map<string, number>, prefix: string): number => {
  let n = 0;
  let total = 0;
  for (const [who, c] of counts) {
    total += c;
    if (who.startsWith(prefix)) n += c;
  }
  return (100 * n) / total;
};

const bin = requireHaproxy(t);
if (bin !== undefined) {
  const edge = await startEdge(t, bin);

  t.test('weight 25 on shop/web-blue vs 100 on shop/web-green: HAProxy weights and a 20/80 split', async (t) => {
    t.teardown(() => edge.reset());
    await edge.waitFor('all servers ready', allReady);
    const even = await edge.spread('/store/', 200);
    t.equal(share(even, 'store/web-blue.'), 50, 'before: an even split');

    const before = Date.now();
    await edge.kubectl('annotate', 'svc', '-n', 'shop', 'web-blue', 'haproxy-node-agent.io/weight=25', '--overwrite');
    const kubectlDone = Date.now();
    const weighted = await edge.waitFor('blue at 25', (ss) => blue(ss).every((s) => s.weight === 25));
    t.same(
      blue(weighted.servers).map((s) => [s.status, s.weight]),
      [
        ['UP', 25],
        ['UP', 25],
      ],
      'blue servers (node-a, node-b): UP weight 25',
      { servers: table(weighted.servers) },
    );
    t.same(
      green(weighted.servers).map((s) => [s.status, s.weight]),
      [
        ['UP', 100],
        ['UP', 100],
      ],
      'green servers: UP weight 100',
    );
    // The later of the two agents' changes; each agent sets the weight of its own node's server.
    const changes = NODES.map((n) => edge.weightChangedAt(n, 'shop/web-blue', 25, before));
    const logged = changes.every((c) => c !== undefined);
    const changed = logged ? Math.max(...(changes as number[])) : kubectlDone;
    t.comment(
      `new weight in HAProxy (a report, not a goal) after ` +
        `${logged ? "the agents' answers changing" : 'kubectl returning (no agent log line found)'}` +
        ` (${weighted.at - changed}ms; ${weighted.at - before}ms from running kubectl annotate)`,
    );

    const started = Date.now();
    const counts = await edge.spread('/store/', REQUESTS);
    const blueShare = share(counts, 'store/web-blue.');
    t.comment(
      `${REQUESTS} requests in ${Date.now() - started}ms: ${JSON.stringify(Object.fromEntries([...counts].sort()))}`,
    );
    t.ok(Math.abs(blueShare - 20) <= 5, `blue gets ${blueShare.toFixed(1)}% (expected 20 ± 5)`);
    t.ok(Math.abs(100 - blueShare - 80) <= 5, `green gets ${(100 - blueShare).toFixed(1)}% (expected 80 ± 5)`);
    t.equal(
      [...counts.values()].reduce((a, b) => a + b, 0),
      REQUESTS,
      'every request answered',
    );

    await edge.kubectl('annotate', 'svc', '-n', 'shop', 'web-blue', 'haproxy-node-agent.io/weight-');
    const restored = await edge.waitFor('blue back at 100', allReady);
    t.ok(
      restored.servers.every((s) => s.weight === 100),
      'annotation removed → weight 100 everywhere',
    );
    t.equal(share(await edge.spread('/store/', 200), 'store/web-blue.'), 50, 'and an even split again');
  });

  t.test('an invalid weight falls back to 100 at the edge', async (t) => {
    t.teardown(() => edge.reset());
    await edge.kubectl('annotate', 'svc', '-n', 'shop', 'web-green', 'haproxy-node-agent.io/weight=40', '--overwrite');
    await edge.waitFor('green at 40', (ss) => green(ss).every((s) => s.weight === 40));
    await edge.kubectl(
      'annotate',
      'svc',
      '-n',
      'shop',
      'web-green',
      'haproxy-node-agent.io/weight=lots',
      '--overwrite',
    );
    const { servers } = await edge.waitFor('green back at 100', (ss) => green(ss).every((s) => s.weight === 100));
    t.same(
      green(servers).map((s) => s.status),
      ['UP', 'UP'],
      'still UP, default weight',
    );
  });
}
