// `haproxy-node-agent coordinate`: flags, then the coordinator until SIGTERM/SIGINT.
import { helpText } from '../platform/flags.js';
import { runUntilSignal } from '../platform/lifecycle.js';
import { COORDINATE_FLAGS, loadCoordinatorConfig } from './config.js';

export async function runCoordinate(argv: string[]): Promise<number> {
  const cfg = loadCoordinatorConfig(argv, process.env);
  if (cfg === 'help') {
    process.stdout.write(helpText('Usage: haproxy-node-agent coordinate [flags]', COORDINATE_FLAGS));
    return 0;
  }
  const { createLogger } = await import('../platform/log.js');
  const { startCoordinator } = await import('./coordinator.js');
  const log = createLogger(cfg.logLevel, cfg.logFormat);
  const running = await startCoordinator(cfg, log, process.env);
  return runUntilSignal(running, log, 'releasing the lease and stopping');
}
