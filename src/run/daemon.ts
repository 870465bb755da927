// Wires the parts of `run`: kube informers + override file + clock → snapshot → agent and HTTP
// servers, plus logs and metrics. Decisions live in decide.ts; this file only connects.
import type { RunConfig } from './run-config.js';
import type { Logger } from '../common/log.js';
import { AgentState, type StateObserver } from '../core/agent-state.js';
import { createMetrics } from './metrics.js';
import { AgentServer } from './agent/server.js';
import { DedicatedPorts } from './agent/ports.js';
import { HttpServer } from './http/server.js';
import { ApiTransport, MAX_OBJECT_BYTES } from '../kube/transport.js';
import { DEFAULT_TIMING, ResourceInformer, type InformerOptions } from '../kube/informer.js';
import { loadKubeConfig } from '../kube/kubeconfig.js';
import { nodeFromObject, serviceFromObject, sliceFromObject } from '../kube/views.js';
import { OverrideWatcher } from './override.js';
import { formatReply } from '../core/reply.js';
import { FlagError } from '../common/flags.js';
import { VERSION } from '../common/version.js';
import { DataplaneMonitor } from './dataplane/monitor.js';
import { ApiHealth, describe } from '../kube/api-health.js';
import { collectAfterFirstSync } from './gc.js';
import { installProcessHandlers } from './process-handlers.js';
import { DecisionFollower } from '../coordinate/follow.js';
import { NO_GUARD, coordinatedVerdict } from '../coordinate/verdict.js';
import { NodeEventRecorder, type AnswerClass } from '../kube/events.js';
import { Receipts } from './agent/receipts.js';
import { drainedAnswer } from './http/drained.js';
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
  let lastContact: number | undefined;
  let servicesListed = false;
  // Who was told what: monotonic clock, the same for probes and node answer changes.
  const receipts = new Receipts(() => performance.now());
  let delivered = false;

  const metrics = createMetrics({
    secondsSinceContact: () => (lastContact === undefined ? undefined : (Date.now() - lastContact) / 1000),
    snapshotSizes: () => ({ nodes: snapshot.nodeCount, services: snapshot.serviceCount, endpointslices: snapshot.sliceCount }),
    synced: () => snapshot.synced,
    nodeReplyKind: () => snapshot.nodeReply.kind,
    override: () => snapshot.overrideState,
    stale: () => snapshot.isStale,
    slowStartFactor: () => snapshot.rampFactor,
    dedicatedPorts: () => ports.openPorts.length,
    api: () => ({ up: Object.fromEntries([...health.entries()].map(([r, h]) => [r, h.state === 'ok'])), errors: health.errors }),
    guard: () => ({ held: snapshot.guardResult.held.length, draining: snapshot.guardResult.draining.length + snapshot.guardResult.explicit.length, selfHeld: snapshot.isHeld }),
    dataplane: () => dataplane.state,
    guardDecision: () => (follower === undefined ? undefined : { state: follower.state, ageSeconds: follower.ageSeconds }),
    delivery: () => {
      const v = receipts.view();
      return { peers: v.peers.length, current: v.currentPeers, delivered: v.delivered, dropped: receipts.dropped };
    },
  });
  const uninstallProcessHandlers = installProcessHandlers(log, () => metrics.unhandledRejections.inc());
  // One line per change of how the API server treats us, not one per retry.
  const health = new ApiHealth(['nodes', 'services', 'endpointslices'], ({ resource, from, to, health: h }) => {
    if (to === 'ok') {
      if (from !== 'connecting') log.info({ resource, from }, `API server answers for ${resource} again`);
      return;
    }
    const effect = snapshot.synced ? 'answers keep the last known state' : 'no answers yet (never synced)';
    log.error({ resource, apiState: to, err: h.lastError, ...(h.detail === null ? {} : { detail: h.detail }) }, `API server ${describe(to)} for ${resource}: ${h.detail ?? h.lastError ?? ''}; ${effect}`);
  });
  const transport = new ApiTransport(kc, cfg.requestTimeoutMs, (resource) => {
    lastContact = Date.now();
    health.ok(resource);
  });
  const events = new NodeEventRecorder(transport, cfg.nodeName, cfg.eventsNamespace, {
    posted: (reason) => metrics.events.inc({ reason, result: 'posted' }),
    dropped: (reason) => metrics.events.inc({ reason, result: 'dropped' }),
    failed: (reason, err) => {
      metrics.events.inc({ reason, result: 'failed' });
      log.warn({ reason, err: err instanceof Error ? err.message : String(err) }, `could not post Event ${reason} on node ${cfg.nodeName}`);
    },
  });
  let lastClass: AnswerClass = 'none';

  const observer: StateObserver = {
    nodeAnswerChanged(from, to, node) {
      receipts.nodeAnswerIs(snapshot.nodeReplyBytes());
      const text = formatReply(to).trim() || '(no reply)';
      log.info({ node: cfg.nodeName, from: formatReply(from).trim() || null, to: text, why: to.why, known: node !== undefined }, `node answer is now "${text}": ${to.why}`);
      const cls: AnswerClass = snapshot.isHeld && to.kind === 'ready' ? 'held' : to.kind;
      if (cls !== lastClass && cls !== 'none' && cfg.events && snapshot.synced) events.record(cls, text, to.why);
      lastClass = cls;
    },
    guardChanged(from, to) {
      if (!snapshot.synced && !to.engaged) return;
      const fields = { readyNodes: to.readyNodes, budget: to.budget, draining: [...to.explicit, ...to.draining], held: to.held };
      if (to.engaged) log.warn(fields, `mass-drain guard engaged: ${to.held.length} node(s) held serving so that at most ${to.budget} of ${to.readyNodes} Ready nodes drain (--max-drain-fraction ${cfg.maxDrainFraction})`);
      else if (from.engaged) log.warn(fields, 'mass-drain guard released: every drain signal is honoured again');
    },
    serviceWeightChanged(key, from, to) {
      // The first list is not a change; a summary line says how many arrived.
      if (!servicesListed) return;
      log.info({ service: key, from: from ?? null, to: to ?? null }, to === undefined ? `service ${key} removed` : `service ${key} weight ${to}%`);
    },
    annotationProblem(subject, p) {
      metrics.invalidAnnotations.inc({ annotation: p.annotation });
      // Once per change, the value cut to its first bytes and escaped (views.ts keeps no more).
      log.warn({ subject, annotation: p.annotation, value: p.value, bytes: p.length, reason: p.reason, using: p.fallback }, `invalid annotation ${p.annotation}="${p.value}" on ${subject}: ${p.reason}; using ${p.fallback}`);
    },
    agentPortsChanged() {
      if (snapshot.synced) ports.reconcile(snapshot.agentPortRequests());
    },
  };
  // local: the guard over all Nodes, here. coordinated: the coordinator's decision (coordinate/). off: none.
  const guardVerdict =
    cfg.guardMode === 'local' ? undefined : cfg.guardMode === 'off' ? () => ({ result: NO_GUARD, held: false }) : (node: Parameters<typeof coordinatedVerdict>[0]) => coordinatedVerdict(node, cfg.policy, follower?.latest);
  const snapshot = new AgentState({ nodeName: cfg.nodeName, slowStartMs: cfg.slowStartMs, now: Date.now, policy: cfg.policy, maxDrainFraction: cfg.maxDrainFraction, drainDeadlineMs: cfg.drainDeadlineMs, ...(guardVerdict === undefined ? {} : { guardVerdict }) }, observer);

  const dataplane = new DataplaneMonitor(
    { url: cfg.proxyHealthzUrl, intervalMs: cfg.proxyHealthzIntervalMs, failures: cfg.proxyHealthzFailures, successes: cfg.proxyHealthzSuccesses },
    log,
    {
      setUnhealthy: (since) => snapshot.setProxyUnhealthy(since),
      polled: (result) => metrics.dataplanePolls.inc({ result }),
      event: (healthy, note) => {
        if (cfg.events) events.recordDataplane(healthy, note);
      },
    },
  );

  const ports = new DedicatedPorts(
    { host: cfg.agentAddress, readTimeoutMs: cfg.readTimeoutMs, maxConnections: cfg.maxConnections, reserved: new Set([cfg.agentPort, cfg.httpPort]), allowedNamespaces: cfg.agentPortNamespaces },
    snapshot,
    metrics.probes,
    {
      opened: (port, key) => log.info({ port, service: key }, `dedicated agent port ${port} answers for ${key}`),
      closed: (port, key) => log.info({ port, service: key }, `dedicated agent port ${port} for ${key} closed`),
      refused: (port, key, reason, detail) => {
        metrics.agentPortRefusals.inc({ reason });
        log.warn({ port, service: key, reason, detail }, `agent port ${port} for ${key} refused (${reason}): ${detail}`);
      },
    },
    receipts,
  );

  let overrideSeen = false; // "cleared" only after something was there: no WARN at every start
  const override = new OverrideWatcher(cfg.overrideFile, (r) => {
    const wasSeen = overrideSeen;
    overrideSeen = r.kind !== 'none';
    if (r.kind === 'none' && !wasSeen) {
      // missing or empty from the start: nothing to say
    } else if (r.kind === 'invalid') {
      metrics.invalidOverrides.inc();
      log.error({ file: cfg.overrideFile, content: r.content }, `override file ${cfg.overrideFile} holds "${r.content}", not drain, maint or ready; ignored`);
    } else {
      log.warn({ file: cfg.overrideFile, override: r.kind === 'state' ? r.state : null }, r.kind === 'state' ? `override file says ${r.state}: it beats every other signal` : 'override file cleared');
    }
    snapshot.setOverride(r.kind === 'state' ? r.state : undefined);
  }, (reason, detail) => {
    metrics.overrideErrors.inc({ reason });
    log.error({ file: cfg.overrideFile, reason, detail }, `override file ${cfg.overrideFile} cannot be used (${reason}): ${detail}; no override in force`);
  });

  const timing = { ...DEFAULT_TIMING, watchTimeoutMs: cfg.watchTimeoutMs };
  const common = <V>(resource: 'nodes' | 'services' | 'endpointslices' | 'configmaps'): Pick<InformerOptions<V>, 'resource' | 'onRestart' | 'onEvent' | 'onTooLarge'> => ({
    resource,
    onRestart: (reason, err, delayMs) => {
      metrics.watchRestarts.inc({ resource, reason });
      if (reason !== 'hung' && reason !== 'gone_after_list') health.failed(resource, err);
      // The health transition above is the operator's line; each retry is only worth debug.
      log.debug({ resource, reason, err: err instanceof Error ? err.message : String(err), retryInMs: delayMs }, `${resource} watch stopped (${reason}); restarting in ${delayMs}ms`);
    },
    onEvent: (type) => metrics.watchEvents.inc({ resource, type }),
    onTooLarge: (where, bytes) => {
      metrics.tooLargeObjects.inc({ resource, where });
      log.warn({ resource, where, bytes }, where === 'list' ? `${resource}: skipped an object of ${bytes} bytes in a list (over the ${MAX_OBJECT_BYTES}-byte cap)` : `${resource}: a watch event of over ${MAX_OBJECT_BYTES} bytes; relisting`);
    },
  });

  const follower =
    cfg.guardMode !== 'coordinated'
      ? undefined
      : new DecisionFollower(kc, transport, { namespace: cfg.guardNamespace, staleAfterMs: cfg.guardStaleAfterMs }, {
          onRestart: common('configmaps').onRestart,
          onEvent: (type) => metrics.watchEvents.inc({ resource: 'configmaps', type }),
          changed: () => snapshot.refreshGuard(),
          stateChanged: (from, to, d) => logDecisionState(log, cfg.guardNamespace, from, to, d?.generation),
          firstListed: () => {
            if (follower?.state === 'missing') logDecisionState(log, cfg.guardNamespace, 'missing', 'missing', undefined);
            // Nodes only after the decision's first list: answers never start from "no decision yet".
            informers[0]?.start();
          },
        }, timing);

  const informers = [
    new ResourceInformer(kc, transport, {
      ...common('nodes'),
      // local: all Nodes, as small views (the guard compares this node with the others).
      // coordinated and off: only our own Node, so other Nodes' writes never reach this agent.
      path: '/api/v1/nodes',
      ...(cfg.guardMode === 'local' ? {} : { fieldSelector: `metadata.name=${cfg.nodeName}` }),
      trim: (raw) => nodeFromObject(raw, cfg.annotationPrefix),
      onUpsert: (c) => snapshot.upsertNode(c),
      onDelete: (c) => snapshot.deleteNode(c.view.name),
      onListed: () => {
        if (!snapshot.synced && snapshot.nodeView === undefined) log.warn({ node: cfg.nodeName }, `node ${cfg.nodeName} not found in the cluster; answering drain`);
        snapshot.markListed('nodes');
      },
    }, timing),
    new ResourceInformer(kc, transport, {
      ...common('services'),
      path: '/api/v1/services',
      ...(cfg.serviceSelector === '' ? {} : { labelSelector: cfg.serviceSelector }),
      trim: (raw) => serviceFromObject(raw, cfg.annotationPrefix, cfg.agentPortRange),
      onUpsert: (c) => snapshot.upsertService(c),
      onDelete: (c) => snapshot.deleteService(c.view.namespace, c.view.name),
      onListed: () => {
        if (!servicesListed) log.info({ services: snapshot.serviceCount }, `services listed: ${snapshot.serviceCount}`);
        servicesListed = true;
        snapshot.markListed('services');
        ports.reconcile(snapshot.agentPortRequests());
      },
    }, timing),
    new ResourceInformer(kc, transport, {
      ...common('endpointslices'),
      path: '/apis/discovery.k8s.io/v1/endpointslices',
      // Only slices that belong to a Service matter (they carry this label).
      labelSelector: 'kubernetes.io/service-name',
      trim: sliceFromObject,
      onUpsert: (c) => snapshot.upsertSlice(c),
      onDelete: (c) => snapshot.deleteSlice(c),
      onListed: () => snapshot.markListed('endpointslices'),
    }, timing),
  ];

  const agent = new AgentServer({ host: cfg.agentAddress, port: cfg.agentPort, readTimeoutMs: cfg.readTimeoutMs, maxConnections: cfg.maxConnections }, snapshot, metrics.probes, receipts);
  const http = new HttpServer(cfg.httpAddress, cfg.httpPort, {
    registry: metrics.registry,
    ready: () => snapshot.synced,
    notReadyReason: () => health.notReadyReason(snapshot.synced),
    status: {
      version: () => snapshot.version,
      // The release first: what an operator checks during a rollout.
      document: () => ({ version: VERSION, ...snapshot.status() }),
      live: (detail) => ({
        // API health changes without a new snapshot version: a live field.
        api: { ...health.status(), lastContactSecondsAgo: lastContact === undefined ? null : (Date.now() - lastContact) / 1000, maxStalenessSeconds: cfg.maxStalenessMs / 1000 || null },
        ...(detail ? { dedicatedAgentPorts: Object.fromEntries(ports.openPorts.map(([p, k]) => [String(p), k])) } : {}),
        // Node-level like `api`, and it changes every poll: live, never part of the cached document.
        dataplane: dataplane.status(),
        guardMode: cfg.guardMode,
        ...(follower === undefined ? {} : { guardDecision: follower.status() }),
        peers: peersBlock(receipts, detail),
      }),
    },
    drained: (detail) => drainedAnswer(receipts.view(), snapshot.nodeReplyBytes().toString('latin1').trimEnd(), receipts.now(), detail),
  }, cfg.statusDetail);

  // The override file first: with the API down, a drain written there is the very first answer.
  await override.start();
  // Listen next: a probe before sync gets no reply (HAProxy keeps what it had), never a guess.
  const agentPort = await listenOr('agent-port', () => agent.listen());
  const httpPort = await listenOr('http-port', () => http.listen());
  log.info({ node: cfg.nodeName, agent: `${cfg.agentAddress}:${agentPort}`, http: `${cfg.httpAddress}:${httpPort}`, api: kc.getCurrentCluster()?.server, credentials: transport.credentials.describe() }, 'listening');
  for (const i of informers) if (follower === undefined || i !== informers[0]) i.start();
  follower?.start();
  dataplane.start();
  collectAfterFirstSync(() => snapshot.synced, log);

  const ticker = setInterval(() => {
    if (cfg.maxStalenessMs > 0 && lastContact !== undefined) {
      const stale = Date.now() - lastContact > cfg.maxStalenessMs;
      if (stale !== snapshot.isStale) {
        if (stale) log.error({ maxStalenessMs: cfg.maxStalenessMs }, `no API contact for over ${cfg.maxStalenessMs / 1000}s (--max-staleness): answering drain until it returns`);
        else log.warn('API contact is back: staleness drain lifted');
      }
      snapshot.setStale(stale);
    }
    // A rotated token (or CA, certificate) cuts a restart backoff short: used within a second.
    if (transport.credentials.filesChanged()) for (const i of informers) i.retryNow();
    snapshot.tick();
    // The Event when the drain is proven delivered (the metric and /drained compute it on demand).
    const now = receipts.view();
    if (now.delivered && !delivered && cfg.events && snapshot.synced) {
      const text = snapshot.nodeReplyBytes().toString('latin1').trim();
      log.info({ node: cfg.nodeName, peers: now.peers.length }, `drain delivered: all ${now.peers.length} load balancer(s) probing have received "${text}"`);
      events.recordDrainDelivered(`every load balancer probing this node (${now.peers.length}) has received "${text}"`);
    }
    delivered = now.delivered;
  }, TICK_MS);
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

