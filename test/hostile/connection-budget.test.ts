// Issue 22 #1b and #10: one neighbour (a second address of this machine, see other-host.ts) holds
// agent connections open. It must not lock out HAProxy's probes (a per-source limit), the cap must be
// one budget for the agent port and every dedicated port together, and connections refused from a
// peer are charged to it in /drained instead of vanishing. Built daemon + fake API + real kubectl.
import t from 'tap';
import { connect, type Socket } from 'node:net';
import { httpGet, kubectl, metricValue, startAgent, startApi, seedCluster } from '../lib/agent-process.js';
import { drained } from '../lib/drained.js';
import { OTHER } from '../lib/other-host.js';
import { probe } from '../lib/probe.js';
import { until } from '../lib/until.js';

t.setTimeout(300_000);
const M = 'haproxy_node_agent_';
const DEADLINE_MS = 60_000;

/** Keeps up to `n` connections from `from` open on each port: one closed is opened again (50 ms later). */
function holder(ports: number[], n: number, from: string | undefined) {
  // Connected as the client sees it (the agent may still close one it refuses).
  const open = new Set<Socket>();
  let stopped = false;
  const all = new Set<Socket>();
  const one = (port: number): void => {
    if (stopped) return;
    const s = connect({ host: '127.0.0.1', port, localAddress: from });
    all.add(s);
    s.on('error', () => {});
    s.on('connect', () => open.add(s));
    s.on('close', () => {
      open.delete(s);
      all.delete(s);
      setTimeout(() => one(port), 50);
    });
  };
  for (const p of ports) for (let i = 0; i < n; i++) one(p);
  return {
    open,
    stop(): void {
      stopped = true;
      for (const s of all) s.destroy();
    },
  };
}

/** An agent-check probe from `from`, like HAProxy's: send the key, read the answer. */
function probeFrom(port: number, line: string, from: string): Promise<string> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port, localAddress: from }, () => s.write(line));
    const chunks: Buffer[] = [];
    s.setTimeout(5000, () => s.destroy());
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('error', () => {});
    s.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
  });
}

const metrics = async (port: number): Promise<string> => (await httpGet(port, '/metrics')).body;

