// Bad flags: one line naming the flag. Parsed values: what an operator typed.
import t from 'tap';
import { createServer, type Server } from 'node:net';
import { listenError } from '../../src/platform/flags.js';
import { loadConfig, RUN_FLAGS, runArgv } from '../../src/run/run-config.js';

const env = { NODE_NAME: 'n1' };

t.test('defaults and environment', async (t) => {
  const c = loadConfig([], env);
  if (c === 'help') throw new Error('unexpected help');
  t.equal(c.nodeName, 'n1');
  t.equal(c.agentPort, 9300);
  t.equal(c.httpPort, 9290);
  t.equal(c.readTimeoutMs, 100);
  t.equal(c.annotationPrefix, 'haproxy-node-agent.io');
  t.equal(c.kubeconfig, undefined);
  t.equal(c.statusDetail, 'loopback', '/status detail for clients on the node only by default');
  const c2 = loadConfig(['--agent-port', '7000', '--read-timeout=250ms'], {
    ...env,
    HAPROXY_NODE_AGENT_AGENT_PORT: '8000',
    HAPROXY_NODE_AGENT_HTTP_PORT: '8001',
  });
  if (c2 === 'help') throw new Error('unexpected help');
  t.equal(c2.agentPort, 7000, 'flag wins over env');
  t.equal(c2.httpPort, 8001, 'env used when no flag');
  t.equal(c2.readTimeoutMs, 250);
  t.equal(loadConfig(['--help'], {}), 'help');
});

t.test('each bad value is rejected with a message naming its flag', async (t) => {
  const cases: Array<[string[], Record<string, string>, RegExp]> = [
    [[], {}, /^--node-name: required/],
    [['--node-name', 'Bad_Name'], {}, /^--node-name: expected a lower-case DNS name/],
    [['--agent-port', '70000'], env, /^--agent-port: must be 0\.\.65535, got 70000$/],
    [['--agent-port', 'x'], env, /^--agent-port: expected a whole number/],
    [['--http-port'], env, /^--http-port: needs a value$/],
    [['--agent-address', 'localhost'], env, /^--agent-address: expected an IP address/],
    [['--read-timeout', '5'], env, /^--read-timeout: expected a duration like 100ms/],
    [['--read-timeout', '20s'], env, /^--read-timeout: must be at most 10000ms/],
    [['--log-level', 'loud'], env, /^--log-level: expected one of fatal, error/],
    [['--status-detail', 'some'], env, /^--status-detail: expected one of loopback, all, none, got "some"$/],
    [['--annotation-prefix', 'Not A Prefix'], env, /^--annotation-prefix: expected a lower-case DNS name/],
    [['--service-selector', 'app="x"'], env, /^--service-selector: not a label selector/],
    [['--max-connections', '0'], env, /^--max-connections: must be 1\.\.1000000/],
    [['--watch-timeout', '10ms'], env, /^--watch-timeout: must be at least 1000ms/],
    [['--bogus'], env, /^--bogus: unknown flag \(see --help\)$/],
    [['--nodename', 'n1'], {}, /^--nodename: unknown flag; did you mean --node-name\?$/],
    [['--agent-prot', '1'], env, /^--agent-prot: unknown flag; did you mean --agent-port\?$/],
    [['--NODE_NAME=n1'], {}, /^--NODE_NAME: unknown flag; did you mean --node-name\?$/],
    [['-node-name', 'n1'], {}, /^--node-name: unexpected argument "-node-name" .*; did you mean --node-name\?$/],
    [
      ['--max-staleness', '90s'],
      env,
      /^--max-staleness: must be 0 or at least twice --watch-timeout \(120s\), got 90s$/,
    ],
    [['--agent-port-range', '9400-9300'], env, /^--agent-port-range: MIN must not exceed MAX/],
    [['--agent-port-range', '9300'], env, /^--agent-port-range: expected MIN-MAX/],
    [['--override-file', 'relative/file'], env, /^--override-file: expected an absolute path/],
    [['--slow-start', 'soon'], env, /^--slow-start: expected a duration like 100ms, 5s or 2m \(or 0 for off\)/],
    [['stray'], env, /^--stray: unexpected argument/],
    [['--agent-port', '1', '--agent-port', '2'], env, /^--agent-port: given more than once/],
    [[], { ...env, HAPROXY_NODE_AGENT_AGENT_PORT: 'nope' }, /^--agent-port: expected a whole number/],
    [
      ['--proxy-healthz-url', '127.0.0.1:10256/healthz'],
      env,
      /^--proxy-healthz-url: (expected an http:\/\/ URL|only http:\/\/ URLs)/,
    ],
    [['--proxy-healthz-url', 'not a url'], env, /^--proxy-healthz-url: expected an http:\/\/ URL/],
    [
      ['--proxy-healthz-url', 'https://127.0.0.1:10256/healthz'],
      env,
      /^--proxy-healthz-url: only http:\/\/ URLs are supported/,
    ],
    [['--proxy-healthz-url', 'http://127.0.0.1:99999/healthz'], env, /^--proxy-healthz-url: expected an http:\/\/ URL/],
    [['--proxy-healthz-url', 'http://u:p@127.0.0.1:10256/'], env, /^--proxy-healthz-url: credentials/],
    [[], { ...env, HAPROXY_NODE_AGENT_PROXY_HEALTHZ_URL: 'ftp://x/' }, /^--proxy-healthz-url: only http:\/\/ URLs/],
    [['--proxy-healthz-interval', '10ms'], env, /^--proxy-healthz-interval: must be at least 100ms/],
    [['--proxy-healthz-interval', '0'], env, /^--proxy-healthz-interval: expected a duration/],
    [['--proxy-healthz-failures', '0'], env, /^--proxy-healthz-failures: must be 1\.\.100/],
    [['--proxy-healthz-successes', 'two'], env, /^--proxy-healthz-successes: expected a whole number/],
  ];
  for (const [argv, e, re] of cases) {
    t.throws(() => loadConfig(argv, e), re, argv.join(' ') || JSON.stringify(e));
  }
});

