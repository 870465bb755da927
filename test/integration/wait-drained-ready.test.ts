// `wait-drained --for ready` (issue 25): after the uncordon, wait until every load balancer has
// received ready, with the same honesty as for the drain: a peer that last heard drain is pending.
// Over HTTP: /drained keeps its meaning, /drained?for=ready is the way back. This process is the one
// peer (its probes are the load balancer's); the override file moves the node out and in.
import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { httpGet, startSyncedAgent } from '../lib/agent-process.js';
import { waitDrained } from '../lib/drained.js';
import { probeUntil } from '../lib/probe.js';
import { tempDir } from '../lib/spawn.js';
import { deadline } from '../lib/deadline.js';

t.test('--for ready: 1 while a peer still holds the drain, 0 once it has heard ready', async (t) => {
  const dir = tempDir(t, 'hna-wait-ready-');
  const override = join(dir, 'override');
  const { agent } = await startSyncedAgent(t, ['--override-file', override]);
  const url = `http://127.0.0.1:${agent.httpPort}`;
  const secs = Math.ceil(deadline(1000) / 1000);
  const keys = ['shop/web\n', '\n'];

  writeFileSync(override, 'drain\n');
  for (const line of keys) await probeUntil(agent.agentPort, line, (r) => r === 'drain\n', 20_000);
  const out = await waitDrained(['--url', url, '--for', 'ready', '--timeout', `${secs}s`, '--interval', '200ms']);
  t.equal(out.code, 1, 'the node is out: ready is not delivered');
  t.match(out.stdout, new RegExp(`^not ready delivered after ${secs}s: .* node is not ready`));
  const drainedNow = await httpGet(agent.httpPort, '/drained');
  t.equal(drainedNow.status, 200, '/drained keeps its meaning: the drain is delivered');

  writeFileSync(override, 'ready\n');
  // The node answers ready, but this peer has not probed since: it still holds the drain.
  const http = await probeUntilStatus(agent.httpPort, (s) => s.reply === 'ready');
  t.equal(http.status, 503, '/drained?for=ready 503 while the peer holds the drain');
  t.match(JSON.parse(http.body), {
    ready: false,
    for: 'ready',
    answer: 'ready up 100%',
    reason: /waiting for 1 of 1 load balancer/,
    pending: [{ peer: '127.0.0.1' }],
  });
  const waiting = await waitDrained(['--url', url, '--for', 'ready', '--timeout', `${secs}s`, '--interval', '200ms']);
  t.equal(waiting.code, 1, 'pending: exit 1');
  t.match(waiting.stdout, /127\.0\.0\.1\[/, 'naming the peer');

  for (const line of keys) await probeUntil(agent.agentPort, line, (r) => r.startsWith('ready'), 20_000);
  const ok = await waitDrained(['--url', url, '--for', 'ready', '--timeout', '30s', '--interval', '100ms']);
  t.equal(ok.code, 0, `ready delivered: ${ok.stdout}${ok.stderr}`);
  t.match(ok.stdout, /^ready delivered: 127\.0\.0\.1:\d+ node answers "ready up 100%"; every load balancer probing/);
  const body = JSON.parse((await httpGet(agent.httpPort, '/drained?for=ready')).body) as Record<string, unknown>;
  t.match(body, { ready: true, for: 'ready', peers: 1 });
  t.equal((await httpGet(agent.httpPort, '/drained')).status, 503, '/drained: not draining');
  t.equal((await httpGet(agent.httpPort, '/drained?for=later')).status, 400, 'an unknown ?for is a 400');

  const bad = await waitDrained(['--url', url, '--for', 'later']);
  t.equal(bad.code, 2);
  t.match(bad.stderr, /^haproxy-node-agent: --for: [^\n]+\n$/, 'one line naming --for');
});

/** /drained?for=ready once /status says the node answers `reply`. */
async function probeUntilStatus(
  httpPort: number,
  ok: (s: { reply: string }) => boolean,
): Promise<{ status: number; body: string }> {
  const end = Date.now() + deadline(20_000);
  for (;;) {
    const s = JSON.parse((await httpGet(httpPort, '/status')).body) as { node: { reply: string } };
    if (ok({ reply: s.node.reply.split(' ')[0] ?? '' }) || Date.now() > end) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  return httpGet(httpPort, '/drained?for=ready');
}