if (OTHER === undefined) {
  t.plan(0, 'this machine has no second address to play the neighbour');
} else {
  const neighbour = OTHER;

  t.test('a neighbour holding connections cannot lock HAProxy out, and its refusals are charged to it', async (t) => {
    const { api, kubeconfig } = await startApi(t);
    seedCluster(api);
    // A long read timeout: a held connection that sends nothing stays held (the attack).
    const agent = await startAgent(t, [
      '--node-name',
      'n1',
      '--kubeconfig',
      kubeconfig,
      '--max-connections',
      '40',
      '--max-connections-per-source',
      '10',
      '--read-timeout',
      '10s',
    ]);
    const ready = (r: string) => r.startsWith('ready');
    await until('synced', () => probe(agent.agentPort, { send: 'shop/web\n' }), ready, DEADLINE_MS, 50);
    // The neighbour is a peer we have answered once, then it holds as many connections as it can.
    t.match(await probeFrom(agent.agentPort, 'shop/web\n', neighbour), /^ready/, 'the neighbour is answered once');
    const flood = holder([agent.agentPort], 60, neighbour);
    t.teardown(() => flood.stop());
    const m = await until(
      'refusals over the per-source limit counted',
      () => metrics(agent.httpPort),
      (x) => (metricValue(x, `${M}probe_rejections_total{reason="over_capacity_source"}`) ?? 0) >= 50,
      DEADLINE_MS,
      50,
    );
    t.ok((metricValue(m, `${M}agent_connections`) ?? 99) <= 10, 'the neighbour holds at most its 10');

    // HAProxy (another source: loopback here) probes every 100 ms and is answered throughout.
    const answers: string[] = [];
    let probing = true;
    const lb = (async () => {
      while (probing) {
        answers.push(await probe(agent.agentPort, { send: 'shop/web\n', timeoutMs: 5000 }).catch(() => 'refused'));
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    t.teardown(async () => {
      probing = false;
      await lb;
    });
    await until(
      'HAProxy answered',
      async () => answers.length,
      (n) => n >= 5,
      DEADLINE_MS,
      50,
    );
    await kubectl(kubeconfig, 'cordon', 'n1');
    await until(
      'HAProxy hears the drain',
      async () => answers.at(-1) ?? '',
      (a) => a === 'drain\n',
      DEADLINE_MS,
      50,
    );
    t.same(
      answers.filter((a) => a !== 'drain\n' && !ready(a)),
      [],
      'every HAProxy probe was answered while the neighbour flooded',
    );

    // The neighbour was answered once (ready) and is refused since: it has not provably heard the drain.
    const during = await until(
      '/drained names the neighbour',
      () => drained(agent.httpPort),
      (d) => d.status === 503 && (d.body.pending ?? []).length === 1,
      DEADLINE_MS,
      50,
    );
    t.match(during.body.pending, [{ peer: neighbour, refused: { connections: Number } }], 'charged to the neighbour');
    t.match(during.body.reason, /had connections refused/);

    // Once it stops and is answered again, what we know is the truth again.
    flood.stop();
    // Until the last of its connections has reached the agent (refusals no longer move).
    const refusals = async () =>
      metricValue(await metrics(agent.httpPort), `${M}probe_rejections_total{reason="over_capacity_source"}`) ?? 0;
    let last = -1;
    await until(
      'the flood has settled',
      async () => {
        const before = last;
        last = await refusals();
        await new Promise((r) => setTimeout(r, 300));
        return before === last && last === (await refusals());
      },
      (settled) => settled,
      DEADLINE_MS,
      50,
    );
    t.equal(await probeFrom(agent.agentPort, 'shop/web\n', neighbour), 'drain\n');
    // Its held connections were answered for the node: that key too.
    t.equal(await probeFrom(agent.agentPort, '\n', neighbour), 'drain\n');
    const after = await until(
      '/drained 200',
      () => drained(agent.httpPort),
      (d) => d.status === 200,
      DEADLINE_MS,
      50,
    );
    t.match(after.body, { drained: true, peers: 2 });
  });

  t.test('--max-connections is one budget for the agent port and every dedicated port', async (t) => {
    const { api, kubeconfig } = await startApi(t);
    seedCluster(api);
    // Three dedicated ports next to each other, found free now (a range of three).
    let base = 0;
    for (let attempt = 0; attempt < 20 && base === 0; attempt++) {
      const p = 20_000 + Math.floor(Math.random() * 30_000);
      const free = await Promise.all([p, p + 1, p + 2].map((q) => portFree(q)));
      if (free.every(Boolean)) base = p;
    }
    t.not(base, 0, 'three free ports');
    const ports = [base, base + 1, base + 2];
    for (const [i, p] of ports.entries()) {
      api.create('services', {
        metadata: {
          namespace: 'tenant',
          name: `t${i}`,
          annotations: { 'haproxy-node-agent.io/agent-port': String(p) },
        },
        spec: { type: 'NodePort', ports: [{ port: 80, nodePort: 31000 + i }] },
      });
    }
    const agent = await startAgent(t, [
      '--node-name',
      'n1',
      '--kubeconfig',
      kubeconfig,
      '--agent-port-range',
      `${base}-${base + 2}`,
      '--max-connections',
      '30',
      '--max-connections-per-source',
      '20',
      '--read-timeout',
      '10s',
    ]);
    for (const p of ports)
      await until(
        'dedicated port open',
        () => probe(p).catch(() => ''),
        (r) => r.startsWith('ready'),
        DEADLINE_MS,
        50,
      );

    // One neighbour tries 20 connections on each of the four listeners: it gets 20 in all.
    const flood = holder([agent.agentPort, ...ports], 20, neighbour);
    t.teardown(() => flood.stop());
    const m1 = await until(
      'the neighbour refused past its 20',
      () => metrics(agent.httpPort),
      (x) => (metricValue(x, `${M}probe_rejections_total{reason="over_capacity_source"}`) ?? 0) >= 60,
      DEADLINE_MS,
      50,
    );
    const byNeighbour = metricValue(m1, `${M}agent_connections`) ?? 0;
    t.ok(byNeighbour <= 20, `the neighbour holds ${byNeighbour} connections over four listeners (limit 20)`);
    // HAProxy from another source (loopback) still gets its answers on every listener.
    for (const p of [agent.agentPort, ...ports]) t.match(await probe(p, { send: 'shop/web\n' }), /^ready/, `port ${p}`);

    // Loopback is not limited per source, but the agent-wide cap holds over all listeners together.
    const local = holder([agent.agentPort, ...ports], 20, undefined);
    t.teardown(() => local.stop());
    const m = await until(
      'refusals over the agent-wide cap counted',
      () => metrics(agent.httpPort),
      (x) => (metricValue(x, `${M}probe_rejections_total{reason="over_capacity"}`) ?? 0) >= 50,
      DEADLINE_MS,
      50,
    );
    const held = metricValue(m, `${M}agent_connections`) ?? 0;
    t.ok(held <= 30, `the agent holds ${held} connections (cap 30 for all four listeners)`);
  });
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    s.on('connect', () => {
      s.destroy();
      resolve(false);
    });
    s.on('error', () => resolve(true));
  });
}
