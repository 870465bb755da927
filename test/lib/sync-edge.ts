// `sync` end to end on loopback: a fake API server with nodes at 127.0.0.1x, one agent per node on
// its own address (same agent port), a whoami server per node standing for the Services' NodePort,
// Debian's HAProxy in master-worker mode loading main.cfg + the file sync writes, and the built CLI
// running `sync` against both. Everything dies with the test file.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FakeApiServer, KubeObject } from '../../src/testkit/fakeapi/server.js';
import { startWhoami, type WhoamiServer } from '../../src/testkit/haproxy/whoami.js';
import { cliCommand } from '../../src/haproxy/cli-socket.js';
import { parseShowStat, type StatRow } from '../../src/haproxy/show-stat.js';
import { readJsonLogs } from './json-logs.js';
import { CLI, freePort, httpGet, metricValue, startAgent, startApi, type AgentProcess } from './agent-process.js';
import { mainCfgFor, startMasterWorker, type MasterWorker } from './haproxy-master.js';
import { deadline } from './deadline.js';
import { type Owner, spawnChild, tempDir } from './spawn.js';

export const P = 'haproxy-node-agent.io';
export const AGENT_INTER = '200ms';

export function nodeIp(i: number): string {
  return `127.0.0.${11 + i}`;
}

export function nodeObject(name: string, ip: string, extra: { unschedulable?: boolean } = {}): KubeObject {
  return {
    metadata: { name, labels: {} },
    spec: extra.unschedulable === true ? { unschedulable: true } : {},
    status: {
      conditions: [{ type: 'Ready', status: 'True' }],
      addresses: [{ type: 'InternalIP', address: ip }],
    },
  };
}

export function serviceObject(
  ns: string,
  name: string,
  nodePort: number,
  annotations: Record<string, string>,
): KubeObject {
  return {
    metadata: { namespace: ns, name, annotations: { [`${P}/expose`]: 'true', ...annotations } },
    spec: { type: 'NodePort', ports: [{ port: 80, nodePort, protocol: 'TCP' }] },
  };
}

export interface SyncProcess {
  /** The sync process's own pid (setpriv execs it in place): for its CPU time and memory. */
  pid: number;
  httpPort: number;
  logs: Array<Record<string, unknown>>;
  /** Lines on stdout that are not JSON logs (--dry-run's output). */
  printed(): string[];
  stderr: string[];
  exited: Promise<number | null>;
  kill(): void;
}

export interface SyncEdge {
  api: FakeApiServer;
  kubeconfig: string;
  dir: string;
  out: string;
  nodePort: number;
  agentPort: number;
  frontendPort: number;
  nodes: string[];
  whoami: WhoamiServer[];
  agents: AgentProcess[];
  haproxy: MasterWorker;
  sync: SyncProcess;
  syncArgs: string[];
  /** Server rows of `show stat` for one backend. */
  servers(backend: string): Promise<StatRow[]>;
  /** Polls until `ok` holds on the server rows of every backend; throws with the last rows on timeout. */
  waitFor(what: string, ok: (rows: StatRow[]) => boolean, ms?: number): Promise<StatRow[]>;
  metric(sample: string): Promise<number | undefined>;
  startSync(extra?: string[]): Promise<SyncProcess>;
}

