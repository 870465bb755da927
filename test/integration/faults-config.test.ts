// Bad configuration and bad annotations, through the built CLI and the fake API server: every
// rejected value gets its exact one-line message, a non-zero exit (flags) or a warning, a counted
// metric and the documented fallback answer (annotations).
import t, { type Test } from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { probe, probeUntil } from '../lib/probe.js';
import { CLI, httpGet, metricValue, seedCluster, startAgent, startApi } from '../lib/agent-process.js';
import { runChild, type ChildResult } from '../lib/spawn.js';
import { deadline as stretch } from '../lib/deadline.js';
import { runArgv } from '../../src/run/run-config.js';

const P = 'haproxy-node-agent.io';
const dir = mkdtempSync(join(tmpdir(), 'hna-cfg-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

function run(args: string[], env: Record<string, string> = {}): Promise<ChildResult> {
  return runChild(process.execPath, [CLI, ...args], { env: { PATH: process.env.PATH ?? '', ...env } });
}

/** Runs `cases` four at a time; each must exit 2 with exactly `haproxy-node-agent: MESSAGE\n` on stderr. */
async function expectRejected(t: Test, cases: Array<[string[], Record<string, string>, string]>): Promise<void> {
  const results = new Array<Awaited<ReturnType<typeof run>>>(cases.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      while (next < cases.length) {
        const i = next++;
        const [args, env] = cases[i] as [string[], Record<string, string>, string];
        results[i] = await run(args, env);
      }
    }),
  );
  cases.forEach(([args, env, message], i) => {
    const r = results[i] as Awaited<ReturnType<typeof run>>;
    const what = [...Object.entries(env).map(([k, v]) => `${k}=${v}`), ...args].join(' ');
    t.equal(r.stderr, `haproxy-node-agent: ${message}\n`, what);
    t.equal(r.code, 2, `${what}: exit 2`);
    t.equal(r.stdout, '', `${what}: nothing on stdout`);
  });
}

