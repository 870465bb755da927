// Churn scenario: Node status writes on other Nodes, and how many of them reach each agent in
// each --guard-mode (local, coordinated, off) with a coordinator running. Counted from the
// agents' own haproxy_node_agent_watch_events_total{resource="nodes"}, plus their CPU time.
import type { ChildProcess } from 'node:child_process';
import { readJsonLogs } from '../test/lib/json-logs.js';
import { spawnChild, type Owner } from '../test/lib/spawn.js';
import type { HostRequest } from './api-host.js';
import { cpuMs } from './proc.js';
import { runArgv } from '../src/run/run-config.js';

export interface ChurnFigures {
  nodes: number;
  writes: number;
  /** Per mode: Node watch events the agent received during the churn, decision ConfigMap events, CPU ms. */
  agents: Record<string, { nodeEvents: number; decisionEvents: number; cpuMs: number }>;
  coordinatorNodeEvents: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function sum(metrics: string, prefix: string): number {
  let total = 0;
  for (const line of metrics.split('\n'))
    if (line.startsWith(prefix)) total += Number(line.slice(line.lastIndexOf(' ') + 1));
  return total;
}

async function metrics(port: number): Promise<string> {
  return (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
}

/** Starts a CLI subcommand with an HTTP port and waits for its "listening" log line. */
async function start(cli: string, args: string[], owner: Owner): Promise<{ proc: ChildProcess; port: number }> {
  const proc = spawnChild(owner, process.execPath, [cli, ...args], {
    env: { PATH: process.env.PATH ?? '' },
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  // Not kept: the records are only read for the port, then dropped.
  const port = await readJsonLogs(proc, { keep: false }).first(`${args[0]} exited before listening`, (rec) =>
    rec.msg === 'listening' ? Number(String(rec.http).split(':').pop()) : undefined,
  );
  return { proc, port };
}

/** The forked fake API server (main.ts's ApiHost). */
export interface ChurnHost {
  request(req: HostRequest): Promise<unknown>;
}

export async function churn(
  host: ChurnHost,
  kubeconfig: string,
  cli: string,
  nodes: number,
  writes: number,
  owner: Owner,
): Promise<ChurnFigures> {
  await host.request({ op: 'nodes', count: nodes });
  const coord = await start(
    cli,
    [
      'coordinate',
      '--kubeconfig',
      kubeconfig,
      '--http-address',
      '127.0.0.1',
      '--http-port',
      '0',
      '--log-level',
      'info',
    ],
    owner,
  );
  const modes = ['local', 'coordinated', 'off'] as const;
  const agents = await Promise.all(
    modes.map((mode, i) =>
      start(
        cli,
        [
          'run',
          ...runArgv({
            nodeName: `node-${i}`,
            kubeconfig,
            guardMode: mode,
            agentAddress: '127.0.0.1',
            agentPort: 0,
            httpAddress: '127.0.0.1',
            httpPort: 0,
            logLevel: 'info',
            events: false,
          }),
        ],
        owner,
      ),
    ),
  );
  // Synced: /readyz 200 on every agent.
  for (const a of agents) while ((await fetch(`http://127.0.0.1:${a.port}/readyz`)).status !== 200) await sleep(20);
  const nodeEv = async (port: number) =>
    sum(await metrics(port), 'haproxy_node_agent_watch_events_total{resource="nodes"');
  const cmEv = async (port: number) =>
    sum(await metrics(port), 'haproxy_node_agent_watch_events_total{resource="configmaps"');
  const coordEv = async () =>
    sum(await metrics(coord.port), 'haproxy_node_agent_coordinator_watch_events_total{type="MODIFIED"');
  const before = await Promise.all(
    agents.map(async (a) => ({ n: await nodeEv(a.port), c: await cmEv(a.port), cpu: cpuMs(a.proc.pid as number) })),
  );
  const coordBefore = await coordEv();
  await host.request({ op: 'churn', writes, skip: modes.map((_, i) => `node-${i}`) });
  // Done when the local agent and the coordinator (who see every write) have seen them all.
  const deadline = Date.now() + 60_000;
  while (
    ((await nodeEv(agents[0]!.port)) - before[0]!.n < writes || (await coordEv()) - coordBefore < writes) &&
    Date.now() < deadline
  )
    await sleep(50);
  await sleep(500);
  const out: ChurnFigures['agents'] = {};
  for (const [i, mode] of modes.entries()) {
    const a = agents[i]!;
    out[mode] = {
      nodeEvents: (await nodeEv(a.port)) - before[i]!.n,
      decisionEvents: (await cmEv(a.port)) - before[i]!.c,
      cpuMs: Math.round(cpuMs(a.proc.pid as number) - before[i]!.cpu),
    };
  }
  const coordinatorNodeEvents = (await coordEv()) - coordBefore;
  for (const p of [coord, ...agents]) p.proc.kill('SIGTERM');
  return { nodes, writes, agents: out, coordinatorNodeEvents };
}
