// A list-then-watch cache with the observable behaviour of client-node 1.4's ListWatch (cache.js):
// list, emit add/update/delete against what was held, watch from the list's resourceVersion,
// re-watch after a clean end, relist after 410 Gone, emit `error` and stop on anything else.
// Ours because importing client-node's cache.js loads its generated models (~70 MB of RSS), and
// because theirs throws on a watch ERROR event without an object.

/** The identity every cached object carries. */
export interface KubernetesObject {
  metadata?: { name?: string; namespace?: string; resourceVersion?: string };
}

export interface KubernetesListObject<T> {
  metadata?: { resourceVersion?: string };
  items: T[];
}

/** The streaming half: subclasses open a watch and report events and its end. */
export abstract class Watch {
  abstract watch(
    path: string,
    queryParams: Record<string, string | number | boolean | undefined>,
    callback: (phase: string, apiObj: unknown, watchObj?: unknown) => void,
    done: (err: unknown) => void,
  ): Promise<AbortController>;
}

type Verb = 'add' | 'update' | 'delete' | 'error';

export class ListWatch<T extends KubernetesObject> {
  private objects = new Map<string, Map<string, T>>();
  private resourceVersion = '';
  private stopped = false;
  private request: AbortController | undefined;
  private readonly callbacks: Record<Verb, Array<(o: never) => void>> = { add: [], update: [], delete: [], error: [] };

  constructor(
    private readonly path: string,
    private readonly watcher: Watch,
    private readonly listFn: () => Promise<KubernetesListObject<T>>,
    autoStart = true,
    private readonly labelSelector?: string,
    private readonly fieldSelector?: string,
  ) {
    if (autoStart) void this.doneHandler(null);
  }

  async start(): Promise<void> {
    this.stopped = false;
    await this.doneHandler(null);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.abortRequest();
  }

  on(verb: 'add' | 'update' | 'delete', cb: (o: T) => void): void;
  on(verb: 'error', cb: (err: unknown) => void): void;
  on(verb: Verb, cb: (o: never) => void): void {
    this.callbacks[verb].push(cb);
  }

  list(): T[] {
    const all: T[] = [];
    for (const ns of this.objects.values()) all.push(...ns.values());
    return all;
  }

  latestResourceVersion(): string {
    return this.resourceVersion;
  }

  private emit(verb: Verb, arg: unknown): void {
    for (const cb of this.callbacks[verb].slice()) (cb as (a: unknown) => void)(arg);
  }

  private abortRequest(): void {
    this.request?.abort();
    this.request = undefined;
  }

  private async doneHandler(err: unknown): Promise<void> {
    this.abortRequest();
    const code =
      (err as { statusCode?: unknown; code?: unknown } | null | undefined)?.statusCode ??
      (err as { code?: unknown } | null | undefined)?.code;
    if (err && code === 410) {
      this.resourceVersion = '';
    } else if (err) {
      this.emit('error', err);
      return;
    }
    if (this.stopped) return;
    if (!this.resourceVersion) {
      let list: KubernetesListObject<T>;
      try {
        list = await this.listFn();
      } catch (e) {
        this.emit('error', e);
        return;
      }
      this.replaceAll(list.items);
      this.resourceVersion = list.metadata?.resourceVersion ?? '';
    }
    const query: Record<string, string> = { resourceVersion: this.resourceVersion };
    if (this.labelSelector !== undefined) query.labelSelector = this.labelSelector;
    if (this.fieldSelector !== undefined) query.fieldSelector = this.fieldSelector;
    this.request = await this.watcher.watch(
      this.path,
      query,
      (phase, obj) => this.onWatchEvent(phase, obj),
      (e) => void this.doneHandler(e),
    );
  }

  private onWatchEvent(phase: string, raw: unknown): void {
    const obj = raw as T | null | undefined;
    switch (phase) {
      case 'ERROR':
        // The stream ends next; a 410 (Expired) means relist from scratch.
        if ((raw as { code?: unknown } | null | undefined)?.code === 410) this.resourceVersion = '';
        return;
      case 'ADDED':
      case 'MODIFIED':
        if (obj) this.addOrUpdate(obj);
        break;
      case 'DELETED':
        if (obj) this.remove(obj);
        break;
    }
    this.resourceVersion = obj?.metadata?.resourceVersion ?? '';
  }

  /** A fresh list: drop what is gone (delete), then add or update the rest. */
  private replaceAll(items: T[]): void {
    const fresh = new Map<string, Set<string>>();
    for (const o of items) {
      const ns = o.metadata?.namespace ?? '';
      let names = fresh.get(ns);
      if (names === undefined) fresh.set(ns, (names = new Set()));
      names.add(o.metadata?.name ?? '');
    }
    for (const [ns, held] of this.objects) {
      const keep = fresh.get(ns);
      for (const [name, old] of held) {
        if (keep?.has(name) === true) continue;
        held.delete(name);
        this.emit('delete', old);
      }
      if (held.size === 0) this.objects.delete(ns);
    }
    for (const o of items) this.addOrUpdate(o);
  }

  private addOrUpdate(obj: T): void {
    const ns = obj.metadata?.namespace ?? '';
    let held = this.objects.get(ns);
    if (held === undefined) this.objects.set(ns, (held = new Map()));
    const name = obj.metadata?.name ?? '';
    const found = held.get(name);
    if (found === undefined) {
      held.set(name, obj);
      this.emit('add', obj);
    } else if (
      found.metadata?.resourceVersion === undefined ||
      found.metadata.resourceVersion !== obj.metadata?.resourceVersion
    ) {
      held.set(name, obj);
      this.emit('update', obj);
    }
  }

  private remove(obj: T): void {
    const ns = obj.metadata?.namespace ?? '';
    const held = this.objects.get(ns);
    if (held?.delete(obj.metadata?.name ?? '') !== true) return;
    this.emit('delete', obj);
    if (held.size === 0) this.objects.delete(ns);
  }
}
