// `sync` reloads only when it must, and a reload loses no drain: a new exposed Service is served
// after one reload while a drained server never shows UP in any `show stat` sample across it;
// 20 Services created at once cost at most 2 reloads; a restart of sync with nothing changed
// reloads nothing and rewrites nothing.
import t from 'tap';
import { readFileSync, statSync } from 'node:fs';
import { requireHaproxy } from '../lib/haproxy.js';
import { kubectl } from '../lib/agent-process.js';
import { showProc } from '../../src/haproxy/master-cli.js';
import { cliCommand } from '../../src/haproxy/cli-socket.js';
import { parseShowStat } from '../../src/haproxy/show-stat.js';
import { P, serviceObject, sleep, startSyncEdge, until } from '../lib/sync-edge.js';

const okReloads = 'haproxy_node_agent_sync_reloads_total{result="ok"}';

const bin = requireHaproxy(t);
if (bin !== undefined) {
  const edge = await startSyncEdge(t);
  const masterReloads = async (): Promise<number> => (await showProc(edge.haproxy.masterSocket)).reloads;

  t.test('a new Service: one reload, and a drained server never shows UP across it', async (t) => {
    await edge.waitFor(
      'web UP',
      (rows) => rows.filter((r) => r.proxy === 'web.example.com' && r.status === 'UP').length === 2,
    );
    const drainedNode = /_(node-\d+)_/.exec((await edge.servers('web.example.com'))[0]?.server ?? '')?.[1] as string;
    await kubectl(edge.kubeconfig, 'cordon', drainedNode);
    await edge.waitFor(`${drainedNode} drained`, (rows) =>
      rows.some(
        (r) => r.proxy === 'web.example.com' && r.server.includes(`_${drainedNode}_`) && r.status.startsWith('DRAIN'),
      ),
    );
    const reloadsBefore = await masterReloads();
    // Sample show stat as fast as the socket answers, from now until the new backend is UP.
    const samples: string[] = [];
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        try {
          for (const r of parseShowStat(await cliCommand(edge.haproxy.statsSocket, 'show stat')))
            if (r.proxy === 'web.example.com' && r.server.includes(`_${drainedNode}_`)) samples.push(r.status);
        } catch {
          // the socket is briefly away while the master re-execs
        }
      }
    })();
    edge.api.create('services', serviceObject('shop', 'api', edge.nodePort, { [`${P}/host`]: 'api.example.com' }));
    await edge.waitFor(
      'api.example.com served',
      (rows) => rows.filter((r) => r.proxy === 'api.example.com' && r.status === 'UP').length === 2,
    );
    await sleep(500);
    sampling = false;
    await sampler;
    t.equal((await masterReloads()) - reloadsBefore, 1, 'one reload');
    // The new worker can serve before sync has read show proc and counted the reload.
    await until('the reload counted', async () => (await edge.metric(okReloads)) === 1);
    t.equal(await edge.metric(okReloads), 1, 'reloads_total{result="ok"} 1');
    t.ok(samples.length > 10, `show stat sampled across the reload (${samples.length} samples)`);
    t.same(
      [...new Set(samples)].filter((s) => !s.startsWith('DRAIN')),
      [],
      'the drained server never showed anything but DRAIN',
    );
    await kubectl(edge.kubeconfig, 'uncordon', drainedNode);
  });

  t.test('20 Services at once: at most 2 reloads', async (t) => {
    const before = await masterReloads();
    for (let i = 0; i < 20; i++)
      edge.api.create(
        'services',
        serviceObject('bulk', `s${i}`, edge.nodePort, { [`${P}/host`]: `s${i}.example.com` }),
      );
    await edge.waitFor(
      '20 new backends UP',
      (rows) => {
        const up = new Set(
          rows
            .filter((r) => r.proxy.endsWith('.example.com') && r.proxy.startsWith('s') && r.status === 'UP')
            .map((r) => r.proxy),
        );
        return up.size === 20;
      },
      60_000,
    );
    const reloads = (await masterReloads()) - before;
    t.ok(reloads >= 1 && reloads <= 2, `20 Services cost ${reloads} reload(s)`);
  });

  t.test('a restart of sync with nothing changed reloads nothing and rewrites nothing', async (t) => {
    await until('nothing pending', async () => (await edge.metric('haproxy_node_agent_sync_pending_changes')) === 0);
    const text = readFileSync(edge.out, 'utf8');
    const mtime = statSync(edge.out).mtimeMs;
    const before = await masterReloads();
    edge.sync.kill();
    await edge.sync.exited;
    edge.sync = await edge.startSync();
    await until(
      'the new sync has looked at HAProxy',
      async () => (await edge.metric('haproxy_node_agent_sync_haproxy_up')) === 1,
    );
    // Several resync cycles (1 s each).
    await sleep(3000);
    t.equal(await masterReloads(), before, 'no reload');
    t.equal(statSync(edge.out).mtimeMs, mtime, 'the file was not rewritten');
    t.equal(readFileSync(edge.out, 'utf8'), text, 'and says the same');
    t.equal((await edge.metric(okReloads)) ?? 0, 0, 'the new sync counted no reload');
  });
}
