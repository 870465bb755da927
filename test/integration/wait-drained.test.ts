// `wait-drained` as an operator runs it: 1 on timeout when the node is not draining (saying so),
// 0 once drained (override file; this process is the one peer), and --node resolving the InternalIP
// through the kubeconfig. Bad flags: wait-drained-flags.test.ts; with HAProxy: e2e/drained.test.ts.
import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startSyncedAgent } from '../lib/agent-process.js';
import { waitDrained } from '../lib/drained.js';
import { probeUntil } from '../lib/probe.js';
import { tempDir } from '../lib/spawn.js';
import { deadline } from '../lib/deadline.js';

t.test('timeout: exits 1 saying the node is not draining; drained: exits 0; --node finds the InternalIP', async (t) => {
  const dir = tempDir(t, 'hna-wait-');
  const override = join(dir, 'override');
  const { api, kubeconfig, agent } = await startSyncedAgent(t, ['--override-file', override]);
  const url = `http://127.0.0.1:${agent.httpPort}`;
  // Long enough for one poll to come back on a loaded machine, so the message reports the answer.
  const secs = Math.ceil(deadline(1000) / 1000);
  const r = await waitDrained(['--url', url, '--timeout', `${secs}s`, '--interval', '200ms']);
  t.equal(r.code, 1, 'timeout');
  t.match(
    r.stdout,
    new RegExp(`^not drained after ${secs}s: 127\\.0\\.0\\.1:\\d+ node answers "ready up 100%"; node is not draining`),
  );

  writeFileSync(override, 'drain\n');
  // The probes that synced the agent made this test process a peer (one probe = a 60 s window):
  // it must hear the drain on every key it asked about before the node counts as drained.
  for (const line of ['shop/web\n', '\n']) await probeUntil(agent.agentPort, line, (r) => r === 'drain\n', 20_000);
  api.patch('nodes', undefined, 'n1', {
    status: {
      addresses: [
        { type: 'Hostname', address: 'n1' },
        { type: 'InternalIP', address: '127.0.0.1' },
      ],
    },
  });
  const ok = await waitDrained([
    '--node',
    'n1',
    '--kubeconfig',
    kubeconfig,
    '--http-port',
    String(agent.httpPort),
    '--timeout',
    '30s',
    '--interval',
    '100ms',
  ]);
  t.equal(ok.code, 0, `drained once the one peer heard it: ${ok.stdout}${ok.stderr}`);
  t.match(
    ok.stdout,
    /^drained: 127\.0\.0\.1:\d+ node answers "drain"; every load balancer probing has received it \(1 peer/,
  );
});