/** Coordinated mode: one line per change of the decision's state (and one at start when there is none). */
function logDecisionState(log: Logger, namespace: string, from: string, to: string, generation: number | undefined): void {
  const fields = { from, to, generation: generation ?? null, configmap: `${namespace}/haproxy-node-agent-guard` };
  if (to === 'fresh') log.info(fields, `coordinator decision is fresh (generation ${generation ?? '?'}): automatic drains follow it`);
  else if (to === 'stale') log.warn(fields, 'coordinator decision is stale (no heartbeat within --guard-stale-after): keeping the last one; new automatic drains are held');
  else log.warn(fields, `no coordinator decision in ${namespace}: automatic drains are held (explicit state annotations, the override file and down signals still apply)`);
}

/** /status's `peers`: who probes and whether each has the node's current answer (keys only with detail). */
function peersBlock(receipts: Receipts, detail: boolean): Record<string, unknown> {
  const v = receipts.view();
  return {
    nodeAnswerGroup: v.group,
    current: v.currentPeers,
    seen: v.peers.length,
    dropped: receipts.dropped,
    list: v.peers.map((p) => (detail ? p : { peer: p.peer, current: p.current, keys: p.keys.length })),
  };
}

/** A port we cannot listen on is a configuration error: name the flag. */
async function listenOr(flag: string, listen: () => Promise<number>): Promise<number> {
  try {
    return await listen();
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new FlagError(flag, `cannot listen: ${e.code ?? ''} ${e.message}`.trim());
  }
}
