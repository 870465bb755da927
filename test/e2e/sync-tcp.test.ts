// Issue 23: a TCP Service through the edge. `tcp-port: auto` gets a port from --tcp-port-range,
// announced as PREFIX/assigned-tcp-port (read with kubectl); a connection that keeps talking survives
// three reloads and a cordon of its own node with zero failed round trips while new connections go
// elsewhere; the port survives a restart of sync and a second sync computes the same; another
// namespace asking for it is refused, and a hand-written assigned-tcp-port gives nothing.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { requireHaproxy } from '../lib/haproxy.js';
import { freePort, kubectl } from '../lib/agent-process.js';
import { deadline } from '../lib/deadline.js';
import { tempDir } from '../lib/spawn.js';
import { showProc } from '../../src/haproxy/master-cli.js';
import { startTcpEcho } from '../../src/testkit/haproxy/tcp-echo.js';
import { nodeIp, P, serviceObject, startSync, startSyncEdge, until } from '../lib/sync-edge.js';
import type { KubeObject } from '../../src/testkit/fakeapi/server.js';

const ASSIGNED = `${P}/assigned-tcp-port`;

function tcpService(ns: string, name: string, nodePort: number, ann: Record<string, string>): KubeObject {
  return {
    metadata: {
      namespace: ns,
      name,
      creationTimestamp: new Date().toISOString(),
      annotations: { [`${P}/expose`]: 'true', ...ann },
    },
    spec: { type: 'NodePort', ports: [{ port: 5432, nodePort, protocol: 'TCP' }] },
  };
}

/** One line out, one line back, on an open connection. */
class Talker {
  private buf = '';
  private waiting: ((line: string) => void) | undefined;
  closed = false;
  constructor(readonly sock: Socket) {
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => {
      this.buf += d;
      const nl = this.buf.indexOf('\n');
      if (nl === -1 || this.waiting === undefined) return;
      const line = this.buf.slice(0, nl);
      this.buf = this.buf.slice(nl + 1);
      const w = this.waiting;
      this.waiting = undefined;
      w(line);
    });
    sock.on('close', () => {
      this.closed = true;
    });
    sock.on('error', () => undefined);
  }
  static open(port: number): Promise<Talker> {
    return new Promise((resolve, reject) => {
      const s = connect(port, '127.0.0.1', () => resolve(new Talker(s)));
      s.once('error', reject);
    });
  }
  /** The node that answered, or throws when no answer came within the deadline. */
  roundTrip(text: string, ms = 2000): Promise<string> {
    return new Promise((resolve, reject) => {
      if (this.closed) return reject(new Error('closed'));
      const timer = setTimeout(() => {
        this.waiting = undefined;
        reject(new Error(`no answer to ${text} within ${ms} ms`));
      }, deadline(ms));
      this.waiting = (line) => {
        clearTimeout(timer);
        const [node, echoed] = line.split(' ');
        if (echoed !== text) reject(new Error(`sent ${text}, got ${line}`));
        else resolve(node as string);
      };
      this.sock.write(`${text}\n`);
    });
  }
  close(): void {
    this.sock.destroy();
  }
}

