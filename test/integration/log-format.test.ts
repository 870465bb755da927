// --log-format as an operator meets it: JSON by default with the level as a word, text lines for a
// person at a terminal (the agent still serves, /livez answers), and a bad value refused like any flag.
import t from 'tap';
import { CLI, httpGet, seedCluster, startApi, startSyncedAgent } from '../lib/agent-process.js';
import { deadline } from '../lib/deadline.js';
import { runChild, spawnChild } from '../lib/spawn.js';
import { until } from '../lib/until.js';
import { LOG_LEVELS } from '../../src/platform/log.js';

t.test('JSON (the default): every line is an object whose level is a word', async (t) => {
  const { agent } = await startSyncedAgent(t);
  const levels = agent.logs.map((l) => l.level);
  t.ok(levels.length > 1, 'logged');
  t.same(
    levels.filter((l) => !(LOG_LEVELS as readonly unknown[]).includes(l)),
    [],
    'levels are names (info, warn, ...), not numbers',
  );
  t.match(
    agent.logs.find((l) => l.msg === 'listening'),
    { level: 'info', app: 'haproxy-node-agent' },
  );
});

t.test('--log-format text: lines for people, and the agent serves as usual', async (t) => {
  const { api, kubeconfig } = await startApi(t);
  seedCluster(api);
  const proc = spawnChild(
    t,
    process.execPath,
    [CLI, 'run', '--node-name', 'n1', '--kubeconfig', kubeconfig, '--log-format', 'text']
      .concat(['--agent-address', '127.0.0.1', '--agent-port', '0', '--http-address', '127.0.0.1', '--http-port', '0'])
      .concat(['--proxy-healthz-url', '']),
    { env: { PATH: process.env.PATH ?? '' }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  proc.stdout?.setEncoding('utf8');
  proc.stdout?.on('data', (c: string) => (out += c));
  const exited = new Promise<number | null>((resolve) => proc.on('exit', resolve));
  const listening = await until(
    'the listening line',
    async () => /^\S+Z INFO listening .*\bhttp=127\.0\.0\.1:(\d+)/m.exec(out),
    (m) => m !== null || proc.exitCode !== null,
    deadline(20_000),
    50,
  );
  const port = Number(listening?.[1]);
  t.ok(port > 0, `the HTTP address is a field of the line: ${out}`);
  t.same(await httpGet(port, '/livez'), { status: 200, body: 'ok\n' }, '/livez answers');
  const verbose = await until(
    'ready',
    () => httpGet(port, '/readyz?verbose'),
    (r) => r.status === 200,
    deadline(20_000),
    100,
  );
  t.equal(verbose.body, '[+]ping ok\n[+]synced ok\n[+]api-access ok\nreadyz check passed\n', '/readyz?verbose');
  proc.kill('SIGTERM');
  t.equal(await exited, 0, 'stops cleanly');
  const lines = out.trimEnd().split('\n');
  t.ok(lines.length > 2, 'several lines');
  for (const line of lines) {
    t.notOk(line.startsWith('{'), `not JSON: ${line}`);
    // A stack frame under an error line is indented; every other line is TIME LEVEL message.
    t.match(line, /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (FATAL|ERROR|WARN|INFO|DEBUG|TRACE) \S| {4}\S)/);
  }
  t.match(out, /INFO stopped\n$/, 'the last line is the stop');
});

t.test('a bad --log-format: exit 2, one line naming the flag (run and coordinate)', async (t) => {
  for (const args of [['run', '--node-name', 'n1'], ['coordinate']]) {
    const cmd = args[0] ?? '';
    const r = await runChild(process.execPath, [CLI, ...args, '--log-format', 'xml'], {
      env: { PATH: process.env.PATH ?? '' },
    });
    t.equal(r.code, 2, cmd);
    t.match(r.stderr, /^haproxy-node-agent: --log-format: /, `${cmd}: names the flag`);
    t.equal(r.stderr.trim().split('\n').length, 1, 'one line');
  }
});