export async function startSync(t: Owner, args: string[], cli = CLI): Promise<SyncProcess> {
  const proc = spawnChild(t, process.execPath, [cli, 'sync', ...args], {
    env: { PATH: process.env.PATH ?? '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const out = readJsonLogs(proc, { keep: true });
  const httpPort = await out.first('sync exited before listening', (rec) =>
    rec.msg === 'listening' ? Number(String(rec.http).split(':').pop()) : undefined,
  );
  if (proc.pid === undefined) throw new Error('sync did not start');
  return {
    pid: proc.pid,
    httpPort,
    logs: out.logs,
    printed: () => out.logs.filter((r) => typeof r.raw === 'string').map((r) => r.raw as string),
    stderr: out.stderr,
    exited: out.exited,
    kill: () => proc.kill('SIGTERM'),
  };
}

/**
 * The whole edge on loopback. `syncArgs` are added to sync's flags, and a flag named there replaces
 * the default given here (--agent-inter, --debounce, ...): a flag given twice is an error.
 */
export async function startSyncEdge(
  t: Owner,
  opts: { nodes?: number; services?: KubeObject[]; syncArgs?: string[]; cli?: string } = {},
): Promise<SyncEdge> {
  const { api, kubeconfig } = await startApi(t);
  const dir = tempDir(t, 'hna-sync-');
  const nodePort = await freePort();
  const agentPort = await freePort();
  const frontendPort = await freePort();
  const count = opts.nodes ?? 4;
  const nodes = Array.from({ length: count }, (_, i) => `node-${i + 1}`);
  for (const [i, n] of nodes.entries()) api.create('nodes', nodeObject(n, nodeIp(i)));
  for (const s of opts.services ?? [serviceObject('shop', 'web', nodePort, { [`${P}/host`]: 'web.example.com' })])
    api.create('services', s);
  const whoami = await Promise.all(nodes.map((n, i) => startWhoami(n, nodeIp(i), nodePort)));
  t.teardown(() => Promise.all(whoami.map((w) => w.close())));
  const agents = await Promise.all(
    nodes.map((n, i) =>
      startAgent(
        t,
        [
          '--node-name',
          n,
          '--kubeconfig',
          kubeconfig,
          '--agent-address',
          nodeIp(i),
          '--agent-port',
          String(agentPort),
          '--proxy-healthz-url=',
        ],
        {},
        [],
        opts.cli === undefined ? {} : { cli: opts.cli },
      ),
    ),
  );
  const out = join(dir, 'edge.cfg');
  const paths = {
    statsSocket: join(dir, 'admin.sock'),
    masterSocket: join(dir, 'master.sock'),
    stateFile: join(dir, 'server-state'),
  };
  const extra = opts.syncArgs ?? [];
  const named = new Set(extra.filter((a) => a.startsWith('--')).map((a) => a.slice(2).split('=')[0]));
  const defaults: Array<[string, string]> = [
    ['kubeconfig', kubeconfig],
    ['out', out],
    ['haproxy-socket', paths.statsSocket],
    ['master-socket', paths.masterSocket],
    ['state-file', paths.stateFile],
    ['nodes-per-service', '2'],
    ['agent-port', String(agentPort)],
    ['agent-inter', AGENT_INTER],
    ['bind', `127.0.0.1:${frontendPort}`],
    ['min-reload-interval', '1s'],
    ['debounce', '100ms'],
    ['resync-interval', '1s'],
    ['http-port', '0'],
  ];
  const syncArgs = [
    ...defaults.filter(([name]) => !named.has(name)).flatMap(([name, value]) => [`--${name}`, value]),
    ...extra,
  ];
  // sync first: it writes the file HAProxy starts from.
  const sync = await startSync(t, syncArgs, opts.cli);
  await until(`${out} written`, () => readFileSync(out, 'utf8').includes('backend '), 30_000).catch((err) => {
    throw new Error(`${(err as Error).message}; sync logs: ${JSON.stringify(sync.logs.slice(-5))}`);
  });
  const haproxy = await startMasterWorker(t, {
    mainCfg: () => mainCfgFor({ ...paths, hardStopAfter: '30s' }),
    outCfg: out,
    dir,
  });
  const edge: SyncEdge = {
    api,
    kubeconfig,
    dir,
    out,
    nodePort,
    agentPort,
    frontendPort,
    nodes,
    whoami,
    agents,
    haproxy,
    sync,
    syncArgs,
    servers: async (backend) =>
      parseShowStat(await cliCommand(paths.statsSocket, 'show stat')).filter((r) => r.proxy === backend),
    waitFor: async (what, ok, ms = 30_000) => {
      let last: StatRow[] = [];
      const end = Date.now() + deadline(ms);
      for (;;) {
        try {
          last = parseShowStat(await cliCommand(paths.statsSocket, 'show stat'));
          if (ok(last)) return last;
        } catch {
          // a reload in progress: read again
        }
        if (Date.now() > end)
          throw new Error(
            `${what}: not within ${ms} ms; last: ` +
              last.map((r) => `${r.proxy}/${r.server} ${r.status} w${r.weight}`).join(', '),
          );
        await sleep(20);
      }
    },
    metric: async (sample) => metricValue((await httpGet(edge.sync.httpPort, '/metrics')).body, sample),
    startSync: (extra = []) => startSync(t, [...syncArgs, ...extra], opts.cli),
  };
  return edge;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export async function until(what: string, ok: () => boolean | Promise<boolean>, ms = 30_000): Promise<void> {
  const end = Date.now() + deadline(ms);
  for (;;) {
    try {
      if (await ok()) return;
    } catch {
      // not yet
    }
    if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms`);
    await sleep(20);
  }
}
