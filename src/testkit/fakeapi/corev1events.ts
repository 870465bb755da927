/**
 * Core v1 Events (`/api/v1/events`) as a read-only view of the stored events.k8s.io/v1 Events, the
 * way the apiserver serves one storage under both APIs. `kubectl describe node` and `kubectl events`
 * read this API only, filtering on involvedObject.* fields.
 */
import { obj } from '../../core/json.js';
import { StatusError, errors } from './errors.js';
import type { Exchange } from './exchange.js';
import { parseFieldSelector, parseLabelSelector, matchFields, matchLabels } from './selectors.js';
import type { ObjectStore } from './store.js';
import type { KubeObject } from './types.js';

/** The field labels the real apiserver accepts for core v1 Events. */
const FIELD_LABELS = new Set([
  'metadata.name',
  'metadata.namespace',
  'involvedObject.kind',
  'involvedObject.namespace',
  'involvedObject.name',
  'involvedObject.uid',
  'involvedObject.apiVersion',
  'involvedObject.resourceVersion',
  'involvedObject.fieldPath',
  'reason',
  'reportingComponent',
  'source',
  'type',
]);

/** events.k8s.io/v1 → v1 field mapping (k8s.io/kubernetes/pkg/apis/events/v1 conversion). */
export function toCoreEvent(e: Readonly<KubeObject>): KubeObject {
  const source = obj(e.deprecatedSource);
  return {
    kind: 'Event',
    apiVersion: 'v1',
    metadata: e.metadata,
    involvedObject: obj(e.regarding),
    ...(e.related === undefined ? {} : { related: e.related }),
    reason: e.reason,
    message: e.note,
    type: e.type,
    source: Object.keys(source).length > 0 ? source : { component: e.reportingController },
    firstTimestamp: e.deprecatedFirstTimestamp ?? null,
    lastTimestamp: e.deprecatedLastTimestamp ?? null,
    count: e.deprecatedCount ?? 0,
    eventTime: e.eventTime ?? null,
    ...(e.series === undefined ? {} : { series: e.series }),
    action: e.action,
    reportingComponent: e.reportingController ?? '',
    reportingInstance: e.reportingInstance ?? '',
  };
}

export function serveCoreEvents(
  ex: Exchange,
  store: ObjectStore,
  namespace: string | undefined,
  name: string | undefined,
): void {
  if (ex.method !== 'GET' || ex.flag('watch')) {
    throw new StatusError(
      405,
      'core v1 events are read-only here (list and get); write and watch events.k8s.io/v1',
      'MethodNotAllowed',
    );
  }
  if (name !== undefined) {
    const o = store.get('events', namespace, name);
    if (!o) throw errors.notFound('events', name, '');
    ex.json(200, toCoreEvent(o.obj));
    return;
  }
  const fields = parseFieldSelector(ex.query('fieldSelector') ?? '');
  for (const f of fields)
    if (!FIELD_LABELS.has(f.field)) throw errors.badRequest(`field label not supported: ${f.field}`);
  const labels = parseLabelSelector(ex.query('labelSelector') ?? '');
  const items = store
    .list('events', namespace)
    .filter((o) => matchLabels(labels, o.obj.metadata.labels))
    .map((o) => toCoreEvent(o.obj))
    .filter((e) => matchFields(fields, e));
  ex.json(200, {
    kind: 'EventList',
    apiVersion: 'v1',
    metadata: { resourceVersion: String(store.resourceVersion) },
    items,
  });
}
