// The demo's simulated cluster through the real kubectl, as a newcomer uses it: the columns a real
// cluster prints, `describe node` and `events` with the agent's Events, two demos side by side, and
// `render` against the demo.
import t, { type Test } from 'tap';
import { spawnChild } from '../lib/spawn.js';
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { CLI, kubectl } from '../lib/agent-process.js';
import { freePort } from '../lib/haproxy.js';
import { runRender } from '../../src/render/cli.js';

interface Demo {
  proc: ChildProcess;
  kubeconfig: string;
  httpPort: number;
  output(): string;
  exited: Promise<number | null>;
}

/** `demo --haproxy=false` on the given agent port; resolves once its banner names the kubeconfig. */
async function startDemo(t: Test, agentPort: number, httpPort: number): Promise<Demo> {
  const proc = spawnChild(
    t,
    process.execPath,
    [CLI, 'demo', '--haproxy=false', '--agent-port', String(agentPort), '--http-port', String(httpPort)],
    {
      env: { PATH: process.env.PATH ?? '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  t.teardown(() => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
  });
  let out = '';
  proc.stdout?.setEncoding('utf8');
  proc.stdout?.on('data', (c: string) => (out += c));
  proc.stderr?.setEncoding('utf8');
  proc.stderr?.on('data', (c: string) => (out += c));
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  // Generous: the demo loads the Kubernetes client; CI machines are busy.
  const deadline = Date.now() + 120_000;
  for (;;) {
    const m = /export KUBECONFIG=(\S+)/.exec(out);
    if (m !== null) return { proc, kubeconfig: m[1] as string, httpPort, output: () => out, exited };
    if (proc.exitCode !== null || Date.now() > deadline)
      return { proc, kubeconfig: '', httpPort, output: () => out, exited };
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function until<T>(what: string, read: () => Promise<T>, ok: (v: T) => boolean, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await read();
    if (ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`${what}: last seen ${String(v)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const header = (table: string): string[] => (table.split('\n')[0] ?? '').trim().split(/\s{2,}/);

// Many kubectl runs (each loads and discovers): generous for a loaded CI machine.
t.test(
  'two demos at once; kubectl sees a real-looking cluster; render writes servers',
  { timeout: 600_000 },
  async (t) => {
    const a = await startDemo(t, await freePort(), await freePort());
    t.not(a.kubeconfig, '', `the first demo started: ${a.output()}`);
    t.notMatch(a.output(), /override file cleared/, 'no WARN about an override file that never existed');

    // A second demo on the same ports fails, and leaves the first one's kubeconfig alone.
    const before = readFileSync(a.kubeconfig, 'utf8');
    const clash = await startDemo(t, Number(/nc 127\.0\.0\.1 (\d+)/.exec(a.output())?.[1]), a.httpPort);
    t.equal(await clash.exited, 2, 'a demo on busy ports exits 2');
    t.match(clash.output(), /--agent-port: cannot listen/, 'naming the busy port');
    t.equal(readFileSync(a.kubeconfig, 'utf8'), before, "the first demo's kubeconfig is untouched");

    // A second demo on free ports runs beside the first, with its own kubeconfig.
    const b = await startDemo(t, await freePort(), await freePort());
    t.not(b.kubeconfig, '', 'the second demo started');
    t.not(b.kubeconfig, a.kubeconfig, 'each demo has its own kubeconfig');

    const nodes = await kubectl(a.kubeconfig, 'get', 'nodes');
    t.same(
      header(nodes),
      ['NAME', 'STATUS', 'ROLES', 'AGE', 'VERSION'],
      'kubectl get nodes: the columns of a real cluster',
    );
    t.match(nodes, /^demo-node\s+Ready\s+worker\s+\d+[smh]\S*\s+v1\.\d+\.\d+$/m, 'demo-node is Ready');
    t.match(
      await kubectl(a.kubeconfig, 'get', 'nodes', '-o', 'wide'),
      /INTERNAL-IP[\s\S]*127\.0\.0\.1/,
      '-o wide shows the InternalIP',
    );

    const svcs = await kubectl(a.kubeconfig, 'get', 'svc', '-A');
    t.same(
      header(svcs),
      ['NAMESPACE', 'NAME', 'TYPE', 'CLUSTER-IP', 'EXTERNAL-IP', 'PORT(S)', 'AGE'],
      'kubectl get svc -A: the columns of a real cluster',
    );
    t.match(svcs, /^shop\s+web\s+NodePort\s+10\.96\.0\.10\s+<none>\s+80:30080\/TCP\s+\d+[smh]\S*$/m, 'shop/web row');

    await kubectl(a.kubeconfig, 'cordon', 'demo-node');
    t.match(
      await kubectl(a.kubeconfig, 'get', 'nodes'),
      /^demo-node\s+Ready,SchedulingDisabled\s/m,
      'cordoned: Ready,SchedulingDisabled',
    );
    t.match(await kubectl(b.kubeconfig, 'get', 'nodes'), /^demo-node\s+Ready\s/m, "the other demo's node is untouched");

    const described = await until(
      'describe node shows the drain Event',
      () => kubectl(a.kubeconfig, 'describe', 'node', 'demo-node'),
      (s) => /HAProxyDrain/.test(s),
    );
    t.match(described, /Unschedulable:\s+true/, 'describe node: Unschedulable');
    t.match(described, /InternalIP:\s+127\.0\.0\.1/, 'describe node: the address');
    t.match(
      described,
      /Warning\s+HAProxyDrain\s+\S+\s+haproxy-node-agent\.io\/agent\s+edge HAProxy told "drain"/,
      "describe node: the agent's Event",
    );
    t.notMatch(described, /Failed to get lease|NotFound/, 'describe node: nothing missing');

    const events = await kubectl(a.kubeconfig, 'events', '--for', 'node/demo-node');
    t.same(header(events), ['LAST SEEN', 'TYPE', 'REASON', 'OBJECT', 'MESSAGE'], 'kubectl events: its columns');
    t.match(events, /HAProxyReady\s+Node\/demo-node/, 'kubectl events: the ready Event');
    t.match(events, /HAProxyDrain\s+Node\/demo-node/, 'kubectl events: the drain Event');
    const got = await kubectl(a.kubeconfig, 'get', 'events');
    t.same(
      header(got),
      ['LAST SEEN', 'TYPE', 'REASON', 'OBJECT', 'MESSAGE'],
      'kubectl get events: the columns of a real cluster',
    );
    t.match(
      got,
      /Warning\s+HAProxyDrain\s+node\/demo-node\s+edge HAProxy told "drain"/,
      'kubectl get events: the drain Event',
    );
    await kubectl(a.kubeconfig, 'uncordon', 'demo-node');

    // render against the demo: the node has an address, the Services opt in.
    let out = '';
    let err = '';
    const code = await runRender(['--kubeconfig', a.kubeconfig], {
      stdout: (s) => void (out += s),
      stderr: (s) => void (err += s),
      env: {},
    });
    t.equal(code, 0, `render exits 0: ${err}`);
    t.equal(err, '', 'render: no warning (the demo teams share their host with share-with)');
    t.match(out, /3 services in 3 backends, 3 servers/, 'render: every demo Service gets a server');
    t.match(out, /server \S+ 127\.0\.0\.1:30080 check agent-check/, "render: the demo node's address and NodePort");

    a.proc.kill('SIGINT');
    t.equal(await a.exited, 0, 'the first demo stops on Ctrl-C');
    t.match(await kubectl(b.kubeconfig, 'get', 'nodes'), /demo-node/, 'the second demo still answers kubectl');
    b.proc.kill('SIGINT');
    t.equal(await b.exited, 0, 'the second demo stops on Ctrl-C');
  },
);
