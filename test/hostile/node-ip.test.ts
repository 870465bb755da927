// Issue 17 item 5: the agent bound to the node's own IP, as the DaemonSet runs it (status.hostIP).
// Its own file: an agent start is slow on a loaded machine and tap's per-file timeout counts them.
import t from 'tap';
import { request } from 'node:http';
import { networkInterfaces } from 'node:os';
import { startSyncedAgent } from '../lib/agent-process.js';

function otherAddress(): string | undefined {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return undefined;
}
const OTHER = otherAddress();

interface Status {
  services?: Array<{ key: string }>;
}

t.test(
  'bound to the node IP like the DaemonSet: a client on the node calling NODE_IP sees the detail',
  { skip: OTHER === undefined ? 'no non-loopback address on this machine' : false },
  async (t) => {
    const { agent } = await startSyncedAgent(t, ['--http-address', OTHER as string]);
    // The kernel picks the destination address as the source for a local destination: remote
    // address == local address, which is how the agent recognises a client on its own node.
    const res = await new Promise<{ body: string }>((resolve, reject) => {
      const req = request({ host: OTHER, port: agent.httpPort, path: '/status', agent: false }, (r) => {
        const chunks: Buffer[] = [];
        r.on('data', (c: Buffer) => chunks.push(c));
        r.on('end', () => resolve({ body: Buffer.concat(chunks).toString('utf8') }));
      });
      req.on('error', reject);
      req.end();
    });
    t.same(
      (JSON.parse(res.body) as Status).services?.map((s) => s.key),
      ['shop/api', 'shop/web'],
      'detail for a client on this node',
    );
  },
);
