// Real HAProxy in master-worker mode (`haproxy -W -S master.sock -f main.cfg -f OUT.cfg`), the way
// `sync` runs it: the master CLI reloads it, the stats socket reaches the current worker. Started
// through spawn.ts, so the master dies with the test (its workers exit when it does).
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cliCommand } from '../../src/haproxy/cli-socket.js';
import { showProc } from '../../src/haproxy/master-cli.js';
import { findHaproxy } from '../../src/testkit/haproxy/process.js';
import { lineSplitter } from '../../src/platform/lines.js';
import { deadline } from './deadline.js';
import { type Owner, spawnChild, tempDir } from './spawn.js';

export interface MainCfgPaths {
  dir: string;
  statsSocket: string;
  masterSocket: string;
  stateFile: string;
}

export interface MasterWorker extends MainCfgPaths {
  /** The master's pid. */
  pid: number;
  /** The master's and its workers' stdout+stderr lines (alerts, "Loading failure!", ...). */
  output: string[];
  /** SIGTERM to the master, SIGKILL after a grace; resolves once it and its workers are gone. */
  stop(): Promise<void>;
}

export interface MasterWorkerOptions {
  /** main.cfg: its text (whose `stats socket` and `server-state-file` paths are used), or built from our paths. */
  mainCfg: string | ((paths: MainCfgPaths) => string);
  /** Path of the fragment loaded after main.cfg (the file `sync` writes). */
  outCfg: string;
  /** Where main.cfg and the master socket go; default a fresh temp dir removed at teardown. */
  dir?: string;
  /** How long the stats socket may take to answer. Default 10 s (stretched). */
  readyTimeoutMs?: number;
}

/**
 * main.cfg for a master-worker HAProxy whose servers' state survives reloads: an admin stats
 * socket, a server-state file loaded by every backend, and `hard-stop-after` for old workers.
 */
export function mainCfgFor(o: { statsSocket: string; stateFile: string; hardStopAfter: string | number }): string {
  const hardStop = typeof o.hardStopAfter === 'number' ? `${o.hardStopAfter}ms` : o.hardStopAfter;
  return `global
  master-worker
  stats socket ${o.statsSocket} mode 600 level admin
  server-state-file ${o.stateFile}
  hard-stop-after ${hardStop}
defaults
  mode http
  timeout connect 1s
  timeout client 30s
  timeout server 30s
  timeout check 1s
  load-server-state-from-file global
`;
}

export async function startMasterWorker(t: Owner, o: MasterWorkerOptions): Promise<MasterWorker> {
  const bin = findHaproxy(process.env);
  if (bin === undefined) throw new Error('haproxy not found (call requireHaproxy(t) first)');
  const dir = o.dir ?? tempDir(t, 'hna-haproxy-');
  let paths: MainCfgPaths = {
    dir,
    statsSocket: join(dir, 'admin.sock'),
    masterSocket: join(dir, 'master.sock'),
    stateFile: join(dir, 'server-state'),
  };
  let text: string;
  if (typeof o.mainCfg === 'function') text = o.mainCfg(paths);
  else {
    text = o.mainCfg;
    const socket = /^\s*stats socket (\S+)/m.exec(text)?.[1];
    if (socket === undefined) throw new Error('main.cfg has no "stats socket": nothing to wait for');
    paths = { ...paths, statsSocket: socket, stateFile: /^\s*server-state-file (\S+)/m.exec(text)?.[1] ?? '' };
  }
  const mainPath = join(dir, 'main.cfg');
  writeFileSync(mainPath, text);

  const child = spawnChild(t, bin, ['-W', '-S', paths.masterSocket, '-f', mainPath, '-f', o.outCfg], {
    cwd: dir,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  for (const stream of [child.stdout, child.stderr]) {
    const split = lineSplitter();
    stream?.setEncoding('utf8');
    stream?.on('data', (c: string) => output.push(...split(c)));
  }
  let gone = false;
  const exited = new Promise<void>((resolve) => {
    child.on('exit', () => {
      gone = true;
      resolve();
    });
    child.on('error', () => {
      gone = true;
      resolve();
    });
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error(`cannot start ${bin}`);

  /** Workers last listed: stop() waits for them too, since they outlive a SIGKILLed master briefly. */
  let workers: number[] = [];
  const stop = async (): Promise<void> => {
    if (!gone) {
      try {
        workers = (await showProc(paths.masterSocket, 1000)).workers.map((w) => w.pid);
      } catch {
        // the master is not answering: kill it all the same
      }
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), deadline(3000));
      await exited;
      clearTimeout(timer);
    }
    const until = Date.now() + deadline(5000);
    while (workers.some(alive) && Date.now() < until) await sleep(20);
    for (const w of workers.filter(alive)) process.kill(w, 'SIGKILL');
  };
  t.teardown(stop);

  const readyBy = Date.now() + deadline(o.readyTimeoutMs ?? 10_000);
  for (;;) {
    if (gone) throw new Error(`haproxy exited during startup:\n${output.join('\n')}`);
    try {
      // Answers only once the worker runs, after every listener is bound.
      if ((await cliCommand(paths.statsSocket, 'show info', 1000)).includes('Name: HAProxy')) break;
    } catch {
      // not there yet
    }
    if (Date.now() > readyBy) throw new Error(`haproxy not ready in time:\n${output.join('\n')}`);
    await sleep(20);
  }
  return { ...paths, pid, output, stop };
}

/** Running, and not a zombie waiting for whoever inherited it to reap it. */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\S+ \(.*\) [ZX]/.test(stat);
  } catch {
    return false;
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
