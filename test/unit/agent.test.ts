// The agent protocol over real loopback sockets, answering from a real AgentState.
import t, { type Test } from 'tap';
import { connect } from 'node:net';
import { AgentServer } from '../../src/run/agent/server.js';
import { ProbeCounters } from '../../src/run/agent/probe-counters.js';
import { AgentState } from '../../src/core/agent-state.js';
import { nodeFromObject, serviceFromObject } from '../../src/kube/parse.js';
import { probe } from '../lib/probe.js';
import { DEFAULT_POLICY } from '../../src/core/policy.js';
import { deadline } from '../lib/deadline.js';
import { NODE_KEY, Receipts } from '../../src/run/agent/receipts.js';
import { performance } from 'node:perf_hooks';

const PREFIX = 'haproxy-node-agent.io';
const RANGE = { min: 9301, max: 9399 };
async function until(check: () => boolean, ms = deadline(20_000)): Promise<void> {
  for (const end = Date.now() + ms; !check() && Date.now() < end; ) await new Promise((r) => setTimeout(r, 10));
}

async function setup(
  t: Test,
  opts: { maxConnections?: number; synced?: boolean; readTimeoutMs?: number; receipts?: Receipts } = {},
) {
  const snap = new AgentState({
    nodeName: 'n1',
    slowStartMs: 0,
    now: Date.now,
    policy: DEFAULT_POLICY,
    maxDrainFraction: 0.5,
  });
  const counters = new ProbeCounters();
  if (opts.synced !== false) {
    snap.upsertNode(nodeFromObject({ metadata: { name: 'n1', resourceVersion: '1' }, spec: {} }, PREFIX)!);
    snap.upsertService(
      serviceFromObject(
        { metadata: { name: 'web', namespace: 'shop', annotations: { 'haproxy-node-agent.io/weight': '75' } } },
        PREFIX,
        RANGE,
      )!,
    );
    snap.markListed('nodes');
    snap.markListed('services');
    snap.markListed('endpointslices');
  }
  const server = new AgentServer(
    {
      host: '127.0.0.1',
      port: 0,
      readTimeoutMs: opts.readTimeoutMs ?? 100,
      maxConnections: opts.maxConnections ?? 100,
    },
    snap,
    counters,
    opts.receipts,
  );
  const port = await server.listen();
  t.teardown(() => server.close());
  return { snap, counters, port };
}

t.test('agent-send names a service: its weight', async (t) => {
  const { port, counters } = await setup(t);
  t.equal(await probe(port, { send: 'shop/web\n' }), 'ready up 75%\n');
  t.equal(await probe(port, { send: 'shop/web\r\n' }), 'ready up 75%\n', 'CRLF');
  t.equal(counters.replies.ready, 2);
});

t.test('no agent-send: the node answer after the read timeout', async (t) => {
  const { port, counters } = await setup(t);
  const started = Date.now();
  t.equal(await probe(port), 'ready up 100%\n');
  t.ok(Date.now() - started >= 90, 'waited for the read timeout');
  t.equal(await probe(port, { end: true }), 'ready up 100%\n', 'empty request + half-close answers at once');
  t.equal(counters.rejections.malformed, 0);
});

t.test('line sent in several pieces', async (t) => {
  // A read deadline no busy machine reaches between the pieces.
  const { port } = await setup(t, { readTimeoutMs: 60_000 });
  const reply = await new Promise<string>((resolve) => {
    const s = connect({ host: '127.0.0.1', port }, () => {
      s.write('sh');
      setTimeout(() => s.write('op/w'), 10);
      setTimeout(() => s.write('eb\n'), 20);
    });
    let out = '';
    s.on('data', (c) => (out += c.toString()));
    s.on('close', () => resolve(out));
  });
  t.equal(reply, 'ready up 75%\n');
});

t.test('unknown service: node answer, counted', async (t) => {
  const { port, counters, snap } = await setup(t);
  t.equal(await probe(port, { send: 'shop/nope\n' }), 'ready up 100%\n');
  t.equal(counters.rejections.unknown_service, 1);
  snap.upsertNode(
    nodeFromObject({ metadata: { name: 'n1', resourceVersion: '2' }, spec: { unschedulable: true } }, PREFIX)!,
  );
  t.equal(await probe(port, { send: 'shop/nope\n' }), 'drain\n', 'a cordoned node drains unknown services too');
});

