// Real HAProxy, real kubectl, the built agent: what the edge does when a node is healthy, cordoned
// and uncordoned, and when agent-send names a Service the cluster does not have.
import t from 'tap';
import { allReady, onNode, requireHaproxy, sleep, startEdge, table } from '../lib/haproxy.js';
import { deadline } from '../lib/deadline.js';
import { httpGet, metricValue } from '../lib/agent-process.js';

const bin = requireHaproxy(t);
if (bin !== undefined) {
  const edge = await startEdge(t, bin);

  t.test('healthy: every server UP at weight 100; traffic reaches both backends and both nodes', async (t) => {
    t.teardown(() => edge.reset());
    const { servers } = await edge.waitFor('all servers ready', allReady);
    t.equal(servers.length, 9, 'web×2, api×2, store×4, ghost×1');
    for (const s of servers)
      t.match(s, { status: 'UP', weight: 100, lastAgent: 'via agent : up' }, `${s.backend}/${s.server}`);
    const web = await edge.spread('/web/', 20);
    const api = await edge.spread('/api/', 20);
    t.same([...web.keys()].sort(), ['web/web.node-a', 'web/web.node-b'], 'backend web: both nodes answer');
    t.same([...api.keys()].sort(), ['api/api.node-a', 'api/api.node-b'], 'backend api: both nodes answer');
    t.equal(web.get('web/web.node-a'), 10, 'roundrobin at equal weights: an even split');
  });

  t.test('cordon drains the node at the edge; open connections keep flowing; uncordon restores it', async (t) => {
    t.teardown(() => edge.reset());
    await edge.waitFor('all servers ready', allReady);
    // A long-lived response opened before the cordon, on node-a (roundrobin alternates; try a few).
    let stream = await edge.openStream('/web/stream');
    for (let i = 0; i < 4 && !stream.server.endsWith('node-a'); i++) {
      stream.close();
      stream = await edge.openStream('/web/stream');
    }
    t.equal(stream.server, 'web/web.node-a', 'a streaming response is open on node-a');

    const before = Date.now();
    await edge.kubectl('cordon', 'node-a');
    const kubectlDone = Date.now();
    const drained = await edge.waitFor('node-a drained', (ss) =>
      onNode(ss, 'node-a').every((s) => s.status === 'DRAIN (agent)'),
    );
    const logged = edge.answerChangedAt('node-a', 'drain', before);
    const changed = logged ?? kubectlDone;
    t.comment(
      `DRAIN (a report: timing goals live in the bench) ` +
        `${logged === undefined ? 'kubectl returning (no agent log line found)' : "the agent's answer changing"}` +
        ` (${drained.at - changed}ms; ${drained.at - before}ms from running kubectl cordon)`,
    );
    t.same(
      onNode(drained.servers, 'node-b').map((s) => s.status),
      ['UP', 'UP', 'UP', 'UP'],
      "node-b's servers untouched",
    );
    for (const s of onNode(drained.servers, 'node-a'))
      t.equal(s.weight, 100, `${s.backend}/${s.server}: DRAIN keeps the weight; it only stops new traffic`);

    // Existing session: keeps flowing while HAProxy shows the server drained.
    const linesAtDrain = stream.lines.length;
    // Flowing = more lines keep coming (until a generous deadline), not so many per second.
    for (
      const until = Date.now() + deadline(20_000);
      stream.lines.length - linesAtDrain < 10 && !stream.ended && Date.now() < until;
    )
      await sleep(50);
    t.notOk(stream.ended, 'the long-lived response is still open');
    t.ok(
      stream.lines.length - linesAtDrain >= 10,
      `and still flowing after DRAIN (${stream.lines.length - linesAtDrain} more lines)`,
    );
    const web = (await edge.servers()).find((s) => s.backend === 'web' && s.server === 'web.node-a');
    t.equal(web?.sessions, 1, 'HAProxy counts it as a session on the drained server');
    t.equal(web?.status, 'DRAIN (agent)', 'while still drained');

    // New connections: all on node-b.
    const spread = await edge.spread('/web/', 20);
    t.same([...spread.entries()], [['web/web.node-b', 20]], 'new connections go to node-b only');
    const store = await edge.spread('/store/', 20);
    t.same([...store.keys()].sort(), ['store/web-blue.node-b', 'store/web-green.node-b'], 'in every backend');
    stream.close();

    const beforeUncordon = Date.now();
    await edge.kubectl('uncordon', 'node-a');
    const ready = await edge.waitFor('all servers ready again', allReady);
    const loggedBack = edge.answerChangedAt('node-a', 'ready up 100%', beforeUncordon);
    if (loggedBack === undefined) t.comment('agent log line for the uncordon not found: not timed');
    else
      t.comment(
        `back to UP weight 100 after the agent's answer changed ` +
          `(a report, not a goal: ${ready.at - loggedBack}ms; ` +
          `${ready.at - beforeUncordon}ms from running kubectl uncordon)`,
      );
    t.notOk(
      ready.servers.some((s) => s.status.includes('DRAIN')),
      'no server left in DRAIN',
      { servers: table(ready.servers) },
    );
    const after = await edge.spread('/web/', 20);
    t.equal(after.get('web/web.node-a'), 10, 'node-a takes its share of new connections again');
  });

  t.test('a Service unknown to the cluster in agent-send gets the node answer, visible in HAProxy', async (t) => {
    t.teardown(() => edge.reset());
    const { servers } = await edge.waitFor('all servers ready', allReady);
    const ghost = servers.find((s) => s.backend === 'ghost');
    t.match(
      ghost,
      { server: 'ghost.node-a', status: 'UP', weight: 100, lastAgent: 'via agent : up', agentStatus: 'L7OK' },
      'node ready → "ready up 100%"',
    );
    t.equal(await edge.get('/ghost/'), 'ghost/ghost.node-a', 'and it serves');
    await edge.kubectl('cordon', 'node-a');
    const drained = await edge.waitFor('ghost drained', (ss) =>
      ss.some((s) => s.backend === 'ghost' && s.status === 'DRAIN (agent)'),
    );
    t.match(
      drained.servers.find((s) => s.backend === 'ghost'),
      { status: 'DRAIN (agent)', weight: 100 },
      'node cordoned → "drain" for the unknown Service too',
    );
    await edge.kubectl('uncordon', 'node-a');
    await edge.waitFor('all servers ready again', allReady);
    const m = (await httpGet(edge.agent('node-a').httpPort, '/metrics')).body;
    t.ok(
      (metricValue(m, 'haproxy_node_agent_probe_rejections_total{reason="unknown_service"}') ?? 0) > 0,
      'counted as unknown_service by the agent',
    );
  });
}