t.test("data-plane health polling: on by default at kube-proxy's port, empty or off turns it off", async (t) => {
  const c = loadConfig([], env);
  if (c === 'help') throw new Error('unexpected help');
  t.equal(c.proxyHealthzUrl?.href, 'http://127.0.0.1:10256/healthz');
  t.equal(c.proxyHealthzIntervalMs, 1000);
  t.equal(c.proxyHealthzFailures, 3);
  t.equal(c.proxyHealthzSuccesses, 2);
  const off = loadConfig(['--proxy-healthz-url='], env);
  t.equal(off === 'help' ? 'help' : off.proxyHealthzUrl, undefined, '--proxy-healthz-url= (empty)');
  const offEnv = loadConfig([], { ...env, HAPROXY_NODE_AGENT_PROXY_HEALTHZ_URL: 'off' });
  t.equal(
    offEnv === 'help' ? 'help' : offEnv.proxyHealthzUrl,
    undefined,
    'off in the environment (an empty variable means unset)',
  );
  const cilium = loadConfig(
    ['--proxy-healthz-url', 'http://10.0.0.5:10256/healthz', '--proxy-healthz-interval', '500ms'],
    env,
  );
  t.equal(cilium === 'help' ? 'help' : cilium.proxyHealthzUrl?.href, 'http://10.0.0.5:10256/healthz');
});

t.test('a busy port: the flag, the error, and what to do about it, on one line', async (t) => {
  const listen = (port: number) =>
    new Promise<Server>((resolve, reject) => {
      const s = createServer();
      s.once('error', reject);
      s.listen(port, '127.0.0.1', () => resolve(s));
    });
  const first = await listen(0);
  t.teardown(() => first.close());
  const port = (first.address() as { port: number }).port;
  const err = await listen(port).then(
    (s) => {
      s.close();
      return new Error('listened twice');
    },
    (e: unknown) => e,
  );
  for (const flag of ['agent-port', 'http-port']) {
    t.equal(
      listenError(flag, err).message,
      `--${flag}: cannot listen: EADDRINUSE listen EADDRINUSE: address already in use 127.0.0.1:${port}; ` +
        `another agent or demo is probably running on this port: stop it or pass another --${flag}`,
    );
  }
  const denied = Object.assign(new Error('listen EACCES: permission denied 0.0.0.0:80'), { code: 'EACCES' });
  t.equal(
    listenError('http-port', denied).message,
    '--http-port: cannot listen: EACCES listen EACCES: permission denied 0.0.0.0:80',
    'other errors as before',
  );
});

t.test('runArgv: the argv that starts the daemon with the fields given, every other flag at its default', async (t) => {
  t.same(runArgv({ nodeName: 'n1', agentPort: 0, kubeconfig: undefined, proxyHealthzUrl: undefined }), [
    '--node-name=n1',
    '--kubeconfig=',
    '--agent-port=0',
    '--proxy-healthz-url=',
  ]);
  // Every field away from its default, through runArgv and back: each flag shows what it parses.
  const full = loadConfig(
    [
      '--node-name=n1',
      '--kubeconfig=/k/config',
      '--agent-address=127.0.0.1',
      '--agent-port=7000',
      '--http-address=::1',
      '--http-port=7001',
      '--status-detail=all',
      '--annotation-prefix=example.com',
      '--service-selector=app=web',
      '--log-level=debug',
      '--read-timeout=1.5s',
      '--max-connections=10',
      '--watch-timeout=2m',
      '--request-timeout=5s',
      '--agent-port-range=9000-9010',
      '--agent-port-namespaces=shop,blog',
      '--override-file=/tmp/override',
      '--slow-start=30s',
      '--max-staleness=10m',
      '--signal-policy=cordon=ignore,not-ready=25%',
      '--max-drain-fraction=0.25',
      '--events=false',
      '--events-namespace=ops',
      '--proxy-healthz-url=http://10.0.0.5:10256/healthz',
      '--proxy-healthz-interval=500ms',
      '--proxy-healthz-failures=5',
      '--proxy-healthz-successes=4',
      '--guard-mode=coordinated',
      '--guard-namespace=guard',
      '--guard-stale-after=1m',
      '--drain-deadline=1h',
    ],
    {},
  );
  if (full === 'help') throw new Error('unexpected help');
  const fields = RUN_FLAGS.flatMap((f) => ('field' in f ? [f.field] : []));
  t.same(Object.keys(full).sort(), [...fields].sort(), 'one field per flag');
  const again = loadConfig(runArgv(full), {});
  t.same(again, full, 'parses back to the same config');
  if (again === 'help') throw new Error('unexpected help');
  t.equal(again.proxyHealthzUrl?.href, 'http://10.0.0.5:10256/healthz', 'the URL too');
  t.same([...(again.agentPortNamespaces ?? [])], ['shop', 'blog'], 'and the namespaces');
  t.equal(runArgv(full).length, fields.length);
});
