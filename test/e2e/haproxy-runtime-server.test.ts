// Real HAProxy: servers added at runtime through the stats socket (`add server`, as the sync program
// does). The runtime CLI cannot put a newline in agent-send, so these servers send "shop/web" alone
// and wait: the agent must answer for that Service, not for the node. A weight annotation → that
// weight, a Local Service with no pod here → down, a key that a longer key starts with (shop/api of
// shop/api-canary) → its own answer at the read deadline, a cordon → DRAIN; receipts filed per key.
// Measured on 2.6.12: a server added at runtime starts in MAINT and leaves it on an agent `ready` or
// `drain` only; an agent `down` is heard (last_agt) but the server stays in MAINT until a `ready`.
import t from 'tap';
import { renderHaproxyConfig } from '../../src/testkit/haproxy/edge-config.js';
import { startHaproxy } from '../../src/testkit/haproxy/process.js';
import { readServerStats, statsCommand, type ServerStat } from '../../src/testkit/haproxy/stats.js';
import { startWhoami } from '../../src/testkit/haproxy/whoami.js';
import { httpGet, kubectl, startSyncedAgent } from '../lib/agent-process.js';
import { drained } from '../lib/drained.js';
import { requireHaproxy, table } from '../lib/haproxy.js';
import { deadline } from '../lib/deadline.js';
import { until } from '../lib/until.js';

const POLL_MS = 50;
/** Deadlines for what must happen (HAProxy, kubectl and the agent on a loaded machine). */
const DEADLINE_MS = deadline(60_000);

/** HAProxy server name → the Service key it sends (without a newline: the CLI cannot carry one). */
const SERVERS: Record<string, string> = { web: 'shop/web', local: 'shop/local', api: 'shop/api' };

