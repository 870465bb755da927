// Issue 17 item 5: what a network neighbour can reach ("another host": see test/lib/other-host.ts).
// Machines with loopback only cannot simulate one: those checks are skipped, the flag modes still run.
import t from 'tap';
import { connect, type Socket } from 'node:net';
import { startSyncedAgent } from '../lib/agent-process.js';
import { get, OTHER, type Status } from '../lib/other-host.js';
import { probeUntil } from '../lib/probe.js';

const noOther = OTHER === undefined ? 'no non-loopback address on this machine' : false;

async function until(check: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!check() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  return check();
}

t.test('default (--status-detail=loopback): Services listed for clients on the node only', async (t) => {
  const { agent } = await startSyncedAgent(t);
  const local = JSON.parse((await get(agent.httpPort, '/status')).body) as Status;
  t.same(
    local.services?.map((s) => s.key),
    ['shop/api', 'shop/web'],
    'loopback client sees every Service',
  );
  t.same(local.dedicatedAgentPorts, {});

  t.test('another host', { skip: noOther }, async (t) => {
    const res = await get(agent.httpPort, '/status', OTHER);
    t.equal(res.status, 200);
    const remote = JSON.parse(res.body) as Status;
    t.equal(remote.services, undefined, 'no per-Service list');
    t.equal(remote.dedicatedAgentPorts, undefined, 'no dedicated port owners');
    t.equal(remote.serviceCount, 2, 'only how many');
    t.match(remote.detail, /--status-detail=loopback/, 'says why and which flag');
    t.notMatch(res.body, /shop/, 'no namespace or Service name anywhere in the body');
    t.equal(remote.node.reply, 'ready up 100%', 'the node part is still there');
  });
  t.test(
    "--agent-address and --http-address: nothing answers on the node's other addresses",
    { skip: noOther },
    async (t) => {
      // Listening on 127.0.0.1 only (the DaemonSet uses the node IP the same way): the same ports on
      // another address of this machine refuse.
      const refused = (port: number): Promise<boolean> =>
        new Promise((resolve) => {
          const s = connect({ host: OTHER, port });
          s.on('connect', () => {
            s.destroy();
            resolve(false);
          });
          s.on('error', (e: NodeJS.ErrnoException) => resolve(e.code === 'ECONNREFUSED'));
        });
      t.ok(await refused(agent.agentPort), 'agent port refuses on another address');
      t.ok(await refused(agent.httpPort), 'HTTP port refuses on another address');
      t.equal(
        await probeUntil(agent.agentPort, 'shop/web\n', (r) => r === 'ready up 100%\n'),
        'ready up 100%\n',
        'and answers on its own',
      );
    },
  );

  t.test(
    'HTTP: slowloris is cut off, other hosts are capped, the node itself still gets through',
    { skip: noOther },
    async (t) => {
      const held: Socket[] = [];
      t.teardown(() => {
        for (const s of held) s.destroy();
      });
      const open = (from: string | undefined): Promise<Socket> =>
        new Promise((resolve, reject) => {
          const s = connect({ host: '127.0.0.1', port: agent.httpPort, localAddress: from });
          held.push(s);
          s.on('error', () => {});
          s.resume(); // read the 408, so the server's FIN shows as 'end' and 'close'
          s.once('connect', () => {
            s.write('GET /status HTTP/1.1\r\nHost: x\r\n'); // never finished
            resolve(s);
          });
          s.once('close', () => reject(new Error('closed before connecting')));
        });
      const closed = new Set<Socket>();
      const remote: Socket[] = [];
      for (let i = 0; i < 40; i++) {
        const s = await open(OTHER);
        s.once('close', () => closed.add(s));
        remote.push(s);
      }
      // Beyond 32 connections from other hosts, more are closed at once.
      t.ok(await until(() => closed.size >= 8, 10_000), 'connections beyond the cap for other hosts are closed');
      // The kubelet and a local curl are not held back by them.
      t.equal((await get(agent.httpPort, '/healthz')).status, 200, 'a client on the node gets through');
      // Slowloris: unfinished headers are cut off (Node's default would hold them for a minute).
      t.ok(
        await until(() => remote.every((s) => closed.has(s)), 30_000),
        'every unfinished request is closed by the server',
      );
      t.equal((await get(agent.httpPort, '/healthz', OTHER)).status, 200, 'and other hosts get through again');
    },
  );
});
