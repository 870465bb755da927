/**
 * A wire-level fake Kubernetes API server for tests, benchmarks and the demo:
 * enough of the REST, watch and discovery surface for @kubernetes/client-node
 * informers and the real kubectl, plus fault injection.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { apiGroup, apiGroupList, apiResourceList, apiVersions, SERVER_VERSION } from './discovery.js';
import { StatusError, failureStatus } from './errors.js';
import { serveCoreEvents } from './corev1events.js';
import { Exchange } from './exchange.js';
import { ResourceHandlers, patchObject } from './handlers.js';
import { writeKubeconfig, type KubeconfigOptions } from './kubeconfig.js';
import { namespaceList, namespaceObject } from './namespaces.js';
import { RESOURCES } from './resources.js';
import { route, type Route } from './router.js';
import { ObjectStore, type StoredObject } from './store.js';
import type { Faults, KubeObject, Resource } from './types.js';
import type { WatchStream } from './watch.js';

export type { Faults, KubeObject, ObjectMeta, Resource } from './types.js';
export { StatusError } from './errors.js';

export interface FakeApiOptions {
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 0: a random free port, kept across stop()/start(). */
  port?: number;
  /** Default 0 (off). When > 0, watches that asked for allowWatchBookmarks get a BOOKMARK this often. */
  bookmarkIntervalMs?: number;
  /** Watch history kept per resource before the oldest half is compacted. Default 10000. */
  historyLimit?: number;
}

export interface RequestLogEntry {
  method: string;
  path: string;
  query: string;
  status: number;
}

const REQUEST_LOG_LIMIT = 1000;

function copy(o: StoredObject): KubeObject {
  return JSON.parse(o.json) as KubeObject;
}

export class FakeApiServer {
  readonly faults: Faults = {
    failRequests: 0,
    failStatus: 503,
    hangWatches: false,
    watchGone: false,
    listDelayMs: 0,
    forbidden: new Set(),
  };
  /** The last 1000 requests, oldest first; a watch is logged when its headers are sent. */
  readonly requestLog: RequestLogEntry[] = [];

  private readonly host: string;
  private currentPort: number;
  private readonly store: ObjectStore;
  private readonly handlers: ResourceHandlers;
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private readonly watches = new Set<WatchStream>();
  private readonly sleepers = new Set<{ timer: NodeJS.Timeout; resolve: () => void }>();

  constructor(opts: FakeApiOptions = {}) {
    this.host = opts.host ?? '127.0.0.1';
    this.currentPort = opts.port ?? 0;
    this.store = new ObjectStore({ historyLimit: opts.historyLimit });
    this.handlers = new ResourceHandlers({
      store: this.store,
      faults: this.faults,
      bookmarkIntervalMs: opts.bookmarkIntervalMs ?? 0,
      registerWatch: (w) => {
        this.watches.add(w);
        w.onClose(() => this.watches.delete(w));
      },
      sleep: (ms) => this.sleep(ms),
    });
  }

  get port(): number {
    return this.currentPort;
  }

  get url(): string {
    const host = this.host.includes(':') ? `[${this.host}]` : this.host;
    return `http://${host}:${this.currentPort}`;
  }

  get resourceVersion(): string {
    return String(this.store.resourceVersion);
  }

  async start(): Promise<void> {
    if (this.server) return;
    const server = createServer((req, res) => void this.handle(req, res));
    server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.currentPort, this.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.currentPort = (server.address() as AddressInfo).port;
    this.server = server;
  }

