// Issue 17 item 7: what the watch stream says is input, not truth. An ERROR event with a null or
// missing object, a line that is not JSON, a line bigger than any object: each must fail the watch
// (relist, counted), never crash the built daemon, and the next change made with the real kubectl
// must still arrive.
import t from 'tap';
import { httpGet, kubectl, metricValue, startSyncedAgent } from '../lib/agent-process.js';
import { probe, probeUntil } from '../lib/probe.js';
import type { FakeApiServer } from '../../src/testkit/fakeapi/server.js';

const M = 'haproxy_node_agent_';
const WEB = 'shop/web\n';

async function until(check: () => boolean | Promise<boolean>, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

/** Waits for an open services watch, then writes `line` on it. */
async function inject(api: FakeApiServer, line: string): Promise<void> {
  let sent = 0;
  await until(() => (sent = api.injectWatchLine('services', line)) > 0, 20_000);
  if (sent === 0) throw new Error('no services watch opened');
}

const cases: Array<[string, string, string]> = [
  ['an ERROR event with a null object', '{"type":"ERROR","object":null}\n', 'bad_error_event'],
  ['an ERROR event with no object', '{"type":"ERROR"}\n', 'bad_error_event'],
  ['a line that is not JSON', '{"type":"MODIFIED","object":{"metadata":\n', 'bad_line'],
];

t.test('garbage on the watch: counted, relisted, still answering, later changes seen', async (t) => {
  const { api, kubeconfig, agent } = await startSyncedAgent(t);
  let weight = 100;
  for (const [what, line, reason] of cases) {
    const restarts = async (): Promise<number> =>
      metricValue(
        (await httpGet(agent.httpPort, '/metrics')).body,
        `${M}watch_restarts_total{resource="services",reason="${reason}"}`,
      ) ?? 0;
    const before = await restarts();
    await inject(api, line);
    const counted = await until(async () => (await restarts()) > before, 20_000);
    t.ok(counted, `${what}: counted as watch_restarts_total{reason="${reason}"}`);
    t.equal(agent.proc.exitCode, null, `${what}: the agent is still running`);
    t.equal(await probe(agent.agentPort, { send: WEB }), `ready up ${weight}%\n`, `${what}: the answer is unchanged`);
    weight -= 10;
    await kubectl(
      kubeconfig,
      'annotate',
      'service',
      '-n',
      'shop',
      'web',
      `haproxy-node-agent.io/weight=${weight}`,
      '--overwrite',
    );
    t.equal(
      await probeUntil(agent.agentPort, WEB, (r) => r === `ready up ${weight}%\n`, 20_000),
      `ready up ${weight}%\n`,
      `${what}: a kubectl change after it arrives`,
    );
  }
  t.notOk(
    agent.logs.some((l) => /unhandled/i.test(String(l.msg))),
    'no unhandled rejection logged',
  );
  t.same(agent.stderr.join(''), '', 'nothing on stderr');
});

t.test('a watch event bigger than any object: counted, relisted, memory not spent on it', async (t) => {
  const { api, kubeconfig, agent } = await startSyncedAgent(t);
  // 11 MiB: past the 10 MiB cap (etcd's 1.5 MiB, escaped 6 ways). Sent in pieces, as a stream would.
  await inject(api, '{"type":"MODIFIED","object":{"metadata":{"namespace":"shop","name":"web"},"blob":"');
  const piece = 'x'.repeat(1024 * 1024);
  for (let i = 0; i < 11; i++) api.injectWatchLine('services', piece);
  api.injectWatchLine('services', '"}}\n');
  const counted = await until(
    async () =>
      (metricValue(
        (await httpGet(agent.httpPort, '/metrics')).body,
        `${M}objects_too_large_total{resource="services",where="watch"}`,
      ) ?? 0) >= 1,
    20_000,
  );
  t.ok(counted, 'counted in objects_too_large_total{where="watch"}');
  t.equal(agent.proc.exitCode, null, 'still running');
  await kubectl(
    kubeconfig,
    'annotate',
    'service',
    '-n',
    'shop',
    'web',
    'haproxy-node-agent.io/weight=20',
    '--overwrite',
  );
  t.equal(
    await probeUntil(agent.agentPort, WEB, (r) => r === 'ready up 20%\n', 20_000),
    'ready up 20%\n',
    'the relisted watch sees a later change',
  );
});
