// API server faults against the built daemon: killed and restarted with a new resourceVersion
// history, 410 on every watch, 5xx bursts, watches that hang without a byte, slow lists. In each, a
// probe loop runs throughout and checks every answer against the truth the test holds; the time
// to recover (the change made during the fault first seen by a probe) is reported.
import t, { type Test } from 'tap';
import { probe } from '../lib/probe.js';
import { httpGet, metricValue, startSyncedAgent, type AgentProcess } from '../lib/agent-process.js';
import type { FakeApiServer } from '../../src/testkit/fakeapi/server.js';
import { deadline } from '../lib/deadline.js';

const WEB = 'shop/web\n';
const M = 'haproxy_node_agent_';
/** Recovery must happen, but on 2 shared cores with backoff it may take a while: generous. */
const RECOVERY_MS = deadline(25_000);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The truth the test holds: the set of answers allowed right now. A probe loop (a fresh connection
 * each time, like HAProxy) checks every answer against the set as it was when the probe started
 * or as it is when it ended. During a change both the old and the new answer are allowed; once a
 * probe has seen the new one, only the new one is.
 */
class Truth {
  private allowed: Set<string>;
  private running = true;
  private readonly loop: Promise<void>;
  private waiter: { want: string; resolve: (at: number) => void } | undefined;
  readonly wrong: string[] = [];
  probes = 0;

  constructor(
    private readonly port: number,
    initial: string,
  ) {
    this.allowed = new Set([initial]);
    this.loop = this.run();
  }

  private async run(): Promise<void> {
    while (this.running) {
      const before = this.allowed;
      const r = await probe(this.port, { send: WEB, timeoutMs: deadline(15_000) }).catch(
        (e: Error) => `error: ${e.message}`,
      );
      this.probes++;
      if (!before.has(r) && !this.allowed.has(r))
        this.wrong.push(`${JSON.stringify(r)} while ${JSON.stringify([...this.allowed])} (probe ${this.probes})`);
      if (this.waiter !== undefined && r === this.waiter.want) {
        this.allowed = new Set([r]);
        this.waiter.resolve(Date.now());
        this.waiter = undefined;
      }
      await sleep(3);
    }
  }

  /**
   * Allows `next` besides the current truth, runs `apply`, and resolves with the ms from the start
   * of `apply` (or from `since`) until a probe first answers `next`. `also`: the answers of the
   * partial states on the way, when `apply` makes several changes (each resource has its own
   * watch, so the agent may apply them in any order; every subset is a state it may show).
   */
  async change(
    next: string,
    apply: () => unknown,
    since?: () => number,
    timeoutMs = RECOVERY_MS,
    also: string[] = [],
  ): Promise<number> {
    this.allowed = new Set([...this.allowed, ...also, next]);
    const started = Date.now();
    const seen = new Promise<number>((resolve) => (this.waiter = { want: next, resolve }));
    await apply();
    let timer: NodeJS.Timeout | undefined;
    const at = await Promise.race([
      seen,
      new Promise<number>((resolve) => (timer = setTimeout(() => resolve(NaN), timeoutMs))),
    ]);
    clearTimeout(timer); // a pending timer would keep this process alive long after the tests
    return at - (since?.() ?? started);
  }

  /** Lets `ms` pass with the truth unchanged (every answer meanwhile must be in the current set). */
  async hold(ms: number): Promise<void> {
    await sleep(ms);
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }
}

async function setup(t: Test, args: string[] = []): Promise<{ api: FakeApiServer; agent: AgentProcess; truth: Truth }> {
  const { api, agent } = await startSyncedAgent(t, args);
  const truth = new Truth(agent.agentPort, 'ready up 100%\n');
  t.teardown(() => truth.stop());
  return { api, agent, truth };
}

const weight = (w: number) => ({ metadata: { annotations: { 'haproxy-node-agent.io/weight': String(w) } } });
const cordon = (on: boolean) => ({ spec: { unschedulable: on } });

function recovered(t: Test, what: string, ms: number): void {
  t.ok(Number.isFinite(ms), `${what}: the change arrived`);
  t.comment(`recovery: ${what}: ${Number.isFinite(ms) ? `${ms} ms` : `not within ${RECOVERY_MS} ms`}`);
}

async function finish(t: Test, truth: Truth): Promise<void> {
  await truth.stop();
  t.same(truth.wrong, [], `no wrong answer in ${truth.probes} probes`);
  t.ok(truth.probes > 20, 'the probe loop kept running');
}

