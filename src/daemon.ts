// Wires the parts of `run`: kube informers → snapshot → agent + HTTP servers, plus logs and metrics.
import type { Config } from './config.js';
import type { Logger } from './log.js';
import { Snapshot, type StateObserver } from './state.js';
import { createMetrics } from './metrics.js';
import { AgentServer } from './agent/server.js';
import { HttpServer } from './http/server.js';
import { ApiTransport } from './kube/transport.js';
import { DEFAULT_TIMING, ResourceInformer } from './kube/informer.js';
import { loadKubeConfig } from './kube/kubeconfig.js';
import { nodeFromObject, serviceFromObject } from './kube/views.js';
import { formatReply } from './reply.js';
import { FlagError } from './flags.js';

export interface RunningDaemon {
  agentPort: number;
  httpPort: number;
  stop(): Promise<void>;
}

export async function startDaemon(cfg: Config, log: Logger, env: NodeJS.ProcessEnv): Promise<RunningDaemon> {
  const kc = loadKubeConfig(cfg.kubeconfig, env);
  let lastContact: number | undefined;
  let servicesListed = false;

  const metrics = createMetrics({
    secondsSinceContact: () => (lastContact === undefined ? undefined : (Date.now() - lastContact) / 1000),
    snapshotSizes: () => ({ nodes: snapshot.nodeView === undefined ? 0 : 1, services: snapshot.serviceCount }),
    synced: () => snapshot.synced,
    nodeReplyKind: () => snapshot.nodeReply.kind,
  });

  const observer: StateObserver = {
    nodeAnswerChanged(from, to, node) {
      log.info({ node: cfg.nodeName, from: from === undefined ? null : formatReply(from).trim(), to: formatReply(to).trim(), known: node !== undefined, unschedulable: node?.unschedulable ?? null }, `node answer is now "${formatReply(to).trim() || '(no reply)'}"`);
    },
    serviceWeightChanged(key, from, to) {
      // The first list is not a change; a summary line says how many arrived.
      if (!servicesListed) return;
      log.info({ service: key, from: from ?? null, to: to ?? null }, to === undefined ? `service ${key} removed` : `service ${key} weight ${to}%`);
    },
    annotationProblem(key, p) {
      metrics.invalidAnnotations.inc({ annotation: p.annotation });
      log.warn({ service: key, annotation: p.annotation, value: p.value, reason: p.reason, using: p.fallback }, `invalid annotation ${p.annotation}="${p.value}" on ${key}: ${p.reason}; using ${p.fallback}`);
    },
  };
  const snapshot = new Snapshot(cfg.nodeName, observer);

  const transport = new ApiTransport(kc, cfg.requestTimeoutMs, () => {
    lastContact = Date.now();
  });
  const timing = { ...DEFAULT_TIMING, watchTimeoutMs: cfg.watchTimeoutMs };
  const onRestart = (resource: string) => (reason: string, err: unknown, delayMs: number) => {
    metrics.watchRestarts.inc({ resource, reason });
    log.warn({ resource, reason, err: err instanceof Error ? err.message : String(err), retryInMs: delayMs }, `${resource} watch stopped (${reason}); restarting in ${delayMs}ms, answers keep the last known state`);
  };

  const nodeInformer = new ResourceInformer(kc, transport, {
    resource: 'nodes',
    path: '/api/v1/nodes',
    fieldSelector: `metadata.name=${cfg.nodeName}`,
    trim: nodeFromObject,
    onUpsert: (c) => snapshot.upsertNode(c),
    onDelete: (c) => snapshot.deleteNode(c.view.name),
    onListed: () => {
      if (!snapshot.synced && snapshot.nodeView === undefined) log.warn({ node: cfg.nodeName }, `node ${cfg.nodeName} not found in the cluster; answering drain`);
      snapshot.markNodeSynced();
    },
    onRestart: onRestart('nodes'),
    onEvent: (type) => metrics.watchEvents.inc({ resource: 'nodes', type }),
  }, timing);

  const serviceInformer = new ResourceInformer(kc, transport, {
    resource: 'services',
    path: '/api/v1/services',
    ...(cfg.serviceSelector === '' ? {} : { labelSelector: cfg.serviceSelector }),
    trim: (raw) => serviceFromObject(raw, cfg.annotationPrefix),
    onUpsert: (c) => snapshot.upsertService(c),
    onDelete: (c) => snapshot.deleteService(c.view.namespace, c.view.name),
    onListed: () => {
      if (!servicesListed) log.info({ services: snapshot.serviceCount }, `services listed: ${snapshot.serviceCount}`);
      servicesListed = true;
      snapshot.markServicesSynced();
    },
    onRestart: onRestart('services'),
    onEvent: (type) => metrics.watchEvents.inc({ resource: 'services', type }),
  }, timing);

  const agent = new AgentServer({ host: cfg.agentAddress, port: cfg.agentPort, readTimeoutMs: cfg.readTimeoutMs, maxConnections: cfg.maxConnections }, snapshot, metrics.probes);
  const http = new HttpServer(cfg.httpAddress, cfg.httpPort, {
    registry: metrics.registry,
    ready: () => snapshot.synced,
    status: () => ({
      ...snapshot.status(),
      api: { lastContactSecondsAgo: lastContact === undefined ? null : (Date.now() - lastContact) / 1000 },
    }),
  });

  // Listen first: a probe before sync gets no reply (HAProxy keeps what it had), never a guess.
  const agentPort = await listenOr('agent-port', () => agent.listen());
  const httpPort = await listenOr('http-port', () => http.listen());
  log.info({ node: cfg.nodeName, agent: `${cfg.agentAddress}:${agentPort}`, http: `${cfg.httpAddress}:${httpPort}`, api: kc.getCurrentCluster()?.server }, 'listening');
  nodeInformer.start();
  serviceInformer.start();

  return {
    agentPort,
    httpPort,
    async stop() {
      // Stop accepting, let in-flight probes finish, then let go of the API.
      await agent.close();
      nodeInformer.stop();
      serviceInformer.stop();
      await http.close();
    },
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
