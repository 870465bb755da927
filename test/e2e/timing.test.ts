// How long an operator waits: `kubectl cordon` → HAProxy shows DRAIN, `kubectl annotate` → HAProxy
// shows the new weight, over 20 repetitions each, reported with t.comment for the release notes.
// No duration is asserted here (they are reported); timing goals belong in `npm run bench`.
import t, { type Test } from 'tap';
import { AGENT_INTER_MS, allReady, median, NODES, onNode, POLL_MS, requireHaproxy, startEdge } from '../lib/haproxy.js';
import type { ServerStat } from '../../src/testkit/haproxy/stats.js';

const REPS = 20;

interface Series {
  /** kubectl started → HAProxy shows the change on every affected server. */
  fromKubectl: number[];
  /** The agent's answer changed (its log line) → HAProxy shows it. */
  fromAgent: number[];
  /** kubectl started → kubectl exited (process start + API round trip). */
  kubectl: number[];
}

const newSeries = (): Series => ({ fromKubectl: [], fromAgent: [], kubectl: [] });
const stats = (xs: number[]): string =>
  xs.length === 0 ? 'n=0' : `median ${median(xs)}ms, max ${Math.max(...xs)}ms, n=${xs.length}`;
const report = (t: Test, what: string, s: Series): void => {
  t.comment(
    `${what}: from running kubectl: ${stats(s.fromKubectl)}; ` +
      `from the agent's answer changing: ${stats(s.fromAgent)}; ` +
      `kubectl itself: ${stats(s.kubectl)} ` +
      `(agent-inter ${AGENT_INTER_MS}ms, show stat polled every ${POLL_MS}ms)`,
  );
};
// Only what must hold on any machine: every change arrived (waitFor's deadline) and was logged.
// The figures are reported above; how fast is for `npm run bench` ("propagation").
const bound = (t: Test, s: Series): void => {
  t.equal(s.fromAgent.length, s.fromKubectl.length, 'every change found in the agent logs');
};

const bin = requireHaproxy(t);
if (bin !== undefined) {
  const edge = await startEdge(t, bin);
  const drainedA = (ss: ServerStat[]): boolean => onNode(ss, 'node-a').every((s) => s.status === 'DRAIN (agent)');

  t.test(`cordon/uncordon ×${REPS}`, async (t) => {
    t.teardown(() => edge.reset());
    await edge.waitFor('all servers ready', allReady);
    const cordon = newSeries();
    const uncordon = newSeries();
    for (let i = 0; i < REPS; i++) {
      for (const [verb, series, done, answer] of [
        ['cordon', cordon, drainedA, 'drain'],
        ['uncordon', uncordon, allReady, 'ready up 100%'],
      ] as const) {
        const start = Date.now();
        await edge.kubectl(verb, 'node-a');
        series.kubectl.push(Date.now() - start);
        const { at } = await edge.waitFor(`${verb} #${i}`, done);
        series.fromKubectl.push(at - start);
        const changed = edge.answerChangedAt('node-a', answer, start);
        if (changed !== undefined) series.fromAgent.push(at - changed);
      }
    }
    report(t, `kubectl cordon → all 5 node-a servers DRAIN (agent)`, cordon);
    report(t, `kubectl uncordon → every server UP weight 100`, uncordon);
    bound(t, cordon);
    bound(t, uncordon);
  });

  t.test(`annotate weight ×${REPS}`, async (t) => {
    t.teardown(() => edge.reset());
    await edge.waitFor('all servers ready', allReady);
    const series = newSeries();
    const blue = (ss: ServerStat[]): ServerStat[] => ss.filter((s) => s.server.startsWith('web-blue.'));
    for (let i = 0; i < REPS; i++) {
      const weight = i % 2 === 0 ? 25 : 75;
      const start = Date.now();
      await edge.kubectl(
        'annotate',
        'svc',
        '-n',
        'shop',
        'web-blue',
        `haproxy-node-agent.io/weight=${weight}`,
        '--overwrite',
      );
      series.kubectl.push(Date.now() - start);
      const { at } = await edge.waitFor(`weight ${weight} #${i}`, (ss) => blue(ss).every((s) => s.weight === weight));
      series.fromKubectl.push(at - start);
      // Both agents change; the edge is done when the later one's server has the new weight.
      const changes = NODES.map((n) => edge.weightChangedAt(n, 'shop/web-blue', weight, start));
      if (changes.every((c) => c !== undefined)) series.fromAgent.push(at - Math.max(...(changes as number[])));
    }
    report(t, 'kubectl annotate weight → both web-blue servers at the new weight', series);
    bound(t, series);
  });
}
