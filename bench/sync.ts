// `npm run bench -- --only sync`: the edge controller against Debian's real HAProxy in master-worker
// mode (test/lib/sync-edge.ts: fake API, whoami "NodePorts" and one agent per node on their own
// loopback addresses, `sync` from this build). Four figures: (a) a Node deleted → its replacement
// server UP in `show stat`; (b) long-lived connections through HAProxy across 10 reloads; (c) reloads
// during node-rotation churn; (d) sync's CPU and RSS at 200 backends × 6 servers.
import { request, Agent } from 'node:http';
import { cliCommand } from '../src/haproxy/cli-socket.js';
import { parseShowStat, type StatRow } from '../src/haproxy/show-stat.js';
import { findHaproxy } from '../src/testkit/haproxy/process.js';
import { type Owner, runChild } from '../test/lib/spawn.js';
import { httpGet, metricValue } from '../test/lib/agent-process.js';
import { nodeIp, nodeObject, P, serviceObject, startSyncEdge, type SyncEdge } from '../test/lib/sync-edge.js';
import { CLI, log, nowMs, opts, sleep } from './context.js';
import { cpuMs, memoryMb, round } from './proc.js';

const BACKEND = 'web.example.com';
const M = 'haproxy_node_agent_sync_';
const nodeOfServer = (server: string): string => /_(node-\d+)_/.exec(server)?.[1] ?? '?';

export interface SyncFigures {
  haproxy: string;
  nodeEventToUp: {
    events: number;
    /** Until the replacement is listed in show stat (added by the runtime API, not yet UP). */
    addedP50Ms: number;
    addedP99Ms: number;
    p50Ms: number;
    p99Ms: number;
    maxMs: number;
    reloads: number;
  };
  reloadsWithConnections: {
    reloads: number;
    streams: number;
    streamsCut: number;
    keepAliveClients: number;
    keepAliveRequests: number;
    keepAliveFailed: number;
    keepAliveNewConnections: number;
    /** How the failed requests failed (distinct texts). */
    keepAliveErrors: string[];
  };
  churn: { seconds: number; nodeEvents: number; reloads: number; reloadsPerHour: number; runtimeOps: number };
  scale: {
    backends: number;
    serversPerBackend: number;
    nodes: number;
    startToInSyncMs: number;
    steadyRssMb: number;
    steadyCpuPercent: number;
    nodeEvents: number;
    cpuMsPerNodeEvent: number;
    runtimeOpsPerNodeEvent: number;
    convergeP50Ms: number;
    convergeMaxMs: number;
    rssAfterEventsMb: number;
    peakRssMb: number;
    reloadsDuringEvents: number;
  };
}

/** An owner whose teardowns run when this part is done, so the next part starts on a quiet machine. */
function partOwner(): Owner & { done(): Promise<void> } {
  const fns: Array<() => unknown> = [];
  return {
    teardown: (fn) => void fns.push(fn),
    done: async () => {
      for (const fn of fns.splice(0).reverse()) await fn();
    },
  };
}

function percentile(sorted: number[], q: number): number {
  return sorted.length === 0 ? NaN : (sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] as number);
}

async function metric(edge: SyncEdge, sample: string): Promise<number> {
  return metricValue((await httpGet(edge.sync.httpPort, '/metrics')).body, `${M}${sample}`) ?? 0;
}

async function rows(edge: SyncEdge): Promise<StatRow[]> {
  return parseShowStat(await cliCommand(edge.haproxy.statsSocket, 'show stat'));
}

/** Polls `show stat` every `everyMs` until `ok`; the time it held first (nowMs), or throws. */
async function pollStat(edge: SyncEdge, what: string, ok: (r: StatRow[]) => boolean, everyMs = 5): Promise<number> {
  const end = nowMs() + 60_000;
  for (;;) {
    try {
      if (ok(await rows(edge))) return nowMs();
    } catch {
      // a reload in progress
    }
    if (nowMs() > end) throw new Error(`${what}: not within 60 s`);
    await sleep(everyMs);
  }
}

async function until(what: string, ok: () => Promise<boolean>, ms = 120_000, everyMs = 100): Promise<void> {
  const end = nowMs() + ms;
  for (;;) {
    try {
      if (await ok()) return;
    } catch {
      // not yet
    }
    if (nowMs() > end) throw new Error(`${what}: not within ${ms} ms`);
    await sleep(everyMs);
  }
}

