// The edge, end to end, on loopback: fake API server + one agent per node (the built CLI as child
// processes) + real HAProxy with agent-checks to them + small HTTP servers behind it. One per test file.
//
// Why two agents: an agent answers for one node. The edge balances a Service over several nodes, so
// every backend has one server per node (its own whoami server, standing for that node's NodePort),
// and each server's agent-check goes to that node's agent. Cordoning node-a then drains exactly
// node-a's servers while node-b's keep serving: "new connections go elsewhere" has somewhere to go.
import { request } from 'node:http';
import type { Test } from 'tap';
import type { FakeApiServer } from '../../src/testkit/fakeapi/server.js';
import { renderHaproxyConfig, type BackendSpec } from '../../src/testkit/haproxy/edge-config.js';
import {
  findHaproxy,
  HaproxyStartError,
  startHaproxy,
  type HaproxyProcess,
} from '../../src/testkit/haproxy/process.js';
import { readServerStats, type ServerStat } from '../../src/testkit/haproxy/stats.js';
import { startWhoami, type WhoamiServer } from '../../src/testkit/haproxy/whoami.js';
import { lineSplitter } from '../../src/platform/lines.js';
import { freePort, kubectl, startAgent, startApi, type AgentProcess } from './agent-process.js';
import { isCI } from './ci.js';
import { deadline as stretch } from './deadline.js';

export const AGENT_INTER_MS = 100;
/** How often tests read `show stat` while waiting: well under one agent interval. */
export const POLL_MS = 10;
export const NODES = ['node-a', 'node-b'] as const;
export type NodeName = (typeof NODES)[number];

export interface BackendPlan {
  name: string;
  /** Frontend path prefix routed to this backend. */
  path: string;
  /** Service keys (agent-send); one server per (service, node). */
  services: string[];
  nodes: readonly NodeName[];
}

/** The edge every e2e file runs: one frontend, four backends. */
export const BACKENDS: readonly BackendPlan[] = [
  { name: 'web', path: '/web/', services: ['shop/web'], nodes: NODES },
  { name: 'api', path: '/api/', services: ['shop/api'], nodes: NODES },
  // Two Services sharing one backend behind one frontend (blue/green): weights compete directly.
  { name: 'store', path: '/store/', services: ['shop/web-blue', 'shop/web-green'], nodes: NODES },
  // Named in agent-send but absent from the cluster.
  { name: 'ghost', path: '/ghost/', services: ['shop/ghost'], nodes: ['node-a'] },
];
export const CLUSTER_SERVICES = ['shop/web', 'shop/api', 'shop/web-blue', 'shop/web-green'];

/** HAProxy server name for a Service on a node ('@' is not allowed in HAProxy names). */
export function serverName(serviceKey: string, node: NodeName): string {
  return `${serviceKey.split('/')[1]}.${node}`;
}

/** The node a server stands for, from its name. */
export function nodeOf(s: ServerStat): string {
  return s.server.slice(s.server.lastIndexOf('.') + 1);
}

/**
 * The haproxy binary, or undefined after marking the file skipped (with the reason printed).
 * In CI a missing haproxy is a failure: .ci/run installs it, so its absence is a broken setup.
 */
export function requireHaproxy(t: Test): string | undefined {
  const bin = findHaproxy(process.env);
  if (bin !== undefined) return bin;
  if (isCI()) {
    t.fail(
      'haproxy not found (PATH, /usr/sbin) but CI is set: .ci/run installs it; these tests may not be skipped in CI',
    );
    return undefined;
  }
  t.comment(
    'haproxy not found on PATH or in /usr/sbin: ' +
      'skipping the end-to-end tests against real HAProxy (apt-get install haproxy)',
  );
  t.plan(0, 'haproxy not installed');
  return undefined;
}

export interface Stream {
  /** The server that answered (first line). */
  server: string;
  lines: string[];
  ended: boolean;
  close(): void;
}

export class Edge {
  readonly agents = new Map<NodeName, AgentProcess>();

  constructor(
    private readonly t: Test,
    readonly api: FakeApiServer,
    readonly kubeconfig: string,
    readonly haproxy: HaproxyProcess,
    readonly frontendPort: number,
    agents: Map<NodeName, AgentProcess>,
    /** Extra flags per node's agent, kept for restarts. */
    private readonly agentArgs: EdgeOptions['agentArgs'] = {},
  ) {
    for (const [n, a] of agents) this.agents.set(n, a);
  }

  agent(node: NodeName): AgentProcess {
    const a = this.agents.get(node);
    if (a === undefined) throw new Error(`no agent for ${node}`);
    return a;
  }

  servers(): Promise<ServerStat[]> {
    return readServerStats(this.haproxy.statsSocket);
  }

