/**
 * Versioned in-memory object store, modelled on etcd + the apiserver watch cache:
 * one global resourceVersion counter, and per-resource event history so a watch
 * can resume from any resourceVersion that has not been compacted away.
 */
import { randomUUID } from 'node:crypto';
import { StatusError, errors } from './errors.js';
import { deepClone, deepEqual } from './json.js';
import { RESOURCES, type ResourceInfo } from './resources.js';
import type { KubeObject, Resource } from './types.js';

/** An object as stored: never handed out, so it can be shared by lists and watches. */
export interface StoredObject {
  readonly key: string;
  readonly rv: number;
  readonly obj: Readonly<KubeObject>;
  /** Serialized once at write time; lists and watch events reuse it. */
  readonly json: string;
}

export type StoreEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface StoreEvent {
  readonly rv: number;
  readonly type: StoreEventType;
  readonly object: StoredObject;
  /** State before a MODIFIED/DELETED, so watchers can tell when an object leaves their selector. */
  readonly previous: StoredObject | undefined;
}

export type StoreListener = (event: StoreEvent) => void;

export interface WriteOptions {
  /** Validate and compute the result, but do not persist it (`?dryRun=All`). */
  dryRun?: boolean;
}

export interface DeleteOptions extends WriteOptions {
  preconditions?: { resourceVersion?: string; uid?: string };
}

interface ResourceState {
  readonly objects: Map<string, StoredObject>;
  sortedKeys: string[] | undefined;
  events: StoreEvent[];
  /** Watches may resume from an RV >= floor; older ones were compacted. */
  floor: number;
  readonly listeners: Set<StoreListener>;
}

export interface StoreOptions {
  /** Events kept per resource before the oldest half is compacted. */
  historyLimit?: number;
}

export function objectKey(namespace: string | undefined, name: string): string {
  return `${namespace ?? ''}/${name}`;
}

function timestamp(): string {
  // The apiserver uses second precision (RFC 3339 without fraction).
  return new Date().toISOString().replace(/\.\d+Z$/, 'Z');
}

function randomSuffix(): string {
  const alphabet = 'bcdfghjklmnpqrstvwxz2456789';
  let s = '';
  for (let i = 0; i < 5; i++) s += alphabet.charAt(Math.floor(Math.random() * alphabet.length));
  return s;
}

export class ObjectStore {
  private rv: number;
  private readonly historyLimit: number;
  private readonly state = new Map<Resource, ResourceState>();

  constructor(opts: StoreOptions = {}) {
    this.rv = 1;
    this.historyLimit = Math.max(2, opts.historyLimit ?? 10_000);
    for (const r of Object.keys(RESOURCES) as Resource[]) {
      this.state.set(r, { objects: new Map(), sortedKeys: undefined, events: [], floor: 0, listeners: new Set() });
    }
  }

  get resourceVersion(): number {
    return this.rv;
  }

  private stateOf(resource: Resource): ResourceState {
    const st = this.state.get(resource);
    if (!st) throw new StatusError(404, `the server could not find the requested resource (${resource})`, 'NotFound');
    return st;
  }

  get(resource: Resource, namespace: string | undefined, name: string): StoredObject | undefined {
    const info = RESOURCES[resource];
    return this.stateOf(resource).objects.get(objectKey(info.namespaced ? namespace : undefined, name));
  }

  /** Objects in key order (namespace, then name), like etcd range reads. */
  list(resource: Resource, namespace?: string): StoredObject[] {
    const st = this.stateOf(resource);
    st.sortedKeys ??= [...st.objects.keys()].sort();
    const prefix = namespace && RESOURCES[resource].namespaced ? `${namespace}/` : undefined;
    const out: StoredObject[] = [];
    for (const key of st.sortedKeys) {
      if (prefix && !key.startsWith(prefix)) continue;
      const o = st.objects.get(key);
      if (o) out.push(o);
    }
    return out;
  }

