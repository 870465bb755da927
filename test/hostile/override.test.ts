// Issue 17 item 6: whatever sits at the override path, the built daemon starts, keeps answering,
// says once (log + override_errors_total) why the file cannot be used, and sees a drain written
// there later. A FIFO (blocks a plain read forever), a 1 GB sparse file (a plain read allocates it),
// a file the agent may not read (root's umask 027 file, agent non-root). Issue 12: none of these
// (nor bad content) undoes a drain already in force; only removing the file ends it.
import t, { type Test } from 'tap';
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { httpGet, metricValue, seedCluster, startAgent, startApi, type AgentProcess } from '../lib/agent-process.js';
import { probe, probeUntil } from '../lib/probe.js';

const M = 'haproxy_node_agent_';
const WEB = 'shop/web\n';
/** deploy/base/daemonset.yaml */
const NODE_OPTIONS = '--max-old-space-size=160 --max-semi-space-size=1';
const LIMIT_MB = 256;

// Three agents, each waiting on polls and kubectl-free probes: more than tap's default per file.
t.setTimeout(300_000);

function overridePath(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'hna-ovr-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, 'override');
}

/** Writes the file whole and renames it into place, as an operator's editor (or `install`) does. */
function replaceWith(path: string, content: string): void {
  writeFileSync(`${path}.new`, content);
  renameSync(`${path}.new`, path);
}

async function start(t: Test, file: string, wrapper: string[] = []): Promise<AgentProcess> {
  const { api, kubeconfig } = await startApi(t);
  seedCluster(api);
  // NODE_OPTIONS through env(1): tap adds its own --import to every node child's NODE_OPTIONS
  // (~160 MB of RSS), which would measure tap, not the agent.
  return startAgent(t, ['--node-name', 'n1', '--kubeconfig', kubeconfig, '--override-file', file], {}, [
    ...wrapper,
    'env',
    `NODE_OPTIONS=${NODE_OPTIONS}`,
  ]);
}

async function errors(agent: AgentProcess, reason: string): Promise<number> {
  return (
    metricValue((await httpGet(agent.httpPort, '/metrics')).body, `${M}override_errors_total{reason="${reason}"}`) ?? 0
  );
}

