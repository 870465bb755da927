// `haproxy-node-agent coordinate`: flags, then the coordinator until SIGTERM/SIGINT.
import { helpText } from '../common/flags.js';
import { COORDINATE_FLAGS, loadCoordinatorConfig } from './config.js';

const STOP_DEADLINE_MS = 10_000;

export async function runCoordinate(argv: string[]): Promise<number> {
  const cfg = loadCoordinatorConfig(argv, process.env);
  if (cfg === 'help') {
    process.stdout.write(helpText('Usage: haproxy-node-agent coordinate [flags]', COORDINATE_FLAGS));
    return 0;
  }
  const { createLogger } = await import('../common/log.js');
  const { startCoordinator } = await import('./coordinator.js');
  const log = createLogger(cfg.logLevel);
  const running = await startCoordinator(cfg, log, process.env);
  return new Promise<number>((resolve) => {
    let stopping = false;
    const onSignal = (sig: NodeJS.Signals): void => {
      if (stopping) return;
      stopping = true;
      log.info({ signal: sig }, `${sig}: releasing the lease and stopping`);
      const deadline = setTimeout(() => resolve(1), STOP_DEADLINE_MS);
      deadline.unref();
      running.stop().then(
        () => {
          clearTimeout(deadline);
          log.info('stopped');
          resolve(0);
        },
        () => resolve(1),
      );
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
}
