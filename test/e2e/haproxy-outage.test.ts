// Real HAProxy: a drained node stays drained while its agent is dead or the API server is away,
// and comes back only when the truth says so.
import t from 'tap';
import { allReady, onNode, requireHaproxy, sleep, startEdge, table } from '../lib/haproxy.js';
import type { ServerStat } from '../../src/testkit/haproxy/stats.js';

const drainedA = (ss: ServerStat[]): boolean => onNode(ss, 'node-a').every((s) => s.status === 'DRAIN (agent)');

const bin = requireHaproxy(t);
if (bin !== undefined) {
  const edge = await startEdge(t, bin);

  t.test(
    'agent SIGKILLed while drained: HAProxy keeps the node drained; restarted after uncordon: ready',
    async (t) => {
      t.teardown(() => edge.reset());
      await edge.waitFor('all servers ready', allReady);
      await edge.kubectl('cordon', 'node-a');
      await edge.waitFor('node-a drained', drainedA);

      await edge.killAgent('node-a');
      const refused = await edge.waitFor('agent-checks to node-a refused', (ss) =>
        onNode(ss, 'node-a').every((s) => s.agentStatus === 'L4CON'),
      );
      t.ok(drainedA(refused.servers), 'agent gone (L4CON, connection refused): still DRAIN (agent)', {
        servers: table(refused.servers),
      });

      // The cluster changes while the agent is dead: nothing at the edge may change.
      await edge.kubectl('uncordon', 'node-a');
      for (let i = 0; i < 10; i++) {
        await sleep(100);
        const ss = await edge.servers();
        if (!drainedA(ss)) {
          t.fail('a dead agent must change nothing', { servers: table(ss) });
          break;
        }
      }
      t.pass('still drained 1s (10 agent intervals) after uncordon, with no agent');
      t.same(
        [...(await edge.spread('/web/', 10)).keys()],
        ['web/web.node-b'],
        'new connections still go to node-b only',
      );

      const restarted = await edge.restartAgent('node-a');
      t.ok(restarted.agentPort > 0, `agent restarted on its port ${restarted.agentPort}`);
      const ready = await edge.waitFor('all servers ready', allReady);
      t.ok(allReady(ready.servers), 'the restarted agent tells the truth: node-a UP at weight 100 again');
      t.equal((await edge.spread('/web/', 10)).get('web/web.node-a'), 5, 'node-a takes new connections again');
    },
  );

  t.test(
    'API server stopped while drained: HAProxy keeps the node drained; API back and uncordon: ready',
    async (t) => {
      t.teardown(() => edge.reset());
      await edge.waitFor('all servers ready', allReady);
      await edge.kubectl('cordon', 'node-a');
      await edge.waitFor('node-a drained', drainedA);

      await edge.api.stop();
      for (let i = 0; i < 10; i++) {
        await sleep(100);
        const ss = await edge.servers();
        if (!drainedA(ss) || !onNode(ss, 'node-b').every((s) => s.status === 'UP' && s.weight === 100)) {
          t.fail('an API outage must change nothing at the edge', { servers: table(ss) });
          break;
        }
      }
      // CHECKED = the agent answered and HAProxy had nothing to change (a refused or timed-out check
      // reads L4CON/L4TOUT).
      const during = await edge.waitFor(
        'agent still answering',
        (ss) => onNode(ss, 'node-a').every((s) => s.agentStatus === 'CHECKED'),
        2000,
      );
      t.ok(drainedA(during.servers), 'the agent keeps answering "drain" from its last truth', {
        servers: table(during.servers),
      });
      t.same([...(await edge.spread('/web/', 10)).keys()], ['web/web.node-b'], 'traffic keeps flowing to node-b');

      await edge.api.start();
      await edge.kubectl('uncordon', 'node-a');
      const ready = await edge.waitFor('all servers ready', allReady, 20_000);
      t.ok(allReady(ready.servers), 'watches resumed; uncordon reached HAProxy: all UP at weight 100');
    },
  );
}
