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

const PREFIX = 'haproxy-node-agent.io';
const RANGE = { min: 9301, max: 9399 };
async function until(check: () => boolean, ms = deadline(20_000)): Promise<void> {
  for (const end = Date.now() + ms; !check() && Date.now() < end; ) await new Promise((r) => setTimeout(r, 10));
}

async function setup(t: Test, opts: { maxConnections?: number; synced?: boolean; readTimeoutMs?: number } = {}) {
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
    await probe(port, { send: 'shop/web' }),
    'ready up 100%\n',
    'no newline and no close: node answer at the timeout',
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
