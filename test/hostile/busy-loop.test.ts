// Issue 17 item 4: a busy event loop must never make the agent answer for the node when the probe's
// agent-send line was already in the socket. Load: 8 clients hammering /status with 10k Services
// (and churn, so no cache saves it), slowloris on the HTTP port; meanwhile an externalTrafficPolicy
// Local Service with no local endpoint is probed many times. Every answer must be its "down".
import t from 'tap';
import { connect, type Socket } from 'node:net';
import { httpGet, startAgent, startApi, seedCluster } from '../lib/agent-process.js';
import { probeUntil, timedProbe, type TimedReply } from '../lib/probe.js';
import { spawnChild } from '../lib/spawn.js';

const LOCAL = 'shop/local\n';
const DOWN = 'down #no local endpoints\n';
const SERVICES = 10_000;
const PROBES = 300;
const READ_TIMEOUT_MS = 100;

/** Slowloris: connections that send a request header a byte at a time and never finish it. */
function slowloris(port: number, n: number): { stop(): void; reconnects: () => number } {
  const socks = new Set<Socket>();
  let reconnects = 0;
  let stopped = false;
  const open = (): void => {
    if (stopped) return;
    const s = connect({ host: '127.0.0.1', port });
    socks.add(s);
    s.on('connect', () => s.write('GET /status HTTP/1.1\r\nHost: x\r\n'));
    s.on('error', () => {});
    s.on('close', () => {
      socks.delete(s);
      reconnects++;
      setTimeout(open, 50);
    });
  };
  for (let i = 0; i < n; i++) open();
  const drip = setInterval(() => {
    for (const s of socks) if (s.writable) s.write('X');
  }, 500);
  return {
    reconnects: () => reconnects,
    stop() {
      stopped = true;
      clearInterval(drip);
      for (const s of socks) s.destroy();
    },
  };
}

t.test('busy loop (/status hammer, slowloris, churn): zero node answers for a Local Service', async (t) => {
  const { api, kubeconfig } = await startApi(t);
  seedCluster(api);
  api.create('services', {
    metadata: { namespace: 'shop', name: 'local' },
    spec: { type: 'NodePort', externalTrafficPolicy: 'Local', ports: [{ port: 80, nodePort: 30090 }] },
  });
  for (let i = 0; i < SERVICES; i++) {
    api.create('services', {
      metadata: {
        namespace: `ns${i % 100}`,
        name: `svc-${i}`,
        annotations: { 'haproxy-node-agent.io/weight': String(1 + (i % 100)) },
      },
      spec: { type: 'NodePort', ports: [{ port: 80, nodePort: 30000 + (i % 2000) }] },
    });
  }
  const agent = await startAgent(t, [
    '--node-name',
    'n1',
    '--kubeconfig',
    kubeconfig,
    '--read-timeout',
    `${READ_TIMEOUT_MS}ms`,
  ]);
  t.equal(
    await probeUntil(agent.agentPort, LOCAL, (r) => r === DOWN, 60_000),
    DOWN,
    'synced: the Local Service without endpoints is down',
  );
  t.equal(
    JSON.parse((await httpGet(agent.httpPort, '/status')).body).services.length,
    SERVICES + 3,
    '/status lists every Service',
  );

  // 8 /status hammers in their own processes (curl), so this process stays free to probe on time.
  // Through spawnChild: an endless loop must die with this file even if tap kills it on a timeout.
  const hammers = Array.from({ length: 8 }, () =>
    spawnChild(t, 'sh', ['-c', `while :; do curl -s -o /dev/null http://127.0.0.1:${agent.httpPort}/status; done`], {
      stdio: 'ignore',
      detached: true,
    }),
  );
  const killHammers = (): void => {
    for (const h of hammers) if (h.exitCode === null && h.pid !== undefined) process.kill(-h.pid, 'SIGKILL');
  };
  t.teardown(killHammers);
  const loris = slowloris(agent.httpPort, 20);
  t.teardown(() => loris.stop());
  // Churn: a new snapshot version every 20 ms, so /status must be serialized again and again.
  let churn = 0;
  const churner = setInterval(() => {
    api.patch('services', `ns${churn % 100}`, `svc-${churn}`, {
      metadata: { annotations: { 'haproxy-node-agent.io/weight': String(1 + ((churn * 7) % 100)) } },
    });
    churn = (churn + 1) % SERVICES;
  }, 20);
  t.teardown(() => clearInterval(churner));

  const results: TimedReply[] = [];
  const worker = async (): Promise<void> => {
    while (results.length < PROBES) results.push(await timedProbe(agent.agentPort, { send: LOCAL, timeoutMs: 10_000 }));
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
  clearInterval(churner);
  loris.stop();
  killHammers();

  // Samples where this process wrote its line later than half the agent's read deadline after
  // connecting are left out: there a node answer could be right.
  const valid = results.filter((r) => r.writeLagMs < READ_TIMEOUT_MS / 2);
  const wrong = valid.filter((r) => r.reply !== DOWN).map((r) => r.reply);
  t.comment(
    `${results.length} probes, ${valid.length} with a prompt agent-send, ${wrong.length} wrong; ` +
      `${churn} Service updates; slowloris reconnects ${loris.reconnects()}`,
  );
  // How loaded the machine is decides how many samples can judge; too few is a skip, not a failure.
  const tooBusy =
    valid.length < PROBES / 2
      ? `only ${valid.length} of ${results.length} probes sent their line promptly: the machine is too loaded to judge`
      : false;
  t.pass('most probes sent their line promptly', { skip: tooBusy });
  t.same(wrong, [], 'no probe got the node answer (or anything else) instead of the Service answer');
  t.equal(agent.proc.exitCode, null, 'agent still running');
});
