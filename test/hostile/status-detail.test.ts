// Issue 17 item 5: the --status-detail modes other than the default (see exposure.test.ts; how
// "another host" is simulated: test/lib/other-host.ts). A file of its own: each agent start is slow on a
// loaded machine, and tap's per-file timeout counts them all.
import t from 'tap';
import { startSyncedAgent, type AgentProcess } from '../lib/agent-process.js';
import { get, OTHER, type Status } from '../lib/other-host.js';

t.test('--status-detail=none hides Services from loopback too; all shows them to everybody', async (t) => {
  const [none, all] = (
    await Promise.all([
      startSyncedAgent(t, ['--status-detail', 'none']),
      startSyncedAgent(t, ['--status-detail', 'all']),
    ])
  ).map((r) => r.agent) as [AgentProcess, AgentProcess];
  const body = (await get(none.httpPort, '/status')).body;
  t.notMatch(body, /shop/, 'none: no Service name, even on loopback');
  t.equal((JSON.parse(body) as Status).serviceCount, 2);

  t.same(
    (JSON.parse((await get(all.httpPort, '/status')).body) as Status).services?.length,
    2,
    'all: loopback sees them',
  );
  if (OTHER !== undefined) {
    t.same(
      (JSON.parse((await get(all.httpPort, '/status', OTHER)).body) as Status).services?.length,
      2,
      'all: another host sees them',
    );
  }
});
