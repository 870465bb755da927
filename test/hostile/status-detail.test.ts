// Issue 17 item 5: the --status-detail modes other than the default (see exposure.test.ts, which
// also explains how "another host" is simulated). A file of its own: each agent start is slow on a
// loaded machine, and tap's per-file timeout counts them all.
import t from 'tap';
import { request } from 'node:http';
import { networkInterfaces } from 'node:os';
import { startSyncedAgent, type AgentProcess } from '../lib/agent-process.js';

function otherAddress(): string | undefined {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return undefined;
}
const OTHER = otherAddress();

function get(port: number, path: string, from?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, localAddress: from, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.setTimeout(20_000, () => req.destroy(new Error('no answer in 20s')));
    req.end();
  });
}

interface Status {
  services?: Array<{ key: string }>;
  serviceCount?: number;
}

t.test('--status-detail=none hides Services from loopback too; all shows them to everybody', async (t) => {
  const [none, all] = (await Promise.all([startSyncedAgent(t, ['--status-detail', 'none']), startSyncedAgent(t, ['--status-detail', 'all'])])).map((r) => r.agent) as [AgentProcess, AgentProcess];
  const body = (await get(none.httpPort, '/status')).body;
  t.notMatch(body, /shop/, 'none: no Service name, even on loopback');
  t.equal((JSON.parse(body) as Status).serviceCount, 2);

  t.same((JSON.parse((await get(all.httpPort, '/status')).body) as Status).services?.length, 2, 'all: loopback sees them');
  if (OTHER !== undefined) {
    t.same((JSON.parse((await get(all.httpPort, '/status', OTHER)).body) as Status).services?.length, 2, 'all: another host sees them');
  }
});

