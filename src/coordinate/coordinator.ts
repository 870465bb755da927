// Wires `coordinate`: one informer over all Nodes, leader election on a Lease, and (while leader)
// the mass-drain guard computed exactly as agents in local mode do (core/mass-drain-guard.ts), published as one
// ConfigMap. Standbys keep a warm cache so a takeover publishes at once.
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { Logger } from '../platform/log.js';
import type { NodeView } from '../core/views.js';
import { computeGuard, type GuardResult } from '../core/mass-drain-guard.js';
import { HttpServer } from '../platform/http/ops-server.js';
import { listenError } from '../platform/flags.js';
import { DEFAULT_TIMING, ResourceInformer } from '../kube/informer.js';
import { loadKubeConfig } from '../kube/kubeconfig.js';
import { ApiTransport } from '../kube/transport.js';
import { nodeFromObject } from '../kube/parse.js';
import { coordinatorMetrics } from './metrics.js';
import type { CoordinatorConfig } from './config.js';
import { DECISION_NAME, LEASE_NAME, sameVerdict } from '../core/guard-decision.js';
import { DEFAULT_LEASE_TIMING, LeaderElector } from '../kube/lease.js';
import { DecisionPublisher, FencedError, type PublishResult } from './publish.js';
import { errorMessage } from '../core/error-message.js';

/** The leader rewrites the decision this often, so agents can tell it is alive (their --guard-stale-after). */
export const HEARTBEAT_MS = 10_000;
/** Node changes within this window are published together. */
const DEBOUNCE_MS = 100;
/** After a failed write, try again this soon. */
const RETRY_MS = 1000;
const REQUEST_TIMEOUT_MS = 10_000;
const WATCH_TIMEOUT_MS = 60_000;

export interface RunningCoordinator {
  httpPort: number;
  identity: string;
  stop(): Promise<void>;
}

