// The built daemon behind a real TLS front with 401/403 on demand: token rotation (file and
// in-cluster, the real path in a private mount namespace), wrong CA, and failures as an operator sees
// them in /status, /readyz, the metrics and the logs.
import t from 'tap';
import { copyFileSync, mkdirSync, renameSync, truncateSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { httpGet, kubectl, metricValue, startAgent } from '../lib/agent-process.js';
import { probeUntil } from '../lib/probe.js';
import { READY, WEB, agentFor, apiStatus, errorLines, expectSynced, setup, until } from '../lib/access.js';
import { FORBIDDEN_MESSAGE, writeAccessKubeconfig } from '../lib/tls-front.js';
import { runChild } from '../lib/spawn.js';

t.test('wrong CA: state tls, never synced, /readyz 503, one ERROR line per resource', async (t) => {
  const { pki, front, dir } = await setup(t);
  front.tokens.add('tok');
  const kc = join(dir, 'kc');
  writeAccessKubeconfig(kc, front.url, { 'certificate-authority': pki.wrongCaFile }, { token: 'tok' });
  const agent = await agentFor(t, kc);
  const metrics = async (): Promise<string> => (await httpGet(agent.httpPort, '/metrics')).body;
  // Retries go on (several per resource) while the log holds one line per resource.
  await until(
    'retries',
    metrics,
    (m) => (metricValue(m, 'haproxy_node_agent_api_errors_total{resource="nodes",code="tls"}') ?? 0) >= 3,
  );
  const s = await apiStatus(agent);
  t.equal(s.state, 'tls', '/status api.state tls');
  t.match(s.lastError, /TLS: .*(unable to verify|self.signed|certificate)/i, 'the verification error');
  t.match(s.detail, /UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED|CERT/, 'the verification code');
  const ready = await httpGet(agent.httpPort, '/readyz');
  t.equal(ready.status, 503, '/readyz 503');
  t.match(ready.body, /never synced: the API server fails TLS verification/, '/readyz says why');
  const errors = errorLines(agent);
  t.equal(errors.length, 3, 'one ERROR line per resource, not one per retry');
  t.ok(
    errors.every((l) => /no answers yet \(never synced\)/.test(String(l.msg))),
    'worded for never synced',
  );
  t.notOk(
    agent.logs.some((l) => l.level === 'warn' && /watch stopped/.test(String(l.msg))),
    'no WARN per retry',
  );
  t.equal(metricValue(await metrics(), 'haproxy_node_agent_api_up{resource="nodes"}'), 0, 'api_up 0');
  t.equal(front.requests.length, 0, 'no request got past the handshake');
});

t.test(
  'token file rotated and the old token revoked at once: new token in use within 5 s, ' +
    'a cordon answered within 5 s more',
  async (t) => {
    const { admin, pki, front, dir } = await setup(t);
    front.tokens.add('old-token');
    const tokenPath = join(dir, 'token');
    writeFileSync(tokenPath, 'old-token\n');
    const kc = join(dir, 'kc');
    writeAccessKubeconfig(kc, front.url, { 'certificate-authority': pki.caFile }, { tokenFile: tokenPath });
    const agent = await agentFor(t, kc);
    await expectSynced(t, agent, 'before rotation');

    // Rotate the way kubelet does (a new file swapped in), then revoke the old token and cut its streams.
    front.tokens.add('new-token');
    writeFileSync(`${tokenPath}.tmp`, 'new-token\n');
    renameSync(`${tokenPath}.tmp`, tokenPath);
    const rotated = Date.now();
    front.revoke('old-token');
    await until(
      'new token in use',
      async () =>
        front.requests.filter((r) => r.token === 'new-token' && r.status === 200 && r.path.includes('watch=true'))
          .length,
      (n) => n >= 3,
      5_000,
    );
    t.pass(`all three watches use the new token ${Date.now() - rotated}ms after rotation`);

    const cordoned = Date.now();
    await kubectl(admin, 'cordon', 'n1');
    t.equal(
      await probeUntil(agent.agentPort, WEB, (r) => r === 'drain\n', 5_000),
      'drain\n',
      'the cordon is answered within 5 s',
    );
    t.pass(`cordon answered ${Date.now() - cordoned}ms after kubectl`);
    t.equal((await apiStatus(agent)).state, 'ok', `api state ok after rotation ${JSON.stringify(errorLines(agent))}`);
    t.equal((await httpGet(agent.httpPort, '/readyz')).status, 200, 'still ready');
  },
);

t.test('a 401 re-reads the token file at once and retries once', async (t) => {
  const { pki, front, dir } = await setup(t);
  front.tokens.add('a');
  const tokenPath = join(dir, 'token');
  // Same inode, size and mtime before and after the change: a stat check cannot see it, the 401 must.
  const fixed = 1_700_000_000;
  writeFileSync(tokenPath, 'a');
  utimesSync(tokenPath, fixed, fixed);
  const kc = join(dir, 'kc');
  writeAccessKubeconfig(kc, front.url, { 'certificate-authority': pki.caFile }, { tokenFile: tokenPath });
  const agent = await agentFor(t, kc);
  await expectSynced(t, agent, 'first token');
  front.tokens.add('b');
  writeFileSync(tokenPath, 'b');
  utimesSync(tokenPath, fixed, fixed);
  const from = front.requests.length;
  front.revoke('a');
  await until(
    'b in use',
    async () => front.requests.filter((r) => r.token === 'b' && r.path.includes('watch=true')).length,
    (n) => n >= 3,
    5_000,
  );
  const after = front.requests.slice(from);
  const refused = after.filter((r) => r.status === 401);
  t.ok(refused.length >= 1 && refused.every((r) => r.token === 'a'), `the old token was refused (${refused.length}x)`);
  t.ok(
    refused.every((r) => after.some((x) => x.token === 'b' && x.path === r.path)),
    'each refused request was retried with the new token',
  );
  t.equal(errorLines(agent).length, 0, `recovered by the retry: no ERROR line ${JSON.stringify(errorLines(agent))}`);
});

t.test(
  'token file swapped for a FIFO, then a 1 GiB file: still answering, last good token kept, logged once each',
  async (t) => {
    const { admin, pki, front, dir } = await setup(t);
    front.tokens.add('tok-1');
    const tokenPath = join(dir, 'token');
    writeFileSync(tokenPath, 'tok-1\n');
    const kc = join(dir, 'kc');
    writeAccessKubeconfig(kc, front.url, { 'certificate-authority': pki.caFile }, { tokenFile: tokenPath });
    const agent = await agentFor(t, kc);
    await expectSynced(t, agent, 'before the swap');
    const warned = (re: RegExp): number =>
      agent.logs.filter((l) => l.level === 'warn' && re.test(String(l.msg))).length;

    const swap = async (make: (p: string) => Promise<void> | void, re: RegExp, what: string): Promise<void> => {
      const next = `${tokenPath}.next`;
      await make(next);
      renameSync(next, tokenPath);
      front.cutAll(); // every watch re-opens: each request reads the token file again
      await until(
        what,
        async () => warned(re),
        (n) => n >= 1,
      );
      const from = front.requests.length;
      front.cutAll();
      await until(
        'requests after the swap',
        async () => front.requests.length - from,
        (n) => n >= 3,
      );
      t.equal((await httpGet(agent.httpPort, '/healthz')).status, 200, `${what}: /healthz answers`);
      t.equal(await probeUntil(agent.agentPort, WEB, () => true), READY, `${what}: probes answered`);
      t.ok(
        front.requests.slice(from).every((r) => r.token === 'tok-1'),
        `${what}: requests carry the last good token`,
      );
      t.equal(warned(re), 1, `${what}: logged once, not per request`);
    };
    await swap(
      (p) => runChild('mkfifo', [p]).then(() => undefined),
      /token file .*not a regular file \(a FIFO\)/,
      'a FIFO',
    );
    await swap(
      (p) => {
        writeFileSync(p, '');
        truncateSync(p, 1024 ** 3);
      },
      /token file .*1073741824 bytes, over/,
      'a 1 GiB file',
    );
    await kubectl(admin, 'cordon', 'n1');
    t.equal(
      await probeUntil(agent.agentPort, WEB, (r) => r === 'drain\n', 15_000),
      'drain\n',
      'a cordon still arrives',
    );

    front.tokens.add('tok-2');
    writeFileSync(`${tokenPath}.next`, 'tok-2\n');
    renameSync(`${tokenPath}.next`, tokenPath);
    front.revoke('tok-1');
    await until(
      'the good file again',
      async () => front.requests.filter((r) => r.token === 'tok-2' && r.status === 200).length,
      (n) => n >= 3,
    );
    t.ok(
      agent.logs.some((l) => l.level === 'info' && /token file .* readable again/.test(String(l.msg))),
      'recovery logged',
    );
  },
);

t.test('403 then 401 mid-flight: keeps the last answer, /status says why, one ERROR line per change', async (t) => {
  const { pki, front, dir } = await setup(t);
  front.tokens.add('tok');
  const kc = join(dir, 'kc');
  writeAccessKubeconfig(kc, front.url, { 'certificate-authority': pki.caFile }, { token: 'tok' });
  const agent = await agentFor(t, kc);
  await expectSynced(t, agent, 'before');

  front.force = 403;
  front.cutAll();
  const forbidden = await until(
    'forbidden',
    () => apiStatus(agent),
    (s) => Object.values(s.resources).every((r) => r.state === 'forbidden'),
  );
  t.equal(forbidden.state, 'forbidden');
  t.ok(forbidden.resource !== undefined, `names the resource (${forbidden.resource})`);
  t.equal(forbidden.detail, FORBIDDEN_MESSAGE(forbidden.resource ?? ''), 'the RBAC message from the Status body');
  t.match(
    forbidden.resources.nodes?.lastError,
    /HTTP 403 nodes is forbidden: User/,
    'the watch error keeps the Status message',
  );
  t.equal(await probeUntil(agent.agentPort, WEB, () => true), READY, 'the last answer is kept');
  t.equal((await httpGet(agent.httpPort, '/readyz')).status, 200, 'ready while within the 60 s bound');
  const m = (await httpGet(agent.httpPort, '/metrics')).body;
  t.ok(
    (metricValue(m, 'haproxy_node_agent_api_errors_total{resource="services",code="403"}') ?? 0) >= 1,
    'errors counted by code',
  );
  t.equal(metricValue(m, 'haproxy_node_agent_api_up{resource="services"}'), 0, 'api_up 0');
  // /status and the log are two channels: the line is written before /status can show the state,
  // but this process may read the HTTP answer before the pipe. Count once the lines are in.
  const lines = await logged(agent, 3);
  t.equal(lines.length, 3, `one ERROR line per resource ${JSON.stringify(lines)}`);
  t.ok(
    lines.every((l) => /forbids access \(403, RBAC\).*answers keep the last known state/.test(String(l.msg))),
    'worded for a synced agent',
  );

  front.force = 401;
  front.cutAll();
  await until(
    'unauthorized',
    () => apiStatus(agent),
    (s) => Object.values(s.resources).every((r) => r.state === 'unauthorized'),
  );
  t.equal((await logged(agent, 6)).length, 6, 'one more ERROR line per resource for the change');

  front.force = undefined;
  const back = await until(
    'ok again',
    () => apiStatus(agent),
    (s) => s.state === 'ok',
    40_000,
  );
  t.equal(back.state, 'ok', 'ok again');
  t.ok(
    agent.logs.some((l) => l.level === 'info' && /answers for nodes again/.test(String(l.msg))),
    'recovery logged',
  );
  t.equal(errorLines(agent).length, 6, 'no ERROR line per retry, none for the recovery');
});

/** The ERROR lines once at least `n` have been read from the agent's stdout. */
const logged = (agent: Parameters<typeof errorLines>[0], n: number): Promise<Array<Record<string, unknown>>> =>
  until(
    `${n} ERROR lines`,
    async () => errorLines(agent),
    (l) => l.length >= n,
  );

const canUnshare = await runChild('unshare', ['-m', 'true']).then(
  (r) => r.code === 0,
  () => false,
);
const inClusterSkip = canUnshare
  ? false
  : 'unshare -m is not permitted here (needs root or CAP_SYS_ADMIN): the in-cluster path is not tested';

t.test(
  'in-cluster, the real path: service-account files in a private mount namespace, token rotated',
  { skip: inClusterSkip },
  async (t) => {
    const { admin, pki, front, dir } = await setup(t);
    const sa = join(dir, 'serviceaccount');
    mkdirSync(sa);
    copyFileSync(pki.caFile, join(sa, 'ca.crt'));
    writeFileSync(join(sa, 'namespace'), 'kube-system');
    writeFileSync(join(sa, 'token'), 'sa-token-1');
    front.tokens.add('sa-token-1');
    // /run is a fresh tmpfs inside the namespace: nothing outside the test sees the mount.
    const wrap = [
      'unshare',
      '-m',
      'sh',
      '-c',
      'mount -t tmpfs tmpfs /run && mkdir -p /run/secrets/kubernetes.io/serviceaccount && ' +
        'mount --bind "$0" /run/secrets/kubernetes.io/serviceaccount && exec "$@"',
      sa,
    ];
    const agent = await startAgent(
      t,
      ['--node-name', 'n1'],
      { KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: String(front.port) },
      wrap,
    );
    await expectSynced(t, agent, 'in-cluster');
    t.ok(
      front.requests.some((r) => r.token === 'sa-token-1'),
      'the service-account token was sent',
    );

    front.tokens.add('sa-token-2');
    writeFileSync(join(sa, 'token.tmp'), 'sa-token-2');
    renameSync(join(sa, 'token.tmp'), join(sa, 'token'));
    front.revoke('sa-token-1');
    await until(
      'rotated in-cluster token in use',
      async () => front.requests.filter((r) => r.token === 'sa-token-2' && r.path.includes('watch=true')).length,
      (n) => n >= 3,
      5_000,
    );
    t.pass('the rotated token is in use within 5 s (client-node would wait up to 60 s)');
    await kubectl(admin, 'cordon', 'n1');
    t.equal(
      await probeUntil(agent.agentPort, WEB, (r) => r === 'drain\n', 5_000),
      'drain\n',
      'a cordon is answered within 5 s more',
    );
  },
);
