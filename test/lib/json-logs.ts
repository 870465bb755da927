// The JSON log lines a child process writes on stdout (pino: one object per line), and its stderr:
// the one reader behind the agent, coordinator and bench helpers.
import type { ChildProcess } from 'node:child_process';
import { lineSplitter } from '../../src/platform/lines.js';

export type LogRecord = Record<string, unknown>;

export interface JsonLogs {
  /** Every stdout line so far, parsed ({ raw } when a line is not JSON); empty with keep: false. */
  logs: LogRecord[];
  stderr: string[];
  /** Resolves with the exit code. */
  exited: Promise<number | null>;
  /**
   * The first record (seen from now on) that `pick` maps to a value; rejects if the process exits
   * first, with `what` (e.g. "agent exited before listening"), the exit code and stderr.
   */
  first<T>(what: string, pick: (rec: LogRecord) => T | undefined): Promise<T>;
}

/** Starts reading `proc`'s stdout and stderr at once (call it before the process can write). */
export function readJsonLogs(proc: ChildProcess, opts: { keep?: boolean } = {}): JsonLogs {
  const keep = opts.keep ?? true;
  const logs: LogRecord[] = [];
  const stderr: string[] = [];
  const watchers = new Set<(rec: LogRecord) => void>();
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  const split = lineSplitter();
  proc.stdout?.setEncoding('utf8');
  proc.stdout?.on('data', (chunk: string) => {
    for (const line of split(chunk)) {
      let rec: LogRecord;
      try {
        rec = JSON.parse(line) as LogRecord;
      } catch {
        rec = { raw: line };
      }
      if (keep) logs.push(rec);
      for (const w of watchers) w(rec);
    }
  });
  proc.stderr?.setEncoding('utf8');
  proc.stderr?.on('data', (c: string) => stderr.push(c));
  return {
    logs,
    stderr,
    exited,
    first<T>(what: string, pick: (rec: LogRecord) => T | undefined): Promise<T> {
      return new Promise<T>((resolve, reject) => {
        const w = (rec: LogRecord): void => {
          const v = pick(rec);
          if (v === undefined) return;
          watchers.delete(w);
          resolve(v);
        };
        watchers.add(w);
        void exited.then((code) => {
          if (!watchers.delete(w)) return;
          reject(new Error(`${what} (exit ${code}): ${stderr.join('')}`));
        });
      });
    },
  };
}
