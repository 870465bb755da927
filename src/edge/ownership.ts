// Multi-tenant `render`: a host (every path under it) and an explicit backend name belong to the
// namespace of their oldest claimant (creationTimestamp, then uid: set by the API server, the same
// on every run). Other namespaces join only when that namespace names them in PREFIX/share-with.
// The oldest-claimant order is core's, the same one the agent's dedicated-port table uses.
import { groupBy } from '../core/group-by.js';
import { compareClaims } from '../core/port-claims.js';

export interface Claim {
  cluster: string;
  namespace: string;
  name: string;
  /** metadata.creationTimestamp in ms; Infinity when absent (sorts after every dated claim). */
  created: number;
  uid: string;
  /** Namespaces this Service's namespace lets join what it owns (PREFIX/share-with). */
  shareWith: ReadonlySet<string>;
}

const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** Oldest first; the names only break ties between undated claims, so the order is total. */
export function byClaim(x: Claim, y: Claim): number {
  return compareClaims(x, y) || cmp(x.cluster, y.cluster) || cmp(x.namespace, y.namespace) || cmp(x.name, y.name);
}

export function who(c: Claim): string {
  return `${c.cluster}/${c.namespace}/${c.name}`;
}

/** What a thing's owner decided: its namespace, the namespaces it let in, and its oldest claim. */
export interface Owner<C extends Claim> {
  first: C;
  namespace: string;
  shared: Set<string>;
}

export function ownerOf<C extends Claim>(claims: readonly C[]): Owner<C> {
  const first = [...claims].sort(byClaim)[0] as C;
  const shared = new Set<string>();
  for (const c of claims) if (c.namespace === first.namespace) for (const ns of c.shareWith) shared.add(ns);
  return { first, namespace: first.namespace, shared };
}

export function mayJoin(owner: Owner<Claim>, namespace: string): boolean {
  return namespace === owner.namespace || owner.shared.has(namespace);
}

/**
 * Keeps the claims whose namespace owns (or was let into) the thing they claim; the others are
 * dropped with one warning naming both Services. Claims with no key (undefined) pass through.
 */
export function keepOwned<C extends Claim>(
  claims: readonly C[],
  keyOf: (c: C) => string | undefined,
  what: (key: string) => string,
  shareKey: string,
  warn: (msg: string) => void,
): C[] {
  const owners = new Map<string, Owner<C>>();
  for (const [k, list] of groupBy(claims, keyOf)) owners.set(k, ownerOf(list));
  return claims.filter((c) => {
    const k = keyOf(c);
    const owner = k === undefined ? undefined : owners.get(k);
    if (owner === undefined || mayJoin(owner, c.namespace)) return true;
    warn(
      `service ${who(c)}: ${what(k as string)} belongs to namespace ${owner.namespace} ` +
        `(service ${who(owner.first)} claimed it first), ` +
        `which does not share it with ${c.namespace} (${shareKey}); skipped`,
    );
    return false;
  });
}
