// `demo --haproxy`: the newcomer's view. HAProxy starts wired to the demo agent, a cordon shows up as
// a live line and in real traffic, and Ctrl-C stops HAProxy too.
import t from 'tap';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, kubectl } from '../lib/agent-process.js';
import { deadline } from '../lib/deadline.js';
import { freePort, requireHaproxy } from '../lib/haproxy.js';
import { spawnChild, tempDir } from '../lib/spawn.js';

const bin = requireHaproxy(t);
if (bin !== undefined) {
  t.test(
    'demo --haproxy: live lines per server change, traffic moves, Ctrl-C stops HAProxy',
    { timeout: 600_000 },
    async (t) => {
      const dir = tempDir(t, 'hna-demo-');
      const kubeconfig = join(dir, 'kubeconfig');
      const [agentPort, edgePort] = [await freePort(), await freePort()];
      // TMPDIR passed on: HAProxy's temp dir lands where this run's leftovers are checked.
      const proc = spawnChild(
        t,
        process.execPath,
        [
          CLI,
          'demo',
          '--haproxy',
          '--agent-port',
          String(agentPort),
          '--http-port',
          '0',
          '--haproxy-port',
          String(edgePort),
          '--kubeconfig-out',
          kubeconfig,
          '--log-level',
          'warn',
        ],
        {
          env: {
            PATH: process.env.PATH ?? '',
            TMPDIR: tmpdir(),
            ...(process.env.HAPROXY_BIN === undefined ? {} : { HAPROXY_BIN: process.env.HAPROXY_BIN }),
          },
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      const { stdout, stderr } = proc;
      if (stdout === null || stderr === null) throw new Error('no pipes');
      const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
      let out = '';
      stdout.setEncoding('utf8');
      stdout.on('data', (c: string) => (out += c));
      stderr.setEncoding('utf8');
      stderr.on('data', (c: string) => (out += c));
      const waitOut = async (re: RegExp, ms = 10_000): Promise<RegExpMatchArray> => {
        const until = Date.now() + deadline(ms);
        for (;;) {
          const m = out.match(re);
          if (m !== null) return m;
          if (Date.now() > until || proc.exitCode !== null)
            throw new Error(`demo never printed ${re}; output:\n${out}`);
          await new Promise((r) => setTimeout(r, 20));
        }
      };
      const get = async (path: string): Promise<string> =>
        (await (await fetch(`http://127.0.0.1:${edgePort}${path}`)).text()).trim();

      // Generous: the demo loads the Kubernetes client and starts four servers; CI machines are busy.
      const pid = Number((await waitOut(/HAProxy \(pid (\d+)\)/, 120_000))[1]);
      t.ok(pid > 0, `HAProxy started (pid ${pid})`);
      t.match(out, `curl -s 127.0.0.1:${edgePort}/shop/web/`, 'the banner says how to send traffic');
      await waitOut(/haproxy {2}api@demo-node: UP weight 50\n/);
      t.pass("the agent's weight for shop/api shows as a live line");
      t.notMatch(out, / \d+\/\d+ weight/, 'no health-check transition noise ("UP 1/3")');
      const seen = new Set<string>();
      for (let i = 0; i < 4; i++) seen.add(await get('/shop/web/'));
      t.same(
        [...seen].sort(),
        ['web@demo-node', 'web@other-node'],
        'traffic reaches the demo node and the rest of the cluster',
      );

      await kubectl(kubeconfig, 'cordon', 'demo-node');
      await waitOut(/haproxy {2}web@demo-node: DRAIN \(agent\) weight 100\n/);
      t.pass('kubectl cordon → "web@demo-node: DRAIN (agent) weight 100"');
      const after = new Set<string>();
      for (let i = 0; i < 4; i++) after.add(await get('/shop/web/'));
      t.same([...after], ['web@other-node'], 'new requests avoid the drained node');

      proc.kill('SIGINT');
      t.equal(await exited, 0, 'Ctrl-C: exit 0');
      t.throws(() => process.kill(pid, 0), { code: 'ESRCH' }, 'and HAProxy is gone');
    },
  );
}
