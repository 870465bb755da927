/** REST verbs on stored resources: list, get, watch, create, update, patch, delete. */
import { StatusError, errors, successStatus } from './errors.js';
import type { Exchange } from './exchange.js';
import { isPlainObject } from '../../core/json.js';
import { applyJsonPatch, applyMergePatch, applyStrategicMergePatch } from './patch.js';
import type { ResourceInfo } from './resources.js';
import { parseFieldSelector, parseLabelSelector } from './selectors.js';
import type { ObjectStore, StoredObject, WriteOptions } from './store.js';
import type { Faults, KubeObject } from './types.js';
import { WatchStream, matchesFilter, type WatchFilter } from './watch.js';
import { hasPrinter, toTable, wantsTable } from './table.js';

export interface HandlerContext {
  readonly store: ObjectStore;
  readonly faults: Faults;
  readonly bookmarkIntervalMs: number;
  /** Tracks a watch so the server can drop or destroy it. */
  registerWatch(watch: WatchStream): void;
  /** A delay that the server cancels on stop(). */
  sleep(ms: number): Promise<void>;
}

export type PatchType = 'merge' | 'strategic' | 'json';

const PATCH_CONTENT_TYPES: Record<string, PatchType> = {
  'application/merge-patch+json': 'merge',
  'application/strategic-merge-patch+json': 'strategic',
  'application/json-patch+json': 'json',
};

/** Applies a patch to the stored object and writes the result through the store's update path. */
export function patchObject(
  store: ObjectStore,
  info: ResourceInfo,
  namespace: string | undefined,
  name: string,
  type: PatchType,
  patch: unknown,
  opts: WriteOptions = {},
): StoredObject {
  const current = store.get(info.resource, namespace, name);
  if (!current) throw errors.notFound(info.resource, name, info.group);
  let patched: unknown;
  if (type === 'merge') patched = applyMergePatch(current.obj, patch);
  else if (type === 'strategic') patched = applyStrategicMergePatch(current.obj, patch, info.strategicLists);
  else patched = applyJsonPatch(current.obj, patch);
  if (!isPlainObject(patched) || !isPlainObject(patched.metadata)) {
    throw errors.invalid(info.resource, name, 'metadata: Required value', info.group);
  }
  const meta = patched.metadata;
  if (meta.name !== name || (info.namespaced && meta.namespace !== namespace)) {
    throw errors.invalid(info.resource, name, 'metadata.name/namespace: field is immutable', info.group);
  }
  // A patch that leaves metadata.resourceVersion alone is unconditional; one that sets it is a precondition.
  return store.update(info.resource, patched as KubeObject, opts);
}

function parseRv(raw: string | undefined): number | undefined {
  if (raw === undefined || raw === '' || raw === '0') return undefined;
  if (!/^\d+$/.test(raw)) throw errors.badRequest(`invalid resource version "${raw}"`);
  return Number(raw);
}

function isDryRun(ex: Exchange): boolean {
  return ex.url.searchParams.getAll('dryRun').includes('All');
}

interface ContinueToken {
  rv: number;
  start: string;
}

function encodeContinue(token: ContinueToken): string {
  return Buffer.from(JSON.stringify(token)).toString('base64url');
}

function decodeContinue(raw: string): ContinueToken {
  try {
    const t = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8')) as unknown;
    if (isPlainObject(t) && typeof t.rv === 'number' && typeof t.start === 'string')
      return { rv: t.rv, start: t.start };
  } catch {
    // fall through
  }
  throw errors.badRequest('continue key is not valid');
}

export class ResourceHandlers {
  private readonly ctx: HandlerContext;

  constructor(ctx: HandlerContext) {
    this.ctx = ctx;
  }

  private get store(): ObjectStore {
    return this.ctx.store;
  }

  private filter(
    ex: Exchange,
    info: ResourceInfo,
    namespace: string | undefined,
    name: string | undefined,
  ): WatchFilter {
    const fields = parseFieldSelector(ex.query('fieldSelector') ?? '');
    for (const f of fields) {
      if (!info.fieldLabels.includes(f.field)) throw errors.badRequest(`field label not supported: ${f.field}`);
    }
    return { namespace, name, labels: parseLabelSelector(ex.query('labelSelector') ?? ''), fields };
  }

