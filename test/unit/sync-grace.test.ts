// Hysteresis for nodes leaving eligibility (src/sync/grace.ts): a flap within --replace-after keeps
// the node as it last was when eligible; expiry lets it go; a deleted node is forgotten at once.
import t from 'tap';
import { EligibilityGrace } from '../../src/sync/grace.js';

interface N {
  name?: string;
  ok: boolean;
  v: number;
}
const n = (name: string, ok: boolean, v = 0): N => ({ name, ok, v });
const grace = (ms: number) =>
  new EligibilityGrace(
    ms,
    (raw) => (raw as N).ok,
    (raw) => (raw as N).name,
  );

t.test('a flap within the grace keeps the last eligible object, and says when to look again', async (t) => {
  const g = grace(60_000);
  t.same(g.apply('c', [n('a', true, 1), n('b', true)], 1000), { nodes: [n('a', true, 1), n('b', true)] });
  // a is cordoned at t=5s: the model still sees it eligible, as it was.
  let r = g.apply('c', [n('a', false, 2), n('b', true)], 5000);
  t.same(r.nodes, [n('a', true, 1), n('b', true)]);
  t.equal(r.nextExpiry, 65_000, 'grace ends 60 s after it was first seen ineligible');
  t.same(g.held(5000), [{ node: 'c/a', secondsLeft: 60 }]);
  // Still ineligible later: the grace counts from the first sighting, not the last.
  r = g.apply('c', [n('a', false, 3), n('b', true)], 30_000);
  t.same(r.nodes[0], n('a', true, 1));
  t.equal(r.nextExpiry, 65_000);
  t.same(g.held(30_000), [{ node: 'c/a', secondsLeft: 35 }]);
  // Back before the grace ended: the new object, no grace pending.
  r = g.apply('c', [n('a', true, 4), n('b', true)], 40_000);
  t.same(r, { nodes: [n('a', true, 4), n('b', true)] });
  t.same(g.held(40_000), []);
  // A second flap starts a fresh grace.
  r = g.apply('c', [n('a', false, 5), n('b', true)], 100_000);
  t.equal(r.nextExpiry, 160_000);
  t.same(r.nodes[0], n('a', true, 4));
});

t.test('expiry: at the end of the grace the ineligible object goes to the model', async (t) => {
  const g = grace(10_000);
  g.apply('c', [n('a', true, 1)], 0);
  t.same(g.apply('c', [n('a', false, 2)], 1000).nodes, [n('a', true, 1)]);
  t.same(g.apply('c', [n('a', false, 2)], 10_999).nodes, [n('a', true, 1)], 'a millisecond before');
  const r = g.apply('c', [n('a', false, 3)], 11_000);
  t.same(r, { nodes: [n('a', false, 3)] }, 'at the end: as it is, no expiry left');
  t.same(g.held(11_000), []);
  t.same(g.apply('c', [n('a', false, 4)], 12_000), { nodes: [n('a', false, 4)] }, 'and stays out');
});

t.test('a node never seen eligible gets no grace; nameless objects pass through', async (t) => {
  const g = grace(10_000);
  t.same(g.apply('c', [n('new', false), { ok: true, v: 9 }], 0), { nodes: [n('new', false), { ok: true, v: 9 }] });
  t.same(g.held(0), []);
});

t.test('a deleted node is forgotten at once: back later, it is a new node', async (t) => {
  const g = grace(60_000);
  g.apply('c', [n('a', true, 1), n('b', true)], 0);
  g.apply('c', [n('a', false, 2), n('b', true)], 1000);
  t.same(g.held(1000).length, 1);
  let r = g.apply('c', [n('b', true)], 2000);
  t.same(r, { nodes: [n('b', true)] }, 'deleted: not kept, no expiry');
  t.same(g.held(2000), [], 'not held any more');
  r = g.apply('c', [n('a', false, 3), n('b', true)], 3000);
  t.same(r.nodes[0], n('a', false, 3), 'returns ineligible: no memory of its old eligible self');
});

t.test("clusters are apart: one cluster listing does not forget another cluster's nodes", async (t) => {
  const g = grace(60_000);
  g.apply('x', [n('a', true, 1)], 0);
  g.apply('y', [n('a', true, 7)], 0);
  g.apply('y', [], 1000);
  t.same(g.apply('x', [n('a', false, 2)], 2000).nodes, [n('a', true, 1)]);
  t.same(g.held(2000), [{ node: 'x/a', secondsLeft: 60 }]);
});

t.test('graceMs 0: an ineligible node goes at once', async (t) => {
  const g = grace(0);
  g.apply('c', [n('a', true, 1)], 0);
  t.same(g.apply('c', [n('a', false, 2)], 1), { nodes: [n('a', false, 2)] });
  t.same(g.held(1), []);
});
