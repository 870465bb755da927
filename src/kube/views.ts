// Kubernetes objects (parsed JSON) → the small views decisions need. Whole objects are dropped
// right here, so the informer caches hold a few fields per object, not megabytes of specs.
import { DEFAULT_WEIGHT, MAX_WEIGHT, type NodeView, type ServiceView } from '../decide.js';

/** What the informer cache stores: identity for the cache, plus our view. */
export interface Cached<V> {
  metadata: { name: string; namespace?: string; resourceVersion?: string };
  view: V;
  /** Annotations we could not use, with why; empty when all is well. */
  problems: AnnotationProblem[];
}

export interface AnnotationProblem {
  annotation: string;
  value: string;
  reason: string;
  /** What we use instead, as the README documents. */
  fallback: string;
}

type Json = Record<string, unknown>;

function obj(v: unknown): Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Json) : {};
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

function identity(o: Json): Cached<unknown>['metadata'] | undefined {
  const md = obj(o.metadata);
  const name = str(md.name);
  if (name === undefined) return undefined;
  const namespace = str(md.namespace);
  const resourceVersion = str(md.resourceVersion);
  return { name, ...(namespace === undefined ? {} : { namespace }), ...(resourceVersion === undefined ? {} : { resourceVersion }) };
}

export function nodeFromObject(raw: unknown): Cached<NodeView> | undefined {
  const o = obj(raw);
  const metadata = identity(o);
  if (metadata === undefined) return undefined;
  return { metadata, view: { name: metadata.name, unschedulable: obj(o.spec).unschedulable === true }, problems: [] };
}

export function serviceFromObject(raw: unknown, annotationPrefix: string): Cached<ServiceView> | undefined {
  const o = obj(raw);
  const metadata = identity(o);
  if (metadata === undefined) return undefined;
  const annotations = obj(obj(o.metadata).annotations);
  const key = `${annotationPrefix}/weight`;
  const parsed = parseWeight(str(annotations[key]));
  const problems: AnnotationProblem[] = [];
  if (parsed.error !== undefined) {
    problems.push({ annotation: key, value: String(annotations[key]), reason: parsed.error, fallback: String(DEFAULT_WEIGHT) });
  }
  return {
    metadata,
    view: { namespace: metadata.namespace ?? 'default', name: metadata.name, weight: parsed.weight },
    problems,
  };
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