  async list(ex: Exchange, info: ResourceInfo, namespace: string | undefined): Promise<void> {
    const filter = this.filter(ex, info, namespace, undefined);
    if (this.ctx.faults.listDelayMs > 0) await this.ctx.sleep(this.ctx.faults.listDelayMs);

    const limitRaw = ex.query('limit');
    const limit = limitRaw && /^\d+$/.test(limitRaw) && Number(limitRaw) > 0 ? Number(limitRaw) : Infinity;
    const contRaw = ex.query('continue');
    const cont = contRaw ? decodeContinue(contRaw) : undefined;
    if (cont) this.store.assertNotCompacted(info.resource, cont.rv);
    // Later pages report the first page's RV, so a watch started from it replays anything that changed meanwhile.
    const rv = cont?.rv ?? this.store.resourceVersion;

    const items: string[] = [];
    const objects: StoredObject[] = [];
    let lastKey: string | undefined;
    let more = false;
    let remaining = 0;
    for (const o of this.store.list(info.resource, namespace)) {
      if (cont && o.key <= cont.start) continue;
      if (!matchesFilter(filter, o.obj)) continue;
      if (items.length >= limit) {
        more = true;
        remaining++;
        continue;
      }
      items.push(o.json);
      objects.push(o);
      lastKey = o.key;
    }
    const metadata: Record<string, unknown> = { resourceVersion: String(rv) };
    if (more && lastKey !== undefined) {
      metadata.continue = encodeContinue({ rv, start: lastKey });
      if (filter.labels.length === 0 && filter.fields.length === 0) metadata.remainingItemCount = remaining;
    }
    if (wantsTable(ex.req.headers.accept) && hasPrinter(info.resource)) {
      ex.json(
        200,
        toTable(
          info.resource,
          objects.map((o) => o.obj),
          metadata as { resourceVersion: string },
        ),
      );
      return;
    }
    const head = JSON.stringify({ kind: info.listKind, apiVersion: info.apiVersion, metadata });
    // Splice the pre-serialized items in rather than re-encoding every object.
    ex.json(200, `${head.slice(0, -1)},"items":[${items.join(',')}]}`);
  }

  get(ex: Exchange, info: ResourceInfo, namespace: string | undefined, name: string): void {
    const o = this.store.get(info.resource, namespace, name);
    if (!o) throw errors.notFound(info.resource, name, info.group);
    if (wantsTable(ex.req.headers.accept) && hasPrinter(info.resource))
      return ex.json(200, toTable(info.resource, [o.obj], { resourceVersion: String(o.rv) }));
    ex.json(200, o.json);
  }

  watch(ex: Exchange, info: ResourceInfo, namespace: string | undefined, name: string | undefined): void {
    const filter = this.filter(ex, info, namespace, name);
    const rv = parseRv(ex.query('resourceVersion'));
    const bookmarks = ex.flag('allowWatchBookmarks');
    const timeoutRaw = ex.query('timeoutSeconds');
    const timeoutSeconds = timeoutRaw && /^\d+$/.test(timeoutRaw) ? Number(timeoutRaw) : 0;
    const faults = this.ctx.faults;

    const w = new WatchStream(ex, info, filter);
    w.open();
    this.ctx.registerWatch(w);
    if (faults.hangWatches) return;
    if (faults.watchGone) {
      w.fail(errors.expired('too old resource version: watch forced to expire (fault injection)').toStatus());
      return;
    }

    const resource = info.resource;
    if (ex.flag('sendInitialEvents')) {
      w.sendInitial(this.store.list(resource, namespace));
      if (bookmarks) w.sendBookmark(this.store.resourceVersion, true);
    } else if (rv === undefined) {
      w.sendInitial(this.store.list(resource, namespace));
    } else {
      try {
        w.sendEvents(this.store.eventsSince(resource, rv));
      } catch (e) {
        if (e instanceof StatusError) {
          w.fail(e.toStatus());
          return;
        }
        throw e;
      }
    }
    // Replay and subscription happen in the same tick, so no event can fall in between.
    const unsubscribe = this.store.subscribe(resource, (event) => w.sendEvent(event));
    w.onClose(unsubscribe);
    if (bookmarks && this.ctx.bookmarkIntervalMs > 0) {
      w.every(this.ctx.bookmarkIntervalMs, () => w.sendBookmark(this.store.resourceVersion));
    }
    if (timeoutSeconds > 0) w.after(timeoutSeconds * 1000, () => w.end());
  }