t.test('every bad flag value: its exact message, exit 2', async (t) => {
  const n = ['run', '--node-name', 'n1'];
  const cases: Array<[string[], Record<string, string>, string]> = [
    [['run'], {}, '--node-name: required (or set NODE_NAME)'],
    [['run', '--node-name', 'Bad_Name'], {}, '--node-name: expected a lower-case DNS name (RFC 1123), got "Bad_Name"'],
    [
      [...n, '--agent-address', 'localhost'],
      {},
      '--agent-address: expected an IP address such as 0.0.0.0 or 127.0.0.1, got "localhost"',
    ],
    [
      [...n, '--agent-address', '300.1.1.1'],
      {},
      '--agent-address: expected an IP address such as 0.0.0.0 or 127.0.0.1, got "300.1.1.1"',
    ],
    [[...n, '--agent-port', 'abc'], {}, '--agent-port: expected a whole number 0..65535, got "abc"'],
    [[...n, '--agent-port', '70000'], {}, '--agent-port: must be 0..65535, got 70000'],
    [[...n, '--agent-port', '-1'], {}, '--agent-port: expected a whole number 0..65535, got "-1"'],
    [
      [...n, '--http-address', '::zz'],
      {},
      '--http-address: expected an IP address such as 0.0.0.0 or 127.0.0.1, got "::zz"',
    ],
    [[...n, '--http-port', '65536'], {}, '--http-port: must be 0..65535, got 65536'],
    [
      [...n, '--annotation-prefix', 'Not A Prefix'],
      {},
      '--annotation-prefix: expected a lower-case DNS name (RFC 1123), got "Not A Prefix"',
    ],
    [[...n, '--service-selector', 'app="x"'], {}, '--service-selector: not a label selector: "app="x""'],
    [
      [...n, '--log-level', 'loud'],
      {},
      '--log-level: expected one of fatal, error, warn, info, debug, trace, silent, got "loud"',
    ],
    [[...n, '--read-timeout', '5'], {}, '--read-timeout: expected a duration like 100ms, 5s or 2m, got "5"'],
    [[...n, '--read-timeout', '0'], {}, '--read-timeout: expected a duration like 100ms, 5s or 2m, got "0"'],
    [[...n, '--read-timeout', '20s'], {}, '--read-timeout: must be at most 10000ms, got 20s'],
    [[...n, '--max-connections', '0'], {}, '--max-connections: must be 1..1000000, got 0'],
    [[...n, '--max-connections', 'many'], {}, '--max-connections: expected a whole number 1..1000000, got "many"'],
    [[...n, '--watch-timeout', '10ms'], {}, '--watch-timeout: must be at least 1000ms, got 10ms'],
    [[...n, '--watch-timeout', '2h'], {}, '--watch-timeout: must be at most 3600000ms, got 2h'],
    [[...n, '--request-timeout', '50ms'], {}, '--request-timeout: must be at least 100ms, got 50ms'],
    [[...n, '--agent-port-range', '9400-9300'], {}, '--agent-port-range: MIN must not exceed MAX, got "9400-9300"'],
    [[...n, '--agent-port-range', '9300'], {}, '--agent-port-range: expected MIN-MAX such as 9301-9399, got "9300"'],
    [[...n, '--agent-port-range', '0-10'], {}, '--agent-port-range: must be 1..65535, got 0'],
    [[...n, '--override-file', 'relative/file'], {}, '--override-file: expected an absolute path, got "relative/file"'],
    [
      [...n, '--slow-start', 'soon'],
      {},
      '--slow-start: expected a duration like 100ms, 5s or 2m (or 0 for off), got "soon"',
    ],
    [[...n, '--slow-start', '2h'], {}, '--slow-start: must be at most 3600000ms, got 2h'],
    [
      [...n, '--max-staleness', '90s'],
      {},
      '--max-staleness: must be 0 or at least twice --watch-timeout (120s), got 90s',
    ],
    [[...n, '--max-staleness', '500ms'], {}, '--max-staleness: must be at least 1000ms, got 500ms'],
    [
      [...n, '--max-staleness', 'forever'],
      {},
      '--max-staleness: expected a duration like 100ms, 5s or 2m (or 0 for off), got "forever"',
    ],
    [[...n, '--help=maybe'], {}, '--help: expected true or false, got "maybe"'],
    [[...n, '--agent-port', '1', '--agent-port', '2'], {}, '--agent-port: given more than once'],
    [[...n, 'stray'], {}, '--stray: unexpected argument "stray" (flags look like --name=value)'],
    [[...n, '--bogus'], {}, '--bogus: unknown flag (see --help)'],
    [['run', '--nodename', 'n1'], {}, '--nodename: unknown flag; did you mean --node-name?'],
    [[...n, '--http-port'], {}, '--http-port: needs a value'],
    // The same checks for values from the environment, named by their flag.
    [['run'], { NODE_NAME: 'Bad' }, '--node-name: expected a lower-case DNS name (RFC 1123), got "Bad"'],
    [
      ['run'],
      { NODE_NAME: 'n1', HAPROXY_NODE_AGENT_AGENT_PORT: 'nope' },
      '--agent-port: expected a whole number 0..65535, got "nope"',
    ],
    [
      ['run'],
      { NODE_NAME: 'n1', HAPROXY_NODE_AGENT_READ_TIMEOUT: '1h' },
      '--read-timeout: must be at most 10000ms, got 1h',
    ],
    [
      ['run'],
      { NODE_NAME: 'n1', HAPROXY_NODE_AGENT_LOG_LEVEL: 'verbose' },
      '--log-level: expected one of fatal, error, warn, info, debug, trace, silent, got "verbose"',
    ],
    [
      ['run'],
      { NODE_NAME: 'n1', HAPROXY_NODE_AGENT_MAX_STALENESS: '10s', HAPROXY_NODE_AGENT_WATCH_TIMEOUT: '30s' },
      '--max-staleness: must be 0 or at least twice --watch-timeout (60s), got 10s',
    ],
  ];
  await expectRejected(t, cases);
});

