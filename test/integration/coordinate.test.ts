// `coordinate` and `run --guard-*`: flags parse like `run`'s (exit 2, one line naming the flag).
import t from 'tap';
import { CLI } from '../lib/agent-process.js';
import { runChild } from '../lib/spawn.js';

t.test('bad flags exit 2 with one line naming the flag', async (t) => {
  for (const [args, flag] of [
    [['coordinate', '--max-drain-fraction', '2'], '--max-drain-fraction'],
    [['coordinate', '--namespace', 'Not_A_Namespace'], '--namespace'],
    [['coordinate', '--nope'], '--nope'],
    [['coordinate', '--namespce', 'x'], '--namespce: unknown flag; did you mean --namespace?'],
    [['run', '--node-name', 'n1', '--guard-mode', 'sometimes'], '--guard-mode'],
    [['run', '--node-name', 'n1', '--guard-stale-after', '5'], '--guard-stale-after'],
  ] as const) {
    const r = await runChild(process.execPath, [CLI, ...args], { timeoutMs: 20_000 });
    t.equal(r.code, 2, `${args.join(' ')}: exit 2`);
    t.equal(r.stderr.trim().split('\n').length, 1, 'one line');
    t.match(r.stderr, flag);
  }
  const help = await runChild(process.execPath, [CLI, 'coordinate', '--help'], { timeoutMs: 20_000 });
  t.equal(help.code, 0);
  for (const f of [
    '--kubeconfig',
    '--namespace',
    '--max-drain-fraction',
    '--http-address',
    '--http-port',
    '--log-level',
  ])
    t.match(help.stdout, f);
});
