// Rendezvous choice with zone spread: deterministic, spread, and nested as k grows.
import t from 'tap';
import { pickNodes, rendezvousScore, type Candidate } from '../../src/edge/hash.js';

const names = (cs: readonly Candidate[]): string[] => cs.map((c) => c.name);

t.test('the score is sha256-based and the same on every machine', async (t) => {
  // Computed independently:
  // python3 -c "import hashlib; print(hashlib.sha256(b'prod-eu/shop/web\x00eu-a1').hexdigest()[:16])"
  t.equal(rendezvousScore('prod-eu/shop/web', 'eu-a1'), '93e854d0ab5dd668');
  t.not(rendezvousScore('a', 'bc'), rendezvousScore('ab', 'c'), 'the separator keeps identities apart');
});

t.test('without zones: the k highest scores, whatever the input order', async (t) => {
  const nodes: Candidate[] = Array.from({ length: 30 }, (_, i) => ({ name: `n${i}`, zone: '' }));
  const picked = pickNodes('c/ns/svc', nodes, 5);
  const expected = [...nodes]
    .sort((a, b) => (rendezvousScore('c/ns/svc', b.name) < rendezvousScore('c/ns/svc', a.name) ? -1 : 1))
    .slice(0, 5);
  t.same(names(picked), names(expected));
  t.same(names(pickNodes('c/ns/svc', [...nodes].reverse(), 5)), names(picked), 'input order does not matter');
  t.not(names(pickNodes('c/ns/other', nodes, 5)).join(), names(picked).join(), 'another Service gets another subset');
});

t.test('fewer candidates than k: all of them; k = 0 or none: nothing', async (t) => {
  const nodes: Candidate[] = [
    { name: 'a', zone: '' },
    { name: 'b', zone: 'z' },
  ];
  t.same(names(pickNodes('x', nodes, 6)).sort(), ['a', 'b']);
  t.same(pickNodes('x', nodes, 0), []);
  t.same(pickNodes('x', [], 3), []);
});

t.test('zones: round-robin, so no zone gets a second node before every zone has one', async (t) => {
  const nodes: Candidate[] = [];
  for (const z of ['a', 'b', 'c']) for (let i = 0; i < 10; i++) nodes.push({ name: `${z}${i}`, zone: z });
  nodes.push({ name: 'lonely', zone: 'd' });
  for (let s = 0; s < 50; s++) {
    const picked = pickNodes(`svc-${s}`, nodes, 6);
    const perZone = new Map<string, number>();
    for (const p of picked) perZone.set(p.zone, (perZone.get(p.zone) ?? 0) + 1);
    t.equal(perZone.get('d'), 1, `svc-${s}: the one-node zone is always used`);
    t.same([...perZone.values()].sort(), [1, 1, 2, 2], `svc-${s}: 4 zones share 6 nodes as 2+2+1+1`);
  }
});

t.test('growing k only adds nodes (the subsets are nested)', async (t) => {
  const nodes: Candidate[] = Array.from({ length: 40 }, (_, i) => ({ name: `n${i}`, zone: `z${i % 3}` }));
  let prev: string[] = [];
  for (let k = 1; k <= 12; k++) {
    const now = names(pickNodes('c/ns/svc', nodes, k));
    t.same(now.slice(0, prev.length), prev, `k=${k} starts with the k=${k - 1} pick`);
    prev = now;
  }
});
