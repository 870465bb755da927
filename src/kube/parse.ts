// Kubernetes objects (parsed JSON) → the small views decisions need. Whole objects are dropped
// right here, so the informer caches hold a few fields per object, not megabytes of specs.
import { DEFAULT_WEIGHT, MAX_WEIGHT } from '../core/views.js';
import type {
  AnnotationProblem,
  Parsed,
  ClaimOrder,
  NodeSignal,
  NodeView,
  OperatorState,
  ServiceView,
  SliceView,
} from '../core/views.js';
import { taintSignal, type SignalName } from '../core/policy.js';
import { obj, str, type JsonObject } from '../core/json.js';
import { rejectedValue } from '../core/rejected.js';

function identity(o: JsonObject): Parsed<unknown>['metadata'] | undefined {
  const md = obj(o.metadata);
  const name = str(md.name);
  if (name === undefined) return undefined;
  const namespace = str(md.namespace);
  const resourceVersion = str(md.resourceVersion);
  return {
    name,
    ...(namespace === undefined ? {} : { namespace }),
    ...(resourceVersion === undefined ? {} : { resourceVersion }),
  };
}

const EXCLUDE_LABEL = 'node.kubernetes.io/exclude-from-external-load-balancers';
const OPERATOR_STATES: readonly OperatorState[] = ['drain', 'maint', 'ready'];

/** An RFC 3339 time, or the unix seconds the cluster autoscaler puts in its taint value. */
function epochMs(v: unknown): number | undefined {
  if (typeof v !== 'string' || v === '') return undefined;
  if (/^[0-9]{9,11}$/.test(v)) return Number(v) * 1000;
  const ms = Date.parse(v);
  return Number.isNaN(ms) ? undefined : ms;
}

/** metadata.managedFields: the time of the entry that owns the field path (identical for every reader). */
function fieldSetAt(managedFields: unknown, ...path: string[]): number | undefined {
  if (!Array.isArray(managedFields)) return undefined;
  let latest: number | undefined;
  for (const entry of managedFields) {
    const e = obj(entry);
    let f: unknown = e.fieldsV1;
    for (const p of path) f = obj(f)[p];
    if (f === undefined) continue;
    const t = epochMs(e.time);
    if (t !== undefined && (latest === undefined || t > latest)) latest = t;
  }
  return latest;
}

export function nodeFromObject(raw: unknown, annotationPrefix: string): Parsed<NodeView> | undefined {
  const o = obj(raw);
  const metadata = identity(o);
  if (metadata === undefined) return undefined;
  const md = obj(o.metadata);
  const spec = obj(o.spec);
  const annotations = obj(md.annotations);
  const problems: AnnotationProblem[] = [];
  const signals: NodeSignal[] = [];
  const add = (name: SignalName, since?: number): void => {
    const prev = signals.find((s) => s.name === name);
    if (prev === undefined) signals.push(since === undefined ? { name } : { name, since });
    else if (since !== undefined && (prev.since === undefined || since < prev.since)) prev.since = since;
  };

  let unschedulableSince: number | undefined;
  if (Array.isArray(spec.taints)) {
    for (const t of spec.taints) {
      const taint = obj(t);
      const key = str(taint.key);
      const signal = key === undefined ? undefined : taintSignal(key);
      if (signal === undefined) continue;
      // The autoscaler's taint value is the unix time it decided; timeAdded is the API's own.
      const since = epochMs(taint.timeAdded) ?? (signal.startsWith('autoscaler') ? epochMs(taint.value) : undefined);
      add(signal, since);
      if (signal === 'unschedulable-taint') unschedulableSince = since;
    }
  }
  // When was it cordoned: the unschedulable taint's timeAdded if set, else the time server-side
  // field management recorded for whoever set spec.unschedulable (kubectl cordon, drain tools).
  if (spec.unschedulable === true)
    add('cordon', unschedulableSince ?? fieldSetAt(md.managedFields, 'f:spec', 'f:unschedulable'));
  const deletion = str(md.deletionTimestamp);
  if (deletion !== undefined) add('deletion', epochMs(deletion));
  if (Object.hasOwn(obj(md.labels), EXCLUDE_LABEL)) add('exclude-label');
  const conditions = obj(o.status).conditions;
  if (Array.isArray(conditions)) {
    for (const c of conditions) {
      const cond = obj(c);
      if (str(cond.type) === 'Ready' && str(cond.status) !== 'True') add('not-ready', epochMs(cond.lastTransitionTime));
    }
  }

  const stateKey = `${annotationPrefix}/state`;
  const stateRaw = str(annotations[stateKey]);
  let state: OperatorState | undefined;
  if (stateRaw !== undefined) {
    const v = stateRaw.trim().toLowerCase();
    if ((OPERATOR_STATES as readonly string[]).includes(v)) state = v as OperatorState;
    else
      problems.push({
        annotation: stateKey,
        ...rejectedValue(stateRaw),
        reason: 'expected drain, maint or ready',
        fallback: '(ignored)',
      });
  }
  const weightKey = `${annotationPrefix}/weight`;
  const weight = parseWeight(str(annotations[weightKey]));
  if (weight.error !== undefined)
    problems.push({
      annotation: weightKey,
      ...rejectedValue(annotations[weightKey]),
      reason: weight.error,
      fallback: String(DEFAULT_WEIGHT),
    });

  return { metadata, view: { name: metadata.name, signals, state, weight: weight.weight }, problems };
}

export interface PortRange {
  min: number;
  max: number;
}