t.test('bad kubeconfig: its exact message, exit 2', async (t) => {
  const empty = join(dir, 'empty-kubeconfig');
  writeFileSync(empty, 'apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n');
  const garbled = join(dir, 'garbled-kubeconfig');
  writeFileSync(garbled, 'not: [yaml\n');
  await expectRejected(t, [
    [
      ['run', '--node-name', 'n1'],
      {},
      '--kubeconfig: not set, and not running in a Pod (KUBERNETES_SERVICE_HOST is unset); give a kubeconfig file',
    ],
    [
      ['run', '--node-name', 'n1', '--kubeconfig', '/nonexistent/kc'],
      {},
      `--kubeconfig: cannot load "/nonexistent/kc": ENOENT: no such file or directory, open '/nonexistent/kc'`,
    ],
    [
      ['run', '--node-name', 'n1', '--kubeconfig', empty],
      {},
      '--kubeconfig: no current context/cluster in the kubeconfig',
    ],
  ]);
  // The parser's own words follow; the start of the line is ours.
  const r = await run(['run', '--node-name', 'n1', '--kubeconfig', garbled]);
  t.equal(r.code, 2);
  t.match(
    r.stderr,
    new RegExp(`^haproxy-node-agent: --kubeconfig: cannot load "${garbled}": .+\\n$`),
    'unparsable kubeconfig',
  );
  t.equal(r.stderr.split('\n').length, 2, 'one line');
});

t.test('ports that cannot be listened on: named by their flag, exit 2', async (t) => {
  const { kubeconfig } = await startApi(t);
  const blocker = createServer();
  await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => blocker.close());
  const taken = (blocker.address() as { port: number }).port;
  const base = [
    'run',
    ...runArgv({
      nodeName: 'n1',
      kubeconfig,
      agentAddress: '127.0.0.1',
      httpAddress: '127.0.0.1',
      overrideFile: join(dir, 'override'),
    }),
  ];
  const inUse = (flag: string, port: number) =>
    `${flag}: cannot listen: EADDRINUSE listen EADDRINUSE: address already in use 127.0.0.1:${port}; ` +
    `another agent or demo is probably running on this port: stop it or pass another ${flag}\n`;
  const a = await run([...base, '--agent-port', String(taken), '--http-port', '0']);
  t.equal(a.code, 2);
  t.equal(a.stderr, `haproxy-node-agent: ${inUse('--agent-port', taken)}`);
  const h = await run([...base, '--agent-port', '0', '--http-port', String(taken)]);
  t.equal(h.code, 2);
  t.equal(h.stderr, `haproxy-node-agent: ${inUse('--http-port', taken)}`);
  // Both on one port: the agent takes it first, so the HTTP server is the one refused.
  blocker.close();
  await new Promise((r) => setTimeout(r, 50));
  const same = await run([...base, '--agent-port', String(taken), '--http-port', String(taken)]);
  t.equal(same.code, 2);
  t.equal(same.stderr, `haproxy-node-agent: ${inUse('--http-port', taken)}`);
});