const bin = requireHaproxy(t);
if (bin !== undefined) {
  const lo = await freePort();
  const range = `${lo}-${lo + 39}`;
  const tcpNodePort = await freePort();
  const edge = await startSyncEdge(t, {
    syncArgs: ['--tcp-port-range', range, '--tcp-bind-address', '127.0.0.1'],
  });
  const echoes = await Promise.all(edge.nodes.map((n, i) => startTcpEcho(n, nodeIp(i), tcpNodePort)));
  t.teardown(() => Promise.all(echoes.map((e) => e.close())));
  const annotation = (ns: string, name: string): Promise<string> =>
    kubectl(
      edge.kubeconfig,
      'get',
      'svc',
      '-n',
      ns,
      name,
      '-o',
      `jsonpath={.metadata.annotations.${ASSIGNED.replace(/\./g, '\\.')}}`,
    );
  const masterReloads = async (): Promise<number> => (await showProc(edge.haproxy.masterSocket)).reloads;
  const backend = `tcp_${lo}`;

  t.test('tcp-port auto: the first port of the pool, announced on the Service', async (t) => {
    edge.api.create('services', tcpService('db', 'pg', tcpNodePort, { [`${P}/tcp-port`]: 'auto' }));
    await until('assigned-tcp-port on db/pg', async () => (await annotation('db', 'pg')) === String(lo));
    t.equal(await annotation('db', 'pg'), String(lo), 'kubectl shows the port');
    await edge.waitFor(
      `${backend} UP`,
      (rows) => rows.filter((r) => r.proxy === backend && r.status === 'UP').length === 2,
    );
    const c = await Talker.open(lo);
    t.ok(edge.nodes.includes(await c.roundTrip('hello')), 'a node answered through the edge');
    c.close();
  });

  t.test('a talking connection survives three reloads and a cordon of its node; new ones go elsewhere', async (t) => {
    const c = await Talker.open(lo);
    const node = await c.roundTrip('0');
    let sent = 0;
    let failed = 0;
    const errors: string[] = [];
    let talking = true;
    const talk = (async () => {
      while (talking) {
        sent++;
        try {
          const by = await c.roundTrip(String(sent));
          if (by !== node) throw new Error(`answered by ${by}, not ${node}`);
        } catch (err) {
          failed++;
          errors.push((err as Error).message);
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    const before = await masterReloads();
    for (let i = 1; i <= 3; i++) {
      edge.api.create(
        'services',
        serviceObject('shop', `web${i}`, edge.nodePort, { [`${P}/host`]: `web${i}.example.com` }),
      );
      await until(`reload ${i}`, async () => (await masterReloads()) >= before + i, 60_000);
    }
    await kubectl(edge.kubeconfig, 'cordon', node);
    await edge.waitFor(`${node} no longer takes new connections in ${backend}`, (rows) =>
      rows
        .filter((r) => r.proxy === backend && r.server.includes(`_${node}_`))
        .every((r) => r.status.startsWith('DRAIN') || r.status.startsWith('MAINT') || r.weight === 0),
    );
    const fresh: string[] = [];
    for (let i = 0; i < 6; i++) {
      const n = await Talker.open(lo);
      fresh.push(await n.roundTrip(`new${i}`));
      n.close();
    }
    // Keep talking a little after the cordon too.
    const upTo = sent + 10;
    await until('ten more round trips', () => sent >= upTo);
    talking = false;
    await talk;
    t.equal(failed, 0, `zero failed round trips of ${sent} (${errors.slice(0, 3).join('; ')})`);
    t.ok(sent > 30, `it kept talking: ${sent} round trips`);
    t.notOk(c.closed, 'the connection is still open');
    t.same(
      fresh.filter((n) => n === node),
      [],
      `new connections avoid ${node}: ${fresh.join(', ')}`,
    );
    t.ok((await masterReloads()) >= before + 3, 'three reloads happened');
    c.close();
    await kubectl(edge.kubeconfig, 'uncordon', node);
  });

  t.test('another namespace asking for the port is refused; a forged assigned-tcp-port gives nothing', async (t) => {
    edge.api.create(
      'services',
      tcpService('other', 'evil', tcpNodePort + 0, { [`${P}/tcp-port`]: String(lo), [ASSIGNED]: String(lo) }),
    );
    edge.api.create('services', tcpService('other', 'forger', tcpNodePort, { [ASSIGNED]: String(lo + 5) }));
    await until(
      'the refusal counted',
      async () => ((await edge.metric(`haproxy_node_agent_sync_tcp_port_refusals_total{reason="taken"}`)) ?? 0) >= 1,
    );
    const names = (r: Record<string, unknown>): boolean =>
      String(r.msg).includes('other/evil') && String(r.msg).includes('db/pg');
    await until('the warning logged', () => edge.sync.logs.some(names));
    t.ok(edge.sync.logs.find(names), 'the warning names both Services');
    await until(
      'the forged annotations are removed',
      async () => (await annotation('other', 'evil')) === '' && (await annotation('other', 'forger')) === '',
    );
    const cfg = readFileSync(edge.out, 'utf8');
    t.notMatch(cfg, /other_evil|other_forger/, 'neither is served');
    t.notMatch(cfg, new RegExp(`tcp_${lo + 5}`), 'no frontend for the forged port');
    t.equal(await annotation('db', 'pg'), String(lo), 'the owner keeps its port');
  });

  t.test('churn: 20 TCP Services created, then 10 deleted; talking connections are never cut', async (t) => {
    const talkers = await Promise.all([0, 1, 2].map(() => Talker.open(lo)));
    let sent = 0;
    let failed = 0;
    let talking = true;
    const talk = Promise.all(
      talkers.map(async (c, k) => {
        for (let i = 0; talking; i++) {
          sent++;
          await c.roundTrip(`c${k}-${i}`).catch(() => failed++);
          await new Promise((r) => setTimeout(r, 100));
        }
      }),
    );
    const before = await masterReloads();
    const names = Array.from({ length: 20 }, (_, i) => `churn${i}`);
    for (const n of names)
      edge.api.create('services', tcpService('churn', n, tcpNodePort, { [`${P}/tcp-port`]: 'auto' }));
    let last = '';
    await until(
      '20 churn Services announced',
      async () => {
        last = await kubectl(edge.kubeconfig, 'get', 'svc', '-n', 'churn', '-o', 'json');
        const items = (JSON.parse(last) as { items: KubeObject[] }).items;
        return items.filter((o) => /^\d+$/.test(o.metadata.annotations?.[ASSIGNED] ?? '')).length === 20;
      },
      60_000,
    ).catch((err) => {
      const warnings = edge.sync.logs.filter((r) => r.level !== 'info' && r.level !== 30).slice(-5);
      throw new Error(`${(err as Error).message}; sync: ${JSON.stringify(warnings)}; ${last.slice(0, 1500)}`);
    });
    const items = (JSON.parse(last) as { items: KubeObject[] }).items;
    const gone = new Set(items.slice(0, 10).map((o) => `tcp_${o.metadata.annotations?.[ASSIGNED] ?? ''}`));
    await edge.waitFor(
      'the 20 new backends run',
      (rows) => items.every((o) => rows.some((r) => r.proxy === `tcp_${o.metadata.annotations?.[ASSIGNED]}`)),
      60_000,
    );
    for (const o of items.slice(0, 10)) edge.api.delete('services', 'churn', o.metadata.name as string);
    await edge.waitFor('the 10 deleted backends no longer run', (rows) => !rows.some((r) => gone.has(r.proxy)), 60_000);
    const upTo = sent + 30;
    await until('more round trips after the churn', () => sent >= upTo);
    talking = false;
    await talk;
    const reloads = (await masterReloads()) - before;
    t.comment(`churn: 20 created + 10 deleted TCP Services, ${reloads} reloads, ${sent} round trips, ${failed} failed`);
    t.equal(failed, 0, `no round trip failed (${sent} on 3 connections, ${reloads} reloads)`);
    t.ok(
      talkers.every((c) => !c.closed),
      'all three connections still open',
    );
    t.ok(reloads <= 10, `reloads batched: ${reloads} for 30 changes`);
    const record = JSON.parse(
      await kubectl(
        edge.kubeconfig,
        'get',
        'cm',
        '-n',
        'haproxy-node-agent',
        'haproxy-node-agent-edge-claims',
        '-o',
        'jsonpath={.data.claims\\.json}',
      ),
    ) as { ports: Record<string, { vacated?: string }> };
    t.equal(
      Object.values(record.ports).filter((e) => e.vacated !== undefined).length,
      10,
      'the 10 deleted ports are quarantined',
    );
    for (const c of talkers) c.close();
  });

  t.test('a restart of sync keeps the port; a second sync computes the same', async (t) => {
    edge.sync.kill();
    await edge.sync.exited;
    edge.sync = await edge.startSync();
    await until('the restarted sync wrote the same frontend', () =>
      readFileSync(edge.out, 'utf8').includes(`frontend ${backend}\n`),
    );
    t.equal(await annotation('db', 'pg'), String(lo));
    // A second edge: its own files, the same fake API and the same claims record.
    const dir = tempDir(t, 'hna-sync2-');
    const out2 = join(dir, 'edge.cfg');
    const args = [...edge.syncArgs];
    const set = (flag: string, v: string): void => void args.splice(args.indexOf(flag) + 1, 1, v);
    set('--out', out2);
    set('--haproxy-socket', join(dir, 'admin.sock'));
    set('--master-socket', join(dir, 'master.sock'));
    set('--state-file', join(dir, 'state'));
    const second = await startSync(t, args);
    await until('the second sync wrote its file', () => {
      try {
        return readFileSync(out2, 'utf8').includes('frontend ');
      } catch {
        return false;
      }
    });
    const frontends = (text: string): string[] =>
      [...text.matchAll(/^frontend (tcp_\d+)$/gm)].map((m) => m[1] as string);
    t.same(frontends(readFileSync(out2, 'utf8')), frontends(readFileSync(edge.out, 'utf8')), 'same TCP ports');
    t.match(readFileSync(out2, 'utf8'), new RegExp(`bind 127\\.0\\.0\\.1:${lo}\\n`));
    second.kill();
    await second.exited;
  });
}