const bin = requireHaproxy(t);
if (bin !== undefined) {
  t.test('servers added through the runtime API get their Service answer, not the node one', async (t) => {
    // shop/web and shop/api (weight 50) are seeded; the node answer is `ready up 100%`.
    const { api, kubeconfig, agent } = await startSyncedAgent(t);
    api.patch('services', 'shop', 'web', { metadata: { annotations: { 'haproxy-node-agent.io/weight': '40' } } });
    api.create('services', {
      metadata: { namespace: 'shop', name: 'local' },
      spec: { type: 'NodePort', externalTrafficPolicy: 'Local', ports: [{ port: 80, nodePort: 30082 }] },
    });
    api.create('services', {
      metadata: { namespace: 'shop', name: 'api-canary', annotations: { 'haproxy-node-agent.io/weight': '25' } },
      spec: { type: 'NodePort', ports: [{ port: 80, nodePort: 30083 }] },
    });
    // Read from /status, not probed: a probe from here would be one more key of HAProxy's peer (127.0.0.1).
    type Services = { services: Array<{ key: string; reply: string }> };
    const known = await until(
      'the agent knows the Services',
      async () => (JSON.parse((await httpGet(agent.httpPort, '/status')).body) as Services).services,
      (ss) => ss.length === 4 && ss.find((s) => s.key === 'shop/web')?.reply === 'ready up 40%',
      DEADLINE_MS,
      POLL_MS,
    );
    t.same(
      known.map((s) => [s.key, s.reply]),
      [
        ['shop/api', 'ready up 50%'],
        ['shop/api-canary', 'ready up 25%'],
        ['shop/local', 'down #no local endpoints'],
        ['shop/web', 'ready up 40%'],
      ],
      'the agent knows the Services',
    );

    const whoami = await startWhoami('rt');
    t.teardown(() => whoami.close());
    const lb = await startHaproxy({
      bin,
      config: ({ statsSocket }) =>
        renderHaproxyConfig({
          statsSocket,
          checkTimeoutMs: 2000,
          idleTimeoutMs: 30_000,
          frontends: [],
          // No servers in the file: `add server` needs a dynamic balance algorithm.
          backends: [{ name: 'rt', mode: 'http', balance: 'roundrobin', servers: [] }],
        }),
    });
    t.teardown(() => lb.stop());

    for (const [name, key] of Object.entries(SERVERS)) {
      const added = await statsCommand(
        lb.statsSocket,
        `add server rt/${name} 127.0.0.1:${whoami.port} check agent-check agent-addr 127.0.0.1 ` +
          `agent-port ${agent.agentPort} agent-inter 200ms agent-send ${key} weight 100`,
      );
      t.match(added, /New server registered/, `rt/${name} added`);
      // A new server starts in MAINT with its checks off.
      await statsCommand(lb.statsSocket, `enable agent rt/${name}`);
      await statsCommand(lb.statsSocket, `enable health rt/${name}`);
    }

    const rows = () => readServerStats(lb.statsSocket);
    const row = (ss: ServerStat[], name: string) => ss.find((s) => s.server === name);
    const answered = await until(
      'each runtime server showing its Service answer',
      rows,
      (ss) =>
        // last_agt is empty while a check is in flight: wait for a row read between checks.
        row(ss, 'web')?.status === 'UP' &&
        row(ss, 'web')?.weight === 40 &&
        row(ss, 'web')?.lastAgent === 'via agent : up' &&
        /down \(no local endpoints\)/.test(row(ss, 'local')?.lastAgent ?? '') &&
        row(ss, 'api')?.status === 'UP' &&
        row(ss, 'api')?.weight === 50 &&
        row(ss, 'api')?.lastAgent === 'via agent : up',
      DEADLINE_MS,
      POLL_MS,
    ).catch((e: Error) => e);
    if (answered instanceof Error) {
      t.fail(`${answered.message.slice(0, 300)}\n${table(await rows())}`);
      return;
    }
    t.same(
      answered.map((s) => [s.server, s.status, s.lastAgent]),
      [
        ['web', 'UP', 'via agent : up'],
        ['local', 'MAINT', 'via agent : down (no local endpoints)'],
        ['api', 'UP', 'via agent : up'],
      ],
      'weight 40 (not the node 100), down for the Local Service, shop/api beside shop/api-canary at its deadline',
      { servers: table(answered) },
    );

    // The receipts are filed under each Service key, never under the node key ("").
    type Status = { peers: { list: Array<{ peer: string; keys: Array<{ key: string; reply: string }> }> } };
    const status = JSON.parse((await httpGet(agent.httpPort, '/status')).body) as Status;
    t.same(
      status.peers.list.map((p) => [p.peer, p.keys.map((k) => [k.key, k.reply])]),
      [
        [
          '127.0.0.1',
          [
            ['shop/api', 'ready up 50%'],
            ['shop/local', 'down #no local endpoints'],
            ['shop/web', 'ready up 40%'],
          ],
        ],
      ],
      'one peer, one receipt per Service key',
    );

    // A pod on this node: ready, out of MAINT. Gone again: DOWN, as for a server from the file.
    const slice = {
      metadata: { namespace: 'shop', name: 'local-1', labels: { 'kubernetes.io/service-name': 'local' } },
      addressType: 'IPv4',
      endpoints: [{ nodeName: 'n1', conditions: { ready: true }, addresses: ['10.1.0.1'] }],
    };
    api.create('endpointslices', slice);
    const up = await until('rt/local UP', rows, (ss) => row(ss, 'local')?.status === 'UP', DEADLINE_MS, POLL_MS);
    t.equal(row(up, 'local')?.weight, 100, 'a ready pod here: UP at full weight');
    api.delete('endpointslices', 'shop', 'local-1');
    const down = await until(
      'rt/local DOWN',
      rows,
      (ss) =>
        row(ss, 'local')?.status === 'DOWN (agent)' && /no local endpoints/.test(row(ss, 'local')?.lastAgent ?? ''),
      DEADLINE_MS,
      POLL_MS,
    );
    t.match(row(down, 'local'), { status: 'DOWN (agent)' }, 'no pod here any more: DOWN, with the reason');

    await kubectl(kubeconfig, 'cordon', 'n1');
    const cordoned = await until(
      'the cordon at the edge',
      rows,
      (ss) => row(ss, 'web')?.status === 'DRAIN (agent)' && row(ss, 'api')?.status === 'DRAIN (agent)',
      DEADLINE_MS,
      POLL_MS,
    );
    t.equal(row(cordoned, 'local')?.status, 'DOWN (agent)', 'the Local Service stays DOWN (it beats the drain)');
    const proof = await until(
      '/drained 200',
      () => drained(agent.httpPort),
      (d) => d.status === 200,
      DEADLINE_MS,
      POLL_MS,
    );
    t.match(proof.body, { drained: true, peers: 1 }, 'every key of the one peer heard an out answer');
  });
}
