// `haproxy-node-agent sync`: flags in, then wiring only: the watched clusters, the controller that
// keeps HAProxy equal to the model, and the ops HTTP server. The work is in controller.ts.
import { readFileSync } from 'node:fs';
import { FlagError, helpText, listenError } from '../platform/flags.js';
import { createLogger } from '../platform/log.js';
import { runUntilSignal } from '../platform/lifecycle.js';
import { HttpServer } from '../platform/http/ops-server.js';
import { parseContexts } from '../edge/cluster-objects.js';
import { eligibleNode } from '../edge/model.js';
import { loadTemplateFile } from '../edge/output.js';
import { kubeconfigPath } from '../kube/kubeconfig.js';
import { errorMessage } from '../core/error-message.js';
import { WatchedClusters } from './clusters.js';
import { SYNC_FLAGS, SYNC_USAGE, loadSyncConfig } from './config.js';
import { SyncController } from './controller.js';
import { EligibilityGrace } from './grace.js';
import { syncMetrics } from './metrics.js';
import { preflight } from './preflight.js';
import { VERSION } from '../platform/version.js';

export async function runSync(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const cfg = loadSyncConfig(argv, env);
  if (cfg === 'help') {
    process.stdout.write(helpText(SYNC_USAGE, SYNC_FLAGS));
    return 0;
  }
  const template = cfg.template === '' ? undefined : loadTemplateFile(cfg.template);
  const contexts = parseContexts(cfg.context);
  const kubeconfig = kubeconfigPath(cfg.kubeconfig ?? '', env);
  if (kubeconfig === undefined && env.KUBERNETES_SERVICE_HOST === undefined)
    throw new FlagError(
      'kubeconfig',
      'not set, KUBECONFIG names no file, there is no ~/.kube/config, and not running in a Pod; pass --kubeconfig FILE',
    );
  let onDisk = '';
  try {
    onDisk = readFileSync(cfg.out, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
      throw new FlagError('out', `cannot read "${cfg.out}": ${errorMessage(err)}`);
  }
  const log = createLogger(cfg.logLevel, cfg.logFormat);

  let controller: SyncController | undefined;
  const clusters = new WatchedClusters(
    kubeconfig,
    contexts,
    env,
    cfg.requestTimeoutMs,
    cfg.annotationPrefix,
    {
      onChange: () => controller?.kick(),
      onRestart: (cluster, resource, reason, err, delayMs) => {
        metrics.watchRestarts.inc({ cluster, resource, reason });
        log.warn(
          { cluster, resource, reason, err: errorMessage(err), retryInMs: delayMs },
          `${cluster}: ${resource} watch stopped (${reason}); restarting in ${delayMs}ms; the last servers stay`,
        );
      },
    },
    log,
  );
  const grace = new EligibilityGrace(
    cfg.replaceAfterMs,
    (raw) => eligibleNode(raw, () => {}, cfg.annotationPrefix) !== undefined,
    (raw) => {
      const name = (raw as { metadata?: { name?: unknown } } | null)?.metadata?.name;
      return typeof name === 'string' ? name : undefined;
    },
  );
  const metrics = syncMetrics({
    pendingChanges: () => controller?.pendingChanges() ?? 0,
    serversDraining: () => controller?.drainingCount ?? 0,
    oldWorkers: () => controller?.oldWorkerCount,
    held: () => controller?.isHeld ?? false,
    haproxyUp: () => controller?.haproxyUp ?? false,
    synced: () => clusters.listed,
    secondsSinceContact: () => clusters.oldestContactSeconds(Date.now()),
    servers: () => ({ desired: controller?.desiredServers() ?? 0, running: controller?.runningServers() }),
  });
  const settings = {
    nodesPerService: cfg.nodesPerService,
    agentPort: cfg.agentPort,
    agentInterMs: cfg.agentInterMs,
    slowstartMs: cfg.slowstartMs,
    bind: cfg.bind,
    shutdownSessionsOnDown: cfg.shutdownSessionsOnDown,
    tcpBindAddress: cfg.tcpBindAddress,
  };
  const c = new SyncController(
    cfg,
    settings,
    template,
    clusters,
    grace,
    metrics,
    log,
    {
      print: (text) => void process.stdout.write(text),
    },
    onDisk,
  );
  controller = c;

  let version = 0;
  const http = new HttpServer(
    cfg.httpAddress,
    cfg.httpPort,
    {
      registry: metrics.registry,
      ready: () => c.ready,
      notReadyReason: () => c.notReadyReason(),
      status: {
        version: () => version++,
        document: () => ({ services: [] }),
        live: () => ({ version: VERSION, ...c.status() }),
      },
    },
    'all',
  );
  let httpPort: number;
  try {
    httpPort = await http.listen();
  } catch (err) {
    throw listenError('http-port', err);
  }
  log.info(
    { http: `${cfg.httpAddress}:${httpPort}`, out: cfg.out, clusters: contexts.map((x) => x.cluster || '(current)') },
    'listening',
  );
  if (!cfg.dryRun) for (const problem of await preflight(cfg)) log.warn({ problem }, `HAProxy setup: ${problem}`);
  clusters.start();
  const resync = setInterval(() => c.kick(0), cfg.resyncIntervalMs);
  return runUntilSignal(
    {
      async stop() {
        clearInterval(resync);
        c.stop();
        clusters.stop();
        await http.close();
      },
    },
    log,
    'stopping; HAProxy keeps running as it is',
  );
}
