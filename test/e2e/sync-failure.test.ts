// Failure is visible and safe: a main configuration the operator broke makes the reload fail
// (result="failed"), the old worker keeps serving, and the change lands by itself once it is fixed;
// a change that would empty a backend is held, not applied; --dry-run prints what it would send.
import t from 'tap';
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { requireHaproxy } from '../lib/haproxy.js';
import { kubectl } from '../lib/agent-process.js';
import { P, serviceObject, startSync, startSyncEdge, until } from '../lib/sync-edge.js';
import { tempDir } from '../lib/spawn.js';

const bin = requireHaproxy(t);
if (bin !== undefined) {
  const edge = await startSyncEdge(t);
  const main = join(edge.dir, 'main.cfg');

  t.test('a broken main config: reload failed, the old worker serves, the change lands once fixed', async (t) => {
    await edge.waitFor(
      'web UP',
      (rows) => rows.filter((r) => r.proxy === 'web.example.com' && r.status === 'UP').length === 2,
    );
    const good = readFileSync(main, 'utf8');
    appendFileSync(main, '\nthis-is-not-a-keyword\n');
    edge.api.create('services', serviceObject('shop', 'api', edge.nodePort, { [`${P}/host`]: 'api.example.com' }));
    await until(
      'a failed reload counted',
      async () => ((await edge.metric('haproxy_node_agent_sync_reloads_total{result="failed"}')) ?? 0) >= 1,
    );
    const rows = await edge.servers('web.example.com');
    t.equal(rows.filter((r) => r.status === 'UP').length, 2, 'the old worker still serves web.example.com');
    const status = JSON.parse(await fetch(`http://127.0.0.1:${edge.sync.httpPort}/status`).then((r) => r.text()));
    t.equal(status.reload.last.ok, false, '/status shows the failed reload');
    t.match(status.reload.pending.join(' '), /api\.example\.com/, '/status: the reload still wanted, and why');
    t.equal(
      edge.sync.logs.filter((l) => String(l.msg).startsWith('HAProxy reload failed')).length,
      1,
      'logged once, however many retries',
    );
    writeFileSync(main, good);
    await edge.waitFor(
      'api.example.com served once main.cfg is fixed',
      (rows) => rows.filter((r) => r.proxy === 'api.example.com' && r.status === 'UP').length === 2,
      60_000,
    );
    // The new worker can serve before sync has read show proc and counted the reload.
    await until(
      'then result="ok"',
      async () => ((await edge.metric('haproxy_node_agent_sync_reloads_total{result="ok"}')) ?? 0) >= 1,
    );
    t.pass('then result="ok"');
  });

  t.test('a change that empties a backend is held, shown, and not applied', async (t) => {
    const before = readFileSync(edge.out, 'utf8');
    // Every node deleted at once (a wrong context, a half-synced list): every backend would be emptied.
    const nodes = edge.nodes.map((n) => edge.api.get('nodes', undefined, n));
    for (const n of edge.nodes) edge.api.delete('nodes', undefined, n);
    await until('held', async () => (await edge.metric('haproxy_node_agent_sync_held')) === 1);
    const status = JSON.parse(await fetch(`http://127.0.0.1:${edge.sync.httpPort}/status`).then((r) => r.text()));
    t.match(status.held.reason, /without a server/, '/status says why');
    t.equal(readFileSync(edge.out, 'utf8'), before, 'the file was left as it was');
    t.equal((await edge.servers('web.example.com')).length, 2, 'HAProxy keeps its servers');
    for (const n of nodes)
      if (n !== undefined) edge.api.create('nodes', { ...n, metadata: { ...n.metadata, resourceVersion: undefined } });
    await until('released', async () => (await edge.metric('haproxy_node_agent_sync_held')) === 0);
  });

  t.test('--dry-run prints the add server it would send and changes nothing', async (t) => {
    const dir = tempDir(t);
    const out = join(dir, 'edge.cfg');
    writeFileSync(out, readFileSync(edge.out, 'utf8'));
    // Without sockets it compares with its own --out: the running sync replaces the deleted node's
    // server in HAProxy too, and a dry run reading HAProxy could find nothing left to do.
    const sockets = new Set(['--haproxy-socket', '--master-socket', '--state-file']);
    const args = edge.syncArgs
      .map((a) => (a === edge.out ? out : a))
      .filter((a, i, all) => !sockets.has(a) && !sockets.has(all[i - 1] ?? ''));
    const dry = await startSync(t, [...args, '--dry-run']);
    await until('dry run in sync', () => dry.printed().some((l) => l.startsWith('in sync')));
    const before = readFileSync(out, 'utf8');
    const victim = edge.nodes.find((n) => before.includes(`_${n}_`)) as string;
    await kubectl(edge.kubeconfig, 'delete', 'node', victim);
    await until('an add server printed', () => dry.printed().some((l) => l.startsWith('add server ')));
    const add = dry.printed().find((l) => l.startsWith('add server ')) as string;
    t.match(
      add,
      /agent-check agent-port \d+ agent-addr 127\.0\.0\.\d+ agent-inter 200ms agent-send [a-z]+\/[a-z0-9]+/,
      add,
    );
    t.equal(readFileSync(out, 'utf8'), before, 'its --out was not written');
    dry.kill();
    await dry.exited;
  });
}
