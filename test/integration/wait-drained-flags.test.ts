// `wait-drained` flag errors: exit 2 and one line naming the flag, before any polling.
import t from 'tap';
import { startApi } from '../lib/agent-process.js';
import { waitDrained } from '../lib/drained.js';

t.test('bad flags exit 2 with one line naming the flag', async (t) => {
  for (const [args, flag] of [
    [['--timeout', 'soon', '--url', 'http://127.0.0.1:1'], '--timeout'],
    [[], '--node'],
    [['--url', 'http://127.0.0.1:1', '--node', 'n1'], '--url'],
  ] as const) {
    const r = await waitDrained([...args]);
    t.equal(r.code, 2, `${args.join(' ')}: exit 2`);
    t.match(r.stderr, new RegExp(`^haproxy-node-agent: ${flag}: [^\\n]+\\n$`), 'one line naming the flag');
  }
});

t.test('a mistyped flag: the one probably meant', async (t) => {
  const r = await waitDrained(['--timout', '1s', '--url', 'http://127.0.0.1:1']);
  t.equal(r.code, 2);
  t.equal(r.stderr, 'haproxy-node-agent: --timout: unknown flag; did you mean --timeout?\n');
});

t.test('a node the API does not know is a flag error naming --node', async (t) => {
  const { kubeconfig } = await startApi(t);
  const missing = await waitDrained(['--node', 'nope', '--kubeconfig', kubeconfig, '--timeout', '1s']);
  t.equal(missing.code, 2);
  t.match(missing.stderr, /^haproxy-node-agent: --node: cannot read node nope: [^\n]*404[^\n]*\n$/);
});
