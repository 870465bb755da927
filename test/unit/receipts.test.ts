// Delivery receipts, pure, with a hand-driven clock: who has heard that the node is out, when a
// silent load balancer is forgotten, and that the table stays bounded.
import t from 'tap';
import { MAX_WINDOW_MS, MIN_WINDOW_MS, NODE_KEY, Receipts } from '../../src/run/agent/receipts.js';
import { AnswerInterner } from '../../src/core/answer.js';

const answers = new AnswerInterner();
const READY = answers.intern({ kind: 'ready', weight: 100, why: 'node ready' });
const DRAIN = answers.intern({ kind: 'drain', why: 'signal cordon' });
const DOWN = answers.intern({ kind: 'down', text: 'no local endpoints', why: 'no ready endpoint on this node' });

function setup(): { r: Receipts; clock: { now: number } } {
  const clock = { now: 1000 };
  return { r: new Receipts(() => clock.now, 8), clock };
}

t.test('not out: never delivered, however many peers heard ready', async (t) => {
  const { r, clock } = setup();
  r.nodeAnswerIs(READY);
  r.record('10.0.0.1', 'shop/web', READY);
  clock.now += 100;
  const v = r.view();
  t.equal(v.group, 'in');
  t.equal(v.delivered, false);
  t.equal(v.currentPeers, 1, 'the peer has the current (ready) answer');
});

t.test('delivered only when every peer has an out answer on every key it probes, given after the change', async (t) => {
  const { r, clock } = setup();
  r.nodeAnswerIs(READY);
  for (let i = 0; i < 3; i++) {
    r.record('10.0.0.1', 'shop/web', READY);
    r.record('10.0.0.1', NODE_KEY, READY);
    r.record('10.0.0.2', 'shop/web', READY);
    clock.now += 100;
  }
  r.nodeAnswerIs(DRAIN);
  let v = r.view();
  t.equal(v.delivered, false, 'nobody has heard it yet');
  t.equal(v.currentPeers, 0);
  clock.now += 50;
  r.record('10.0.0.1', 'shop/web', DRAIN);
  v = r.view();
  t.equal(v.delivered, false, 'one key of one peer is not enough');
  t.same(
    v.peers.find((p) => p.peer === '10.0.0.1')?.keys.map((k) => [k.key, k.current]),
    [
      ['', false],
      ['shop/web', true],
    ],
  );
  r.record('10.0.0.1', NODE_KEY, DRAIN);
  // A Local Service with no pod here answers down while the node drains: still "out".
  r.record('10.0.0.2', 'shop/web', DOWN);
  v = r.view();
  t.equal(v.delivered, true);
  t.equal(v.currentPeers, 2);
  // drain → down (the drain deadline) stays in the out group: still delivered.
  r.nodeAnswerIs(DOWN);
  t.equal(r.view().delivered, true);
  // Back to ready: not draining, and peers must hear ready again to be current.
  r.nodeAnswerIs(READY);
  v = r.view();
  t.equal(v.delivered, false);
  t.equal(v.currentPeers, 0);
});

t.test('a peer that stops probing is forgotten after 3 of its intervals (at least 1 s)', async (t) => {
  const { r, clock } = setup();
  for (let i = 0; i < 5; i++) {
    r.record('lb-a', 'k', READY);
    r.record('lb-b', 'k', READY);
    clock.now += 100;
  }
  r.nodeAnswerIs(DRAIN);
  // lb-b goes silent; lb-a keeps probing and hears drain.
  for (let i = 0; i < 5; i++) {
    r.record('lb-a', 'k', DRAIN);
    clock.now += 100;
  }
  t.equal(r.view().delivered, false, 'lb-b still inside its window (interval 100 ms → window 1 s floor)');
  t.equal(r.view().peers.length, 2);
  for (let i = 0; i < 6; i++) {
    r.record('lb-a', 'k', DRAIN);
    clock.now += 100;
  }
  const v = r.view();
  t.same(
    v.peers.map((p) => p.peer),
    ['lb-a'],
    'lb-b forgotten after its window',
  );
  t.equal(v.delivered, true);
  t.equal(Receipts.windowOf(100), MIN_WINDOW_MS);
  t.equal(Receipts.windowOf(5000), 15_000);
  t.equal(Receipts.windowOf(60_000), MAX_WINDOW_MS, 'bounded');
  t.equal(Receipts.windowOf(0), MAX_WINDOW_MS, 'one probe only: interval unknown, keep it the longest');
});

t.test('bounded: slots beyond the cap are dropped and counted, expired ones make room', async (t) => {
  const { r, clock } = setup();
  for (let i = 0; i < 12; i++) r.record(`10.0.0.${i}`, 'k', READY);
  t.equal(r.count(), 8);
  t.equal(r.dropped, 4);
  // Known slots keep updating at the cap.
  r.record('10.0.0.0', 'k', DRAIN);
  t.equal(r.dropped, 4);
  clock.now += MAX_WINDOW_MS + 1;
  r.record('new', 'k', READY);
  t.equal(r.count(), 1, 'the silent ones were swept to make room');
  t.equal(r.dropped, 4);
});

t.test('probes without a peer address are not recorded', async (t) => {
  const { r } = setup();
  r.record(undefined, 'k', READY);
  t.equal(r.count(), 0);
});
