// Real HAProxy, the built agent and a stand-in kube-proxy health port for node-a: when node-a's
// kube-proxy answers 503, node-a's servers go DOWN at the edge (every backend) and come back on 200.
// Prints the time from the first 503 to HAProxy showing DOWN (measured, never asserted).
import t from 'tap';
import { agentSettled, allReady, onNode, requireHaproxy, startEdge, table } from '../lib/haproxy.js';
import { StandInHealthz } from '../lib/healthz.js';
import { httpGet, metricValue } from '../lib/agent-process.js';

/** Generous: the machine is shared; conditions are awaited, not timed. */
const DEADLINE_MS = 30_000;

const bin = requireHaproxy(t);
if (bin !== undefined) {
  const hz = new StandInHealthz(t);
  await hz.start(200);
  // Default interval (1s) and thresholds (3 failures, 2 successes): the numbers an operator gets.
  const edge = await startEdge(t, bin, { agentArgs: { 'node-a': ['--proxy-healthz-url', hz.url] } });

  t.test(
    "node-a's kube-proxy unhealthy: its servers go DOWN everywhere, node-b serves; healthy again: UP",
    async (t) => {
      t.teardown(() => hz.set(200));
      await edge.waitFor('all servers ready', allReady, DEADLINE_MS);
      const cycles = 2;
      for (let cycle = 1; cycle <= cycles; cycle++) {
        const mark = hz.served.length;
        hz.set(503);
        // Settled: a row read while its agent check is in flight shows no reason at all.
        const down = await edge.waitFor(
          'node-a DOWN',
          (ss) => onNode(ss, 'node-a').every((s) => s.status.startsWith('DOWN') && agentSettled(s)),
          DEADLINE_MS,
        );
        const first503 = hz.served.slice(mark).find((s) => s.mode === 503)?.at ?? NaN;
        for (const s of onNode(down.servers, 'node-a'))
          t.match(s.lastAgent, /kube-proxy unhealthy/, `${s.backend}/${s.server}: DOWN, HAProxy shows why`);
        t.same(
          onNode(down.servers, 'node-b').map((s) => s.status),
          ['UP', 'UP', 'UP', 'UP'],
          "node-b's servers untouched",
          { servers: table(down.servers) },
        );
        const spread = await edge.spread('/web/', 20);
        t.same([...spread.keys()], ['web/web.node-b'], 'every request goes to node-b');
        const logged = edge.answerChangedAt('node-a', 'down #kube-proxy unhealthy', first503);
        const n503 = hz.count(503, mark);
        t.comment(
          `cycle ${cycle}: first 503 → HAProxy DOWN: ${down.at - first503}ms ` +
            `(agent answer changed after ${logged === undefined ? '?' : logged - first503}ms, ` +
            `${n503} polls answered 503 by then)`,
        );

        const mark2 = hz.served.length;
        hz.set(200);
        const up = await edge.waitFor('all servers ready again', allReady, DEADLINE_MS);
        const first200 = hz.served[mark2]?.at ?? NaN;
        t.comment(`cycle ${cycle}: first 200 → HAProxy UP again: ${up.at - first200}ms`);
        t.ok(
          up.servers.every((s) => s.status === 'UP'),
          'every server UP again',
        );
      }
      const m = (await httpGet(edge.agent('node-a').httpPort, '/metrics')).body;
      t.equal(metricValue(m, 'haproxy_node_agent_dataplane_healthy'), 1, 'node-a: dataplane_healthy 1 again');
      const b = (await httpGet(edge.agent('node-b').httpPort, '/status')).body;
      t.match(
        JSON.parse(b),
        { dataplane: { state: /unknown|healthy/ } },
        'node-b (default URL, nothing of ours there) never drained',
      );
    },
  );
}
