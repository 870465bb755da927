#!/usr/bin/env node
// CLI entry: pick the subcommand, parse its flags, wire, handle signals. Nothing else lives here.
import { closest, FlagError, helpText } from './platform/flags.js';
import { runUntilSignal } from './platform/lifecycle.js';
import { RUN_FLAGS, loadConfig } from './run/run-config.js';
// The daemon and the Kubernetes client load only after flags parse: a typo fails in milliseconds.

const USAGE = `Usage: haproxy-node-agent <command> [flags]

Commands:
  run           the agent daemon (default when no command is given)
  demo          the daemon against a built-in simulated cluster, for a first look
  render        HAProxy configuration for the Services that opt in (hashed node subsets,
                agent-checks)
  sync          keep a running HAProxy equal to what render would write, through its runtime
                API and hitless reloads, for as long as it runs
  coordinate    the mass-drain guard for large clusters: one leader watches all Nodes and
                publishes the decision the agents follow (--guard-mode coordinated)
  wait-drained  wait until every HAProxy probing a node has received its drain (GET /drained)

Run "haproxy-node-agent <command> --help" for the flags of each command.
Every command also takes --version.
`;

const COMMANDS = ['run', 'demo', 'render', 'sync', 'coordinate', 'wait-drained'] as const;

async function main(argv: string[]): Promise<number> {
  const first = argv[0];
  if (first === '--help' || first === '-h' || first === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  const cmd = first === undefined || first.startsWith('--') ? 'run' : first;
  const rest = first === undefined || first.startsWith('--') ? argv : argv.slice(1);
  // Answered here, before any subcommand parses its flags, so every command (and any new one) has it.
  if ((COMMANDS as readonly string[]).includes(cmd) && rest.includes('--version')) {
    process.stdout.write((await import('./platform/version.js')).versionLine());
    return 0;
  }
  switch (cmd) {
    case 'run':
      return runCommand(rest);
    case 'demo':
      return (await import('./demo/cli.js')).runDemo(rest);
    case 'render':
      return (await import('./render/cli.js')).runRender(rest);
    case 'sync':
      return (await import('./sync/cli.js')).runSync(rest);
    case 'coordinate':
      return (await import('./coordinate/cli.js')).runCoordinate(rest);
    case 'wait-drained':
      return (await import('./wait-drained/cli.js')).runWaitDrained(rest);
    default: {
      const guess = closest(cmd, COMMANDS);
      const hint = guess === undefined ? '' : `; did you mean ${guess}?`;
      process.stderr.write(`haproxy-node-agent: unknown command "${cmd}"${hint} (commands: ${COMMANDS.join(', ')})\n`);
      return 2;
    }
  }
}

async function runCommand(argv: string[]): Promise<number> {
  const cfg = loadConfig(argv, process.env);
  if (cfg === 'help') {
    process.stdout.write(helpText('Usage: haproxy-node-agent run [flags]', RUN_FLAGS));
    return 0;
  }
  const { createLogger } = await import('./platform/log.js');
  const { startDaemon } = await import('./run/daemon.js');
  const log = createLogger(cfg.logLevel, cfg.logFormat);
  const daemon = await startDaemon(cfg, log, process.env);
  return runUntilSignal(daemon, log, 'no new probes; finishing the ones in flight');
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    // Timers of stopped parts (e.g. a pending API request) must not keep a stopped daemon alive.
    setTimeout(() => process.exit(code), 50).unref();
  },
  (err: unknown) => {
    if (err instanceof FlagError) {
      process.stderr.write(`haproxy-node-agent: ${err.message}\n`);
      process.exit(2);
    }
    process.stderr.write(`haproxy-node-agent: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
