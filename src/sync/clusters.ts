// The clusters sync watches: per --context, one informer over Nodes and one over Services, each
// object trimmed to what the edge model reads (edge/cluster-objects.ts). Every change calls
// onChange; what was last listed stays while an API server is away (fail static).
import type { ClusterSnapshot } from '../edge/model.js';
import { type ContextChoice, keepEdgeFields } from '../edge/cluster-objects.js';
import type { Parsed } from '../core/views.js';
import { FlagError } from '../platform/flags.js';
import type { Logger } from '../platform/log.js';
import { DEFAULT_TIMING, ResourceInformer, type RestartReason } from '../kube/informer.js';
import { loadContext } from '../kube/kubeconfig.js';
import { ApiTransport } from '../kube/transport.js';

const WATCH_TIMEOUT_MS = 5 * 60_000;

export interface ClusterEvents {
  /** A Node or Service of `cluster` was added, changed or deleted (or a list replaced them). */
  onChange(cluster: string, kind: 'nodes' | 'services'): void;
  onRestart(cluster: string, resource: string, reason: RestartReason, err: unknown, delayMs: number): void;
}

interface Watched {
  name: string;
  nodes: Map<string, unknown>;
  services: Map<string, unknown>;
  listed: { nodes: boolean; services: boolean };
  informers: ResourceInformer<unknown>[];
  lastContactMs: number | undefined;
  transport: ApiTransport | undefined;
}

export class WatchedClusters {
  private readonly clusters: Watched[] = [];
  /** The first --context's transport: where the edge's claims record lives. */
  claimsTransport!: ApiTransport;

  constructor(
    kubeconfig: string | undefined,
    choices: readonly ContextChoice[],
    env: NodeJS.ProcessEnv,
    requestTimeoutMs: number,
    annotationPrefix: string,
    events: ClusterEvents,
    log: Logger,
  ) {
    for (const choice of choices) {
      const kc = loadContext(kubeconfig, choice.context, env);
      const name = choice.cluster !== '' ? choice.cluster : kc.getCurrentContext() || 'cluster';
      if (this.clusters.some((c) => c.name === name)) throw new FlagError('context', `cluster "${name}" given twice`);
      const w: Watched = {
        name,
        nodes: new Map(),
        services: new Map(),
        listed: { nodes: false, services: false },
        informers: [],
        lastContactMs: undefined,
        transport: undefined,
      };
      const transport = new ApiTransport(
        kc,
        requestTimeoutMs,
        () => {
          w.lastContactMs = Date.now();
        },
        (what, path, detail) =>
          detail === null
            ? log.info({ path }, `${what} ${path} is readable again`)
            : log.warn({ path, detail }, `cannot read ${what} ${path}: ${detail}; the last good one stays in use`),
      );
      w.transport = transport;
      if (this.clusters.length === 0) this.claimsTransport = transport;
      for (const resource of ['nodes', 'services'] as const) {
        const store = w[resource];
        w.informers.push(
          new ResourceInformer<unknown>(
            transport,
            {
              resource,
              path: `/api/v1/${resource}`,
              trim: (raw) => asParsed(keepEdgeFields(raw, annotationPrefix)),
              onUpsert: (c) => {
                store.set(keyOf(c), c.view);
                if (w.listed[resource]) events.onChange(name, resource);
              },
              onDelete: (c) => {
                store.delete(keyOf(c));
                if (w.listed[resource]) events.onChange(name, resource);
              },
              onListed: () => {
                w.listed[resource] = true;
                events.onChange(name, resource);
              },
              onRestart: (reason, err, delayMs) => events.onRestart(name, resource, reason, err, delayMs),
            },
            { ...DEFAULT_TIMING, watchTimeoutMs: WATCH_TIMEOUT_MS },
          ),
        );
      }
      this.clusters.push(w);
    }
  }

  start(): void {
    for (const c of this.clusters) for (const i of c.informers) i.start();
  }

  stop(): void {
    for (const c of this.clusters) for (const i of c.informers) i.stop();
  }

  /** The API of one cluster, by name (sync's writes to Services: the assigned TCP port). */
  transportOf(cluster: string): ApiTransport | undefined {
    return this.clusters.find((c) => c.name === cluster)?.transport;
  }

  /** Every cluster has listed its Nodes and Services at least once: the model means something. */
  get listed(): boolean {
    return this.clusters.every((c) => c.listed.nodes && c.listed.services);
  }

  /** The clusters as the edge model reads them (the objects are shared, never changed). */
  snapshots(): ClusterSnapshot[] {
    return this.clusters.map((c) => ({
      name: c.name,
      nodes: [...c.nodes.values()],
      services: [...c.services.values()],
    }));
  }

  status(now: number): Record<string, unknown>[] {
    return this.clusters.map((c) => ({
      name: c.name,
      listed: c.listed.nodes && c.listed.services,
      nodes: c.nodes.size,
      services: c.services.size,
      secondsSinceContact: c.lastContactMs === undefined ? null : Math.round((now - c.lastContactMs) / 1000),
    }));
  }

  /** Seconds since the API server that answered least recently last answered (undefined: never). */
  oldestContactSeconds(now: number): number | undefined {
    let oldest: number | undefined;
    for (const c of this.clusters) {
      if (c.lastContactMs === undefined) return undefined;
      oldest = Math.max(oldest ?? 0, (now - c.lastContactMs) / 1000);
    }
    return oldest;
  }
}

function keyOf(c: Parsed<unknown>): string {
  return `${c.metadata.namespace ?? ''}/${c.metadata.name}`;
}

/** The informer's shape for a raw object: its name (objects without one are skipped) and itself as the view. */
function asParsed(raw: unknown): Parsed<unknown> | undefined {
  const md = (raw as { metadata?: { name?: unknown; namespace?: unknown; resourceVersion?: unknown } } | null)
    ?.metadata;
  if (typeof md?.name !== 'string' || md.name === '') return undefined;
  return {
    metadata: {
      name: md.name,
      namespace: typeof md.namespace === 'string' ? md.namespace : undefined,
      resourceVersion: typeof md.resourceVersion === 'string' ? md.resourceVersion : undefined,
    },
    view: raw,
    problems: [],
  };
}
