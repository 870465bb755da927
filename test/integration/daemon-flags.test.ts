// The built CLI refuses bad flags: exit 2 and one line naming the flag; --help lists them.
import t from 'tap';
import { CLI } from '../lib/agent-process.js';
import { runChild } from '../lib/spawn.js';

t.test('bad flags: non-zero exit, one line naming the flag', async (t) => {
  const run = (args: string[], env: Record<string, string> = {}) =>
    runChild(process.execPath, [CLI, ...args], { env: { PATH: process.env.PATH ?? '', ...env } });
  const cases: Array<[string[], Record<string, string>, RegExp]> = [
    [['run'], {}, /^haproxy-node-agent: --node-name: required/],
    [
      ['run', '--node-name', 'n1', '--agent-port', 'abc'],
      {},
      /^haproxy-node-agent: --agent-port: expected a whole number/,
    ],
    [['run', '--node-name', 'n1'], {}, /^haproxy-node-agent: --kubeconfig: not set, and not running in a Pod/],
    [
      ['run', '--node-name', 'n1', '--kubeconfig', '/nonexistent/kc'],
      {},
      /^haproxy-node-agent: --kubeconfig: cannot load/,
    ],
    [['run', '--nope'], { NODE_NAME: 'n1' }, /^haproxy-node-agent: --nope: unknown flag/],
    [['frobnicate'], {}, /^haproxy-node-agent: unknown command "frobnicate"/],
  ];
  for (const [args, env, re] of cases) {
    const r = await run(args, env);
    t.equal(r.code, 2, args.join(' '));
    t.match(r.stderr, re);
    t.equal(r.stderr.trim().split('\n').length, 1, 'one line');
  }
  const help = await run(['run', '--help']);
  t.equal(help.code, 0);
  const out = help.stdout;
  for (const flag of [
    '--node-name',
    '--kubeconfig',
    '--agent-address',
    '--agent-port',
    '--http-address',
    '--http-port',
    '--annotation-prefix',
    '--service-selector',
    '--log-level',
  ])
    t.match(out, flag, `--help lists ${flag}`);
});
