// Which nodes serve a Service: rendezvous (highest-random-weight) hashing with zone spread.
// Pure and deterministic across machines and runs: the same inputs always pick the same nodes,
// and adding or removing one node moves at most about one server per Service that held it.
import crypto from 'node:crypto';

export interface Candidate {
  name: string;
  /** topology.kubernetes.io/zone; '' when the node has none (all such nodes form one zone). */
  zone: string;
}

// crypto.hash (one-shot, ~3x faster) arrived in Node 20.12; engines allows 20.10, so fall back.
const sha256Hex: (s: string) => string =
  typeof crypto.hash === 'function'
    ? (s) => crypto.hash('sha256', s, 'hex')
    : (s) => crypto.createHash('sha256').update(s, 'utf8').digest('hex');

/**
 * Rendezvous score of a node for a Service: the first 64 bits of sha256(identity + "\0" +
 * nodeName) as 16 lower-case hex digits, so string order is numeric order (and cheaper than
 * BigInt). The NUL keeps ("a", "bc") apart from ("ab", "c").
 */
export function rendezvousScore(identity: string, nodeName: string): string {
  return sha256Hex(`${identity}\0${nodeName}`).slice(0, 16);
}

/**
 * Picks up to k candidates for `identity`.
 *
 * Exact rule (round-robin across zones, as pod anti-affinity spreads):
 *   1. score every candidate with rendezvousScore(identity, name);
 *   2. within each zone, rank its candidates by score, highest first (rank 0, 1, 2, ...);
 *   3. order all candidates by (rank ascending, score descending, name ascending) and take the first k.
 * So round r takes the r-th best node of every zone that still has one, zones with the better
 * r-th node first, until k are taken. Without zone labels this is plain rendezvous hashing: the k
 * highest scores. A node's own score never depends on the other nodes, which is what keeps the
 * choice stable when one node comes or goes.
 *
 * Returns the chosen candidates in pick order. Duplicate names are the caller's bug.
 */
export function pickNodes<T extends Candidate>(identity: string, candidates: readonly T[], k: number): T[] {
  if (k <= 0 || candidates.length === 0) return [];
  const scored = candidates.map((c) => ({ c, score: rendezvousScore(identity, c.name), rank: 0 }));
  const byZone = new Map<string, typeof scored>();
  for (const s of scored) {
    const list = byZone.get(s.c.zone);
    if (list === undefined) byZone.set(s.c.zone, [s]);
    else list.push(s);
  }
  for (const list of byZone.values()) {
    list.sort(byScoreThenName);
    for (const [i, s] of list.entries()) s.rank = i;
  }
  scored.sort((a, b) => a.rank - b.rank || byScoreThenName(a, b));
  return scored.slice(0, k).map((s) => s.c);
}

function byScoreThenName(a: { score: string; c: Candidate }, b: { score: string; c: Candidate }): number {
  if (a.score !== b.score) return a.score > b.score ? -1 : 1;
  return a.c.name < b.c.name ? -1 : a.c.name > b.c.name ? 1 : 0;
}