export async function startCoordinator(
  cfg: CoordinatorConfig,
  log: Logger,
  env: NodeJS.ProcessEnv,
): Promise<RunningCoordinator> {
  const kc = loadKubeConfig(cfg.kubeconfig, env);
  // Pod name (or host name) plus a random part: two processes on one host are two candidates.
  const identity = `${env.POD_NAME || hostname()}_${randomBytes(3).toString('hex')}`;
  const nodes = new Map<string, NodeView>();
  let listed = false;
  let guard: GuardResult = computeGuard([], cfg.policy, cfg.maxDrainFraction);
  let lastError: string | undefined;
  let lastPublish: string | undefined;

  const m = coordinatorMetrics({
    leader: () => elector.isLeader,
    generation: () => publisher.published?.generation,
    nodes: () => nodes.size,
    guard: () => guard,
  });
  const transport = new ApiTransport(
    kc,
    REQUEST_TIMEOUT_MS,
    () => {},
    // A credential file swapped for something unreadable: the last good one stays in use; say so.
    (what, path, detail) =>
      detail === null
        ? log.info({ path }, `${what} ${path} is readable again`)
        : log.warn({ path, detail }, `cannot read ${what} ${path}: ${detail}; the last good one stays in use`),
  );
  const publisher = new DecisionPublisher(transport, cfg.namespace, cfg.maxDrainFraction);

  // ---- publishing: one write in flight, debounced, re-run when kicked meanwhile ----
  let timer: NodeJS.Timeout | undefined;
  let inFlight = false;
  let again = false;
  let stopped = false;
  /** A write is due even if the verdict did not change (taking over, heartbeat, failed write). */
  let due = true;
  const kick = (delayMs = DEBOUNCE_MS): void => {
    if (stopped || !elector.isLeader || !listed) return;
    if (inFlight) {
      again = true;
      return;
    }
    if (timer !== undefined) return;
    timer = setTimeout(() => {
      timer = undefined;
      void publishNow();
    }, delayMs);
  };
  const publishNow = async (): Promise<void> => {
    // Never before the first full list: an empty picture would un-drain every draining node.
    if (!elector.isLeader || !listed) return;
    inFlight = true;
    again = false;
    const next = computeGuard(nodes.values(), cfg.policy, cfg.maxDrainFraction);
    const published = publisher.published;
    // Node writes that change no verdict (status heartbeats) cost no ConfigMap write, so no fan-out.
    if (!due && published !== undefined && sameVerdict(published, next)) {
      inFlight = false;
      if (again) kick();
      return;
    }
    due = false;
    let result: PublishResult | 'failed' | 'fenced';
    try {
      // The elector's fence is checked right before the write, not only here: a process frozen past
      // its lease (SIGSTOP) wakes with isLeader still true until its next election round.
      result = await publisher.publish(next, () => elector.fence());
      if (lastError !== undefined)
        log.warn({ configmap: `${cfg.namespace}/${DECISION_NAME}` }, 'decision written again');
      lastError = undefined;
      lastPublish = new Date().toISOString();
    } catch (err) {
      result = err instanceof FencedError ? 'fenced' : 'failed';
      due = true;
      const msg = errorMessage(err);
      if (lastError === undefined && result === 'fenced')
        log.warn({ err: msg, identity }, `not writing the decision: ${msg}; waiting for the election round`);
      else if (lastError === undefined)
        log.error(
          { err: msg, configmap: `${cfg.namespace}/${DECISION_NAME}` },
          `could not write the decision: ${msg}; retrying`,
        );
      lastError = msg;
    }
    m.publishes.inc({ result });
    inFlight = false;
    const wrote = result !== 'failed' && result !== 'fenced';
    if (wrote) {
      logGuard(log, guard, next, cfg.maxDrainFraction, result as PublishResult);
      guard = next;
    }
    // Fenced: retried once a round has renewed the lease; kick() does nothing once deposed.
    if (again || !wrote) kick(wrote ? DEBOUNCE_MS : RETRY_MS);
  };

  const elector = new LeaderElector(transport, cfg.namespace, LEASE_NAME, identity, DEFAULT_LEASE_TIMING, {
    elected: () => {
      log.warn(
        { identity, lease: `${cfg.namespace}/${LEASE_NAME}` },
        `elected leader: publishing the guard decision to ${cfg.namespace}/${DECISION_NAME}`,
      );
      due = true;
      kick(0);
    },
    deposed: (reason) => log.warn({ identity, reason }, `no longer leader: ${reason}`),
    failed: (err) => log.warn({ err: errorMessage(err) }, 'leader election round failed'),
  });

  const informer = new ResourceInformer(
    transport,
    {
      resource: 'nodes',
      path: '/api/v1/nodes',
      trim: (raw) => nodeFromObject(raw, cfg.annotationPrefix),
      onUpsert: (c) => {
        const prev = nodes.get(c.view.name);
        nodes.set(c.view.name, c.view);
        if (prev === undefined || JSON.stringify(prev) !== JSON.stringify(c.view)) kick();
      },
      onDelete: (c) => {
        nodes.delete(c.view.name);
        kick();
      },
      onListed: () => {
        if (!listed) log.info({ nodes: nodes.size }, `nodes listed: ${nodes.size}`);
        listed = true;
        kick(0);
      },
      onRestart: (reason, err, delayMs) => {
        m.watchRestarts.inc({ reason });
        log.warn(
          { reason, err: errorMessage(err), retryInMs: delayMs },
          `nodes watch stopped (${reason}); restarting in ${delayMs}ms`,
        );
      },
      onEvent: (type) => m.watchEvents.inc({ type }),
    },
    { ...DEFAULT_TIMING, watchTimeoutMs: WATCH_TIMEOUT_MS },
  );

  const http = new HttpServer(
    cfg.httpAddress,
    cfg.httpPort,
    {
      registry: m.registry,
      ready: () => listed,
      // The coordinator has no per-Service list: everything is a small live field, built per request.
      status: {
        version: () => 0,
        document: () => ({ services: [] }),
        live: () => ({
          identity,
          leader: elector.isLeader,
          holder: elector.holder ?? null,
          lease: `${cfg.namespace}/${LEASE_NAME}`,
          configmap: `${cfg.namespace}/${DECISION_NAME}`,
          nodesListed: listed,
          nodes: nodes.size,
          maxDrainFraction: cfg.maxDrainFraction,
          guard,
          published: publisher.published ?? null,
          lastPublish: lastPublish ?? null,
          lastError: lastError ?? null,
        }),
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
    { identity, http: `${cfg.httpAddress}:${httpPort}`, api: kc.getCurrentCluster()?.server, namespace: cfg.namespace },
    'listening',
  );
  informer.start();
  elector.start();
  const heartbeat = setInterval(() => {
    due = true;
    kick(0);
  }, HEARTBEAT_MS);

  return {
    httpPort,
    identity,
    async stop() {
      stopped = true;
      clearInterval(heartbeat);
      clearTimeout(timer);
      informer.stop();
      // Release the lease: the standby takes over at its next retry, not after the lease expires.
      await elector.stop();
      await http.close();
    },
  };
}

function logGuard(log: Logger, from: GuardResult, to: GuardResult, fraction: number, result: PublishResult): void {
  if (result === 'heartbeat') return;
  const fields = {
    readyNodes: to.readyNodes,
    budget: to.budget,
    explicit: to.explicit,
    draining: to.draining,
    held: to.held,
  };
  if (to.engaged && (!from.engaged || from.held.join() !== to.held.join()))
    log.warn(
      fields,
      `mass-drain guard engaged: ${to.held.length} node(s) held serving so that at most ${to.budget} ` +
        `of ${to.readyNodes} Ready nodes drain (--max-drain-fraction ${fraction})`,
    );
  else if (!to.engaged && from.engaged)
    log.warn(fields, 'mass-drain guard released: every drain signal is honoured again');
  else
    log.info(fields, `decision published: ${to.explicit.length + to.draining.length} draining, ${to.held.length} held`);
}