  /** Namespaces that currently hold at least one object. */
  namespaces(): Set<string> {
    const out = new Set<string>();
    for (const st of this.state.values()) {
      for (const o of st.objects.values()) if (o.obj.metadata.namespace) out.add(o.obj.metadata.namespace);
    }
    return out;
  }

  create(resource: Resource, input: KubeObject, opts: WriteOptions = {}): StoredObject {
    const info = RESOURCES[resource];
    const obj = this.normalize(info, input);
    if (!obj.metadata.name) {
      if (!obj.metadata.generateName) {
        throw errors.invalid(
          resource,
          '',
          'metadata.name: Required value: name or generateName is required',
          info.group,
        );
      }
      obj.metadata.name = obj.metadata.generateName + randomSuffix();
    }
    const key = objectKey(obj.metadata.namespace, obj.metadata.name);
    const st = this.stateOf(resource);
    if (st.objects.has(key)) throw errors.alreadyExists(resource, obj.metadata.name, info.group);
    obj.metadata.uid ??= randomUUID();
    obj.metadata.creationTimestamp ??= timestamp();
    return this.commit(resource, 'ADDED', key, obj, undefined, opts);
  }

  /** Replaces an object. A set metadata.resourceVersion must match the stored one (optimistic concurrency). */
  update(resource: Resource, input: KubeObject, opts: WriteOptions = {}): StoredObject {
    const info = RESOURCES[resource];
    const obj = this.normalize(info, input);
    if (!obj.metadata.name)
      throw errors.invalid(resource, '', 'metadata.name: Required value: name is required', info.group);
    const key = objectKey(obj.metadata.namespace, obj.metadata.name);
    const st = this.stateOf(resource);
    const current = st.objects.get(key);
    if (!current) throw errors.notFound(resource, obj.metadata.name, info.group);
    const wanted = obj.metadata.resourceVersion;
    if (wanted !== undefined && wanted !== '' && wanted !== String(current.rv)) {
      throw errors.conflict(resource, obj.metadata.name, info.group);
    }
    // Identity fields are owned by the server.
    const { uid, creationTimestamp } = current.obj.metadata;
    if (uid !== undefined) obj.metadata.uid = uid;
    if (creationTimestamp !== undefined) obj.metadata.creationTimestamp = creationTimestamp;
    obj.metadata.resourceVersion = String(current.rv);
    // Like the apiserver, a write that changes nothing keeps the resourceVersion and emits no event.
    if (deepEqual(obj, current.obj)) return current;
    return this.commit(resource, 'MODIFIED', key, obj, current, opts);
  }

  delete(resource: Resource, namespace: string | undefined, name: string, opts: DeleteOptions = {}): StoredObject {
    const info = RESOURCES[resource];
    const key = objectKey(info.namespaced ? namespace : undefined, name);
    const st = this.stateOf(resource);
    const current = st.objects.get(key);
    if (!current) throw errors.notFound(resource, name, info.group);
    const pre = opts.preconditions;
    if (pre?.resourceVersion && pre.resourceVersion !== String(current.rv)) {
      throw new StatusError(
        409,
        `Operation cannot be fulfilled on ${resource} "${name}": Precondition failed: ` +
          `ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${current.rv}`,
        'Conflict',
      );
    }
    if (pre?.uid && pre.uid !== current.obj.metadata.uid) {
      throw new StatusError(
        409,
        `Operation cannot be fulfilled on ${resource} "${name}": Precondition failed: ` +
          `UID in precondition: ${pre.uid}, UID in object meta: ${current.obj.metadata.uid ?? ''}`,
        'Conflict',
      );
    }
    return this.commit(resource, 'DELETED', key, deepClone(current.obj) as KubeObject, current, opts);
  }

