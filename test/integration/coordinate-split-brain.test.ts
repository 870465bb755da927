// Issue 22 #4: a leader frozen past its lease (SIGSTOP) must not write the decision when it wakes.
// The standby leads meanwhile and publishes the new picture; the frozen one wakes still believing
// it leads, and before the fence its overdue heartbeat wrote over the new leader's decision
// whenever that ran before its next election round had an answer. The woken leader talks to the
// API through a loopback proxy that holds its Lease requests until it has tried to publish, so that
// order is the one tested every time (an API slow to answer one request does the same).
// Every write of the ConfigMap is read from a watch on the fake API, so none can slip between polls.
import { createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { httpGet, metricValue, startApi } from '../lib/agent-process.js';
import { NS, coordinatorStatus, node, startCoordinator, waitFor } from '../lib/coordinator-process.js';
import { deadline } from '../lib/deadline.js';
import { tempDir } from '../lib/spawn.js';
import { lineSplitter } from '../../src/platform/lines.js';
import { DECISION_NAME } from '../../src/core/guard-decision.js';
import { writeKubeconfig } from '../../src/testkit/fakeapi/kubeconfig.js';

t.setTimeout(600_000);

interface Written {
  rv: string;
  holder: string;
  generation: number;
  readyNodes: number;
  budget: number;
  draining: string;
  leaseTransitions: number | undefined;
}

/** Every write of the decision ConfigMap from now on, in resourceVersion order. */
function watchDecision(t: Test, apiUrl: string): Written[] {
  const writes: Written[] = [];
  const ac = new AbortController();
  t.teardown(() => ac.abort());
  const url =
    `${apiUrl}/api/v1/namespaces/${NS}/configmaps?watch=true` +
    `&fieldSelector=${encodeURIComponent(`metadata.name=${DECISION_NAME}`)}`;
  void (async () => {
    const res = await fetch(url, { signal: ac.signal });
    const split = lineSplitter();
    const text = new TextDecoder();
    for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
      for (const line of split(text.decode(chunk, { stream: true }))) {
        const ev = JSON.parse(line) as {
          type: string;
          object: { metadata: { resourceVersion: string }; data?: Record<string, string> };
        };
        const d = ev.object.data ?? {};
        if (ev.type !== 'ADDED' && ev.type !== 'MODIFIED') continue;
        writes.push({
          rv: ev.object.metadata.resourceVersion,
          holder: d.holder ?? '',
          generation: Number(d.generation),
          readyNodes: Number(d.readyNodes),
          budget: Number(d.budget),
          draining: d.draining ?? '',
          leaseTransitions: d.leaseTransitions === undefined ? undefined : Number(d.leaseTransitions),
        });
      }
    }
  })().catch(() => undefined);
  return writes;
}