t.test('bad requests: node answer and a counted rejection, never a crash', async (t) => {
  const { port, counters } = await setup(t);
  t.equal(await probe(port, { send: 'Not A Service!\n' }), 'ready up 100%\n');
  t.equal(counters.rejections.malformed, 1);
  t.equal(await probe(port, { send: Buffer.from([0, 255, 13, 7, 10]) }), 'ready up 100%\n', 'garbage bytes');
  t.equal(counters.rejections.malformed, 2);
  t.equal(await probe(port, { send: 'x'.repeat(300) }), 'ready up 100%\n', 'oversized line without newline');
  t.equal(counters.rejections.too_long, 1);
  t.equal(await probe(port, { send: Buffer.alloc(1 << 20, 0x61) }), 'ready up 100%\n', '1 MiB without newline');
  t.equal(counters.rejections.too_long, 2);
  t.equal(
    await probe(port, { send: 'shop/web', end: true }),
    'ready up 75%\n',
    'no newline, then half-close: the bytes are the line',
  );
  t.equal(
    await probe(port, { send: 'shop/we' }),
    'ready up 100%\n',
    'no newline and no close, not a known key: node answer at the timeout',
  );
  t.equal(counters.rejections.malformed, 3, 'the unfinished line is counted');
  t.equal(await probe(port, { send: 'shop/web\n' }), 'ready up 75%\n', 'still serving');
});

t.test('before the first full list: closes without a reply', async (t) => {
  const { port, counters } = await setup(t, { synced: false });
  t.equal(await probe(port, { send: 'shop/web\n' }), '');
  t.equal(await probe(port), '');
  t.equal(counters.replies.none, 2);
});

t.test('connections over the cap are closed and counted; others still answered', async (t) => {
  const { port, counters } = await setup(t, { maxConnections: 5 });
  const idle = await Promise.all(
    Array.from(
      { length: 5 },
      () =>
        new Promise<ReturnType<typeof connect>>((resolve) => {
          const s = connect({ host: '127.0.0.1', port }, () => resolve(s));
        }),
    ),
  );
  // Until the server has accepted all five idle ones (a condition, with a deadline).
  await until(() => counters.open === 5);
  t.equal(await probe(port, { send: 'shop/web\n' }), '', 'over the cap: closed with nothing');
  t.ok(counters.rejections.over_capacity >= 1);
  for (const s of idle) s.destroy();
  await until(() => counters.open === 0);
  t.equal(await probe(port, { send: 'shop/web\n' }), 'ready up 75%\n', 'answered again once below the cap');
});

/** One more Service in the agent's state: `spec` merged into a NodePort Service. */
function addService(snap: AgentState, key: string, weight?: number, spec: Record<string, unknown> = {}): void {
  const [namespace, name] = key.split('/') as [string, string];
  snap.upsertService(
    serviceFromObject(
      {
        metadata: {
          namespace,
          name,
          ...(weight === undefined ? {} : { annotations: { 'haproxy-node-agent.io/weight': String(weight) } }),
        },
        spec: { type: 'NodePort', ...spec },
      },
      PREFIX,
      RANGE,
    )!,
  );
}

/** Connect, write the pieces with a pause between them, read until the agent closes (or fail on a deadline). */
function pieces(port: number, parts: string[], pauseMs = 50): Promise<string> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => s.destroy(new Error('no close before the deadline')), deadline(10_000));
    const s = connect({ host: '127.0.0.1', port }, async () => {
      for (const [i, p] of parts.entries()) {
        if (i > 0) await new Promise((r) => setTimeout(r, pauseMs));
        if (!s.destroyed) s.write(p);
      }
    });
    let out = '';
    s.on('data', (c) => (out += c.toString('latin1')));
    s.on('error', reject);
    s.on('close', () => {
      clearTimeout(timer);
      resolve(out);
    });
  });
}

