// Where cluster state comes from: a snapshot file (offline use, tests) or one list each of Nodes
// and Services per kubeconfig context (no watch). Both give the same ClusterSnapshot[].
import { readFileSync } from 'node:fs';
import yaml from 'js-yaml';
import { FlagError } from '../platform/flags.js';
import { isPlainObject } from '../core/json.js';
import { loadContext } from '../kube/kubeconfig.js';
import { ApiTransport } from '../kube/transport.js';
import { listAll } from '../kube/list.js';
import type { ClusterSnapshot } from '../edge/model.js';
import { type ContextChoice, keepEdgeFields } from '../edge/cluster-objects.js';
import { errorMessage } from '../core/error-message.js';
import { ClaimsFormatError, type ClaimsDocument, emptyClaims, parseClaimsDocument } from '../core/claims-document.js';

/** An array of objects, or a List (`kubectl get nodes -o json`) holding them in `items`. */
function objectList(v: unknown, what: string): unknown[] {
  if (Array.isArray(v)) return v;
  if (isPlainObject(v) && Array.isArray(v.items)) return v.items;
  if (v === undefined || v === null) return [];
  throw new Error(`${what} must be a list of objects or a List with items`);
}

/** A snapshot file: the clusters, and the claims record (its `claims` key, else empty). */
export interface Snapshot {
  clusters: ClusterSnapshot[];
  claims: ClaimsDocument;
}

/**
 * Parses a snapshot: `{clusters: [{name, nodes, services}], claims?}` in JSON or YAML, where nodes
 * and services are Kubernetes objects (or List objects as kubectl prints them) and claims is the
 * claims record's document (claims.json, as an object or as its text).
 */
export function parseSnapshot(text: string): Snapshot {
  const doc: unknown = yaml.load(text); // YAML is a superset of JSON
  if (!isPlainObject(doc) || !Array.isArray(doc.clusters) || doc.clusters.length === 0)
    throw new Error('expected {clusters: [{name, nodes, services}, ...]} with at least one cluster');
  let claims = emptyClaims();
  if (doc.claims !== undefined && doc.claims !== null) {
    try {
      claims = parseClaimsDocument(typeof doc.claims === 'string' ? doc.claims : JSON.stringify(doc.claims));
    } catch (err) {
      if (!(err instanceof ClaimsFormatError)) throw err;
      throw new Error(`claims: ${err.message}`);
    }
  }
  return { clusters: clustersOf(doc.clusters), claims };
}

function clustersOf(list: unknown[]): ClusterSnapshot[] {
  const names = new Set<string>();
  return list.map((c, i) => {
    if (!isPlainObject(c) || typeof c.name !== 'string' || c.name === '')
      throw new Error(`clusters[${i}] needs a non-empty name`);
    if (names.has(c.name)) throw new Error(`cluster name "${c.name}" appears twice`);
    names.add(c.name);
    return {
      name: c.name,
      nodes: objectList(c.nodes, `clusters[${i}].nodes`),
      services: objectList(c.services, `clusters[${i}].services`),
    };
  });
}

export function readSnapshotFile(path: string): Snapshot {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new FlagError('snapshot', `cannot read "${path}": ${(err as Error).message}`);
  }
  try {
    return parseSnapshot(text);
  } catch (err) {
    throw new FlagError('snapshot', `"${path}": ${firstLine(err)}`);
  }
}

function firstLine(err: unknown): string {
  return errorMessage(err).split('\n')[0] as string;
}

/** One context's cluster as read, and the transport that read it. */
export interface ReadCluster extends ClusterSnapshot {
  api: ApiTransport;
}

/**
 * Lists Nodes and Services once in each context, all contexts at once; in the order of `choices`
 * (the first is where the claims record lives).
 */
export async function readClusters(
  path: string | undefined,
  choices: readonly ContextChoice[],
  env: NodeJS.ProcessEnv,
  requestTimeoutMs: number,
  annotationPrefix: string,
): Promise<ReadCluster[]> {
  return Promise.all(
    choices.map(async (choice) => {
      const kc = loadContext(path, choice.context, env);
      const name = choice.cluster !== '' ? choice.cluster : kc.getCurrentContext() || 'cluster';
      const api = new ApiTransport(kc, requestTimeoutMs, () => {});
      // Paged and trimmed item by item: what a tenant writes into other annotations is never held.
      const keep = (raw: unknown) => keepEdgeFields(raw, annotationPrefix);
      const [nodes, services] = await Promise.all([
        listAll(api, '/api/v1/nodes', keep),
        listAll(api, '/api/v1/services', keep),
      ]).catch((err: unknown) => {
        throw new Error(`context ${name}: ${firstLine(err)}`);
      });
      return { name, nodes: nodes.items, services: services.items, api };
    }),
  );
}