async function until(check: () => Promise<boolean>, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

const failureLogs = (agent: AgentProcess, reason: string) =>
  agent.logs.filter((l) => l.reason === reason && typeof l.msg === 'string' && l.msg.startsWith('override file'));

t.test('a FIFO at the path: the agent starts, says so once, and a drain written later is seen', async (t) => {
  const file = overridePath(t);
  execFileSync('mkfifo', [file]);
  const agent = await start(t, file);
  t.equal(
    await probeUntil(agent.agentPort, WEB, (r) => r === 'ready up 100%\n', 20_000),
    'ready up 100%\n',
    'answers as if no override',
  );
  t.ok(
    await until(async () => (await errors(agent, 'not_regular')) === 1, 10_000),
    'counted: override_errors_total{reason="not_regular"} 1',
  );
  // Three more polls of the same FIFO: still one log line, still counted once.
  await new Promise((r) => setTimeout(r, 3500));
  t.equal(await errors(agent, 'not_regular'), 1, 'counted once per distinct failure, not per poll');
  t.equal(failureLogs(agent, 'not_regular').length, 1, 'logged once');
  t.equal(failureLogs(agent, 'not_regular')[0]?.level, 'error', 'at error level');
  replaceWith(file, 'drain\n');
  t.equal(
    await probeUntil(agent.agentPort, WEB, (r) => r === 'drain\n', 10_000),
    'drain\n',
    'the drain that replaced the FIFO is answered',
  );
  // And a FIFO appearing under a running agent blocks nothing either.
  rmSync(file);
  t.equal(
    await probeUntil(agent.agentPort, WEB, (r) => r === 'ready up 100%\n', 10_000),
    'ready up 100%\n',
    'file removed: no override',
  );
  execFileSync('mkfifo', [file]);
  t.ok(
    await until(async () => (await errors(agent, 'not_regular')) === 2, 10_000),
    'a new FIFO is a new failure: counted again',
  );
  replaceWith(file, 'maint\n');
  t.equal(
    await probeUntil(agent.agentPort, WEB, (r) => r === 'maint\n', 10_000),
    'maint\n',
    'seen again after the second FIFO',
  );
});

t.test('a 1 GB sparse file: no crash, nothing read, memory stays small; a later drain is seen', async (t) => {
  const file = overridePath(t);
  writeFileSync(file, 'drain');
  truncateSync(file, 1024 ** 3);
  const agent = await start(t, file);
  t.equal(
    await probeUntil(agent.agentPort, WEB, (r) => r === 'ready up 100%\n', 20_000),
    'ready up 100%\n',
    'listening and answering (no override)',
  );
  t.ok(
    await until(async () => (await errors(agent, 'too_big')) === 1, 10_000),
    'counted: override_errors_total{reason="too_big"}',
  );
  t.match(String(failureLogs(agent, 'too_big')[0]?.detail), /1073741824 bytes/, 'the log says how big');
  const status = readFileSync(`/proc/${agent.proc.pid}/status`, 'utf8');
  const peakMb = Number(/^VmHWM:\s+(\d+) kB/m.exec(status)?.[1]) / 1024;
  t.comment(`VmHWM ${peakMb.toFixed(1)} MB`);
  t.ok(peakMb < LIMIT_MB, `peak RSS ${peakMb.toFixed(1)} MB under the DaemonSet limit ${LIMIT_MB} MiB`);
  replaceWith(file, 'drain\n');
  t.equal(
    await probeUntil(agent.agentPort, WEB, (r) => r === 'drain\n', 10_000),
    'drain\n',
    'a drain written later is seen',
  );
});

t.test('a file the agent may not read: logged and counted, then seen once readable', async (t) => {
  const file = overridePath(t);
  writeFileSync(file, 'drain\n');
  let wrapper: string[] = [];
  if (process.getuid?.() === 0) {
    // As root: the file belongs to someone else with mode 0640 (a root shell with umask 027 and a
    // non-root agent), and the agent runs without the capabilities that let root read anything.
    chownSync(file, 4242, 4242);
    chmodSync(file, 0o640);
    wrapper = ['setpriv', '--bounding-set', '-dac_override,-dac_read_search', '--'];
  } else {
    chmodSync(file, 0o000);
  }
  const agent = await start(t, file, wrapper);
  t.equal(
    await probeUntil(agent.agentPort, WEB, (r) => r === 'ready up 100%\n', 20_000),
    'ready up 100%\n',
    'no override in force',
  );
  t.ok(
    await until(async () => (await errors(agent, 'unreadable')) === 1, 10_000),
    'counted: override_errors_total{reason="unreadable"}',
  );
  t.match(String(failureLogs(agent, 'unreadable')[0]?.detail), /EACCES/, 'the log names the error');
  chmodSync(file, 0o644);
  t.equal(
    await probeUntil(agent.agentPort, WEB, (r) => r === 'drain\n', 10_000),
    'drain\n',
    'readable now: the drain is answered',
  );
});

t.test('a drain in force survives the file turning unusable; removing the file ends it', async (t) => {
  const file = overridePath(t);
  const agent = await start(t, file);
  t.equal(
    await probeUntil(agent.agentPort, WEB, (r) => r === 'ready up 100%\n', 20_000),
    'ready up 100%\n',
    'synced, no override',
  );
  replaceWith(file, 'drain\n');
  t.equal(await probeUntil(agent.agentPort, WEB, (r) => r === 'drain\n', 10_000), 'drain\n', 'drain written: answered');
  // Each replacement is renamed into place: the path never goes missing in between (that would end the drain).
  replaceWith(file, `drain${' '.repeat(100)}\n`);
  t.ok(
    await until(async () => (await errors(agent, 'too_big')) === 1, 10_000),
    'an oversize file: counted once it has been read',
  );
  t.equal(await probe(agent.agentPort, { send: WEB }), 'drain\n', 'still drain');
  execFileSync('mkfifo', [`${file}.new`]);
  renameSync(`${file}.new`, file);
  t.ok(
    await until(async () => (await errors(agent, 'not_regular')) === 1, 10_000),
    'a FIFO: counted once it has been read',
  );
  t.equal(await probe(agent.agentPort, { send: WEB }), 'drain\n', 'still drain');
  t.match(
    String(failureLogs(agent, 'not_regular')[0]?.msg),
    /the last good override \(drain\) stays in force/,
    'the log says the drain stays',
  );
  const m = (await httpGet(agent.httpPort, '/metrics')).body;
  t.equal(metricValue(m, `${M}override{state="drain"}`), 1, 'the override gauge still shows the drain in force');
  rmSync(file);
  t.equal(
    await probeUntil(agent.agentPort, WEB, (r) => r === 'ready up 100%\n', 10_000),
    'ready up 100%\n',
    'file removed: the drain ends',
  );
});
