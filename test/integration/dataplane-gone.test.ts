// Data-plane health reached, then hanging, closing or gone: down; and what still wins over it.
import t from 'tap';
import { probeUntil } from '../lib/probe.js';
import { DEADLINE_MS, DOWN, WEB, agentWith, dataplane, until } from '../lib/dataplane.js';
import { StandInHealthz } from '../lib/healthz.js';
import { CLI } from '../lib/agent-process.js';
import { spawnChild } from '../lib/spawn.js';

t.test('reachable, then hanging, closing or gone: unhealthy → down', async (t) => {
  const hz = new StandInHealthz(t);
  await hz.start(200);
  const { agent } = await agentWith(t, hz.url);
  await until(
    'healthy',
    () => dataplane(agent),
    (d) => d.state === 'healthy',
  );
  for (const mode of ['hang', 'close'] as const) {
    hz.set(mode);
    t.equal(await probeUntil(agent.agentPort, WEB, (r) => r === DOWN, DEADLINE_MS), DOWN, `${mode}: down`);
    t.match(await dataplane(agent), {
      state: 'unhealthy',
      lastStatusCode: null,
      lastResult: mode === 'hang' ? 'timeout' : /ECONNRESET|socket hang up/,
    });
    hz.set(200);
    t.equal(
      await probeUntil(agent.agentPort, WEB, (r) => r === 'ready up 100%\n', DEADLINE_MS),
      'ready up 100%\n',
      'back',
    );
  }
  await hz.stop();
  t.equal(await probeUntil(agent.agentPort, WEB, (r) => r === DOWN, DEADLINE_MS), DOWN, 'gone (refused): down');
  t.match(await dataplane(agent), { state: 'unhealthy', lastResult: 'ECONNREFUSED' });
  await hz.start(200);
  t.equal(
    await probeUntil(agent.agentPort, WEB, (r) => r === 'ready up 100%\n', DEADLINE_MS),
    'ready up 100%\n',
    'listening again: ready',
  );
});

t.test('a bad URL: exit 2 with one line naming the flag', async (t) => {
  const args = [CLI, 'run', '--node-name', 'n1', '--proxy-healthz-url', 'https://127.0.0.1:10256/healthz'];
  const proc = spawnChild(t, process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  proc.stderr?.setEncoding('utf8').on('data', (c: string) => (err += c));
  const code = await new Promise<number | null>((r) => proc.on('exit', r));
  t.equal(code, 2);
  t.match(err.trim(), /^haproxy-node-agent: --proxy-healthz-url: only http:\/\/ URLs are supported/);
  t.equal(err.trim().split('\n').length, 1, 'one line');
});
