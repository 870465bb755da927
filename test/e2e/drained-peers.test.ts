// Two HAProxy processes probe one agent (told apart by their source address, 127.0.0.1 and
// 127.0.0.2); the second stops. /drained waits for it until its window (3 × its observed probe
// interval) has passed, then forgets it and answers 200.
import t from 'tap';
import { renderHaproxyConfig } from '../../src/demo/haproxy/edge-config.js';
import { startHaproxy } from '../../src/demo/haproxy/process.js';
import { httpGet, startSyncedAgent } from '../lib/agent-process.js';
import { requireHaproxy, sleep } from '../lib/haproxy.js';

interface Drained {
  status: number;
  body: { pending?: Array<{ peer: string }> };
}

async function until<T>(what: string, f: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await f();
    if (ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs}ms; last: ${JSON.stringify(v)}`);
    await sleep(50);
  }
}

const bin = requireHaproxy(t);
if (bin !== undefined) {
  t.test('a load balancer that stops probing is waited for only until its window passes', async (t) => {
    const { kubeconfig, agent } = await startSyncedAgent(t);
    const lb = (source: string, interMs: number) =>
      startHaproxy({
        bin,
        config: ({ statsSocket }) =>
          renderHaproxyConfig({
            statsSocket,
            checkTimeoutMs: 500,
            idleTimeoutMs: 30_000,
            frontends: [],
            backends: [{ name: 'web', mode: 'http', balance: 'roundrobin', servers: [{ name: 'web.n1', address: '127.0.0.1', port: agent.httpPort, weight: 100, checkInterMs: 5000, source, agent: { addr: '127.0.0.1', port: agent.agentPort, send: 'shop/web\n', interMs } }] }],
          }),
      });
    const one = await lb('127.0.0.1', 100);
    t.teardown(() => one.stop());
    // The second probes every 3 s: its window (9 s) outlasts a cordon by kubectl under load.
    const two = await lb('127.0.0.2', 3000);
    t.teardown(() => two.stop());
    type Peers = { peers: { list: Array<{ peer: string; keys: Array<{ intervalMs: number | null }> }> } };
    const status = () => httpGet(agent.httpPort, '/status').then((r) => JSON.parse(r.body) as Peers);
    await until('both peers known with an interval', status, (s) => s.peers.list.length === 2 && s.peers.list.every((p) => p.keys.every((k) => k.intervalMs !== null)));
    t.pass('two peers with their probe intervals');

    await two.stop();
    const { execFile } = await import('node:child_process');
    await new Promise<void>((resolve, reject) => execFile('kubectl', ['--kubeconfig', kubeconfig, 'cordon', 'n1'], (e) => (e ? reject(e) : resolve())));
    const drained = () => httpGet(agent.httpPort, '/drained').then((r) => ({ status: r.status, body: JSON.parse(r.body) as Drained['body'] }));
    const pending = await until('the silent peer pending', drained, (d) => d.status === 503 && (d.body.pending ?? []).length === 1, 20_000);
    t.same(pending.body.pending?.map((p) => p.peer), ['127.0.0.2'], 'the live one has heard the drain; the silent one is pending');
    const stoppedWaiting = Date.now();
    await until('/drained 200 once the window passed', drained, (d) => d.status === 200, 60_000);
    t.comment(`pending → 200 after ${Date.now() - stoppedWaiting}ms (window 3 × 3s)`);
    const s = await status();
    t.same(s.peers.list.map((p) => p.peer), ['127.0.0.1'], 'the silent peer is forgotten');
  });
}
