// What the edge reads from a cluster, shared by render (one list) and sync (list+watch): which
// kubeconfig contexts are clusters, and each object trimmed to what the edge model uses.
import { isPlainObject } from '../core/json.js';
import { FlagError } from '../platform/flags.js';

/** One `--context` entry: CONTEXT, or ALIAS=CONTEXT to give the cluster a shorter name in the output. */
export interface ContextChoice {
  cluster: string;
  context: string | undefined;
}

export function parseContexts(v: string): ContextChoice[] {
  if (v.trim() === '') return [{ cluster: '', context: undefined }];
  const out = v.split(',').map((entry) => {
    const e = entry.trim();
    const eq = e.indexOf('=');
    const cluster = eq === -1 ? e : e.slice(0, eq).trim();
    const context = eq === -1 ? e : e.slice(eq + 1).trim();
    if (cluster === '' || context === '')
      throw new FlagError('context', `empty entry in "${v}" (expected CONTEXT or ALIAS=CONTEXT, comma-separated)`);
    return { cluster, context };
  });
  const seen = new Set<string>();
  for (const c of out) {
    if (seen.has(c.cluster)) throw new FlagError('context', `cluster "${c.cluster}" given twice`);
    seen.add(c.cluster);
  }
  return out;
}

/** The longest value kept of one of our annotations; a longer one is cut, so the model rejects it. */
export const MAX_KEPT_ANNOTATION = 4096;

/**
 * An API object as the edge reads it: everything but annotations, of which only ours are kept (and
 * each cut at MAX_KEPT_ANNOTATION), and without managedFields. A 250 KB annotation of a tenant's
 * own costs nothing here, and one of ours costs at most 4 KB.
 */
export function keepEdgeFields(raw: unknown, annotationPrefix: string): unknown {
  if (!isPlainObject(raw) || !isPlainObject(raw.metadata)) return raw;
  const { managedFields: _dropped, annotations, ...metadata } = raw.metadata;
  const ours: Record<string, string> = {};
  if (isPlainObject(annotations))
    for (const [k, v] of Object.entries(annotations))
      if (k.startsWith(`${annotationPrefix}/`) && typeof v === 'string')
        ours[k] = v.length > MAX_KEPT_ANNOTATION ? `${v.slice(0, MAX_KEPT_ANNOTATION)}\u0000(cut)` : v;
  return { ...raw, metadata: { ...metadata, annotations: ours } };
}
