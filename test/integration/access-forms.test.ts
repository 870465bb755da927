// The built daemon behind a real TLS front (own CA, bearer tokens, client certificates) in front of
// the fake API server: every credential form kubectl accepts, and the ones we refuse at start.
import t from 'tap';
import { chmodSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLI, kubectl, seedCluster, startApi } from '../lib/agent-process.js';
import { probeUntil } from '../lib/probe.js';
import { READY, WEB, agentFor, expectSynced, setup } from '../lib/access.js';
import { writeAccessKubeconfig } from '../lib/tls-front.js';
import { runChild, tempDir } from '../lib/spawn.js';

t.test('every credential form kubectl accepts', async (t) => {
  const { pki, front, dir } = await setup(t);
  const ca = readFileSync(pki.caFile).toString('base64');
  front.tokens.add('tok-static').add('tok-file').add('tok-dash').add('tok-exec');
  writeFileSync(join(dir, 'token'), 'tok-file\n');
  writeFileSync(join(dir, 'token-dash'), 'tok-dash');
  const plugin = join(dir, 'plugin.sh');
  writeFileSync(
    plugin,
    `#!/bin/sh\necho "$@" >> "${join(dir, 'plugin.calls')}"\n` +
      `printf '{"apiVersion":"client.authentication.k8s.io/v1",` +
      `"kind":"ExecCredential","status":{"token":"%s"}}' "$TOKEN"\n`,
  );
  chmodSync(plugin, 0o755);
  const cases: Array<
    [string, Record<string, unknown>, Record<string, unknown>, (r: typeof front.requests) => boolean]
  > = [
    [
      'token + CA data',
      { 'certificate-authority-data': ca },
      { token: 'tok-static' },
      (r) => r.some((x) => x.token === 'tok-static'),
    ],
    [
      'tokenFile (kubectl field) + CA file',
      { 'certificate-authority': pki.caFile },
      { tokenFile: join(dir, 'token') },
      (r) => r.some((x) => x.token === 'tok-file'),
    ],
    [
      'token-file (client-node field)',
      { 'certificate-authority': pki.caFile },
      { 'token-file': join(dir, 'token-dash') },
      (r) => r.some((x) => x.token === 'tok-dash'),
    ],
    [
      'client certificate files',
      { 'certificate-authority': pki.caFile },
      { 'client-certificate': pki.clientCertFile, 'client-key': pki.clientKeyFile },
      (r) => r.some((x) => x.clientCn === 'agent' && x.token === ''),
    ],
    [
      'client certificate data',
      { 'certificate-authority-data': ca },
      {
        'client-certificate-data': readFileSync(pki.clientCertFile).toString('base64'),
        'client-key-data': readFileSync(pki.clientKeyFile).toString('base64'),
      },
      (r) => r.some((x) => x.clientCn === 'agent'),
    ],
    [
      'exec credential plugin',
      { 'certificate-authority': pki.caFile },
      {
        exec: {
          apiVersion: 'client.authentication.k8s.io/v1',
          command: plugin,
          args: ['--cluster', 'front'],
          env: [{ name: 'TOKEN', value: 'tok-exec' }],
          interactiveMode: 'Never',
        },
      },
      (r) => r.some((x) => x.token === 'tok-exec'),
    ],
  ];
  for (const [what, cluster, user, seen] of cases) {
    await t.test(what, async (t) => {
      const kc = join(dir, `kc-${what.replace(/\W+/g, '-')}`);
      writeAccessKubeconfig(kc, front.url, cluster, user);
      const from = front.requests.length;
      const agent = await agentFor(t, kc);
      await expectSynced(t, agent, what);
      t.ok(seen(front.requests.slice(from)), `${what}: the front saw these credentials`);
      t.notOk(
        front.requests.slice(from).some((x) => x.status === 401),
        `${what}: never an anonymous or refused request`,
      );
      agent.proc.kill('SIGTERM');
      await agent.exited;
    });
  }
  t.match(readFileSync(join(dir, 'plugin.calls'), 'utf8'), /--cluster front/, 'the plugin ran with its args');
});