const twoUp = (r: StatRow[]): boolean => {
  const mine = r.filter((x) => x.proxy === BACKEND);
  return mine.length === 2 && mine.every((x) => x.status === 'UP');
};

/** (a): delete a node that holds a server; time until a server on another node, new to the backend, is UP. */
async function nodeEvents(edge: SyncEdge, events: number): Promise<SyncFigures['nodeEventToUp']> {
  const reloadsBefore = await metric(edge, 'reloads_total{result="ok"}');
  const samples: number[] = [];
  const added: number[] = [];
  for (let i = 0; i < events; i++) {
    await pollStat(edge, 'two servers UP', twoUp, 50);
    const before = (await rows(edge)).filter((x) => x.proxy === BACKEND).map((x) => x.server);
    const victim = nodeOfServer(before[i % before.length] as string);
    const t0 = nowMs();
    edge.api.delete('nodes', undefined, victim);
    let listed: number | undefined;
    const t1 = await pollStat(edge, `${victim}'s replacement UP`, (r) => {
      const fresh = r.filter((x) => x.proxy === BACKEND && !before.includes(x.server));
      if (fresh.length > 0) listed ??= nowMs();
      return fresh.some((x) => x.status === 'UP');
    });
    samples.push(t1 - t0);
    added.push((listed ?? t1) - t0);
    edge.api.create('nodes', nodeObject(victim, nodeIp(edge.nodes.indexOf(victim))));
    // Back to two servers UP and nothing draining before the next event.
    await pollStat(edge, 'settled', (r) => twoUp(r) && r.filter((x) => x.proxy === BACKEND).length === 2, 50);
    await sleep(300);
  }
  samples.sort((a, b) => a - b);
  added.sort((a, b) => a - b);
  return {
    events,
    addedP50Ms: round(percentile(added, 0.5)),
    addedP99Ms: round(percentile(added, 0.99)),
    p50Ms: round(percentile(samples, 0.5)),
    p99Ms: round(percentile(samples, 0.99)),
    maxMs: round(samples.at(-1) ?? NaN),
    reloads: (await metric(edge, 'reloads_total{result="ok"}')) - reloadsBefore,
  };
}

/** (b): streams and keep-alive clients through the frontend while 10 Services are added, one reload each. */
async function reloadsWithConnections(edge: SyncEdge, reloads: number): Promise<SyncFigures['reloadsWithConnections']> {
  const host = BACKEND;
  let stop = false;
  let streams = 0;
  let streamsCut = 0;
  const CHUNKS = 150; // 15 s at 100 ms: well inside hard-stop-after (30 s), so a cut is never by design
  const stream = (): Promise<void> =>
    new Promise<void>((resolve) => {
      streams++;
      let lines = 0;
      let buf = '';
      const req = request(
        { host: '127.0.0.1', port: edge.frontendPort, path: `/stream?chunks=${CHUNKS}&every=100`, headers: { host } },
        (res) => {
          res.setEncoding('utf8');
          res.on('data', (c: string) => {
            buf += c;
            const parts = buf.split('\n');
            buf = parts.pop() ?? '';
            lines += parts.length;
          });
          res.on('end', () => {
            if (lines < CHUNKS) streamsCut++;
            resolve();
          });
          res.on('error', () => {
            streamsCut++;
            resolve();
          });
        },
      );
      req.on('error', () => {
        streamsCut++;
        resolve();
      });
      req.end();
    });
  const streamLoop = async (): Promise<void> => {
    while (!stop) await stream();
  };
  let requests = 0;
  let failed = 0;
  let newConnections = 0;
  const errors = new Set<string>();
  const keepAlive = async (): Promise<void> => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    while (!stop) {
      await new Promise<void>((resolve) => {
        const req = request(
          { host: '127.0.0.1', port: edge.frontendPort, path: '/', headers: { host }, agent },
          (res) => {
            res.resume();
            res.on('end', () => {
              requests++;
              if (res.statusCode !== 200) failed++;
              resolve();
            });
          },
        );
        req.on('socket', (s) => {
          if (!(s as { _hnaSeen?: boolean })._hnaSeen) newConnections++;
          (s as { _hnaSeen?: boolean })._hnaSeen = true;
        });
        req.on('error', (err: NodeJS.ErrnoException) => {
          requests++;
          failed++;
          errors.add(err.code ?? err.message);
          resolve();
        });
        req.end();
      });
      await sleep(50);
    }
    agent.destroy();
  };
  const STREAMS = 20;
  const CLIENTS = 20;
  await pollStat(edge, 'two servers UP', twoUp, 50);
  const loops = [
    ...Array.from({ length: STREAMS }, () => streamLoop()),
    ...Array.from({ length: CLIENTS }, () => keepAlive()),
  ];
  await sleep(1000);
  const base = await metric(edge, 'reloads_total{result="ok"}');
  for (let i = 1; i <= reloads; i++) {
    edge.api.create(
      'services',
      serviceObject('bench', `extra-${i}`, edge.nodePort, { [`${P}/host`]: `extra-${i}.example.com` }),
    );
    await until(`reload ${i}`, async () => (await metric(edge, 'reloads_total{result="ok"}')) >= base + i);
  }
  const done = await metric(edge, 'reloads_total{result="ok"}');
  // Let every stream opened before the last reload end by itself.
  stop = true;
  await Promise.all(loops);
  return {
    reloads: done - base,
    streams,
    streamsCut,
    keepAliveClients: CLIENTS,
    keepAliveRequests: requests,
    keepAliveFailed: failed,
    keepAliveNewConnections: newConnections,
    keepAliveErrors: [...errors],
  };
}