  /** Closes the listener and destroys every connection mid-flight, like a crashed apiserver. The store survives. */
  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const w of this.watches) w.destroy();
    this.watches.clear();
    for (const s of this.sleepers) {
      clearTimeout(s.timer);
      s.resolve(); // the pending response then finds its socket gone and writes nothing
    }
    this.sleepers.clear();
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
    await closed;
  }

  /** Call after start(): the kubeconfig embeds the listening port. */
  writeKubeconfig(path: string, opts: KubeconfigOptions = {}): void {
    writeKubeconfig(path, this.url, opts);
  }

  // ------------------------------------------------------------ direct store access

  create(resource: Resource, obj: KubeObject): KubeObject {
    return copy(this.store.create(resource, obj));
  }

  update(resource: Resource, obj: KubeObject): KubeObject {
    return copy(this.store.update(resource, obj));
  }

  /** JSON merge patch (RFC 7386). */
  patch(resource: Resource, namespace: string | undefined, name: string, mergePatch: object): KubeObject {
    return copy(patchObject(this.store, RESOURCES[resource], namespace, name, 'merge', mergePatch));
  }

  /** Throws StatusError 404 if absent, like DELETE over HTTP. */
  delete(resource: Resource, namespace: string | undefined, name: string): void {
    this.store.delete(resource, namespace, name);
  }

  get(resource: Resource, namespace: string | undefined, name: string): KubeObject | undefined {
    const o = this.store.get(resource, namespace, name);
    return o ? copy(o) : undefined;
  }

  list(resource: Resource, namespace?: string): KubeObject[] {
    return this.store.list(resource, namespace).map(copy);
  }

  // ------------------------------------------------------------ fault injection

  /**
   * Forgets history: resuming a watch or a paginated list from any RV handed out so far gets 410
   * (the RV counter advances by one for that). Open watches keep running.
   */
  compact(): void {
    this.store.compact();
  }

  /**
   * Simulates an apiserver restored from backup or moved to a new etcd: the RV counter jumps to
   * `newStartRv` (default: 1000 ahead; lower values make it go backwards), every object is re-stamped,
   * history is compacted, and open watches are ended since such a server has restarted.
   */
  resetHistory(newStartRv?: number): void {
    this.store.reset(newStartRv ?? this.store.resourceVersion + 1000);
    this.dropWatches();
  }

  /** Ends all open watch streams cleanly, like a watch timeout or a load balancer reset. */
  dropWatches(): void {
    for (const w of [...this.watches]) w.end();
    this.watches.clear();
  }

  /**
   * Writes `text` verbatim on every open watch of `resource` (e.g. an ERROR event with a null
   * object, a line that is not JSON, a line bigger than any object). Returns how many got it.
   */
  injectWatchLine(resource: Resource, text: string): number {
    let n = 0;
    for (const w of this.watches) {
      if (w.resource !== resource || !w.isOpen) continue;
      w.writeRaw(text);
      n++;
    }
    return n;
  }

  watchCount(): number {
    return this.watches.size;
  }

  // ------------------------------------------------------------ HTTP

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const entry = {
        timer: setTimeout(() => {
          this.sleepers.delete(entry);
          resolve();
        }, ms),
        resolve,
      };
      this.sleepers.add(entry);
    });
  }

  private log(ex: Exchange, status: number): void {
    this.requestLog.push({ method: ex.method, path: ex.url.pathname, query: ex.url.search.slice(1), status });
    if (this.requestLog.length > REQUEST_LOG_LIMIT) this.requestLog.shift();
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const ex: Exchange = new Exchange(req, res, (status) => this.log(ex, status));
    try {
      const r = route(ex.url.pathname);
      const isWatch = r?.kind === 'resource' && ex.method === 'GET' && ex.flag('watch');
      if (!isWatch && this.faults.failRequests > 0) {
        this.faults.failRequests--;
        ex.status(
          failureStatus(this.faults.failStatus, `fault injected: failing request with ${this.faults.failStatus}`),
        );
        return;
      }
      if (r?.kind === 'resource' && this.faults.forbidden.has(r.info.resource)) {
        const res = r.info.resource;
        const where = r.namespace === undefined ? 'at the cluster scope' : `in the namespace "${r.namespace}"`;
        ex.status(
          failureStatus(
            403,
            `${res} is forbidden: User "system:serviceaccount:kube-system:haproxy-node-agent" ` +
              `cannot ${verbOf(ex.method, isWatch, r.name)} resource "${res}" ` +
              `in API group "${r.info.group}" ${where}`,
          ),
        );
        return;
      }
      await this.dispatch(ex, r, isWatch);
    } catch (e) {
      ex.error(e);
    }
  }

  private async dispatch(ex: Exchange, r: Route | undefined, isWatch: boolean): Promise<void> {
    if (!r) throw new StatusError(404, 'the server could not find the requested resource', 'NotFound');
    if (r.kind === 'coreEvents') return serveCoreEvents(ex, this.store, r.namespace, r.name);
    if (r.kind !== 'resource') {
      if (ex.method !== 'GET') throw methodNotAllowed(ex);
      ex.json(200, this.readOnlyDocument(r));
      return;
    }
    const { info, namespace, name } = r;
    switch (ex.method) {
      case 'GET':
        if (isWatch) return this.handlers.watch(ex, info, namespace, name);
        if (name !== undefined) return this.handlers.get(ex, info, namespace, name);
        return this.handlers.list(ex, info, namespace);
      case 'POST':
        if (name === undefined) return this.handlers.create(ex, info, namespace);
        break;
      case 'PUT':
        if (name !== undefined) return this.handlers.update(ex, info, namespace, name);
        break;
      case 'PATCH':
        if (name !== undefined) return this.handlers.patch(ex, info, namespace, name);
        break;
      case 'DELETE':
        if (name !== undefined) return this.handlers.delete(ex, info, namespace, name);
        break;
    }
    throw methodNotAllowed(ex);
  }

  /** Discovery documents and synthesized namespaces. */
  private readOnlyDocument(r: Exclude<Route, { kind: 'resource' | 'coreEvents' }>): object {
    const notFound = (): StatusError =>
      new StatusError(404, 'the server could not find the requested resource', 'NotFound');
    switch (r.kind) {
      case 'version':
        return SERVER_VERSION;
      case 'api':
        return apiVersions(`${this.host}:${this.currentPort}`);
      case 'apis':
        return apiGroupList();
      case 'apiGroup': {
        const doc = apiGroup(r.group);
        if (!doc) throw notFound();
        return doc;
      }
      case 'resourceList': {
        const doc = apiResourceList(r.groupVersion);
        if (!doc) throw notFound();
        return doc;
      }
      case 'namespace':
        return r.name !== undefined
          ? namespaceObject(r.name)
          : namespaceList(this.store.namespaces(), this.resourceVersion);
    }
  }
}

function methodNotAllowed(ex: Exchange): StatusError {
  return new StatusError(
    405,
    `the server does not allow this method on the requested resource (${ex.method} ${ex.url.pathname})`,
    'MethodNotAllowed',
  );
}

/** The RBAC verb of a request, for a 403's wording. */
function verbOf(method: string, isWatch: boolean, name: string | undefined): string {
  if (isWatch) return 'watch';
  if (method === 'GET') return name === undefined ? 'list' : 'get';
  return (
    ({ POST: 'create', PUT: 'update', PATCH: 'patch', DELETE: 'delete' } as Record<string, string>)[method] ?? method
  );
}
