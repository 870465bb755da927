// Issue 17 item 1 at test size: 300 Services each carrying ~250 KB of annotations (a third an
// invalid 250 KB weight with a newline and control characters in it, a third a valid weight plus a
// 250 KB harmless annotation, a third a 250 KB last-applied-configuration), with the DaemonSet's
// NODE_OPTIONS. The built daemon must become ready, on a cold start (all in list pages) and while
// running (all over the watch), within the DaemonSet memory limit, and log each bad value once,
// cut short and escaped. The full size (1,000 Services) is bench/hostile-memory.ts.
import t, { type Test } from 'tap';
import { readFileSync } from 'node:fs';
import { httpGet, metricValue, seedCluster, startAgent, startApi, type AgentProcess } from '../lib/agent-process.js';
import type { FakeApiServer, KubeObject } from '../../src/testkit/fakeapi/server.js';

const COUNT = 300;
const BLOB = 250_000;
const P = 'haproxy-node-agent.io';
/** deploy/base/daemonset.yaml: env NODE_OPTIONS and resources.limits.memory. */
const NODE_OPTIONS = '--max-old-space-size=160 --max-semi-space-size=1';
const LIMIT_MB = 256;

t.setTimeout(400_000);

function hostile(i: number): KubeObject {
  const fill = String.fromCharCode(97 + (i % 26)).repeat(BLOB);
  const annotations: Record<string, string> =
    i % 3 === 0
      ? { [`${P}/weight`]: `${i}\n"evil"\u0007${fill}` }
      : i % 3 === 1
        ? { [`${P}/weight`]: '50', 'example.com/blob': fill }
        : { 'kubectl.kubernetes.io/last-applied-configuration': JSON.stringify({ data: fill }) };
  return {
    metadata: { namespace: `tenant-${i % 10}`, name: `big-${i}`, annotations },
    spec: { type: 'NodePort', ports: [{ port: 80, nodePort: 30000 + i }] },
  };
}

async function create(api: FakeApiServer): Promise<void> {
  for (let i = 0; i < COUNT; i++) {
    api.create('services', hostile(i));
    // Let the server write watch events between creates, as a tenant's apply loop would.
    if (i % 10 === 9) await new Promise((r) => setImmediate(r));
  }
}

function memory(pid: number | undefined): { rssMb: number; peakMb: number } {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(s)?.[1]) / 1024;
  return { rssMb: kb('VmRSS'), peakMb: kb('VmHWM') };
}

async function start(t: Test, kubeconfig: string): Promise<AgentProcess> {
  // NODE_OPTIONS through env(1): tap adds its own --import to node children (~160 MB of RSS).
  return startAgent(t, ['--node-name', 'n1', '--kubeconfig', kubeconfig, '--log-level', 'info'], {}, [
    'env',
    `NODE_OPTIONS=${NODE_OPTIONS}`,
  ]);
}

async function servicesKnown(agent: AgentProcess): Promise<number | undefined> {
  return metricValue(
    (await httpGet(agent.httpPort, '/metrics')).body,
    'haproxy_node_agent_snapshot_objects{resource="services"}',
  );
}

/** Until the agent knows every Service (true), or it exits or the deadline passes (false). */
async function synced(agent: AgentProcess, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline && agent.proc.exitCode === null && agent.proc.signalCode === null) {
    const ready = await httpGet(agent.httpPort, '/readyz').catch(() => ({ status: 0 }));
    if (ready.status === 200 && (await servicesKnown(agent).catch(() => undefined)) === COUNT + 2) return true;
    await new Promise((r) => setTimeout(r, 250));
  }
  return false;
}

function checkLogs(t: Test, agent: AgentProcess): void {
  const bad = agent.logs.filter(
    (l) => l.annotation === `${P}/weight` && typeof l.msg === 'string' && l.msg.startsWith('invalid annotation'),
  );
  t.equal(bad.length, COUNT / 3, 'each invalid weight logged once');
  const longest = Math.max(...agent.logs.map((l) => JSON.stringify(l).length));
  t.ok(longest < 2000, `no log line is long (longest ${longest} bytes)`);
  const first = bad.find((l) => l.subject === 'tenant-0/big-0');
  t.match(first?.value, /^0\\n\\"evil\\"\\u0007a+…$/, 'value: first bytes, escaped, marked as cut');
  t.equal(first?.bytes, BLOB + 9, 'with the length of the whole value');
  // biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
  t.notMatch(String(first?.msg), /[\n\u0007]/, 'no raw newline or control character in the message');
}

t.test('cold start with 300 × 250 KB Services: ready, under the limit, bad values logged short', async (t) => {
  const { api, kubeconfig } = await startApi(t);
  seedCluster(api);
  await create(api);
  const agent = await start(t, kubeconfig);
  const ok = await synced(agent, 300_000);
  t.ok(ok, `ready and all ${COUNT + 2} Services known`);
  if (!ok) return;
  const m = memory(agent.proc.pid);
  t.comment(`cold start: VmRSS ${m.rssMb.toFixed(1)} MB, VmHWM ${m.peakMb.toFixed(1)} MB`);
  t.ok(m.peakMb < LIMIT_MB, `peak RSS ${m.peakMb.toFixed(1)} MB under the ${LIMIT_MB} MiB limit`);
  const metrics = (await httpGet(agent.httpPort, '/metrics')).body;
  t.equal(
    metricValue(metrics, `haproxy_node_agent_invalid_annotations_total{annotation="${P}/weight"}`),
    COUNT / 3,
    'each counted once',
  );
  checkLogs(t, agent);
});

t.test('running agent, 300 × 250 KB Services arriving over the watch: still answering, under the limit', async (t) => {
  const { api, kubeconfig } = await startApi(t);
  seedCluster(api);
  const agent = await start(t, kubeconfig);
  let started = false;
  for (
    const deadline = Date.now() + 60_000;
    !started && Date.now() < deadline;
    await new Promise((r) => setTimeout(r, 200))
  ) {
    started = (await httpGet(agent.httpPort, '/readyz')).status === 200;
  }
  t.ok(started, 'ready before the Services arrive');
  const idle = memory(agent.proc.pid);
  await create(api);
  const ok = await synced(agent, 300_000);
  t.ok(ok, `all ${COUNT + 2} Services known`);
  if (!ok) return;
  const m = memory(agent.proc.pid);
  t.comment(
    `running: idle VmRSS ${idle.rssMb.toFixed(1)} MB; ` +
      `after VmRSS ${m.rssMb.toFixed(1)} MB, VmHWM ${m.peakMb.toFixed(1)} MB`,
  );
  t.ok(m.peakMb < LIMIT_MB, `peak RSS ${m.peakMb.toFixed(1)} MB under the ${LIMIT_MB} MiB limit`);
  checkLogs(t, agent);
});