export function serviceFromObject(
  raw: unknown,
  annotationPrefix: string,
  portRange: PortRange,
): Parsed<ServiceView> | undefined {
  const o = obj(raw);
  const metadata = identity(o);
  if (metadata === undefined) return undefined;
  const annotations = obj(obj(o.metadata).annotations);
  const spec = obj(o.spec);
  const problems: AnnotationProblem[] = [];

  const weightKey = `${annotationPrefix}/weight`;
  const parsed = parseWeight(str(annotations[weightKey]));
  if (parsed.error !== undefined) {
    problems.push({
      annotation: weightKey,
      ...rejectedValue(annotations[weightKey]),
      reason: parsed.error,
      fallback: String(DEFAULT_WEIGHT),
    });
  }
  const portKey = `${annotationPrefix}/agent-port`;
  const portRaw = str(annotations[portKey]);
  let agentPort: number | undefined;
  if (portRaw !== undefined) {
    const v = portRaw.trim();
    const n = /^[0-9]{1,5}$/.test(v) ? Number(v) : NaN;
    if (Number.isNaN(n))
      problems.push({
        annotation: portKey,
        ...rejectedValue(portRaw),
        reason: 'not a port number',
        fallback: '(no dedicated port)',
      });
    else if (n < portRange.min || n > portRange.max)
      problems.push({
        annotation: portKey,
        ...rejectedValue(portRaw),
        reason: `outside --agent-port-range ${portRange.min}-${portRange.max}`,
        fallback: '(no dedicated port)',
      });
    else agentPort = n;
  }
  const type = str(spec.type);
  const local = (type === 'NodePort' || type === 'LoadBalancer') && str(spec.externalTrafficPolicy) === 'Local';
  // Only port claimants carry their claim order: the port's owner must not depend on name order.
  const claim = agentPort === undefined ? undefined : claimOrder(obj(o.metadata));
  return {
    metadata,
    view: {
      namespace: metadata.namespace ?? 'default',
      name: metadata.name,
      weight: parsed.weight,
      local,
      agentPort,
      ...weightNote(annotations[weightKey], parsed),
      ...(claim === undefined ? {} : { claim }),
    },
    problems,
  };
}

function claimOrder(md: JsonObject): ClaimOrder {
  const created = Date.parse(str(md.creationTimestamp) ?? '');
  return { created: Number.isNaN(created) ? Infinity : created, uid: (str(md.uid) ?? '').slice(0, 64) };
}

export function sliceFromObject(raw: unknown): Parsed<SliceView> | undefined {
  const o = obj(raw);
  const metadata = identity(o);
  if (metadata === undefined) return undefined;
  const service = str(obj(obj(o.metadata).labels)['kubernetes.io/service-name']);
  if (service === undefined) return undefined; // not managed for a Service: nothing to count
  const perNode = new Map<string, [number, number]>();
  if (Array.isArray(o.endpoints)) {
    for (const e of o.endpoints) {
      const ep = obj(e);
      const raw = str(ep.nodeName);
      if (raw === undefined) continue;
      const node = internNodeName(raw);
      const c = obj(ep.conditions);
      // Per the API: a nil ready/serving means true, nil terminating means false.
      const terminating = c.terminating === true;
      const ready = c.ready !== false && !terminating;
      const serving = c.serving !== false;
      const counts = perNode.get(node) ?? [0, 0];
      if (ready) counts[0]++;
      else if (terminating && serving) counts[1]++;
      perNode.set(node, counts);
    }
  }
  return { metadata, view: { serviceKey: `${metadata.namespace ?? 'default'}/${service}`, perNode }, problems: [] };
}

/** "weight 50 from annotation" or "invalid weight 'lots', using 100"; nothing without the annotation. */
function weightNote(raw: unknown, parsed: { weight: number; error?: string }): { weightNote?: string } {
  if (raw === undefined) return {};
  if (parsed.error === undefined) return { weightNote: `weight ${parsed.weight} from annotation` };
  return { weightNote: `invalid weight ${shortQuote(String(raw))}, using ${parsed.weight}` };
}

/** A hostile value, safe to show: at most 32 characters, control characters as "?". */
function shortQuote(v: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
  const clean = v.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, '?');
  return `'${clean.length > 32 ? `${clean.slice(0, 32)}…` : clean}'`;
}

/**
 * Node names repeat in every slice (thousands of slices, a handful of nodes): share one string per
 * name. Capped, since anyone who may write an EndpointSlice can invent names; past the cap the
 * table starts over (names already shared stay shared).
 */
const NODE_NAMES_CAP = 10_000;
const nodeNames = new Map<string, string>();
function internNodeName(name: string): string {
  const known = nodeNames.get(name);
  if (known !== undefined) return known;
  if (nodeNames.size >= NODE_NAMES_CAP) nodeNames.clear();
  nodeNames.set(name, name);
  return name;
}

/**
 * The weight annotation: a whole number 0..256 (a trailing % is allowed, "25%" = 25).
 * Absent → 100. Anything else → 100 plus an error, so a typo never takes traffic away.
 */
export function parseWeight(value: string | undefined): { weight: number; error?: string } {
  if (value === undefined) return { weight: DEFAULT_WEIGHT };
  let v = value.trim();
  if (v.endsWith('%')) v = v.slice(0, -1);
  if (!/^[0-9]{1,4}$/.test(v)) return { weight: DEFAULT_WEIGHT, error: `not a whole number 0..${MAX_WEIGHT}` };
  const n = Number(v);
  if (n > MAX_WEIGHT) return { weight: DEFAULT_WEIGHT, error: `above ${MAX_WEIGHT}, HAProxy's largest weight` };
  return { weight: n };
}