t.test('API server killed, restarted with a new resourceVersion history', async (t) => {
  const { api, truth } = await setup(t);
  recovered(
    t,
    'healthy cordon',
    await truth.change('drain\n', () => api.patch('nodes', undefined, 'n1', cordon(true))),
  );

  // Down: the cluster changes meanwhile, but the agent must keep answering its last truth.
  await api.stop();
  api.patch('nodes', undefined, 'n1', cordon(false));
  api.patch('services', 'shop', 'web', weight(30));
  await truth.hold(1500);
  // Back with a new history (as after a restore): every resourceVersion the agent holds is gone.
  api.resetHistory();
  let restartedAt = 0;
  const restart = async () => {
    restartedAt = Date.now();
    await api.start();
  };
  // Two changes while away (node, then service): the agent may pick them up in either order.
  recovered(
    t,
    'restart after 1.5 s down, new resourceVersion history',
    await truth.change('ready up 30%\n', restart, () => restartedAt, RECOVERY_MS, ['ready up 100%\n']),
  );
  recovered(
    t,
    'next change after that restart',
    await truth.change('ready up 70%\n', () => api.patch('services', 'shop', 'web', weight(70))),
  );

  // Killed again, briefly, with a change to the node and one to the Service while away; the final
  // answer depends on both (node weight 50 × service weight 40), so seeing it proves both caught up.
  await api.stop();
  api.patch('nodes', undefined, 'n1', weight(50));
  api.patch('services', 'shop', 'web', weight(40));
  await truth.hold(500);
  api.resetHistory();
  recovered(
    t,
    'restart after 0.5 s down, new resourceVersion history',
    await truth.change('ready up 20%\n', restart, () => restartedAt, RECOVERY_MS, ['ready up 35%\n', 'ready up 40%\n']),
  );
  recovered(
    t,
    'next change after that restart',
    await truth.change('drain\n', () => api.patch('nodes', undefined, 'n1', cordon(true))),
  );
  await finish(t, truth);
});

t.test(
  'API server restored with resourceVersions that go backwards',
  {
    todo:
      'a watch resumed from a resourceVersion that happens to be valid in the restored history ' +
      'is silently behind; needs a relist when a list resourceVersion goes backwards (see kube/informer.ts)',
  },
  async (t) => {
    const { api, truth } = await setup(t);
    recovered(
      t,
      'healthy cordon',
      await truth.change('drain\n', () => api.patch('nodes', undefined, 'n1', cordon(true))),
    );
    await api.stop();
    api.patch('nodes', undefined, 'n1', cordon(false));
    api.patch('services', 'shop', 'web', weight(30));
    await truth.hold(1000);
    api.resetHistory(5); // below every resourceVersion handed out so far
    let restartedAt = 0;
    const ms = await truth.change(
      'ready up 30%\n',
      async () => {
        restartedAt = Date.now();
        await api.start();
      },
      () => restartedAt,
      3000,
      ['ready up 100%\n'],
    );
    recovered(t, 'restart with resourceVersions reset backwards', ms);
    await finish(t, truth);
  },
);

t.test('410 Gone on every watch: answers stay right, changes arrive by relisting', async (t) => {
  const { api, agent, truth } = await setup(t);
  api.faults.watchGone = true;
  api.dropWatches();
  const before = api.requestLog.length;
  const startedAt = Date.now();
  recovered(
    t,
    'cordon while every watch gets 410',
    await truth.change('drain\n', () => api.patch('nodes', undefined, 'n1', cordon(true))),
  );
  await truth.hold(1000);
  recovered(
    t,
    'annotate + uncordon while every watch gets 410',
    await truth.change(
      'ready up 20%\n',
      () => {
        api.patch('services', 'shop', 'web', weight(20));
        api.patch('nodes', undefined, 'n1', cordon(false));
      },
      undefined,
      RECOVERY_MS,
      ['ready up 100%\n'],
    ),
  );
  // The request log keeps the last 1000 entries; count what we can see.
  const requests = api.requestLog.length - before;
  const perSecond = (requests * 1000) / (Date.now() - startedAt);
  t.comment(
    `410 storm: ${requests >= 1000 - before ? 'at least ' : ''}${requests} API requests ` +
      `in ${Date.now() - startedAt} ms (${perSecond.toFixed(0)}/s over 3 informers)`,
  );
  t.ok(perSecond < 50, `relists after 410 back off (${perSecond.toFixed(0)} requests/s)`);
  api.faults.watchGone = false;
  api.dropWatches();
  recovered(
    t,
    'annotate after the 410s stop',
    await truth.change('ready up 60%\n', () => api.patch('services', 'shop', 'web', weight(60))),
  );
  const m = (await httpGet(agent.httpPort, '/metrics')).body;
  t.match(
    m,
    new RegExp(`${M}watch_events_total\\{resource="nodes",type="ERROR"\\} [1-9]`),
    'the 410 ERROR events were seen',
  );
  await finish(t, truth);
});

