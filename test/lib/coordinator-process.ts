// `node dist/main.js coordinate` as a child process, with its JSON logs captured. Killed at teardown.
import type { ChildProcess } from 'node:child_process';
import { spawnChild } from './spawn.js';
import type { Test } from 'tap';
import { CLI, httpGet, metricValue, type AgentProcess } from './agent-process.js';
import type { FakeApiServer } from '../../src/testkit/fakeapi/server.js';
import { readJsonLogs } from './json-logs.js';

export interface CoordinatorProcess {
  proc: ChildProcess;
  httpPort: number;
  identity: string;
  logs: Array<Record<string, unknown>>;
  exited: Promise<number | null>;
}

export interface CoordinatorStatus {
  identity: string;
  leader: boolean;
  holder: string | null;
  nodesListed: boolean;
  published: { generation: number; draining: string[]; held: string[]; explicit: string[] } | null;
}

export async function startCoordinator(
  t: Test,
  args: string[],
  env: Record<string, string> = {},
): Promise<CoordinatorProcess> {
  const proc = spawnChild(
    t,
    process.execPath,
    [CLI, 'coordinate', '--http-address', '127.0.0.1', '--http-port', '0', ...args],
    {
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  t.teardown(() => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
  });
  const out = readJsonLogs(proc);
  const listening = await out.first('coordinator exited before listening', (rec) =>
    rec.msg === 'listening'
      ? { httpPort: Number(String(rec.http).split(':').pop()), identity: String(rec.identity) }
      : undefined,
  );
  return { proc, logs: out.logs, exited: out.exited, ...listening };
}

export async function coordinatorStatus(c: CoordinatorProcess): Promise<CoordinatorStatus> {
  return JSON.parse((await httpGet(c.httpPort, '/status')).body) as CoordinatorStatus;
}

/** Polls until `check` is true; returns how long it took (for reports, never for asserts). */
export async function waitFor(
  what: string,
  check: () => Promise<boolean> | boolean,
  deadlineMs = 30_000,
): Promise<number> {
  const start = Date.now();
  for (;;) {
    if (await check()) return Date.now() - start;
    if (Date.now() - start > deadlineMs) throw new Error(`timed out after ${deadlineMs}ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

// ---- shared by the coordinate tests ----
export const WEB = 'shop/web\n';
export const NS = 'haproxy-node-agent';
export const READY = 'ready up 100%\n';

export function node(api: FakeApiServer, name: string): void {
  api.create('nodes', { metadata: { name }, spec: {}, status: { conditions: [{ type: 'Ready', status: 'True' }] } });
}
export const cordonPatch = (at: string) => ({
  spec: {
    unschedulable: true,
    taints: [{ key: 'node.kubernetes.io/unschedulable', effect: 'NoSchedule', timeAdded: at }],
  },
});
export const nodeEvents = async (a: AgentProcess): Promise<number> => {
  const m = (await httpGet(a.httpPort, '/metrics')).body;
  return ['ADDED', 'MODIFIED', 'DELETED'].reduce(
    (sum, type) =>
      sum + (metricValue(m, `haproxy_node_agent_watch_events_total{resource="nodes",type="${type}"}`) ?? 0),
    0,
  );
};
export const agentStatus = async (a: AgentProcess) =>
  JSON.parse((await httpGet(a.httpPort, '/status')).body) as {
    guardMode: string;
    guardDecision?: { state: string; generation?: number };
    guard: { selfHeld: boolean; draining: string[]; held: string[] };
  };
