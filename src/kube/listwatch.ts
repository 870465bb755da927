// What one list or one watch line means to the cache, with no I/O: the object store (a fresh list
// replaces it, a watch event edits it, each change reported once) and the decoding of a watch
// line into an event or a reason to restart. The state machine that drives them is informer.ts.
// Ours, not client-node's ListWatch: importing its cache.js loads the generated models (~70 MB of
// RSS), and it throws on a watch ERROR event without an object.
import { isPlainObject } from '../core/json.js';

/** The identity every cached object carries. */
export interface KubernetesObject {
  metadata?: { name?: string; namespace?: string; resourceVersion?: string };
}

/** namespace and name of an object, as the store keys it. */
export interface ObjectKey {
  namespace: string;
  name: string;
}

export function keyOf(o: KubernetesObject): ObjectKey {
  return { namespace: o.metadata?.namespace ?? '', name: o.metadata?.name ?? '' };
}

export interface StoreSink<T> {
  upsert(o: T): void;
  delete(o: T): void;
}

export class Store<T extends KubernetesObject> {
  private objects = new Map<string, Map<string, T>>();

  constructor(private readonly sink: StoreSink<T>) {}

  /**
   * A fresh list: drop what is gone (delete), then add or update the rest. `kept` names objects
   * the list holds but we could not read: what we last read of them stays, as on a watch.
   */
  replaceAll(items: readonly T[], kept: readonly ObjectKey[] = []): void {
    const fresh = new Map<string, Set<string>>();
    for (const k of [...items.map(keyOf), ...kept]) {
      let names = fresh.get(k.namespace);
      if (names === undefined) fresh.set(k.namespace, (names = new Set()));
      names.add(k.name);
    }
    for (const [ns, held] of this.objects) {
      const keep = fresh.get(ns);
      for (const [name, old] of held) {
        if (keep?.has(name) === true) continue;
        held.delete(name);
        this.sink.delete(old);
      }
      if (held.size === 0) this.objects.delete(ns);
    }
    for (const o of items) this.upsert(o);
  }

  /** Added or modified: reported when new or when its resourceVersion moved. */
  upsert(obj: T): void {
    const { namespace, name } = keyOf(obj);
    let held = this.objects.get(namespace);
    if (held === undefined) this.objects.set(namespace, (held = new Map()));
    const found = held.get(name);
    if (
      found === undefined ||
      found.metadata?.resourceVersion === undefined ||
      found.metadata.resourceVersion !== obj.metadata?.resourceVersion
    ) {
      held.set(name, obj);
      this.sink.upsert(obj);
    }
  }

  remove(obj: T): void {
    const { namespace, name } = keyOf(obj);
    const held = this.objects.get(namespace);
    if (held?.delete(name) !== true) return;
    this.sink.delete(obj);
    if (held.size === 0) this.objects.delete(namespace);
  }
}

/** Why a watch line ends the watch: it said something we cannot trust, so we relist. */
export type BrokenLine = 'bad_line' | 'bad_error_event';

/** One watch line, decoded; `type` is the event type it named (counted), if it named one. */
export type WatchLine =
  | { kind: 'event'; type: string; object: unknown }
  | { kind: 'bookmark'; type: 'BOOKMARK'; resourceVersion: string | undefined }
  /** A Status from the server; code is the HTTP code it carries, if any (410 = relist). */
  | { kind: 'error'; type: 'ERROR'; code: number | undefined }
  | { kind: 'broken'; type: string | undefined; reason: BrokenLine; message: string };

export function decodeWatchLine(line: string): WatchLine {
  let ev: unknown;
  try {
    ev = JSON.parse(line);
  } catch {
    return { kind: 'broken', type: undefined, reason: 'bad_line', message: 'a line that is not JSON' };
  }
  if (typeof ev !== 'object' || ev === null)
    return { kind: 'broken', type: undefined, reason: 'bad_line', message: 'a line that is not an event' };
  const { type: t, object } = ev as { type?: unknown; object?: unknown };
  const type = typeof t === 'string' ? t : '';
  if (type === 'ERROR') {
    // Only a real Status is believed: its `.code` decides between relist and retry.
    if (!isPlainObject(object))
      return { kind: 'broken', type, reason: 'bad_error_event', message: 'ERROR event without a Status' };
    const code = object.code;
    return { kind: 'error', type, code: typeof code === 'number' ? code : undefined };
  }
  if (type === 'BOOKMARK') {
    const rv = (object as { metadata?: { resourceVersion?: unknown } } | undefined)?.metadata?.resourceVersion;
    return { kind: 'bookmark', type, resourceVersion: typeof rv === 'string' ? rv : undefined };
  }
  return { kind: 'event', type, object };
}
