// The data-plane hysteresis, step by step with a clock we hold: when a node stops or starts
// answering, after how many polls, and what never changes anything.
import t from 'tap';
import { DataplaneTracker, type ProbeOutcome } from '../../src/run/dataplane/tracker.js';

const ok: ProbeOutcome = { kind: 'answer', status: 200 };
const noContent: ProbeOutcome = { kind: 'answer', status: 204 };
const bad: ProbeOutcome = { kind: 'answer', status: 503 };
const redirect: ProbeOutcome = { kind: 'answer', status: 302 };
const hang: ProbeOutcome = { kind: 'timeout' };
const refused: ProbeOutcome = { kind: 'error', code: 'ECONNREFUSED' };
const reset: ProbeOutcome = { kind: 'error', code: 'ECONNRESET' };

/** Feeds outcomes one second apart from t=1000 and returns the states after each. */
function run(outcomes: ProbeOutcome[], failures = 3, successes = 2): { states: string[]; tracker: DataplaneTracker } {
  const tracker = new DataplaneTracker({ failures, successes }, 0);
  const states = outcomes.map((o, i) => {
    tracker.observe(o, 1000 * (i + 1));
    return tracker.current;
  });
  return { states, tracker };
}

t.test('starts unknown; the first 2xx is healthy at once (nothing is taken away either way)', async (t) => {
  const tr = new DataplaneTracker({ failures: 3, successes: 2 }, 5);
  t.equal(tr.current, 'unknown');
  t.equal(tr.status().since, 5);
  const change = tr.observe(noContent, 1000);
  t.same(change, { from: 'unknown', to: 'healthy', at: 1000, cause: 'HTTP 204 (1 in a row)' });
  t.match(tr.status(), {
    state: 'healthy',
    since: 1000,
    lastStatusCode: 204,
    lastResult: 'HTTP 204',
    everAnswered: true,
  });
});

t.test('never reached: timeouts and refusals keep it unknown forever', async (t) => {
  const { states, tracker } = run([refused, hang, refused, reset, hang, refused, refused, hang]);
  t.same(new Set(states), new Set(['unknown']));
  t.match(tracker.status(), {
    state: 'unknown',
    since: 0,
    lastStatusCode: null,
    lastResult: 'timeout',
    consecutiveFailures: 0,
    everAnswered: false,
  });
});

t.test('healthy → unhealthy only after N consecutive failures of any kind', async (t) => {
  t.same(run([ok, bad, bad, bad]).states, ['healthy', 'healthy', 'healthy', 'unhealthy'], '503 ×3');
  t.same(
    run([ok, hang, refused, reset]).states,
    ['healthy', 'healthy', 'healthy', 'unhealthy'],
    'once healthy, timeouts and refusals count',
  );
  t.same(run([ok, redirect, bad, hang]).states, ['healthy', 'healthy', 'healthy', 'unhealthy'], 'any non-2xx counts');
  t.same(
    run([ok, bad, bad, ok, bad, bad, ok, bad, bad]).states.at(-1),
    'healthy',
    'a 2xx in between resets the count: flapping never drains',
  );
  t.same(run([ok, bad], 1).states, ['healthy', 'unhealthy'], 'N=1: the first failure');
});

t.test('the transition says when and why', async (t) => {
  const tr = new DataplaneTracker({ failures: 3, successes: 2 }, 0);
  tr.observe(ok, 1000);
  t.equal(tr.observe(bad, 2000), undefined);
  t.equal(tr.observe(bad, 3000), undefined);
  t.same(tr.observe(bad, 4000), { from: 'healthy', to: 'unhealthy', at: 4000, cause: 'HTTP 503 (3 in a row)' });
  t.match(tr.status(), { state: 'unhealthy', since: 4000, lastStatusCode: 503, consecutiveFailures: 3 });
  t.equal(tr.observe(bad, 5000), undefined, 'no second transition while it stays unhealthy');
  t.equal(tr.status().since, 4000, 'since stays at the transition');
});

t.test('unhealthy → healthy only after M consecutive 2xx', async (t) => {
  t.same(run([ok, bad, bad, bad, ok, ok]).states.slice(3), ['unhealthy', 'unhealthy', 'healthy']);
  t.same(
    run([ok, bad, bad, bad, ok, bad, ok, hang, ok]).states.at(-1),
    'unhealthy',
    'a failure in between resets the count',
  );
  t.same(run([ok, bad, bad, bad, ok], 3, 1).states.at(-1), 'healthy', 'M=1: the first 2xx');
  const tr = run([ok, bad, bad, bad, ok, ok]).tracker;
  t.match(tr.status(), { state: 'healthy', since: 6000, consecutiveSuccesses: 2, consecutiveFailures: 0 });
});

t.test('reachable, then gone: unhealthy (a kube-proxy that died is not "unknown")', async (t) => {
  t.same(run([ok, ok, refused, refused, refused]).states.at(-1), 'unhealthy');
  t.same(run([ok, hang, hang, hang]).states.at(-1), 'unhealthy', 'or hung');
});

t.test('answering non-2xx from the start: unhealthy after N (it was reached)', async (t) => {
  t.same(run([bad, bad, bad]).states, ['unknown', 'unknown', 'unhealthy']);
  t.same(
    run([bad, refused, refused]).states.at(-1),
    'unhealthy',
    'an endpoint that answered once, then went away, counts its silence',
  );
  t.same(run([refused, refused, bad, bad]).states.at(-1), 'unknown', 'silence before the first answer does not count');
});

t.test('thresholds below 1 are a programming error', async (t) => {
  t.throws(() => new DataplaneTracker({ failures: 0, successes: 2 }, 0));
  t.throws(() => new DataplaneTracker({ failures: 3, successes: 0 }, 0));
});
