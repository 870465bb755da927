// Real HAProxy as a child process: found on the PATH, run in the foreground (-db) with a generated
// config in its own temp dir, ready once its stats socket answers, stopped by pid.
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { statsCommand } from './stats.js';
import { lineSplitter } from '../../platform/lines.js';

/** Debian puts haproxy in /usr/sbin, which is not on a non-root user's PATH. */
const SBIN_DIRS = ['/usr/local/sbin', '/usr/sbin', '/sbin'];

/** The haproxy binary: $HAPROXY_BIN, else the PATH, else the sbin directories; undefined when absent. */
export function findHaproxy(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const explicit = env.HAPROXY_BIN;
  if (explicit !== undefined && explicit !== '') return isExecutable(explicit) ? explicit : undefined;
  const dirs = [...(env.PATH ?? '').split(delimiter).filter((d) => d !== ''), ...SBIN_DIRS];
  for (const dir of dirs) {
    const candidate = join(dir, 'haproxy');
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** util-linux's setpriv, to have the kernel kill HAProxy if we die without running any cleanup. */
function findSetpriv(env: NodeJS.ProcessEnv): string | undefined {
  for (const dir of [...(env.PATH ?? '').split(delimiter).filter((d) => d !== ''), '/usr/bin', '/bin']) {
    const candidate = join(dir, 'setpriv');
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

export interface HaproxyOptions {
  bin: string;
  /** Builds the config once the temp dir (and so the stats socket path) is known. */
  config: (paths: { dir: string; statsSocket: string }) => string;
  /** How long HAProxy may take to answer on its stats socket. Default 10 s. */
  readyTimeoutMs?: number;
}

export interface HaproxyProcess {
  pid: number;
  dir: string;
  configPath: string;
  statsSocket: string;
  /** HAProxy's own stdout+stderr lines (alerts, "Server x/y is DOWN", ...). */
  output: string[];
  /** Resolves when the process has exited, with its exit code or signal. */
  exited: Promise<string>;
  running(): boolean;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once it is gone and its temp dir removed. */
  stop(graceMs?: number): Promise<void>;
}

/** Thrown when HAProxy exits during startup; `output` has its alerts (e.g. "cannot bind socket"). */
export class HaproxyStartError extends Error {
  constructor(
    message: string,
    readonly output: string,
  ) {
    super(`${message}\n${output}`);
    this.name = 'HaproxyStartError';
  }
}

const MAX_OUTPUT_LINES = 1000;

/** Every HAProxy we started and have not yet seen exit: killed if this process exits first. */
const live = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Covers a test or demo that ends without its teardown (uncaught error, process.exit).
  process.on('exit', () => {
    for (const child of live) {
      if (child.pid !== undefined) signal(child.pid, 'SIGKILL');
    }
  });
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

export async function startHaproxy(opts: HaproxyOptions): Promise<HaproxyProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'hna-haproxy-'));
  const statsSocket = join(dir, 'admin.sock');
  const configPath = join(dir, 'haproxy.cfg');
  writeFileSync(configPath, opts.config({ dir, statsSocket }));

  // -db: foreground, no fork, so the pid we hold is HAProxy's own (it writes no pidfile in this mode).
  const args = ['-db', '-f', configPath];
  const setpriv = findSetpriv(process.env);
  // setpriv execs HAProxy in place (same pid) with PR_SET_PDEATHSIG: SIGKILL when we die, even by SIGKILL.
  const child =
    setpriv === undefined
      ? spawn(opts.bin, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] })
      : spawn(setpriv, ['--pdeathsig', 'SIGKILL', '--', opts.bin, ...args], {
          cwd: dir,
          stdio: ['ignore', 'pipe', 'pipe'],
        });
  let spawnError: Error | undefined;
  child.on('error', (err) => (spawnError = err)); // e.g. ENOENT; without a listener it would crash us
  const pid = child.pid;
  if (pid === undefined) {
    rmSync(dir, { recursive: true, force: true });
    await new Promise((r) => setImmediate(r));
    throw new Error(`cannot start ${opts.bin}: ${spawnError?.message ?? 'no pid'}`);
  }
  installExitHook();
  live.add(child);
  writeFileSync(join(dir, 'haproxy.pid'), `${pid}\n`);

  const output: string[] = [];
  const collect = (stream: NodeJS.ReadableStream | null): void => {
    if (stream === null) return;
    const split = lineSplitter();
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      output.push(...split(chunk));
      // Alerts and state changes only (no request logs), but a long demo must not grow without bound.
      if (output.length > MAX_OUTPUT_LINES) output.splice(0, output.length - MAX_OUTPUT_LINES);
    });
  };
  collect(child.stdout);
  collect(child.stderr);
  let gone = false;
  const exited = new Promise<string>((resolve) =>
    child.on('exit', (code, signal) => {
      gone = true;
      live.delete(child);
      resolve(signal ?? `exit ${code ?? '?'}`);
    }),
  );

  const proc: HaproxyProcess = {
    pid,
    dir,
    configPath,
    statsSocket,
    output,
    exited,
    running: () => !gone,
    async stop(graceMs = 2000) {
      if (!gone) {
        signal(pid, 'SIGTERM');
        const timer = setTimeout(() => {
          if (!gone) signal(pid, 'SIGKILL');
        }, graceMs);
        await exited;
        clearTimeout(timer);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };

  try {
    await waitReady(proc, opts.readyTimeoutMs ?? 10_000);
  } catch (err) {
    await proc.stop(0);
    throw err;
  }
  return proc;
}

/** Ready = the stats socket answers; that happens only after every listener is bound. */
async function waitReady(proc: HaproxyProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (!proc.running()) {
      const how = await proc.exited;
      throw new HaproxyStartError(`haproxy exited during startup (${how})`, proc.output.join('\n'));
    }
    try {
      // A socket that accepts but closes without this is a HAProxy that failed after binding it.
      if ((await statsCommand(proc.statsSocket, 'show info', 500)).includes('Name: HAProxy')) return;
    } catch {
      // socket not there yet
    }
    if (Date.now() > deadline)
      throw new HaproxyStartError(`haproxy not ready within ${timeoutMs}ms`, proc.output.join('\n'));
    await new Promise((r) => setTimeout(r, 20));
  }
}
