// The master CLI of `haproxy -W -S SOCK`: who is running (`show proc`) and a hitless reload that
// reports whether it took. 2.6's `reload` prints nothing either way, so the verdict comes from
// `show proc`'s counters, read before and after.
import { errorMessage } from '../core/error-message.js';
import { cliCommand } from './cli-socket.js';

export interface WorkerInfo {
  pid: number;
  /** Reloads this worker has lived through: 0 for a fresh one (a failed reload counts too). */
  reloads: number;
  /** As HAProxy prints it, e.g. "0d00h00m14s". */
  uptime: string;
  /** Listed under "# workers" (serving new connections), not "# old workers" (finishing old ones). */
  current: boolean;
}

export interface ProcInfo {
  masterPid: number;
  /** Reloads since the master started, failed ones included. */
  reloads: number;
  /** Failed reloads since the last successful one: 2.6 resets it to 0 when a reload succeeds. */
  failedReloads: number;
  workers: WorkerInfo[];
  /** The master's version column, e.g. "2.6.12-1+deb12u4". */
  version: string;
}

const MASTER_LINE = /^(\d+)\s+master\s+(\d+)(?:\s+\[failed:\s*(\d+)\])?\s+(\S+)(?:\s+(\S+))?/;
const PROC_LINE = /^(\d+)\s+(\S+)\s+(\d+)\s+(\S+)/;

/**
 * `show proc` (2.6): a `#<PID> <type> <reloads> <uptime> <version>` header, the master's line
 * (`PID master RELOADS [failed: N] UPTIME VERSION`), then sections "# workers", "# old workers"
 * and "# programs" (programs are not workers and are left out).
 */
export function parseShowProc(text: string): ProcInfo {
  let master: ProcInfo | undefined;
  const workers: WorkerInfo[] = [];
  let section = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#<')) continue;
    if (line.startsWith('#')) {
      section = line.slice(1).trim();
      continue;
    }
    const m = MASTER_LINE.exec(line);
    if (m !== null && section === '') {
      master = {
        masterPid: Number(m[1]),
        reloads: Number(m[2]),
        failedReloads: Number(m[3] ?? '0'),
        workers,
        version: m[5] ?? '',
      };
      continue;
    }
    const w = PROC_LINE.exec(line);
    if (w !== null && w[2] === 'worker' && (section === 'workers' || section === 'old workers'))
      workers.push({ pid: Number(w[1]), reloads: Number(w[3]), uptime: w[4] ?? '', current: section === 'workers' });
  }
  if (master === undefined)
    throw new Error(`not "show proc" output (no master line): ${JSON.stringify(text.slice(0, 200))}`);
  return master;
}

export async function showProc(masterSocket: string, timeoutMs = 5000): Promise<ProcInfo> {
  return parseShowProc(await cliCommand(masterSocket, 'show proc', timeoutMs));
}

export interface ReloadResult {
  /** A new current worker is listed and no failure was counted. */
  ok: boolean;
  before: ProcInfo;
  /** The last `show proc` read (equal to `before` if none could be read after the reload). */
  after: ProcInfo;
  /** What happened, in words, for logs. */
  detail: string;
}

/**
 * Sends `reload` to the master and waits for its outcome: ok once the reload counter rose and a
 * current worker is listed that was not current before; not ok when the failed counter rose (the
 * old worker keeps serving), or when `timeoutMs` passes. The master re-execs on reload, so its
 * socket refuses for a moment: connects are retried until the deadline.
 */
export async function reloadAndWait(
  masterSocket: string,
  opts: { timeoutMs: number; pollMs?: number },
): Promise<ReloadResult> {
  const pollMs = opts.pollMs ?? 50;
  const deadline = Date.now() + opts.timeoutMs;
  const left = (): number => Math.max(1, deadline - Date.now());
  const before = await showProcUntil(masterSocket, deadline);
  const oldCurrent = new Set(before.workers.filter((w) => w.current).map((w) => w.pid));
  try {
    await cliCommand(masterSocket, 'reload', left());
  } catch (err) {
    // The master re-execs as soon as it reads `reload` and may drop us before any reply: a dropped
    // connection says nothing, the counters below do. A refused one means it was never sent.
    if (/ENOENT|ECONNREFUSED/.test(errorMessage(err)))
      return { ok: false, before, after: before, detail: `reload not sent: ${errorMessage(err)}` };
  }
  let after = before;
  let lastError = '';
  for (;;) {
    try {
      after = await showProc(masterSocket, left());
      lastError = '';
      if (after.failedReloads > before.failedReloads)
        return {
          ok: false,
          before,
          after,
          detail:
            `reload failed (failed reloads ${before.failedReloads} → ${after.failedReloads}); ` +
            `worker ${pids(after)} keeps serving`,
        };
      const fresh = after.workers.filter((w) => w.current && !oldCurrent.has(w.pid));
      if (after.reloads > before.reloads && fresh.length > 0)
        return {
          ok: true,
          before,
          after,
          detail: `reloaded (reloads ${before.reloads} → ${after.reloads}); new worker ${pids(after)}`,
        };
    } catch (err) {
      lastError = errorMessage(err); // refused while the master re-execs: try again
    }
    if (Date.now() >= deadline)
      return {
        ok: false,
        before,
        after,
        detail:
          `no outcome within ${opts.timeoutMs}ms (reloads ${before.reloads} → ${after.reloads}, ` +
          `failed ${before.failedReloads} → ${after.failedReloads})${lastError === '' ? '' : `; ${lastError}`}`,
      };
    await new Promise((r) => setTimeout(r, Math.min(pollMs, left())));
  }
}

/** `show proc`, retried while the socket refuses (a reload in progress), until `deadline`. */
async function showProcUntil(masterSocket: string, deadline: number): Promise<ProcInfo> {
  for (;;) {
    try {
      return await showProc(masterSocket, Math.max(1, deadline - Date.now()));
    } catch (err) {
      if (Date.now() >= deadline || !/ENOENT|ECONNREFUSED/.test(errorMessage(err))) throw err;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

function pids(p: ProcInfo): string {
  return (
    p.workers
      .filter((w) => w.current)
      .map((w) => w.pid)
      .join(', ') || '(none listed)'
  );
}