/** A plain HTTP proxy to the fake API; while `holdLeases` is set, Lease requests wait. */
async function leaseHoldingProxy(t: Test, target: URL): Promise<{ url: string; hold(on: boolean): void }> {
  let holding = false;
  const held: Array<() => void> = [];
  const forward = (req: IncomingMessage, res: ServerResponse): void => {
    const up = request(
      { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers },
      (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      },
    );
    up.on('error', () => res.destroy());
    res.on('close', () => up.destroy());
    req.pipe(up);
  };
  const server = createServer((req, res) => {
    if (holding && (req.url ?? '').includes('/leases')) held.push(() => forward(req, res));
    else forward(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  const a = server.address();
  return {
    url: `http://127.0.0.1:${typeof a === 'object' && a !== null ? a.port : 0}`,
    hold(on) {
      holding = on;
      if (!on) for (const go of held.splice(0)) go();
    },
  };
}

/** Decision writes this coordinator attempted, whatever their result. */
async function publishAttempts(port: number): Promise<number> {
  const m = (await httpGet(port, '/metrics')).body;
  return ['created', 'changed', 'heartbeat', 'failed', 'fenced'].reduce(
    (n, r) => n + (metricValue(m, `haproxy_node_agent_coordinator_publishes_total{result="${r}"}`) ?? 0),
    0,
  );
}

const notReady = { status: { conditions: [{ type: 'Ready', status: 'False' }] } };

t.test('a leader frozen past its lease never writes once the standby leads', async (t) => {
  const { api, kubeconfig } = await startApi(t);
  const names = ['a', 'b', 'c', 'd', 'e', 'f'];
  for (const n of names) node(api, n);
  const writes = watchDecision(t, api.url);
  const proxy = await leaseHoldingProxy(t, new URL(api.url));
  const viaProxy = join(tempDir(t), 'kubeconfig');
  writeKubeconfig(viaProxy, proxy.url);
  // The first leads alone; the second starts once it does, so which one is frozen is known.
  const leader = await startCoordinator(t, ['--kubeconfig', viaProxy]);
  await waitFor(
    'the first coordinator to lead and write the decision',
    async () =>
      (await coordinatorStatus(leader)).leader &&
      writes.some((w) => w.holder === leader.identity && w.readyNodes === 6),
    deadline(60_000),
  );
  const standby = await startCoordinator(t, ['--kubeconfig', kubeconfig]);
  await waitFor(
    'the standby to see the leader',
    async () => (await coordinatorStatus(standby)).holder === leader.identity,
    deadline(60_000),
  );
  const before = writes.find((w) => w.holder === leader.identity) as Written;
  t.equal(before.budget, 3, 'the first leader publishes budget 3 of 6 Ready nodes (--max-drain-fraction 0.5)');
  const attempts = await publishAttempts(leader.httpPort);

  // Frozen: the lease expires for the standby, which takes over and sees two nodes go NotReady.
  leader.proc.kill('SIGSTOP');
  t.teardown(() => void leader.proc.kill('SIGCONT'));
  api.patch('nodes', undefined, 'e', notReady);
  api.patch('nodes', undefined, 'f', notReady);
  await waitFor(
    'the standby to lead and publish the new picture',
    async () =>
      (await coordinatorStatus(standby)).leader &&
      writes.some((w) => w.holder === standby.identity && w.readyNodes === 4),
    deadline(90_000),
  );
  const takeover = writes.findIndex((w) => w.holder === standby.identity);
  const current = writes[writes.length - 1] as Written;
  t.equal(current.budget, 2, 'the new leader publishes budget 2 of 4 Ready nodes');

  // Woken: its in-memory "leader" flag is that of before the freeze, and its heartbeat is overdue.
  proxy.hold(true);
  leader.proc.kill('SIGCONT');
  await waitFor(
    'the woken coordinator to try to publish',
    async () => (await publishAttempts(leader.httpPort)) > attempts,
    deadline(60_000),
  );
  const fenced = metricValue(
    (await httpGet(leader.httpPort, '/metrics')).body,
    'haproxy_node_agent_coordinator_publishes_total{result="fenced"}',
  );
  proxy.hold(false);
  await waitFor(
    'the woken coordinator to see the new holder',
    async () => {
      const s = await coordinatorStatus(leader);
      return !s.leader && s.holder === standby.identity;
    },
    deadline(60_000),
  );
  // A change after that: once its write is seen, every write made before it has been seen too.
  api.patch('nodes', undefined, 'a', { spec: { unschedulable: true } });
  await waitFor(
    'the new leader to publish the cordon',
    () => writes.some((w) => w.holder === standby.identity && w.draining.split(',').includes('a')),
    deadline(60_000),
  );

  const late = writes.slice(takeover).filter((w) => w.holder !== standby.identity);
  t.same(late, [], 'no decision written by the frozen leader after the standby took over');
  t.ok((fenced ?? 0) > 0, `the woken leader counted its refused write (publishes_total{result="fenced"} ${fenced})`);
  t.ok(
    writes.slice(takeover).every((w) => w.readyNodes === 4 && w.budget === 2),
    'every decision since the takeover has the current budget',
  );
  t.ok(
    (current.leaseTransitions ?? -1) > (before.leaseTransitions ?? Infinity),
    `decisions carry the lease fence: transitions ${before.leaseTransitions} -> ${current.leaseTransitions}`,
  );
});
