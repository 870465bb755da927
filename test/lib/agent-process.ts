// The built CLI as a child process, exactly as an operator runs it, with its JSON logs captured.
import type { ChildProcess } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Test } from 'tap';
import { FakeApiServer } from '../../src/testkit/fakeapi/server.js';
import { readJsonLogs } from './json-logs.js';
import { probeUntil } from './probe.js';
import { runChild, spawnChild, tempDir, type Owner } from './spawn.js';

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

export interface AgentOptions {
  /** The CLI to run (default: this tree's dist/main.js; the bench runs its own build or another). */
  cli?: string;
  /** Node's own flags, before the CLI (e.g. --cpu-prof). */
  nodeArgs?: string[];
  /**
   * 'listening' (default): wait for the "listening" log line, which gives the ports (any free one).
   * 'healthz': pick free ports here and wait for /healthz, for a --log-level that hides that line.
   */
  readyBy?: 'listening' | 'healthz';
  /** Keep every log line in `logs` (default true); false for agents that log a lot for long. */
  keepLogs?: boolean;
}

/** Starts `node dist/main.js run` and waits for its "listening" log line. Killed at teardown. */
export async function startAgent(
  t: Owner,
  args: string[],
  env: Record<string, string> = {},
  wrap: string[] = [],
  opts: AgentOptions = {},
): Promise<AgentProcess> {
  const byHealthz = opts.readyBy === 'healthz';
  // Loopback and any free port, unless the caller names its own (a restarted agent keeps its port).
  const port = async (flag: string): Promise<string> =>
    args.includes(flag) || !byHealthz ? '0' : String(await freePort());
  const defaults = [
    ['--agent-address', '127.0.0.1'],
    ['--agent-port', await port('--agent-port')],
    ['--http-address', '127.0.0.1'],
    ['--http-port', await port('--http-port')],
  ]
    .filter(([flag]) => !args.includes(flag as string))
    .flat();
  // wrap: a command the agent runs under (e.g. unshare, setpriv), given node and its arguments last.
  const argv = [...wrap, process.execPath, ...(opts.nodeArgs ?? []), opts.cli ?? CLI, 'run', ...defaults, ...args];
  const proc = spawnChild(t, argv[0] as string, argv.slice(1), {
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const out = readJsonLogs(proc, { keep: opts.keepLogs ?? true });
  const ports = byHealthz
    ? await healthzUp(out.exited, out.stderr, [...defaults, ...args])
    : await out.first('agent exited before listening', (rec) =>
        rec.msg === 'listening'
          ? {
              agentPort: Number(String(rec.agent).split(':').pop()),
              httpPort: Number(String(rec.http).split(':').pop()),
            }
          : undefined,
      );
  return { proc, logs: out.logs, stderr: out.stderr, exited: out.exited, ...ports };
}

/** The ports given in `argv`, once /healthz answers; rejects if the agent exits first. */
async function healthzUp(
  exited: Promise<number | null>,
  stderr: string[],
  argv: string[],
): Promise<{ agentPort: number; httpPort: number }> {
  const flag = (name: string): number => Number(argv[argv.indexOf(name) + 1]);
  const ports = { agentPort: flag('--agent-port'), httpPort: flag('--http-port') };
  let code: number | null | undefined;
  void exited.then((c) => (code = c));
  // The agent port listens before the HTTP one, so /healthz answering means both are up.
  for (;;) {
    if (code !== undefined) throw new Error(`agent exited before /healthz answered (exit ${code}): ${stderr.join('')}`);
    const up = await fetch(`http://127.0.0.1:${ports.httpPort}/healthz`).then(
      (r) => r.text().then(() => true),
      () => false,
    );
    if (up) return ports;
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** A port nobody listens on right now, for a program that cannot be given port 0 (we pick; races are rare). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

/** A fake API server on loopback with a kubeconfig for it; stopped at teardown. */
export async function startApi(t: Owner): Promise<{ api: FakeApiServer; kubeconfig: string }> {
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
