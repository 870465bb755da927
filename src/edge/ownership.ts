// Who claims what: a Service asking for a host or an explicit backend name is a claim by its owner,
// the (cluster, namespace) pair it lives in, never a bare namespace name: namespace `shop` of
// another cluster is another team until named as `cluster/shop`. Which owner wins is claims.ts's.
import { ownerId } from '../core/claims-document.js';
import { isClusterName, isDnsLabel } from '../core/names.js';
import { compareClaims } from '../core/port-claims.js';

export interface Claim {
  cluster: string;
  namespace: string;
  name: string;
  /** metadata.creationTimestamp in ms; Infinity when absent (sorts after every dated claim). */
  created: number;
  uid: string;
  /** Owners (`cluster/namespace`) this Service's owner lets join what it owns (PREFIX/share-with). */
  shareWith: ReadonlySet<string>;
}

const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/**
 * Oldest first; the names only break ties between undated claims, so the order is total. It picks
 * which of one owner's Services speaks for it, and which of several owners who all let each other
 * in is named the owner: never who owns a thing against another owner's will.
 */
export function byClaim(x: Claim, y: Claim): number {
  return compareClaims(x, y) || cmp(x.cluster, y.cluster) || cmp(x.namespace, y.namespace) || cmp(x.name, y.name);
}

export function who(c: Claim): string {
  return `${c.cluster}/${c.namespace}/${c.name}`;
}

/** The claim's owner: `cluster/namespace`. */
export function ownerOf(c: Claim): string {
  return ownerId(c.cluster, c.namespace);
}

/**
 * One PREFIX/share-with entry of a Service in `cluster`, as an owner: `ns` is namespace ns of the
 * same cluster, `cluster/ns` namespace ns of that cluster (the last '/' splits: namespaces hold
 * none). Undefined when the namespace is not a DNS-1123 label or the cluster part is no cluster name.
 */
export function shareEntry(cluster: string, entry: string): string | undefined {
  const slash = entry.lastIndexOf('/');
  const ns = entry.slice(slash + 1).trim();
  const other = slash === -1 ? cluster : entry.slice(0, slash).trim();
  return isDnsLabel(ns) && isClusterName(other) ? ownerId(other, ns) : undefined;
}