/** (c): nodes deleted and re-created, one at a time, for `seconds`; reloads counted. */
async function churn(edge: SyncEdge, seconds: number): Promise<SyncFigures['churn']> {
  const reloads0 = await metric(edge, 'reloads_total{result="ok"}');
  const failed0 = await metric(edge, 'reloads_total{result="failed"}');
  const cmds = async (): Promise<number> => {
    const text = (await httpGet(edge.sync.httpPort, '/metrics')).body;
    let n = 0;
    for (const line of text.split('\n'))
      if (line.startsWith(`${M}runtime_commands_total{`)) n += Number(line.split(' ').pop());
    return n;
  };
  const cmds0 = await cmds();
  const started = nowMs();
  let events = 0;
  for (let i = 0; nowMs() - started < seconds * 1000; i++) {
    const victim = edge.nodes[i % edge.nodes.length] as string;
    edge.api.delete('nodes', undefined, victim);
    events++;
    await sleep(1500);
    edge.api.create('nodes', nodeObject(victim, nodeIp(edge.nodes.indexOf(victim))));
    events++;
    await sleep(1500);
  }
  const elapsed = (nowMs() - started) / 1000;
  await sleep(2000);
  const reloads =
    (await metric(edge, 'reloads_total{result="ok"}')) -
    reloads0 +
    ((await metric(edge, 'reloads_total{result="failed"}')) - failed0);
  return {
    seconds: round(elapsed),
    nodeEvents: events,
    reloads,
    reloadsPerHour: round((reloads / elapsed) * 3600, 1),
    runtimeOps: (await cmds()) - cmds0,
  };
}