  async create(ex: Exchange, info: ResourceInfo, namespace: string | undefined): Promise<void> {
    const body = await ex.readJson();
    if (!isPlainObject(body) || !isPlainObject(body.metadata)) {
      throw errors.badRequest('the body of the request must be an object with metadata');
    }
    const meta = body.metadata;
    if (info.namespaced) {
      if (meta.namespace !== undefined && meta.namespace !== '' && meta.namespace !== namespace) {
        throw errors.badRequest(
          'the namespace of the provided object does not match the namespace sent on the request',
        );
      }
      meta.namespace = namespace;
    }
    delete meta.resourceVersion;
    const created = this.store.create(info.resource, body as KubeObject, { dryRun: isDryRun(ex) });
    ex.json(201, created.json);
  }

  async update(ex: Exchange, info: ResourceInfo, namespace: string | undefined, name: string): Promise<void> {
    const body = await ex.readJson();
    if (!isPlainObject(body) || !isPlainObject(body.metadata)) {
      throw errors.badRequest('the body of the request must be an object with metadata');
    }
    const meta = body.metadata;
    if (meta.name !== name) {
      throw errors.badRequest(
        `the name of the object (${String(meta.name)}) does not match the name on the URL (${name})`,
      );
    }
    if (info.namespaced) {
      if (meta.namespace !== undefined && meta.namespace !== '' && meta.namespace !== namespace) {
        throw errors.badRequest(
          'the namespace of the provided object does not match the namespace sent on the request',
        );
      }
      meta.namespace = namespace;
    }
    const updated = this.store.update(info.resource, body as KubeObject, { dryRun: isDryRun(ex) });
    ex.json(200, updated.json);
  }

  async patch(ex: Exchange, info: ResourceInfo, namespace: string | undefined, name: string): Promise<void> {
    const contentType = (ex.req.headers['content-type'] ?? '').split(';')[0]?.trim() ?? '';
    const type = PATCH_CONTENT_TYPES[contentType];
    if (!type) {
      throw new StatusError(
        415,
        'the body of the request was in an unknown format - ' +
          `accepted media types include: ${Object.keys(PATCH_CONTENT_TYPES).join(', ')}`,
        'UnsupportedMediaType',
      );
    }
    const body = await ex.readJson();
    const patched = patchObject(this.store, info, namespace, name, type, body, { dryRun: isDryRun(ex) });
    ex.json(200, patched.json);
  }

  async delete(ex: Exchange, info: ResourceInfo, namespace: string | undefined, name: string): Promise<void> {
    const body = await ex.readJson();
    const preconditions = isPlainObject(body) && isPlainObject(body.preconditions) ? body.preconditions : {};
    const bodyDryRun = isPlainObject(body) && Array.isArray(body.dryRun) && body.dryRun.includes('All');
    const deleted = this.store.delete(info.resource, namespace, name, {
      dryRun: isDryRun(ex) || bodyDryRun,
      preconditions: {
        resourceVersion: typeof preconditions.resourceVersion === 'string' ? preconditions.resourceVersion : undefined,
        uid: typeof preconditions.uid === 'string' ? preconditions.uid : undefined,
      },
    });
    // Matches the real API: services answer with the deleted object, the others with a Status.
    if (info.resource === 'services') {
      ex.json(200, deleted.json);
    } else {
      const details = {
        name,
        kind: info.resource,
        ...(info.group ? { group: info.group } : {}),
        uid: deleted.obj.metadata.uid,
      };
      ex.status(successStatus(details));
    }
  }
}