// A server added through HAProxy's runtime API (`add server ... agent-send shop/web`) cannot send a
// newline: it sends the key alone and waits for the answer.
t.test('agent-send without its newline: a known key is answered at once, as with the newline', async (t) => {
  // A read deadline far beyond the probes' own 3 s timeout: an answer proves it was not waited for.
  const { port, counters, snap } = await setup(t, { readTimeoutMs: 60_000 });
  t.equal(await probe(port, { send: 'shop/web' }), 'ready up 75%\n', 'the Service, not the node (100%)');
  addService(snap, 'shop/local', undefined, { externalTrafficPolicy: 'Local' });
  t.equal(
    await probe(port, { send: 'shop/local' }),
    'down #no local endpoints\n',
    'a Local Service with no pod here is down while the node is ready',
  );
  t.equal(await pieces(port, ['sh', 'op/web']), 'ready up 75%\n', 'the key in two pieces');
  snap.upsertNode(
    nodeFromObject({ metadata: { name: 'n1', resourceVersion: '2' }, spec: { unschedulable: true } }, PREFIX)!,
  );
  t.equal(await probe(port, { send: 'shop/web' }), 'drain\n', 'a cordoned node drains it like any key');
  t.same(counters.rejections, {
    malformed: 0,
    too_long: 0,
    unknown_service: 0,
    over_capacity: 0,
    over_capacity_source: 0,
  });
});

t.test('a known key that a longer known key starts with: answered at the read deadline', async (t) => {
  const { port, counters, snap } = await setup(t);
  addService(snap, 'shop/api', 50);
  addService(snap, 'shop/api-canary', 25);
  t.equal(await probe(port, { send: 'shop/api' }), 'ready up 50%\n', 'nothing more came: shop/api at the deadline');
  t.equal(counters.rejections.malformed, 0, 'not counted as a bad request');
  t.equal(await probe(port, { send: 'shop/api', end: true }), 'ready up 50%\n', 'or at the half-close');
  t.equal(await probe(port, { send: 'shop/api-canary' }), 'ready up 25%\n', 'the longer key: at once');
  snap.deleteService('shop', 'api-canary');
  t.equal(await probe(port, { send: 'shop/api' }), 'ready up 50%\n', 'alone again');
});

t.test('a longer line whose first piece is a known key that it extends: the longer line', async (t) => {
  // A read deadline no busy machine reaches between the pieces.
  const { port, snap } = await setup(t, { readTimeoutMs: 60_000 });
  addService(snap, 'shop/api', 50);
  addService(snap, 'shop/api-canary', 25);
  t.equal(await pieces(port, ['shop/api', '-canary\n']), 'ready up 25%\n', 'with its newline');
  t.equal(await pieces(port, ['shop/api', '-canary']), 'ready up 25%\n', 'and without');
});

t.test('bytes without a newline that are not exactly a known key: the node at the deadline, as before', async (t) => {
  const { port, counters } = await setup(t);
  const unknown = ['shop/nope', 'shop/we', 'shop/web2', ' shop/web', 'shop/web ', 'shop/web\r', 'SHOP/web', 'x'];
  for (const send of unknown) t.equal(await probe(port, { send }), 'ready up 100%\n', JSON.stringify(send));
  t.equal(counters.rejections.malformed, unknown.length, 'each counted as an unfinished line');
  t.equal(counters.rejections.unknown_service, 0);
  t.equal(counters.replies.ready, unknown.length);
});

t.test('receipts: a key without its newline is filed under that key, not the node', async (t) => {
  const receipts = new Receipts(() => performance.now());
  const { port, snap } = await setup(t, { receipts });
  addService(snap, 'shop/api', 50);
  addService(snap, 'shop/api-canary', 25);
  receipts.nodeAnswerIs(snap.nodeAnswer());
  t.equal(await probe(port, { send: 'shop/web' }), 'ready up 75%\n');
  t.equal(await probe(port, { send: 'shop/api' }), 'ready up 50%\n', 'at the deadline');
  const keys = () => receipts.view().peers.flatMap((p) => p.keys.map((k) => [p.peer, k.key, k.reply]));
  t.same(keys(), [
    ['127.0.0.1', 'shop/api', 'ready up 50%'],
    ['127.0.0.1', 'shop/web', 'ready up 75%'],
  ]);
  t.equal(await probe(port, { send: 'shop/nope' }), 'ready up 100%\n');
  t.same(
    keys().filter(([, k]) => k === NODE_KEY),
    [['127.0.0.1', NODE_KEY, 'ready up 100%']],
    'unknown bytes: the node key, as before',
  );
});