t.test('5xx bursts while relisting: last truth kept, then caught up', async (t) => {
  const { api, agent, truth } = await setup(t);
  let cordoned = false;
  for (const status of [503, 500, 429]) {
    // Force every informer to relist (its resourceVersion is compacted away), into a burst of errors.
    api.faults.failStatus = status;
    api.faults.failRequests = 6;
    api.compact();
    const burstAt = Date.now();
    api.dropWatches();
    cordoned = !cordoned;
    const ms = await truth.change(
      cordoned ? 'drain\n' : 'ready up 100%\n',
      () => api.patch('nodes', undefined, 'n1', cordon(cordoned)),
      () => burstAt,
    );
    recovered(t, `${cordoned ? 'cordon' : 'uncordon'} during a burst of ${status}s (6 failed lists)`, ms);
    // The other informers may still be working through the burst: let it run out first.
    for (let i = 0; api.faults.failRequests > 0 && i < 200; i++) await sleep(100);
    t.equal(api.faults.failRequests, 0, `the ${status} burst was used up`);
  }
  const m = (await httpGet(agent.httpPort, '/metrics')).body;
  for (const status of [503, 500, 429])
    t.match(
      m,
      new RegExp(`${M}watch_restarts_total\\{resource="[a-z]+",reason="http_${status}"\\} [1-9]`),
      `restarts after ${status} counted`,
    );
  await finish(t, truth);
});

t.test('a watch that hangs without a byte: last truth kept, replaced, caught up', async (t) => {
  const { api, agent, truth } = await setup(t, ['--watch-timeout', '1s']);
  api.faults.hangWatches = true;
  api.dropWatches();
  await sleep(100);
  // The change cannot arrive through a hung watch: both answers are allowed while it hangs.
  const seen = truth.change('drain\n', () => api.patch('nodes', undefined, 'n1', cordon(true)));
  // Long enough for the hung watch to be noticed (1 s + 1 s grace) and replaced (by another that hangs).
  await sleep(2500);
  api.faults.hangWatches = false;
  const healedAt = Date.now();
  const ms = (await seen) + 0;
  recovered(
    t,
    'change made while watches hang, counted from the end of the fault',
    Number.isFinite(ms) ? Date.now() - healedAt : NaN,
  );
  recovered(
    t,
    'change after the hang ends',
    await truth.change('ready up 100%\n', () => api.patch('nodes', undefined, 'n1', cordon(false))),
  );
  const m = (await httpGet(agent.httpPort, '/metrics')).body;
  t.ok((metricValue(m, `${M}watch_restarts_total{resource="nodes",reason="hung"}`) ?? 0) >= 1, 'counted as hung');
  await finish(t, truth);
});

t.test('a change arrives while every watch hangs (a hung watch is replaced by a relist)', async (t) => {
  const { api, truth } = await setup(t, ['--watch-timeout', '1s']);
  api.faults.hangWatches = true;
  api.dropWatches();
  await sleep(100);
  recovered(
    t,
    'change behind watches that keep hanging',
    await truth.change('drain\n', () => api.patch('nodes', undefined, 'n1', cordon(true))),
  );
  api.faults.hangWatches = false;
  api.dropWatches();
  await finish(t, truth);
});

t.test('slow lists: answers kept while relisting; lists slower than --request-timeout retried', async (t) => {
  const { api, agent, truth } = await setup(t, ['--request-timeout', '1s']);
  // Slow but within the deadline.
  api.faults.listDelayMs = 700;
  api.compact();
  let slowAt = Date.now();
  api.dropWatches();
  recovered(
    t,
    'change during 700 ms relists',
    await truth.change(
      'drain\n',
      () => api.patch('nodes', undefined, 'n1', cordon(true)),
      () => slowAt,
    ),
  );
  // Slower than the deadline: every list times out; the last truth must hold meanwhile.
  api.faults.listDelayMs = 1500;
  api.compact();
  api.dropWatches();
  api.patch('services', 'shop', 'web', weight(10)); // invisible: the node is cordoned (drain), and no list completes
  await truth.hold(2000);
  const m = (await httpGet(agent.httpPort, '/metrics')).body;
  t.ok(
    (metricValue(m, `${M}watch_restarts_total{resource="nodes",reason="error"}`) ?? 0) >= 1,
    'timed-out lists counted as restarts',
  );
  api.faults.listDelayMs = 0;
  slowAt = Date.now();
  // The services informer may catch up after the nodes one: (uncordoned, old weight) on the way.
  recovered(
    t,
    'lists fast again',
    await truth.change(
      'ready up 10%\n',
      () => api.patch('nodes', undefined, 'n1', cordon(false)),
      () => slowAt,
      RECOVERY_MS,
      ['ready up 100%\n'],
    ),
  );
  await finish(t, truth);
});
