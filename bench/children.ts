// The bench's child processes, every one started through test/lib (spawn.ts: the kernel kills it
// with the bench, however the bench dies): the daemon under test, the bare server it is compared
// with, the fake API host and the load generators (both with an IPC channel).
import type { ChildProcess, SpawnOptions } from 'node:child_process';
import { join } from 'node:path';
import { startAgent, type AgentProcess } from '../test/lib/agent-process.js';
import { readJsonLogs } from '../test/lib/json-logs.js';
import { spawnChild, tempDir } from '../test/lib/spawn.js';
import type { HostRequest } from './api-host.js';
import { CLI, SERVER_CPU, nowMs, opts, owner, pinning } from './context.js';

/** Pinned to the server core when pinning (taskset execs the program: same pid). */
const serverWrap = (): string[] => (pinning ? ['taskset', '-c', SERVER_CPU] : []);

const profile = (): string[] => (opts.cpuProf === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${opts.cpuProf}`]);

/** A bench script in its own node with an IPC channel, on this process's CPUs. */
export function forkScript(script: string): ChildProcess {
  const o: SpawnOptions = { serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'] };
  return spawnChild(owner, process.execPath, [join(import.meta.dirname, script)], o);
}

export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(t);
}

export interface Daemon extends AgentProcess {
  pid: number;
  spawnedAtMs: number;
}

export async function startDaemon(
  kubeconfig: string,
  logLevel: string,
  extra: string[] = [],
  cli = CLI,
): Promise<Daemon> {
  const dir = tempDir(owner, 'hna-bench-');
  const spawnedAtMs = nowMs();
  const agent = await startAgent(
    owner,
    [
      '--node-name',
      'n1',
      '--kubeconfig',
      kubeconfig,
      '--log-level',
      logLevel,
      '--override-file',
      join(dir, 'override'),
      '--max-connections',
      '8192',
      ...extra,
    ],
    // As deployed (DaemonSet, systemd unit): glibc hands freed list pages back to the kernel.
    { GLIBC_TUNABLES: 'glibc.malloc.mmap_threshold=131072' },
    serverWrap(),
    // Below info level the daemon does not log the ports: startAgent picks them and waits for /healthz.
    { cli, nodeArgs: [...profile(), ...opts.nodeFlags], readyBy: 'healthz' },
  );
  return { ...agent, pid: agent.proc.pid as number, spawnedAtMs };
}

export async function startBare(heavy = false): Promise<{ proc: ChildProcess; pid: number; port: number }> {
  const argv = [
    ...serverWrap(),
    process.execPath,
    ...profile(),
    join(import.meta.dirname, 'bare-server.js'),
    '0',
    ...(heavy ? ['heavy'] : []),
  ];
  const proc = spawnChild(owner, argv[0] as string, argv.slice(1), {
    env: { PATH: process.env.PATH ?? '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const port = await readJsonLogs(proc).first('bare server exited before listening', (rec) =>
    typeof rec.port === 'number' ? rec.port : undefined,
  );
  return { proc, pid: proc.pid as number, port };
}

/** The fake API server in a child process, answering requests by id. */
export class ApiHost {
  private readonly proc: ChildProcess;
  private nextId = 1;
  private readonly waiting = new Map<number, (m: Record<string, unknown>) => void>();
  readonly ready: Promise<void>;

  constructor() {
    this.proc = forkScript('api-host.js');
    this.ready = new Promise((resolve) => {
      this.proc.on('message', (m: Record<string, unknown>) => {
        if (m.ready === true) return resolve();
        const w = this.waiting.get(m.id as number);
        this.waiting.delete(m.id as number);
        w?.(m);
      });
    });
  }

  get pid(): number {
    return this.proc.pid as number;
  }

  async request<T = Record<string, unknown>>(req: HostRequest): Promise<T & { atMs: number }> {
    await this.ready;
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, (m) =>
        typeof m.error === 'string' ? reject(new Error(m.error)) : resolve(m as T & { atMs: number }),
      );
      this.proc.send({ ...req, id });
    });
  }

  async stop(): Promise<void> {
    const exited = new Promise<void>((r) => this.proc.once('exit', () => r()));
    this.proc.send({ op: 'stop', id: 0 });
    await exited;
  }
}