t.test('bad annotations: exact warning, counted once per change, documented fallback answer', async (t) => {
  const { api, kubeconfig } = await startApi(t);
  seedCluster(api);
  api.create('services', {
    metadata: { namespace: 'shop', name: 'ports' },
    spec: { type: 'NodePort', ports: [{ port: 80, nodePort: 30082 }] },
  });
  const agent = await startAgent(t, [
    '--node-name',
    'n1',
    '--kubeconfig',
    kubeconfig,
    '--agent-port-range',
    '9301-9399',
    '--override-file',
    join(dir, 'override'),
  ]);
  await probeUntil(agent.agentPort, 'shop/web\n', (r) => r !== '');

  interface Case {
    resource: 'nodes' | 'services';
    name: string;
    annotation: string;
    value: string;
    reason: string;
    fallback: string;
    /** The probe and the answer the fallback gives. */
    send: string;
    answer: string;
  }
  const svc = (
    annotation: string,
    value: string,
    reason: string,
    fallback: string,
    name = 'web',
    answer = 'ready up 100%\n',
  ): Case => ({
    resource: 'services',
    name,
    annotation: `${P}/${annotation}`,
    value,
    reason,
    fallback,
    send: `shop/${name}\n`,
    answer,
  });
  const node = (annotation: string, value: string, reason: string, fallback: string, answer: string): Case => ({
    resource: 'nodes',
    name: 'n1',
    annotation: `${P}/${annotation}`,
    value,
    reason,
    fallback,
    send: 'shop/web\n',
    answer,
  });
  const cases: Case[] = [
    svc('weight', 'heavy', 'not a whole number 0..256', '100'),
    svc('weight', '300', "above 256, HAProxy's largest weight", '100'),
    svc('weight', '-5', 'not a whole number 0..256', '100'),
    svc('weight', '12.5', 'not a whole number 0..256', '100'),
    svc('weight', '', 'not a whole number 0..256', '100'),
    svc('weight', '0x10', 'not a whole number 0..256', '100'),
    svc('weight', '99999', 'not a whole number 0..256', '100'),
    svc('agent-port', 'abc', 'not a port number', '(no dedicated port)', 'ports'),
    svc('agent-port', '70000', 'outside --agent-port-range 9301-9399', '(no dedicated port)', 'ports'),
    svc('agent-port', '80', 'outside --agent-port-range 9301-9399', '(no dedicated port)', 'ports'),
    svc('agent-port', '-9301', 'not a port number', '(no dedicated port)', 'ports'),
    node('weight', 'lots', 'not a whole number 0..256', '100', 'ready up 100%\n'),
    node('weight', '257', "above 256, HAProxy's largest weight", '100', 'ready up 100%\n'),
    node('state', 'sideways', 'expected drain, maint or ready', '(ignored)', 'ready up 100%\n'),
    node('state', 'drained', 'expected drain, maint or ready', '(ignored)', 'ready up 100%\n'),
  ];
  const counted = async (annotation: string) =>
    metricValue(
      (await httpGet(agent.httpPort, '/metrics')).body,
      `haproxy_node_agent_invalid_annotations_total{annotation="${annotation}"}`,
    ) ?? 0;
  for (const c of cases) {
    const subject = c.resource === 'nodes' ? `node/${c.name}` : `shop/${c.name}`;
    const before = await counted(c.annotation);
    const logsBefore = agent.logs.length;
    api.patch(c.resource, c.resource === 'nodes' ? undefined : 'shop', c.name, {
      metadata: { annotations: { [c.annotation]: c.value } },
    });
    const deadline = Date.now() + stretch(20_000);
    let line: Record<string, unknown> | undefined;
    while (line === undefined && Date.now() < deadline) {
      line = agent.logs.slice(logsBefore).find((l) => l.annotation === c.annotation && l.value === c.value);
      if (line === undefined) await new Promise((r) => setTimeout(r, 20));
    }
    const what = `${subject} ${c.annotation}="${c.value}"`;
    t.equal(
      line?.msg,
      `invalid annotation ${c.annotation}="${c.value}" on ${subject}: ${c.reason}; using ${c.fallback}`,
      `${what}: the warning`,
    );
    t.equal(line?.level, 'warn', `${what}: at warn level`);
    t.same([line?.subject, line?.reason, line?.using], [subject, c.reason, c.fallback], `${what}: structured fields`);
    t.equal((await counted(c.annotation)) - before, 1, `${what}: counted once`);
    t.equal(await probe(agent.agentPort, { send: c.send }), c.answer, `${what}: fallback answer`);
    // An unrelated change to the same object does not report it again.
    api.patch(c.resource, c.resource === 'nodes' ? undefined : 'shop', c.name, {
      metadata: { labels: { touched: String(Date.now()) } },
    });
    await new Promise((r) => setTimeout(r, 100));
    t.equal((await counted(c.annotation)) - before, 1, `${what}: not counted again for another change`);
    // Clear it before the next case.
    api.patch(c.resource, c.resource === 'nodes' ? undefined : 'shop', c.name, {
      metadata: { annotations: { [c.annotation]: null } },
    });
  }
  t.equal(
    await probeUntil(agent.agentPort, 'shop/web\n', (r) => r === 'ready up 100%\n'),
    'ready up 100%\n',
    'all cleared',
  );
  t.same(
    JSON.parse((await httpGet(agent.httpPort, '/status')).body).dedicatedAgentPorts,
    {},
    'no dedicated port was opened for a bad agent-port',
  );
});