  /**
   * Events after `rv`, for a watch resuming there.
   * Throws 410 Expired when that part of history is gone, including RVs this store never
   * handed out (after resetHistory), so clients relist instead of waiting forever.
   */
  eventsSince(resource: Resource, rv: number): StoreEvent[] {
    const st = this.stateOf(resource);
    if (rv < st.floor) throw errors.expired(`too old resource version: ${rv} (${st.floor})`);
    if (rv > this.rv) throw errors.expired(`too large resource version: ${rv}, current: ${this.rv}`);
    const events = st.events;
    let lo = 0;
    let hi = events.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((events[mid]?.rv ?? 0) <= rv) lo = mid + 1;
      else hi = mid;
    }
    return events.slice(lo);
  }

  /** Throws 410 if a list/continue snapshot at `rv` can no longer be served consistently. */
  assertNotCompacted(resource: Resource, rv: number): void {
    if (rv < this.stateOf(resource).floor) {
      throw errors.expired(
        'The provided continue parameter is too old to display a consistent list result. ' +
          'You can start a new list without the continue parameter.',
      );
    }
  }

  subscribe(resource: Resource, listener: StoreListener): () => void {
    const listeners = this.stateOf(resource).listeners;
    listeners.add(listener);
    return () => listeners.delete(listener);
  }

  /**
   * Forgets all history: resuming from any RV handed out so far gets 410. The counter moves on by one
   * so that even the latest RV a client holds counts as compacted.
   */
  compact(): void {
    this.rv += 1;
    this.forgetHistory();
  }

  private forgetHistory(): void {
    for (const st of this.state.values()) {
      st.events = [];
      st.floor = this.rv;
    }
  }

  /**
   * Simulates an apiserver on a restored or new etcd: the RV counter jumps to `newStartRv`
   * (which may be lower than before), every object is re-stamped with it, and history is gone.
   */
  reset(newStartRv: number): void {
    this.rv = newStartRv;
    for (const st of this.state.values()) {
      for (const [key, o] of st.objects) {
        const obj = deepClone(o.obj) as KubeObject;
        obj.metadata.resourceVersion = String(newStartRv);
        st.objects.set(key, { key, rv: newStartRv, obj, json: JSON.stringify(obj) });
      }
    }
    this.forgetHistory();
  }

  private commit(
    resource: Resource,
    type: StoreEventType,
    key: string,
    obj: KubeObject,
    previous: StoredObject | undefined,
    opts: WriteOptions,
  ): StoredObject {
    const rv = opts.dryRun ? this.rv : this.rv + 1;
    obj.metadata.resourceVersion = String(rv);
    const stored: StoredObject = { key, rv, obj, json: JSON.stringify(obj) };
    if (opts.dryRun) return stored;

    this.rv = rv;
    const st = this.stateOf(resource);
    if (type === 'DELETED') st.objects.delete(key);
    else st.objects.set(key, stored);
    if (type !== 'MODIFIED') st.sortedKeys = undefined;

    const event: StoreEvent = { rv, type, object: stored, previous };
    st.events.push(event);
    if (st.events.length > this.historyLimit) {
      // Amortised trimming: drop the oldest half at once.
      const drop = st.events.length - Math.floor(this.historyLimit / 2);
      st.floor = st.events[drop - 1]?.rv ?? st.floor;
      st.events = st.events.slice(drop);
    }
    for (const listener of [...st.listeners]) listener(event);
    return stored;
  }

  /** Copies the input and fills in what the server owns: apiVersion/kind, namespace rules. */
  private normalize(info: ResourceInfo, input: KubeObject): KubeObject {
    const { apiVersion, kind, metadata, ...rest } = deepClone(input);
    if (apiVersion !== undefined && apiVersion !== info.apiVersion) {
      throw errors.badRequest(
        `the API version in the data (${apiVersion}) does not match the expected API version (${info.apiVersion})`,
      );
    }
    if (kind !== undefined && kind !== info.kind) {
      throw errors.badRequest(`the kind in the data (${kind}) does not match the expected kind (${info.kind})`);
    }
    const meta = { ...(metadata ?? {}) };
    if (info.namespaced) {
      if (!meta.namespace)
        throw errors.badRequest(`${info.resource} must be namespaced: metadata.namespace is required`);
    } else {
      delete meta.namespace;
    }
    return { apiVersion: info.apiVersion, kind: info.kind, metadata: meta, ...rest };
  }
}
