// The property the issue asks for: adding or removing one node moves few servers. Many random
// clusters (seeded, so every run measures the same thing); for each Service, one node is added or
// removed and we count the servers that left the Service's subset. Ideal: on average k/N per
// Service (the changed node was in the subset with probability k/N, and then exactly one moves).
// Rendezvous hashing (with zone spread) is measured against a naive modulo pick and a fresh random
// pick per render, the same way.
import t from 'tap';
import { createHash } from 'node:crypto';
import { pickNodes, type Candidate } from '../../src/edge/hash.js';
import { mulberry32 as prng } from '../lib/prng.js';

const CLUSTERS = 200;
const K = 6;

const h32Memo = new Map<string, number>();
function h32(s: string): number {
  let v = h32Memo.get(s);
  if (v === undefined) h32Memo.set(s, (v = createHash('sha256').update(s).digest().readUInt32BE(0)));
  return v;
}

/** The naive pick: nodes in a fixed hashed order, k consecutive ones from (hash(service) mod N). */
function naivePick(identity: string, nodes: readonly Candidate[], k: number): Candidate[] {
  const ring = [...nodes].sort((a, b) => h32(a.name) - h32(b.name) || (a.name < b.name ? -1 : 1));
  const start = h32(identity) % ring.length;
  const out: Candidate[] = [];
  for (let i = 0; i < Math.min(k, ring.length); i++) out.push(ring[(start + i) % ring.length] as Candidate);
  return out;
}

/** What "just pick some nodes" does: a fresh random sample on every render. */
const sampler = prng(7);
function randomPick(_identity: string, nodes: readonly Candidate[], k: number): Candidate[] {
  const pool = [...nodes];
  for (let i = 0; i < Math.min(k, pool.length); i++) {
    const j = i + Math.floor(sampler() * (pool.length - i));
    [pool[i], pool[j]] = [pool[j] as Candidate, pool[i] as Candidate];
  }
  return pool.slice(0, k);
}

function moved(before: readonly Candidate[], after: readonly Candidate[]): number {
  const now = new Set(after.map((c) => c.name));
  return before.filter((c) => !now.has(c.name)).length;
}

interface Tally {
  events: number;
  moved: number;
  /** Σ k/N: what ideal consistent hashing moves in total over the same events. */
  ideal: number;
  /** Σ moved / k: the fraction of each Service's assignments that changed. */
  fraction: number;
  maxMoved: number;
}

const tally = (): Tally => ({ events: 0, moved: 0, ideal: 0, fraction: 0, maxMoved: 0 });

function record(tl: Tally, m: number, n: number): void {
  tl.events++;
  tl.moved += m;
  tl.ideal += Math.min(K, n) / n;
  tl.fraction += m / K;
  tl.maxMoved = Math.max(tl.maxMoved, m);
}

t.test(
  'adding or removing one node moves about k/N servers per Service with rendezvous, far more with a modulo pick',
  async (t) => {
    const rnd = prng(20240606);
    const strategies = { rendezvous: pickNodes, naive: naivePick, random: randomPick } as const;
    const result = { rendezvous: tally(), naive: tally(), random: tally(), rendezvousNoZones: tally() };
    let serviceCount = 0;
    for (let c = 0; c < CLUSTERS; c++) {
      const n = 20 + Math.floor(rnd() * 181); // 20..200 nodes
      const zoneCount = Math.floor(rnd() * 4); // 0 = no zone labels, else 1..3 zones
      const zoneOf = (): string => (zoneCount === 0 ? '' : `zone-${Math.floor(rnd() * zoneCount)}`);
      const nodes: Candidate[] = Array.from({ length: n }, (_, i) => ({ name: `c${c}-node-${i}`, zone: zoneOf() }));
      const services = 1 + Math.floor(rnd() * 20); // 1..20 Services
      serviceCount += services;
      for (let s = 0; s < services; s++) {
        const identity = `cluster-${c}/ns-${s % 3}/svc-${s}`;
        const removedAt = Math.floor(rnd() * n);
        const fewer = nodes.filter((_, i) => i !== removedAt);
        const more = [...nodes, { name: `c${c}-node-new-${s}`, zone: zoneOf() }];
        for (const [label, pick] of Object.entries(strategies)) {
          const base = pick(identity, nodes, K);
          for (const after of [pick(identity, fewer, K), pick(identity, more, K)]) {
            const m = moved(base, after);
            record(result[label as keyof typeof strategies], m, n);
            if (label === 'rendezvous' && zoneCount === 0) record(result.rendezvousNoZones, m, n);
          }
        }
      }
    }

    const ratio = (tl: Tally): number => tl.moved / tl.ideal;
    const line = (name: string, tl: Tally): string =>
      `${name}: ${(tl.moved / tl.events).toFixed(4)} servers moved per Service per change ` +
      `(ideal k/N ${(tl.ideal / tl.events).toFixed(4)}), ` +
      `ratio to ideal ${ratio(tl).toFixed(3)}, ${((100 * tl.fraction) / tl.events).toFixed(2)}% of assignments, ` +
      `at most ${tl.maxMoved} in one Service`;
    t.comment(
      `${CLUSTERS} clusters of 20..200 nodes, ${serviceCount} Services, k=${K}, ` +
        `${result.rendezvous.events} one-node changes per strategy`,
    );
    t.comment(line('rendezvous + zone spread', result.rendezvous));
    t.comment(line('rendezvous, clusters without zones', result.rendezvousNoZones));
    t.comment(line('naive modulo pick', result.naive));
    t.comment(line('random pick per render', result.random));

    t.ok(
      ratio(result.rendezvous) <= 1.5,
      `rendezvous moves at most 1.5x the ideal k/N (measured ${ratio(result.rendezvous).toFixed(3)})`,
    );
    t.ok(
      ratio(result.naive) >= 10 * ratio(result.rendezvous),
      `naive moves at least 10x more (measured ${(ratio(result.naive) / ratio(result.rendezvous)).toFixed(1)}x)`,
    );
    t.equal(result.rendezvousNoZones.maxMoved, 1, 'without zones one node change never moves more than one server');
    t.ok(
      result.rendezvous.maxMoved <= 2,
      `with zones at most two servers move (measured ${result.rendezvous.maxMoved})`,
    );
  },
);