/** (d): 200 exposed Services on 7 nodes, 6 picked per Service: sync's CPU and memory, idle and per Node event. */
async function scale(owner: Owner, events: number): Promise<SyncFigures['scale']> {
  const BACKENDS = 200;
  const NODES = 7;
  const PER = 6;
  const services = Array.from({ length: BACKENDS }, (_, i) =>
    serviceObject('bench', `svc-${i}`, 30000 + i, { [`${P}/host`]: `svc-${i}.example.com` }),
  );
  const t0 = nowMs();
  const edge = await startSyncEdge(owner, {
    nodes: NODES,
    services,
    cli: CLI,
    syncArgs: [
      '--nodes-per-service',
      String(PER),
      '--agent-inter',
      '2s',
      '--debounce',
      '200ms',
      '--resync-interval',
      '30s',
      '--min-reload-interval',
      '10s',
    ],
  });
  const want = BACKENDS * PER;
  const inSync = async (): Promise<boolean> =>
    (await metric(edge, 'desired_servers')) === want &&
    (await metric(edge, 'running_servers')) === want &&
    (await metric(edge, 'pending_changes')) === 0 &&
    (await metric(edge, 'servers_draining')) === 0;
  await until('200 × 6 servers running', inSync, 180_000, 250);
  const startToInSyncMs = round(nowMs() - t0);
  // Steady: nothing changes; a resync every 30 s (one falls inside the window at most).
  await sleep(5000);
  const window = opts.quick ? 10_000 : 30_000;
  const c0 = cpuMs(edge.sync.pid);
  await sleep(window);
  const steadyCpuPercent = round(((cpuMs(edge.sync.pid) - c0) / window) * 100, 2);
  const steadyRssMb = memoryMb(edge.sync.pid).rssMb;

  const reloads0 = await metric(edge, 'reloads_total{result="ok"}');
  const commands = async (): Promise<number> => {
    let n = 0;
    for (const line of (await httpGet(edge.sync.httpPort, '/metrics')).body.split('\n'))
      if (line.startsWith(`${M}runtime_commands_total{`)) n += Number(line.split(' ').pop());
    return n;
  };
  const commands0 = await commands();
  const cpu: number[] = [];
  const converge: number[] = [];
  for (let i = 0; i < events; i++) {
    const victim = edge.nodes[i % NODES] as string;
    for (const step of ['delete', 'create'] as const) {
      const c = cpuMs(edge.sync.pid);
      const start = nowMs();
      if (step === 'delete') edge.api.delete('nodes', undefined, victim);
      else edge.api.create('nodes', nodeObject(victim, nodeIp(edge.nodes.indexOf(victim))));
      // Wait until sync has seen it (the victim's servers gone or back), then until it is in sync.
      await until(`${step} ${victim} seen`, async () => {
        const on = (await rows(edge)).filter((r) => nodeOfServer(r.server) === victim).length;
        return step === 'delete' ? on === 0 : on > 0;
      });
      await until(`${step} ${victim} applied`, inSync, 120_000, 250);
      converge.push(nowMs() - start);
      cpu.push(cpuMs(edge.sync.pid) - c);
      await sleep(1000);
    }
  }
  converge.sort((a, b) => a - b);
  const mem = memoryMb(edge.sync.pid);
  return {
    backends: BACKENDS,
    serversPerBackend: PER,
    nodes: NODES,
    startToInSyncMs,
    steadyRssMb,
    steadyCpuPercent,
    nodeEvents: cpu.length,
    cpuMsPerNodeEvent: round(cpu.reduce((a, b) => a + b, 0) / Math.max(1, cpu.length)),
    runtimeOpsPerNodeEvent: round(((await commands()) - commands0) / Math.max(1, cpu.length)),
    convergeP50Ms: round(percentile(converge, 0.5)),
    convergeMaxMs: round(converge.at(-1) ?? NaN),
    rssAfterEventsMb: mem.rssMb,
    peakRssMb: mem.peakRssMb,
    reloadsDuringEvents: (await metric(edge, 'reloads_total{result="ok"}')) - reloads0,
  };
}

export async function syncBench(): Promise<SyncFigures | undefined> {
  const bin = findHaproxy(process.env);
  if (bin === undefined) {
    log('sync: skipped, haproxy is not installed (apt-get install haproxy)');
    return undefined;
  }
  const version = (await runChild(bin, ['-v'])).stdout.split('\n')[0];
  const small = partOwner();
  let a: SyncFigures['nodeEventToUp'];
  let b: SyncFigures['reloadsWithConnections'];
  let c: SyncFigures['churn'];
  try {
    // Info logs: startSync waits for the "listening" line.
    const edge = await startSyncEdge(small, { nodes: 6, cli: CLI });
    log(`sync (a): ${opts.quick ? 5 : 20} Node deletions → the replacement server UP in show stat…`);
    a = await nodeEvents(edge, opts.quick ? 5 : 20);
    log(`sync (b): 20 streams and 20 keep-alive clients through HAProxy across 10 reloads…`);
    b = await reloadsWithConnections(edge, 10);
    log(`sync (c): node-rotation churn for ${opts.quick ? 30 : 90} s…`);
    c = await churn(edge, opts.quick ? 30 : 90);
  } finally {
    await small.done();
  }
  const big = partOwner();
  let d: SyncFigures['scale'];
  try {
    log('sync (d): 200 backends × 6 servers on 7 nodes…');
    d = await scale(big, opts.quick ? 2 : 5);
  } finally {
    await big.done();
  }
  return { haproxy: version ?? '?', nodeEventToUp: a, reloadsWithConnections: b, churn: c, scale: d };
}