// Measured with kubectl 1.32: `server: 127.0.0.1:PORT` is sent as plain http, with or without a CA
// or insecure-skip-tls-verify. The agent reads it the same way, then applies its plain-http rule.
t.test('a server without a scheme (host:port) is read as http://, as kubectl reads it', async (t) => {
  const { api } = await startApi(t);
  seedCluster(api);
  const dir = tempDir(t);
  const bare = api.url.replace(/^http:\/\//, '');
  const kc = join(dir, 'kc-bare');
  writeAccessKubeconfig(kc, bare, { 'insecure-skip-tls-verify': true }, { token: 'x' });
  t.match(await kubectl(kc, 'get', 'node', 'n1', '-o', 'name'), /node\/n1/, `kubectl accepts server: ${bare}`);
  const agent = await agentFor(t, kc);
  t.equal(await probeUntil(agent.agentPort, WEB, (r) => r === READY, 15_000), READY, `synced from server: ${bare}`);

  // Without insecure-skip-tls-verify that is plain http the agent refuses: one line at start, exit 2.
  const refused = join(dir, 'kc-bare-refused');
  writeAccessKubeconfig(refused, bare, {}, { token: 'x' });
  const r = await runChild(process.execPath, [CLI, 'run', '--node-name', 'n1', '--kubeconfig', refused], {
    env: { PATH: process.env.PATH ?? '' },
  });
  t.equal(r.code, 2, 'exit 2');
  t.match(r.stderr, /server "127\.0\.0\.1:\d+" has no scheme, read as http:\/\/ \(as kubectl does\)/, 'named');
  t.equal(r.stderr.trim().split('\n').length, 1, 'one line');
});

t.test('forms we cannot honour: one line at start naming them, exit 2', async (t) => {
  const { pki, front, dir } = await setup(t);
  // A read that blocks (a FIFO) would hang the start: the deadline makes that a failure, not a hang.
  const run = (kc: string): Promise<{ code: number | null; stderr: string }> =>
    runChild(process.execPath, [CLI, 'run', '--node-name', 'n1', '--kubeconfig', kc], {
      env: { PATH: process.env.PATH ?? '' },
      timeoutMs: 20_000,
    });
  const fifo = join(dir, 'fifo');
  await runChild('mkfifo', [fifo]);
  const huge = join(dir, 'huge');
  writeFileSync(huge, '');
  truncateSync(huge, 1024 ** 3); // sparse: costs no disk, 1 GiB to whoever reads it whole
  const cases: Array<[string, Record<string, unknown>, Record<string, unknown>, RegExp]> = [
    [
      'auth-provider',
      {},
      { 'auth-provider': { name: 'oidc', config: { 'client-id': 'x' } } },
      /--kubeconfig: .*user "agent" uses auth-provider "oidc", which this agent does not support/,
    ],
    ['missing token file', {}, { tokenFile: join(dir, 'nope') }, /--kubeconfig: cannot read token file .*nope: ENOENT/],
    [
      'certificate without key',
      {},
      { 'client-certificate': pki.clientCertFile },
      /--kubeconfig: .*client certificate without its key/,
    ],
    ['proxy-url', { 'proxy-url': 'http://127.0.0.1:3128' }, { token: 'x' }, /--kubeconfig: .*proxy-url/],
    [
      'server not a URL',
      { server: 'https://[::1' },
      { token: 'x' },
      /--kubeconfig: .*server "https:\/\/\[::1" is not a URL/,
    ],
    [
      'token file is a FIFO',
      {},
      { tokenFile: fifo },
      /--kubeconfig: cannot read token file .*fifo: not a regular file \(a FIFO\)/,
    ],
    [
      'token file of 1 GiB',
      {},
      { tokenFile: huge },
      /--kubeconfig: cannot read token file .*huge: 1073741824 bytes, over/,
    ],
    [
      'CA file is a FIFO',
      { 'certificate-authority': fifo },
      { token: 'x' },
      /cannot read certificate-authority .*fifo: not a regular/,
    ],
    [
      'server scheme',
      { server: 'ftp://127.0.0.1:1' },
      { token: 'x' },
      /--kubeconfig: .*server .*https:\/\/ or http:\/\//,
    ],
  ];
  for (const [what, cluster, user, re] of cases) {
    const kc = join(dir, `kc-${what.replace(/\W+/g, '-')}`);
    writeAccessKubeconfig(kc, front.url, { 'certificate-authority': pki.caFile, ...cluster }, user);
    const r = await run(kc);
    t.equal(r.code, 2, `${what}: exit 2`);
    t.match(r.stderr, re, `${what}: named`);
    t.equal(r.stderr.trim().split('\n').length, 1, `${what}: one line`);
  }
  // Plain http carries the token in clear: only when the kubeconfig asks for it explicitly, as kubectl.
  const plain = join(dir, 'kc-plain-http');
  writeAccessKubeconfig(plain, front.url.replace(/^https:/, 'http:'), {}, { token: 'x' });
  const r = await run(plain);
  t.equal(r.code, 2, 'plain http without insecure-skip-tls-verify: exit 2');
  t.match(
    r.stderr,
    /--kubeconfig: cluster \S+ uses http:\/\/ without insecure-skip-tls-verify: true/,
    'plain http: named',
  );
  t.equal(front.requests.length, 0, 'no request was ever made, anonymous or not');
});