  /**
   * Polls `show stat` until `ok` holds; returns the rows and when they were read. Throws with the
   * last rows on timeout.
   */
  async waitFor(
    what: string,
    ok: (servers: ServerStat[]) => boolean,
    timeoutMs = 10_000,
  ): Promise<{ servers: ServerStat[]; at: number }> {
    const deadline = Date.now() + stretch(timeoutMs);
    for (;;) {
      const servers = await this.servers();
      const at = Date.now();
      if (ok(servers)) return { servers, at };
      if (at > deadline)
        throw new Error(
          `HAProxy never showed ${what} within ${timeoutMs}ms; last:\n${table(servers)}\n` +
            `${this.haproxy.output.slice(-10).join('\n')}`,
        );
      await sleep(POLL_MS);
    }
  }

  kubectl(...args: string[]): Promise<string> {
    return kubectl(this.kubeconfig, ...args);
  }

  /** One request on a new connection through the frontend; resolves with the answering server's name. */
  get(path: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const req = request(
        { host: '127.0.0.1', port: this.frontendPort, path, agent: false, headers: { connection: 'close' } },
        (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (body += c));
          res.on('end', () => resolve(res.statusCode === 200 ? body.trim() : `HTTP ${res.statusCode ?? '?'}`));
        },
      );
      req.setTimeout(5000, () => req.destroy(new Error(`GET ${path}: no answer within 5s`)));
      req.on('error', reject);
      req.end();
    });
  }

  /** `n` requests, `concurrency` at a time, each on its own connection; count per answering server. */
  async spread(path: string, n: number, concurrency = 8): Promise<Map<string, number>> {
    const counts = new Map<string, number>();
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < n) {
        next++;
        const who = await this.get(path);
        counts.set(who, (counts.get(who) ?? 0) + 1);
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
    return counts;
  }

  /** A slow streaming response through HAProxy, held open until close(). */
  openStream(path: string): Promise<Stream> {
    return new Promise((resolve, reject) => {
      const req = request(
        { host: '127.0.0.1', port: this.frontendPort, path: `${path}?chunks=600&every=50`, agent: false },
        (res) => {
          const s: Stream = { server: '', lines: [], ended: false, close: () => req.destroy() };
          const split = lineSplitter();
          res.setEncoding('utf8');
          res.on('data', (c: string) => {
            const parts = split(c);
            s.lines.push(...parts);
            if (s.server === '' && parts[0] !== undefined) {
              s.server = parts[0].split(' ')[0] ?? '';
              resolve(s);
            }
          });
          res.on('close', () => (s.ended = true));
          res.on('error', () => (s.ended = true));
        },
      );
      req.on('error', reject);
      this.t.teardown(() => req.destroy());
      req.end();
    });
  }

  /**
   * Back to the seeded truth whatever a (possibly failed) test left behind: API up, agents running,
   * nodes schedulable, no weight annotations. Each subtest calls it at teardown, so one failure
   * does not cascade into the next subtest.
   */
  async reset(): Promise<void> {
    await this.api.start(); // no-op when running
    for (const node of NODES) {
      const a = this.agent(node);
      if (a.proc.exitCode !== null || a.proc.signalCode !== null) await this.restartAgent(node);
      this.api.patch('nodes', undefined, node, { spec: { unschedulable: false } });
    }
    for (const key of CLUSTER_SERVICES) {
      const [namespace, name] = key.split('/') as [string, string];
      this.api.patch('services', namespace, name, {
        metadata: { annotations: { 'haproxy-node-agent.io/weight': null } },
      });
    }
  }

  /** SIGKILL: no goodbye, exactly like a crashed or OOM-killed agent. */
  async killAgent(node: NodeName): Promise<void> {
    const a = this.agent(node);
    a.proc.kill('SIGKILL');
    await a.exited;
  }

  /** Starts the node's agent again on the same agent port (HAProxy's config names that port). */
  async restartAgent(node: NodeName): Promise<AgentProcess> {
    const port = this.agent(node).agentPort;
    const a = await spawnAgent(this.t, node, this.kubeconfig, [
      '--agent-port',
      String(port),
      ...(this.agentArgs?.[node] ?? []),
    ]);
    this.agents.set(node, a);
    return a;
  }

  /**
   * When the node's agent logged that its node answer became `to` (pino time), at or after `since`.
   * The log line is informational; undefined when this agent build words it differently.
   */
  answerChangedAt(node: NodeName, to: string, since: number): number | undefined {
    return this.loggedAt(
      node,
      since,
      (l) => typeof l.msg === 'string' && l.msg.startsWith('node answer is now') && l.to === to,
    );
  }

  /** When the node's agent logged that a Service's weight became `to` percent. */
  weightChangedAt(node: NodeName, service: string, to: number, since: number): number | undefined {
    return this.loggedAt(node, since, (l) => l.service === service && l.to === to);
  }

  private loggedAt(node: NodeName, since: number, match: (l: Record<string, unknown>) => boolean): number | undefined {
    for (const l of this.agent(node).logs) {
      if (!match(l)) continue;
      const at = typeof l.time === 'number' ? l.time : Date.parse(String(l.time));
      if (at >= since) return at;
    }
    return undefined;
  }
}

