// Wires the parts of `run`: kube informers + override file + clock → AgentState → agent and HTTP
// servers. Decisions live in core/; what the operator is told lives in observer.ts; this file only
// connects. Each state update returns what it changed (Changes), and apply() below acts on it: the
// delivery receipts learn the node's answer, the observer words it, the dedicated ports follow the
// annotations. Everything is built before any callback that uses it can run, then started in order.
import type { RunConfig } from './run-config.js';
import type { Logger } from '../platform/log.js';
import { AgentState, type Changes } from '../core/agent-state.js';
import { createMetrics } from './metrics.js';
import { AgentServer } from './agent/server.js';
import { DedicatedPorts } from './agent/ports.js';
import { HttpServer } from '../platform/http/ops-server.js';
import { ApiTransport } from '../kube/transport.js';
import { DEFAULT_TIMING, ResourceInformer, type InformerOptions } from '../kube/informer.js';
import { loadKubeConfig } from '../kube/kubeconfig.js';
import { nodeFromObject, serviceFromObject, sliceFromObject } from '../kube/parse.js';
import { OverrideWatcher } from './override.js';
import { listenError } from '../platform/flags.js';
import { VERSION } from '../platform/version.js';
import { DataplaneMonitor } from './dataplane/monitor.js';
import { ApiHealth } from '../kube/api-health.js';
import { collectAfterFirstSync } from './gc.js';
import { installProcessHandlers } from './process-handlers.js';
import { DecisionFollower } from '../kube/decision-follower.js';
import { NodeEventRecorder } from '../kube/events.js';
import { Receipts } from './agent/receipts.js';
import { ConnectionBudget } from './agent/budget.js';
import { drainedAnswer } from './http/drained.js';
import { peersStatus } from './http/peers-status.js';
import { DaemonObserver, eventOutcome } from './observer.js';
import { Staleness } from './staleness.js';
import { performance } from 'node:perf_hooks';

export interface RunningDaemon {
  agentPort: number;
  httpPort: number;
  stop(): Promise<void>;
}

/** How often the clock is consulted for slow start and staleness. */
const TICK_MS = 1000;

