// Every child process a test starts, and every temp folder it makes, goes through here, so that
// none outlives the test: not when a test fails, and not when tap kills the file on its timeout
// (tap sends SIGALRM, then SIGKILL: no teardown runs then, and no 'exit' handler on SIGKILL).
//
// The guarantee that holds even then is the kernel's: children are started through util-linux's
// `setpriv --pdeathsig SIGKILL`, which execs the real program in place (same pid) after asking the
// kernel to SIGKILL it when this process dies, however it dies. Teardown kills them earlier.
import { execFile, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { deadline } from './deadline.js';

/**
 * What owns a child or a temp folder and cleans up after it: a tap Test (its teardown), or the
 * bench's own owner, which has no test around it.
 */
export interface Owner {
  teardown(fn: () => unknown): void;
}

/** A program's path on the PATH (or in /usr/bin, /bin), or undefined when it is not installed. */
export function which(cmd: string): string | undefined {
  for (const dir of [...(process.env.PATH ?? '').split(delimiter).filter((d) => d !== ''), '/usr/bin', '/bin']) {
    try {
      accessSync(join(dir, cmd), constants.X_OK);
      return join(dir, cmd);
    } catch {
      // not here
    }
  }
  return undefined;
}

/** setpriv, when installed (.ci/run installs it); without it only teardown and 'exit' protect. */
export const SETPRIV = which('setpriv');

/** The argv prefix that makes the kernel kill the program when this test process dies. */
export const PDEATHSIG: string[] = SETPRIV === undefined ? [] : [SETPRIV, '--pdeathsig', 'SIGKILL', '--'];

/** Children not yet seen to exit: killed if this process exits without their teardown. */
const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const p of live) kill(p);
});

function kill(p: ChildProcess): void {
  if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
}

function track(p: ChildProcess): ChildProcess {
  live.add(p);
  p.on('exit', () => live.delete(p));
  return p;
}

/**
 * Starts `cmd args` as a child that dies with this process, and is SIGKILLed at `t`'s teardown
 * if still running. Same pid as the program itself (setpriv execs it), so signals reach it.
 */
export function spawnChild(t: Owner, cmd: string, args: string[], opts: SpawnOptions = {}): ChildProcess {
  const [bin, ...rest] = [...PDEATHSIG, cmd, ...args] as [string, ...string[]];
  const p = track(spawn(bin, rest, opts));
  t.teardown(() => kill(p));
  return p;
}

export interface ChildResult {
  /** Exit code; null when killed by a signal (e.g. the timeout). */
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `cmd args` to completion (killed after `timeoutMs`, stretched by SLOWDOWN and generous by
 * default: a busy machine is slow, not broken). Resolves whatever the exit code; rejects only when
 * it cannot be started.
 */
export function runChild(
  cmd: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {},
): Promise<ChildResult> {
  const [bin, ...rest] = [...PDEATHSIG, cmd, ...args] as [string, ...string[]];
  return new Promise((resolve, reject) => {
    track(
      execFile(
        bin,
        rest,
        {
          env: opts.env,
          cwd: opts.cwd,
          timeout: deadline(opts.timeoutMs ?? 60_000),
          killSignal: 'SIGKILL',
          maxBuffer: 64 << 20,
        },
        (err, stdout, stderr) => {
          if (err !== null && typeof err.code === 'string') return reject(err); // ENOENT and the like
          resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : null, stdout, stderr });
        },
      ),
    );
  });
}

/** A fresh folder under the temp dir, removed at `t`'s teardown. */
export function tempDir(t: Owner, prefix = 'hna-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}
