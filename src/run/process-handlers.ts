// What the process does with errors nothing caught. The agent is fail-static: HAProxy keeps the last
// answer it heard while the agent is away, so a dead agent freezes the edge and a lying one misleads
// it. A rejected promise is one failed async operation whose synchronous effects are complete:
// log it, count it, keep answering. A synchronous exception may have left a half-applied update
// behind, so Node's default stands (log, exit 1, the kubelet or systemd restarts us).
import type { Logger } from '../platform/log.js';

export function installProcessHandlers(log: Logger, countRejection: () => void): () => void {
  const onRejection = (reason: unknown): void => {
    countRejection();
    log.error(
      { err: reason instanceof Error ? (reason.stack ?? reason.message) : String(reason) },
      'unhandled promise rejection (a bug): logged and counted in unhandled_rejections_total; ' +
        'answers keep the last known state',
    );
  };
  const onException = (err: Error, origin: string): void => {
    log.fatal(
      { err: err.stack ?? err.message, origin },
      'uncaught exception: exiting so a fresh process starts from a clean list',
    );
  };
  process.on('unhandledRejection', onRejection);
  // The monitor only observes: Node still exits after it.
  process.on('uncaughtExceptionMonitor', onException);
  return () => {
    process.off('unhandledRejection', onRejection);
    process.off('uncaughtExceptionMonitor', onException);
  };
}
