// The built CLI as a child process, exactly as an operator runs it, with its JSON logs captured.
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { Test } from 'tap';
import { FakeApiServer } from '../../src/testkit/fakeapi/server.js';
import { lineSplitter } from '../../src/platform/lines.js';
import { probeUntil } from './probe.js';
import { runChild, spawnChild, tempDir } from './spawn.js';

export const CLI = join(import.meta.dirname, '..', '..', 'dist', 'main.js');

export interface AgentProcess {
  proc: ChildProcess;
  agentPort: number;
  httpPort: number;
  logs: Array<Record<string, unknown>>;
  stderr: string[];
  /** Resolves with the exit code. */
  exited: Promise<number | null>;
}

/** Starts `node dist/main.js run` and waits for its "listening" log line. Killed at teardown. */
export async function startAgent(
  t: Test,
  args: string[],
  env: Record<string, string> = {},
  wrap: string[] = [],
): Promise<AgentProcess> {
  // Loopback and any free port, unless the caller names its own (a restarted agent keeps its port).
  const defaults = [
    ['--agent-address', '127.0.0.1'],
    ['--agent-port', '0'],
    ['--http-address', '127.0.0.1'],
    ['--http-port', '0'],
  ]
    .filter(([flag]) => !args.includes(flag as string))
    .flat();
  // wrap: a command the agent runs under (e.g. unshare, setpriv), given node and its arguments last.
  const argv = [...wrap, process.execPath, CLI, 'run', ...defaults, ...args];
  const proc = spawnChild(t, argv[0] as string, argv.slice(1), {
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Array<Record<string, unknown>> = [];
  const stderr: string[] = [];
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  const split = lineSplitter();
  const listening = new Promise<{ agentPort: number; httpPort: number }>((resolve, reject) => {
    proc.stdout?.setEncoding('utf8');
    proc.stdout?.on('data', (chunk: string) => {
      for (const line of split(chunk)) {
        try {
          const rec = JSON.parse(line) as Record<string, unknown>;
          logs.push(rec);
          if (rec.msg === 'listening') {
            resolve({
              agentPort: Number(String(rec.agent).split(':').pop()),
              httpPort: Number(String(rec.http).split(':').pop()),
            });
          }
        } catch {
          logs.push({ raw: line });
        }
      }
    });
    proc.stderr?.setEncoding('utf8');
    proc.stderr?.on('data', (c: string) => stderr.push(c));
    void exited.then((code) => reject(new Error(`agent exited (${code}) before listening: ${stderr.join('')}`)));
  });
  const ports = await listening;
  return { proc, logs, stderr, exited, ...ports };
}

/** A fake API server on loopback with a kubeconfig for it; stopped at teardown. */
export async function startApi(t: Test): Promise<{ api: FakeApiServer; kubeconfig: string }> {
  const api = new FakeApiServer();
  await api.start();
  t.teardown(() => api.stop());
  const kubeconfig = join(tempDir(t), 'kubeconfig');
  api.writeKubeconfig(kubeconfig);
  return { api, kubeconfig };
}

/** The real kubectl against the fake API server (async, so this process keeps serving). */
export async function kubectl(kubeconfig: string, ...args: string[]): Promise<string> {
  // Generous: kubectl is a Go binary that takes a while to start on a busy machine.
  const r = await runChild('kubectl', ['--kubeconfig', kubeconfig, ...args], { timeoutMs: 60_000 });
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')}: exit ${r.code}: ${r.stderr.trim()}`);
  return r.stdout;
}

export async function httpGet(port: number, path: string): Promise<{ status: number; body: string }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: res.status, body: await res.text() };
}

/** Reads one sample from /metrics text, e.g. metric('haproxy_node_agent_probes_total{reply="drain"}'). */
export function metricValue(text: string, sample: string): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith(`${sample} `)) return Number(line.slice(sample.length + 1));
  }
  return undefined;
}

export function seedCluster(api: FakeApiServer, nodeName = 'n1'): void {
  api.create('nodes', {
    metadata: { name: nodeName },
    spec: {},
    status: { conditions: [{ type: 'Ready', status: 'True' }] },
  });
  api.create('nodes', { metadata: { name: 'other' }, spec: {} });
  api.create('services', {
    metadata: { namespace: 'shop', name: 'web' },
    spec: { type: 'NodePort', ports: [{ port: 80, nodePort: 30080 }] },
  });
  api.create('services', {
    metadata: { namespace: 'shop', name: 'api', annotations: { 'haproxy-node-agent.io/weight': '50' } },
    spec: { type: 'NodePort', ports: [{ port: 80, nodePort: 30081 }] },
  });
}

/** A seeded fake API and an agent for node n1 that has synced (answers the probe with a reply). */
export async function startSyncedAgent(
  t: Test,
  args: string[] = [],
): Promise<{ api: FakeApiServer; kubeconfig: string; agent: AgentProcess }> {
  const { api, kubeconfig } = await startApi(t);
  seedCluster(api);
  const agent = await startAgent(t, ['--node-name', 'n1', '--kubeconfig', kubeconfig, ...args]);
  const first = await probeUntil(agent.agentPort, 'shop/web\n', (r) => r !== '' && !r.startsWith('connect '), 20_000);
  if (first === '' || first.startsWith('connect ')) throw new Error(`agent never synced: ${first}`);
  return { api, kubeconfig, agent };
}
