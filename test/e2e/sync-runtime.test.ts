// `sync` against Debian's HAProxy in master-worker mode, driven as an operator would with kubectl:
// deleting a node replaces its server through the runtime API (no reload), and the server added at
// runtime is steered by its Service's answer like a server from the file (weight, then cordon).
import t from 'tap';
import { readFileSync } from 'node:fs';
import { requireHaproxy } from '../lib/haproxy.js';
import { kubectl } from '../lib/agent-process.js';
import { P, startSyncEdge } from '../lib/sync-edge.js';

const BACKEND = 'web.example.com';
const nodeOfServer = (server: string): string => /_(node-\d+)_/.exec(server)?.[1] ?? '?';

const bin = requireHaproxy(t);
if (bin !== undefined) {
  const edge = await startSyncEdge(t);

  t.test('a deleted node is replaced by the runtime API; the new server follows its Service', async (t) => {
    const up = await edge.waitFor('two servers UP', (rows) => {
      const mine = rows.filter((r) => r.proxy === BACKEND);
      return mine.length === 2 && mine.every((r) => r.status === 'UP');
    });
    const before = up.filter((r) => r.proxy === BACKEND).map((r) => r.server);
    const reloads = await edge.metric('haproxy_node_agent_sync_reloads_total{result="ok"}');
    t.equal(reloads ?? 0, 0, 'HAProxy started from the file sync wrote: no reload so far');

    const victim = nodeOfServer(before[0] as string);
    await kubectl(edge.kubeconfig, 'delete', 'node', victim);
    const replaced = await edge.waitFor(`${victim}'s server replaced and UP`, (rows) => {
      const mine = rows.filter((r) => r.proxy === BACKEND);
      return mine.length === 2 && mine.every((r) => nodeOfServer(r.server) !== victim && r.status === 'UP');
    });
    const added = replaced.filter((r) => r.proxy === BACKEND && !before.includes(r.server));
    t.equal(added.length, 1, 'one new server, on another node', { servers: replaced.map((r) => r.server) });
    t.equal((await edge.metric('haproxy_node_agent_sync_reloads_total{result="ok"}')) ?? 0, 0, 'without a reload');
    t.ok(
      ((await edge.metric('haproxy_node_agent_sync_runtime_commands_total{op="add",result="ok"}')) ?? 0) >= 1,
      'through add server',
    );
    const file = readFileSync(edge.out, 'utf8');
    t.notMatch(file, new RegExp(`_${victim}_`), 'the file no longer names the deleted node');
    t.match(file, (added[0] as { server: string }).server, 'and names the new server');

    const fresh = (added[0] as { server: string }).server;
    await kubectl(edge.kubeconfig, 'annotate', 'svc', '-n', 'shop', 'web', `${P}/weight=40`, '--overwrite');
    await edge.waitFor('the runtime-added server weighs 40', (rows) =>
      rows.some((r) => r.proxy === BACKEND && r.server === fresh && r.weight === 40),
    );
    t.pass('the runtime-added server takes its Service weight (agent-send without a newline)');

    await kubectl(edge.kubeconfig, 'cordon', nodeOfServer(fresh));
    await edge.waitFor('the runtime-added server drains on cordon', (rows) =>
      rows.some((r) => r.proxy === BACKEND && r.server === fresh && r.status.startsWith('DRAIN')),
    );
    t.pass('cordon → DRAIN on the runtime-added server (it stays while drained: --replace-after)');
    const status = JSON.parse(await fetch(`http://127.0.0.1:${edge.sync.httpPort}/status`).then((r) => r.text()));
    t.equal(status.haproxy.up, true, '/status: HAProxy up');
    t.equal(status.backends[0].desired.length, 2, '/status: two desired servers');
  });
}