/** Rows as a small table, for failure messages. */
export function table(servers: ServerStat[]): string {
  return servers
    .map(
      (s) =>
        `  ${`${s.backend}/${s.server}`.padEnd(28)} ${s.status.padEnd(14)} w=${String(s.weight).padEnd(4)} ` +
        `agent=${s.agentStatus} "${s.lastAgent}"`,
    )
    .join('\n');
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function spawnAgent(t: Test, node: NodeName, kubeconfig: string, extra: string[] = []): Promise<AgentProcess> {
  return startAgent(t, ['--node-name', node, '--kubeconfig', kubeconfig, ...extra]);
}

function seed(api: FakeApiServer): void {
  for (const node of NODES) {
    api.create('nodes', {
      metadata: { name: node, labels: { 'kubernetes.io/hostname': node } },
      spec: {},
      status: { conditions: [{ type: 'Ready', status: 'True' }] },
    });
  }
  CLUSTER_SERVICES.forEach((key, i) => {
    const [namespace, name] = key.split('/') as [string, string];
    api.create('services', {
      metadata: { namespace, name },
      spec: {
        type: 'NodePort',
        externalTrafficPolicy: 'Cluster',
        ports: [{ port: 80, targetPort: 8080, nodePort: 30080 + i, protocol: 'TCP' }],
      },
    });
  });
}

/** A port nobody listens on right now; HAProxy cannot bind port 0, so we pick (and retry on a race). */
export { freePort };

export interface EdgeOptions {
  /** Extra flags for a node's agent (e.g. --proxy-healthz-url). */
  agentArgs?: Partial<Record<NodeName, string[]>>;
  /** Servers get `on-marked-down shutdown-sessions`. */
  shutdownSessionsOnDown?: boolean;
}

export async function startEdge(t: Test, haproxyBin: string, opts: EdgeOptions = {}): Promise<Edge> {
  const { api, kubeconfig } = await startApi(t);
  seed(api);
  const agents = new Map<NodeName, AgentProcess>();
  await Promise.all(
    NODES.map(async (n) => agents.set(n, await spawnAgent(t, n, kubeconfig, opts.agentArgs?.[n] ?? []))),
  );

  const whoamis: WhoamiServer[] = [];
  t.teardown(() => Promise.all(whoamis.map((w) => w.close())));
  const backends: BackendSpec[] = [];
  for (const plan of BACKENDS) {
    const servers: BackendSpec['servers'] = [];
    for (const service of plan.services) {
      for (const node of plan.nodes) {
        const name = serverName(service, node);
        const w = await startWhoami(`${plan.name}/${name}`);
        whoamis.push(w);
        const agentPort = agents.get(node)?.agentPort as number;
        servers.push({
          name,
          address: '127.0.0.1',
          port: w.port,
          weight: 100,
          checkInterMs: 500,
          agent: { addr: '127.0.0.1', port: agentPort, send: `${service}\n`, interMs: AGENT_INTER_MS },
          ...(opts.shutdownSessionsOnDown === true ? { shutdownSessionsOnDown: true } : {}),
        });
      }
    }
    backends.push({ name: plan.name, mode: 'http', balance: 'roundrobin', servers });
  }

  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    try {
      const haproxy = await startHaproxy({
        bin: haproxyBin,
        config: ({ statsSocket }) =>
          renderHaproxyConfig({
            statsSocket,
            checkTimeoutMs: 500,
            idleTimeoutMs: 30_000,
            frontends: [
              {
                name: 'edge',
                address: '127.0.0.1',
                port,
                mode: 'http',
                routes: BACKENDS.map((b) => ({ pathPrefix: b.path, backend: b.name })),
              },
            ],
            backends,
          }),
      });
      t.teardown(() => haproxy.stop());
      return new Edge(t, api, kubeconfig, haproxy, port, agents, opts.agentArgs);
    } catch (err) {
      // Someone took the port between our probe and HAProxy's bind: pick another.
      if (attempt < 5 && err instanceof HaproxyStartError && /cannot bind|already in use/i.test(err.output)) continue;
      throw err;
    }
  }
}

/** Every server of `node`, in every backend. */
export function onNode(servers: ServerStat[], node: NodeName): ServerStat[] {
  return servers.filter((s) => nodeOf(s) === node);
}

/**
 * No agent check of this server is in flight, so its row shows what the agent last said. HAProxy
 * clears `last_agt` when a check starts (check.c, HCHK_STATUS_START) and marks `agent_status` with
 * "* " until it ends: a row read mid-check (every 100 ms here; longer on a busy machine) shows ""
 * whatever the agent answered before. Wait for settled rows before asserting on `lastAgent`.
 */
export function agentSettled(s: ServerStat): boolean {
  return !s.agentStatus.startsWith('* ');
}

/** All servers UP at full weight, each having heard from its agent. */
export function allReady(servers: ServerStat[]): boolean {
  return (
    servers.length > 0 &&
    servers.every((s) => s.status === 'UP' && s.weight === 100 && s.lastAgent === 'via agent : up')
  );
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}