export async function startDaemon(cfg: RunConfig, log: Logger, env: NodeJS.ProcessEnv): Promise<RunningDaemon> {
  const kc = loadKubeConfig(cfg.kubeconfig, env);
  // Who was told what: monotonic clock, the same for probes and node answer changes.
  const receipts = new Receipts(() => performance.now(), {
    forgetSilentAfterMs: cfg.forgetSilentPeersAfterMs,
    expectedPeers: cfg.expectedPeers,
    answerFor: (key) => state.serviceAnswer(key),
  });
  // One connection budget for the agent port and every dedicated port.
  const budget = new ConnectionBudget(cfg.maxConnections, cfg.maxConnectionsPerSource);
  const staleness = new Staleness(cfg.maxStalenessMs);
  // Counters first (everything reports into them); the gauges' sources are given at the end.
  const metrics = createMetrics();
  const uninstallProcessHandlers = installProcessHandlers(log, () => metrics.unhandledRejections.inc());
  const state = new AgentState({
    nodeName: cfg.nodeName,
    slowStartMs: cfg.slowStartMs,
    now: Date.now,
    policy: cfg.policy,
    maxDrainFraction: cfg.maxDrainFraction,
    drainDeadlineMs: cfg.drainDeadlineMs,
    guardMode: cfg.guardMode,
  });

  // The transport reports each answer to `health` (just below); it sends nothing before start.
  const transport = new ApiTransport(
    kc,
    cfg.requestTimeoutMs,
    (resource) => {
      staleness.contact();
      health.ok(resource);
    },
    (what, path, detail) => observer.credentialFile(what, path, detail),
  );
  const events = new NodeEventRecorder(
    transport,
    cfg.nodeName,
    cfg.eventsNamespace,
    eventOutcome(cfg.nodeName, log, metrics),
  );
  const observer = new DaemonObserver(cfg, log, metrics, events);
  // Coordinated: the decision ConfigMap is read like the rest, and a refusal (403) is reported like theirs.
  const health = new ApiHealth(
    ['nodes', 'services', 'endpointslices', ...(cfg.guardMode === 'coordinated' ? ['configmaps'] : [])],
    (t) => observer.apiHealthChanged(t, state.synced),
  );
  const ports = new DedicatedPorts(
    {
      host: cfg.agentAddress,
      readTimeoutMs: cfg.readTimeoutMs,
      maxConnections: cfg.maxConnections,
      budget,
      reserved: new Set([cfg.agentPort, cfg.httpPort]),
      allowedNamespaces: cfg.agentPortNamespaces,
    },
    state,
    metrics.probes,
    observer.portEvents,
    receipts,
  );

  /** What a state update changed, acted on: delivery counts from the new answer, the operator is told, ports follow. */
  const apply = (c: Changes): void => {
    if (c.nodeAnswer !== undefined) receipts.nodeAnswerIs(c.nodeAnswer.to);
    observer.stateChanged(c, state.synced);
    if (c.agentPorts && state.synced) ports.reconcile(state.agentPortRequests());
  };

  const dataplane = new DataplaneMonitor(
    {
      url: cfg.proxyHealthzUrl,
      intervalMs: cfg.proxyHealthzIntervalMs,
      failures: cfg.proxyHealthzFailures,
      successes: cfg.proxyHealthzSuccesses,
    },
    log,
    {
      setUnhealthy: (since) => apply(state.setProxyUnhealthy(since)),
      polled: (result) => metrics.dataplanePolls.inc({ result }),
      event: (healthy, note) => observer.dataplaneChanged(healthy, note),
    },
  );

  const override = new OverrideWatcher(
    cfg.overrideFile,
    (r, inForce) => {
      observer.overrideRead(r);
      apply(state.setOverride(inForce));
    },
    (reason, detail, inForce) => observer.overrideFailed(reason, detail, inForce),
  );

  const timing = { ...DEFAULT_TIMING, watchTimeoutMs: cfg.watchTimeoutMs };
  const common = <V>(
    resource: 'nodes' | 'services' | 'endpointslices' | 'configmaps',
  ): Pick<InformerOptions<V>, 'resource' | 'onRestart' | 'onEvent' | 'onTooLarge'> => ({
    resource,
    onRestart: (reason, err, delayMs) => {
      if (reason !== 'hung' && reason !== 'gone_after_list') health.failed(resource, err);
      observer.watchRestarted(resource, reason, err, delayMs);
    },
    onEvent: (type) => metrics.watchEvents.inc({ resource, type }),
    onTooLarge: (where, bytes) => observer.tooLarge(resource, where, bytes),
  });

  const nodes = new ResourceInformer(
    transport,
    {
      ...common('nodes'),
      // local: all Nodes, as small views (the guard compares this node with the others).
      // coordinated and off: only our own Node, so other Nodes' writes never reach this agent.
      path: '/api/v1/nodes',
      ...(cfg.guardMode === 'local' ? {} : { fieldSelector: `metadata.name=${cfg.nodeName}` }),
      trim: (raw) => nodeFromObject(raw, cfg.annotationPrefix),
      onUpsert: (c) => apply(state.upsertNode(c)),
      onDelete: (c) => apply(state.deleteNode(c.view.name)),
      onListed: () => {
        observer.nodesListed(state.synced, state.nodeView !== undefined);
        apply(state.markListed('nodes'));
      },
    },
    timing,
  );
  const services = new ResourceInformer(
    transport,
    {
      ...common('services'),
      path: '/api/v1/services',
      ...(cfg.serviceSelector === '' ? {} : { labelSelector: cfg.serviceSelector }),
      trim: (raw) => serviceFromObject(raw, cfg.annotationPrefix, cfg.agentPortRange),
      onUpsert: (c) => apply(state.upsertService(c)),
      onDelete: (c) => apply(state.deleteService(c.view.namespace, c.view.name)),
      onListed: () => {
        observer.servicesListed(state.serviceCount);
        apply(state.markListed('services'));
        ports.reconcile(state.agentPortRequests());
      },
    },
    timing,
  );
  const slices = new ResourceInformer(
    transport,
    {
      ...common('endpointslices'),
      path: '/apis/discovery.k8s.io/v1/endpointslices',
      // Only slices that belong to a Service matter (they carry this label).
      labelSelector: 'kubernetes.io/service-name',
      trim: sliceFromObject,
      onUpsert: (c) => state.upsertSlice(c),
      onDelete: (c) => state.deleteSlice(c),
      onListed: () => apply(state.markListed('endpointslices')),
    },
    timing,
  );
  const informers = [nodes, services, slices];

  const follower =
    cfg.guardMode !== 'coordinated'
      ? undefined
      : new DecisionFollower(
          transport,
          { namespace: cfg.guardNamespace, staleAfterMs: cfg.guardStaleAfterMs },
          {
            onRestart: (reason, err, delayMs) => {
              common('configmaps').onRestart(reason, err, delayMs);
              // A decision the API server refuses to show (403, 401, TLS) counts as missing: answers
              // never wait on it. A dropped connection or a 5xx is retried first: starting from
              // "missing" then could answer ready for a node the coordinator allowed to drain.
              const h = health.get('configmaps')?.state;
              if (h === 'forbidden' || h === 'unauthorized' || h === 'tls') apply(state.decisionRead());
            },
            onEvent: (type) => metrics.watchEvents.inc({ resource: 'configmaps', type }),
            // coordinated: the guard's verdict follows the coordinator's decision, as last seen.
            changed: (decision) => apply(state.setDecision(decision)),
            stateChanged: (from, to, d) => observer.decisionStateChanged(from, to, d?.generation),
            firstListed: (decisionState) => {
              if (decisionState === 'missing') observer.decisionStateChanged('missing', 'missing', undefined);
              // Answers wait for this (or a failed read): they never start from "no decision yet".
              apply(state.decisionRead());
            },
          },
          timing,
        );

  metrics.readFrom({
    secondsSinceContact: () => staleness.secondsSinceContact(),
    snapshotSizes: () => ({
      nodes: state.nodeCount,
      services: state.serviceCount,
      endpointslices: state.sliceCount,
    }),
    synced: () => state.synced,
    nodeReplyKind: () => state.nodeAnswer().kind,
    override: () => state.overrideState,
    stale: () => state.isStale,
    slowStartFactor: () => state.rampFactor,
    dedicatedPorts: () => ports.openPorts.length,
    api: () => ({
      up: Object.fromEntries([...health.entries()].map(([r, h]) => [r, h.state === 'ok'])),
      errors: health.errors,
    }),
    guard: () => ({
      held: state.guardResult.held.length,
      draining: state.guardResult.draining.length + state.guardResult.explicit.length,
      selfHeld: state.isHeld,
    }),
    dataplane: () => dataplane.state,
    guardDecision: () =>
      follower === undefined ? undefined : { state: follower.state, ageSeconds: follower.ageSeconds },
    delivery: () => {
      const v = receipts.view();
      const silent = v.peers.filter((p) => p.keys.some((k) => k.silent)).length;
      return {
        peers: v.peers.length,
        current: v.currentPeers,
        silent,
        delivered: v.delivered,
        dropped: receipts.dropped,
      };
    },
  });

  const agent = new AgentServer(
    {
      host: cfg.agentAddress,
      port: cfg.agentPort,
      readTimeoutMs: cfg.readTimeoutMs,
      maxConnections: cfg.maxConnections,
      budget,
    },
    state,
    metrics.probes,
    receipts,
  );
  const http = new HttpServer(
    cfg.httpAddress,
    cfg.httpPort,
    {
      registry: metrics.registry,
      ready: () => state.synced,
      notReadyReason: () => health.notReadyReason(state.synced),
      status: {
        version: () => state.version,
        // The release first: what an operator checks during a rollout.
        document: () => ({ version: VERSION, ...state.status() }),
        live: (detail) => ({
          // API health changes without a new state version: a live field.
          api: {
            ...health.status(),
            lastContactSecondsAgo: staleness.secondsSinceContact() ?? null,
            maxStalenessSeconds: staleness.maxSeconds,
          },
          ...(detail
            ? { dedicatedAgentPorts: Object.fromEntries(ports.openPorts.map(([p, k]) => [String(p), k])) }
            : {}),
          // Node-level like `api`, and it changes every poll: live, never part of the cached document.
          dataplane: dataplane.status(),
          guardMode: cfg.guardMode,
          ...(follower === undefined ? {} : { guardDecision: follower.status() }),
          peers: peersStatus(receipts, detail),
        }),
      },
      drained: (detail, want) => drainedAnswer(receipts.view(), state.nodeAnswer().text, receipts.now(), detail, want),
    },
    cfg.statusDetail,
  );

  const tick = (): void => {
    const stale = staleness.isStale();
    if (stale !== state.isStale) observer.staleChanged(stale);
    apply(state.setStale(stale));
    // A rotated token (or CA, certificate) cuts a restart backoff short: used within a second.
    if (transport.credentials.filesChanged()) for (const i of informers) i.retryNow();
    apply(state.tick());
    observer.deliveryChecked(receipts.view(), state.synced, state.nodeAnswer());
  };

  // The override file first: with the API down, a drain written there is the very first answer.
  await override.start();
  // Listen next: a probe before sync gets no reply (HAProxy keeps what it had), never a guess.
  const agentPort = await listenOr('agent-port', () => agent.listen());
  const httpPort = await listenOr('http-port', () => http.listen());
  log.info(
    {
      node: cfg.nodeName,
      agent: `${cfg.agentAddress}:${agentPort}`,
      http: `${cfg.httpAddress}:${httpPort}`,
      api: kc.getCurrentCluster()?.server,
      credentials: transport.credentials.describe(),
    },
    'listening',
  );
  // Coordinated: all at once; answers wait for the decision's first read (AgentState.decisionRead).
  follower?.start();
  for (const i of informers) i.start();
  dataplane.start();
  collectAfterFirstSync(() => state.synced, log);
  const ticker = setInterval(tick, TICK_MS);
  ticker.unref();

  return {
    agentPort,
    httpPort,
    async stop() {
      // Stop accepting, let in-flight probes finish, then let go of the API.
      clearInterval(ticker);
      dataplane.stop();
      await Promise.all([agent.close(), ports.closeAll()]);
      for (const i of informers) i.stop();
      follower?.stop();
      override.stop();
      await http.close();
      uninstallProcessHandlers();
    },
  };
}

/** A port we cannot listen on is a configuration error: name the flag and the likely fix. */
async function listenOr(flag: string, listen: () => Promise<number>): Promise<number> {
  try {
    return await listen();
  } catch (err) {
    throw listenError(flag, err);
  }
}
