// --drain-deadline with real HAProxy: after the cordon the node answers drain, then (2 s later)
// "down #drain deadline"; HAProxy marks the servers DOWN and, with on-marked-down
// shutdown-sessions, closes the long-lived response that drain alone leaves open. Uncordon: back up.
import t from 'tap';
import { agentSettled, allReady, onNode, requireHaproxy, startEdge } from '../lib/haproxy.js';
import { httpGet } from '../lib/agent-process.js';

const bin = requireHaproxy(t);
if (bin !== undefined) {
  const edge = await startEdge(t, bin, {
    agentArgs: { 'node-a': ['--drain-deadline', '2s'], 'node-b': ['--drain-deadline', '2s'] },
    shutdownSessionsOnDown: true,
  });

  t.test('drain, then down at the deadline: servers DOWN, the open stream closed; uncordon: ready up', async (t) => {
    t.teardown(() => edge.reset());
    await edge.waitFor('all servers ready', allReady, 60_000);
    let stream = await edge.openStream('/web/stream');
    for (let i = 0; i < 4 && !stream.server.endsWith('node-a'); i++) {
      stream.close();
      stream = await edge.openStream('/web/stream');
    }
    t.equal(stream.server, 'web/web.node-a', 'a streaming response is open on node-a');

    await edge.kubectl('cordon', 'node-a');
    const drainAt = edge.answerChangedAt('node-a', 'drain', 0);
    const down = await edge.waitFor(
      'node-a DOWN',
      (ss) => onNode(ss, 'node-a').every((s) => s.status.startsWith('DOWN') && agentSettled(s)),
      60_000,
    );
    for (const s of onNode(down.servers, 'node-a'))
      t.match(s.lastAgent, /drain deadline/, `${s.backend}/${s.server}: ${s.status} "${s.lastAgent}"`);
    t.ok(
      onNode(down.servers, 'node-b').every((s) => s.status === 'UP'),
      "node-b's servers untouched",
    );
    const downAt = edge.answerChangedAt('node-a', 'down #drain deadline', 0);
    t.comment(
      `agent: drain → down #drain deadline after ` +
        `${drainAt === undefined || downAt === undefined ? '?' : downAt - drainAt}ms ` +
        `(deadline 2s, ticked every 1s)`,
    );
    const status = JSON.parse((await httpGet(edge.agent('node-a').httpPort, '/status')).body) as {
      drainDeadline: { passed: boolean };
    };
    t.equal(status.drainDeadline.passed, true, '/status says the deadline passed');
    // HAProxy closes the sessions when it marks the server down (on-marked-down shutdown-sessions).
    const deadline = Date.now() + 30_000;
    while (!stream.ended && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    t.ok(stream.ended, 'the long-lived response through HAProxy was closed');
    t.equal((await httpGet(edge.agent('node-a').httpPort, '/drained')).status, 200, '/drained: down is "out" too');

    await edge.kubectl('uncordon', 'node-a');
    await edge.waitFor('all servers ready again', allReady, 60_000);
    t.pass('ready up again after the uncordon');
  });
}
