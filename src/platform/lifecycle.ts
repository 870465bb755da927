// How a long-running command ends, the same for every one: run until SIGTERM or SIGINT, then stop
// within a deadline, and say with the exit code whether the stop was clean.
import type { Logger } from './log.js';

/** How long SIGTERM may take: in-flight work finishes, then we exit (well inside Kubernetes' 30s). */
export const STOP_DEADLINE_MS = 10_000;

export interface Stoppable {
  stop(): Promise<void>;
}

/**
 * Resolves once `running` has stopped after the first SIGTERM or SIGINT (later ones are ignored):
 * 0 when it stopped, 1 when stopping failed or outlasted the deadline.
 * `stopping` tells the operator what the command does meanwhile, e.g. "releasing the lease and stopping".
 */
export function runUntilSignal(
  running: Stoppable,
  log: Logger,
  stopping: string,
  deadlineMs = STOP_DEADLINE_MS,
): Promise<number> {
  return new Promise<number>((resolve) => {
    let signalled = false;
    const onSignal = (sig: NodeJS.Signals): void => {
      if (signalled) return;
      signalled = true;
      log.info({ signal: sig }, `${sig}: ${stopping}`);
      const deadline = setTimeout(() => {
        log.error('stop deadline passed; exiting anyway');
        resolve(1);
      }, deadlineMs);
      deadline.unref();
      running.stop().then(
        () => {
          clearTimeout(deadline);
          log.info('stopped');
          resolve(0);
        },
        (err: unknown) => {
          log.error({ err }, 'error while stopping');
          resolve(1);
        },
      );
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
}
