// Delivery receipts, pure, with a hand-driven clock: who has heard that the node is out, when a
// silent load balancer is remembered, refused and unrecorded probes, and that the table stays bounded.
import t from 'tap';
import {
  MAX_RECEIPTS,
  MAX_WINDOW_MS,
  MIN_WINDOW_MS,
  NODE_KEY,
  PEER_KEY_QUOTA,
  Receipts,
} from '../../src/run/agent/receipts.js';
import { AnswerInterner } from '../../src/core/answer.js';

const answers = new AnswerInterner();
const READY = answers.intern({ kind: 'ready', weight: 100, why: 'node ready' });
const DRAIN = answers.intern({ kind: 'drain', why: 'signal cordon' });
const DOWN = answers.intern({ kind: 'down', text: 'no local endpoints', why: 'no ready endpoint on this node' });

function setup(): { r: Receipts; clock: { now: number } } {
  const clock = { now: 1000 };
  return { r: new Receipts(() => clock.now, { max: 8 }), clock };
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

t.test('a peer told ready that goes silent is never forgotten: the drain is not delivered to it', async (t) => {
  // Attack (issue 22 #1a): HAProxy's agent-check stops (`disable agent`, a stuck process) while the
  // node serves; HAProxy keeps the server UP. Its receipts must outlive any window.
  const { r, clock } = setup();
  r.nodeAnswerIs(READY);
  for (let i = 0; i < 5; i++) {
    r.record('lb-a', 'k', READY);
    r.record('lb-b', 'k', READY);
    clock.now += 100;
  }
  // lb-b goes silent well before the cordon; lb-a keeps probing.
  for (let i = 0; i < 50; i++) {
    r.record('lb-a', 'k', READY);
    clock.now += 100;
  }
  r.nodeAnswerIs(DRAIN);
  for (let i = 0; i < 20; i++) {
    r.record('lb-a', 'k', DRAIN);
    clock.now += 100;
  }
  clock.now += 10 * MAX_WINDOW_MS;
  r.record('lb-a', 'k', DRAIN);
  const v = r.view();
  t.same(
    v.peers.map((p) => p.peer),
    ['lb-a', 'lb-b'],
    'lb-b is still known, long past its window',
  );
  t.equal(v.delivered, false, 'not delivered: lb-b was last told ready');
  const b = v.peers.find((p) => p.peer === 'lb-b');
  t.match(b, { current: false, keys: [{ key: 'k', reply: 'ready up 100%', silent: true, current: false }] });
  t.equal(Receipts.windowOf(100), MIN_WINDOW_MS);
  t.equal(Receipts.windowOf(5000), 15_000);
  t.equal(Receipts.windowOf(60_000), MAX_WINDOW_MS, 'bounded');
  t.equal(Receipts.windowOf(0), MAX_WINDOW_MS, 'one probe only: interval unknown, keep it the longest');
});

t.test(
  'a late agent-send line answered for the node does not hold the proof of a peer that keeps probing',
  async (t) => {
    // Under load a line can arrive after --read-timeout: that one probe is answered for the node and
    // filed under the node key. The same HAProxy then probes its Service key on time, hears the drain,
    // and must count as delivered; a node-only peer (no agent-send) that goes silent still does not.
    const { r, clock } = setup();
    r.nodeAnswerIs(READY);
    r.record('lb-a', NODE_KEY, READY);
    r.record('lb-n', NODE_KEY, READY);
    for (let i = 0; i < 5; i++) {
      r.record('lb-a', 'shop/web', READY);
      clock.now += 100;
    }
    r.nodeAnswerIs(DRAIN);
    for (let i = 0; i < 20; i++) {
      r.record('lb-a', 'shop/web', DRAIN);
      clock.now += 100;
    }
    clock.now += MAX_WINDOW_MS + 1;
    r.record('lb-a', 'shop/web', DRAIN);
    const v = r.view();
    t.same(
      v.peers.find((p) => p.peer === 'lb-a')?.keys.map((k) => k.key),
      ['shop/web'],
      "lb-a's stray node-key slot is gone once it stayed silent past its window",
    );
    t.match(
      v.peers.find((p) => p.peer === 'lb-n'),
      { current: false, keys: [{ key: NODE_KEY, silent: true }] },
    );
    t.equal(v.delivered, false, 'the node-only peer still holds the proof');
  },
);

t.test('--forget-silent-peers-after: a silent peer goes away only after that long', async (t) => {
  const clock = { now: 1000 };
  const r = new Receipts(() => clock.now, { max: 8, forgetSilentAfterMs: 120_000 });
  r.nodeAnswerIs(READY);
  for (let i = 0; i < 3; i++) {
    r.record('lb-b', 'k', READY);
    clock.now += 100;
  }
  r.nodeAnswerIs(DRAIN);
  clock.now += 110_000;
  t.equal(r.view().delivered, false, 'silent 110 s: still pending');
  clock.now += 20_000;
  const v = r.view();
  t.equal(v.peers.length, 0, 'forgotten after 120 s');
  t.equal(v.delivered, true);
});

t.test('a peer told drain that goes silent has the drain, but not the way back', async (t) => {
  const { r, clock } = setup();
  r.nodeAnswerIs(DRAIN);
  for (let i = 0; i < 3; i++) {
    r.record('lb-a', 'k', DRAIN);
    r.record('lb-b', 'k', DRAIN);
    clock.now += 100;
  }
  clock.now += 2 * MAX_WINDOW_MS;
  t.equal(r.view().delivered, true, 'every peer holds an out answer');
  r.nodeAnswerIs(READY);
  r.record('lb-a', 'k', READY);
  const v = r.view();
  t.equal(v.group, 'in');
  t.equal(v.allCurrent, false, 'lb-b still holds the drain');
  t.same(
    v.peers.filter((p) => !p.current).map((p) => p.peer),
    ['lb-b'],
  );
  r.record('lb-b', 'k', READY);
  t.equal(r.view().allCurrent, true, 'ready delivered once lb-b heard it');
});

t.test('ready delivery: each key must hear the answer it has now', async (t) => {
  const clock = { now: 1000 };
  const now: Record<string, typeof READY> = { 'shop/web': READY, 'shop/local': DOWN };
  const r = new Receipts(() => clock.now, { max: 64, answerFor: (k) => now[k] });
  r.nodeAnswerIs(READY);
  r.record('lb', 'shop/web', READY);
  r.record('lb', 'shop/local', DOWN);
  r.record('lb', NODE_KEY, READY);
  t.equal(r.view().allCurrent, true, 'a Local Service with no pod here answers down: that is its ready answer');
  r.record('lb', 'shop/web', DRAIN);
  t.equal(r.view().allCurrent, false);
});

t.test('a silent slot of a Service no longer served is forgotten', async (t) => {
  const clock = { now: 1000 };
  const now: Record<string, typeof READY | undefined> = { 'shop/web': READY, 'shop/old': READY };
  const r = new Receipts(() => clock.now, { max: 64, answerFor: (k) => now[k] });
  r.nodeAnswerIs(READY);
  for (let i = 0; i < 3; i++) {
    r.record('lb', 'shop/web', READY);
    r.record('lb', 'shop/old', READY);
    clock.now += 100;
  }
  now['shop/old'] = undefined;
  r.nodeAnswerIs(DRAIN);
  for (let i = 0; i < 30; i++) {
    r.record('lb', 'shop/web', DRAIN);
    clock.now += 100;
  }
  const v = r.view();
  t.same(
    v.peers[0]?.keys.map((k) => k.key),
    ['shop/web'],
  );
  t.equal(v.delivered, true);
});

t.test('one host probing thousands of keys cannot crowd out a new load balancer', async (t) => {
  // Attack (issue 22 #1c): one host probes 4,096 tenant-made Service keys, then a real HAProxy starts.
  const clock = { now: 1000 };
  const r = new Receipts(() => clock.now);
  r.nodeAnswerIs(READY);
  for (let i = 0; i < MAX_RECEIPTS; i++) r.record('10.9.9.9', `tenant/s${i}`, READY);
  t.equal(r.count(), PEER_KEY_QUOTA, 'the host holds its quota, no more');
  for (let i = 0; i < 200; i++) r.record('10.0.0.1', `shop/s${i}`, READY);
  r.record('10.0.0.1', NODE_KEY, READY);
  const lb = r.view().peers.find((p) => p.peer === '10.0.0.1');
  t.equal(lb?.keys.length, 201, "the new load balancer's every key is kept");
  r.nodeAnswerIs(DRAIN);
  clock.now += 100;
  for (let i = 0; i < MAX_RECEIPTS; i++) r.record('10.9.9.9', `tenant/s${i}`, DRAIN);
  for (let i = 0; i < 200; i++) r.record('10.0.0.1', `shop/s${i}`, DRAIN);
  r.record('10.0.0.1', NODE_KEY, DRAIN);
  const v = r.view();
  t.equal(v.delivered, false, 'the host probes keys we could not record: unknown is not delivered');
  t.match(
    v.peers.find((p) => p.peer === '10.9.9.9'),
    { current: false, unrecorded: { count: Number } },
  );
  t.equal(v.peers.find((p) => p.peer === '10.0.0.1')?.current, true);
  // Once it stops probing the unrecorded keys (its longest window), what we kept says it all.
  clock.now += MAX_WINDOW_MS + 1;
  for (let i = 0; i < PEER_KEY_QUOTA; i++) r.record('10.9.9.9', `tenant/s${i}`, DRAIN);
  for (let i = 0; i < 200; i++) r.record('10.0.0.1', `shop/s${i}`, DRAIN);
  r.record('10.0.0.1', NODE_KEY, DRAIN);
  t.equal(r.view().delivered, true);
});

t.test('a full table: new node slots use the reserve, then drops make the proof unknown', async (t) => {
  const { r, clock } = setup();
  r.nodeAnswerIs(READY);
  // max 8: quota 2 Service keys per peer, 1 slot reserved for node keys.
  for (let i = 0; i < 7; i++) r.record(`10.0.0.${i}`, 'k', READY);
  r.record('10.0.0.7', 'k', READY);
  t.equal(r.count(), 7, 'Service keys stop short of the reserve');
  r.record('10.0.0.7', NODE_KEY, READY);
  t.equal(r.count(), 8, "a new peer's node slot takes the reserve");
  r.record('10.0.0.8', NODE_KEY, READY);
  t.equal(r.count(), 8, 'bounded');
  t.equal(r.dropped, 2);
  // Known slots keep updating at the cap.
  r.nodeAnswerIs(DRAIN);
  for (let i = 0; i < 8; i++) r.record(`10.0.0.${i}`, i === 7 ? NODE_KEY : 'k', DRAIN);
  t.equal(r.dropped, 2);
  const v = r.view();
  t.equal(v.delivered, false, '10.0.0.8 was not recorded: unknown is not delivered');
  t.match(v.unrecorded, { count: 2 }, 'the Service key of 10.0.0.7 and the node key of 10.0.0.8');
  clock.now += MAX_WINDOW_MS + 1;
  for (let i = 0; i < 8; i++) r.record(`10.0.0.${i}`, i === 7 ? NODE_KEY : 'k', DRAIN);
  t.equal(r.view().delivered, true, 'no unrecorded probe for a full window: what we kept is the truth');
});

t.test('refused connections are charged to their peer until it is heard again on every key', async (t) => {
  // Attack (issue 22 #1b): probes refused by the connection limits never reached HAProxy.
  const { r, clock } = setup();
  r.nodeAnswerIs(DRAIN);
  for (let i = 0; i < 5; i++) {
    r.record('lb', 'k', DRAIN);
    clock.now += 100;
  }
  r.refused('lb');
  let v = r.view();
  t.equal(v.delivered, false);
  t.match(v.peers[0], { current: false, refused: { count: 1 } });
  clock.now += 100;
  r.record('lb', 'k', DRAIN);
  t.equal(r.view().delivered, true, 'every key answered since the refusal: delivered');
  r.refused('stranger', clock.now, false);
  t.equal(r.view().delivered, true, 'over the per-source limit with no receipts: not a load balancer we owe');
  r.refused('stranger');
  v = r.view();
  t.equal(v.delivered, false, 'a refused source with no receipts: unknown');
  t.match(v.unrecorded, { count: 1 });
});

t.test('--expected-peers: a listed peer that never probed is pending', async (t) => {
  const clock = { now: 1000 };
  const r = new Receipts(() => clock.now, { max: 8, expectedPeers: new Set(['10.0.0.1', '10.0.0.2']) });
  r.nodeAnswerIs(DRAIN);
  t.equal(r.view().delivered, false, 'nobody probed: not delivered');
  r.record('10.0.0.1', NODE_KEY, DRAIN);
  let v = r.view();
  t.equal(v.delivered, false);
  t.match(v.peers, [
    { peer: '10.0.0.1', current: true },
    { peer: '10.0.0.2', current: false, neverSeen: true },
  ]);
  r.record('::ffff:10.0.0.2', NODE_KEY, DRAIN);
  v = r.view();
  t.equal(v.delivered, true, 'an IPv4 peer seen through a dual-stack listener counts');
});

t.test('probes without a peer address are not recorded', async (t) => {
  const { r } = setup();
  r.record(undefined, 'k', READY);
  t.equal(r.count(), 0);
});
