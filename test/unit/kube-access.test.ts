// The API access layer in process, against loopback servers this file starts: which kubeconfig forms
// are read and which refused (one message each), credential files that cannot block or cost memory,
// and the transport's one error reader and one 401 retry, its watch lines and deadlines.
import t, { type Test } from 'tap';
import http from 'node:http';
import { mkdirSync, mkdtempSync, rmSync, truncateSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ClusterInfo, kubeconfigPath, loadKubeConfig, serverUrl } from '../../src/kube/kubeconfig.js';
import { Credentials, MAX_CREDENTIAL_FILE_BYTES, WatchedFile, readCredentialFile } from '../../src/kube/credentials.js';
import { ApiError, ApiTransport, HungError, TooLargeError } from '../../src/kube/transport.js';
import { Store, decodeWatchLine } from '../../src/kube/listwatch.js';

function temp(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'hna-kube-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function kubeconfig(path: string, cluster: Record<string, unknown>, user: Record<string, unknown>): void {
  writeFileSync(
    path,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'c', cluster }],
      users: [{ name: 'u', user }],
      contexts: [{ name: 'c', context: { cluster: 'c', user: 'u', namespace: 'ns' } }],
      'current-context': 'c',
    }),
  );
}

const refusal = (fn: () => unknown): string => {
  try {
    fn();
  } catch (err) {
    return (err as Error).message;
  }
  return 'no error';
};

t.test('serverUrl: a bare host:port is http:// (kubectl 1.32), anything not http(s) is refused', async (t) => {
  const bad = (d: string): Error => new Error(d);
  t.equal(serverUrl('127.0.0.1:6443', bad), 'http://127.0.0.1:6443');
  t.equal(serverUrl('localhost:6443/prefix/', bad), 'http://localhost:6443/prefix');
  t.equal(serverUrl('https://api.example:6443/', bad), 'https://api.example:6443');
  t.match(
    refusal(() => serverUrl('https://[::1', bad)),
    /is not a URL/,
  );
  t.match(
    refusal(() => serverUrl('ftp://h:1', bad)),
    /must be https:\/\/ or http:\/\//,
  );
  t.match(
    refusal(() => serverUrl('https://h:1/?a=b', bad)),
    /scheme, host, port and path only/,
  );
});

t.test('kubeconfig forms: read as kubectl reads them, or one message naming what is refused', async (t) => {
  const dir = temp(t);
  const kc = join(dir, 'kc');
  writeFileSync(join(dir, 'tok'), 'file-token\n');
  kubeconfig(kc, { server: 'https://h:1', 'certificate-authority-data': 'eA==' }, { tokenFile: 'tok' });
  const access = loadKubeConfig(kc, {});
  t.equal(access.getCurrentUser().tokenFile, join(dir, 'tok'), 'a relative tokenFile is relative to the file');
  t.equal(access.getContextObject('c')?.namespace, 'ns');
  const cases: Array<[string, Record<string, unknown>, Record<string, unknown>, RegExp]> = [
    ['no server', {}, {}, /has no server/],
    ['plain http', { server: 'http://h:1' }, {}, /uses http:\/\/ without insecure-skip-tls-verify/],
    ['bare plain http', { server: 'h:1' }, {}, /server "h:1" has no scheme, read as http:\/\//],
    ['proxy-url', { server: 'https://h:1', 'proxy-url': 'http://p:1' }, {}, /proxy-url/],
    ['auth-provider', { server: 'https://h:1' }, { 'auth-provider': { name: 'oidc' } }, /auth-provider "oidc"/],
    ['half a cert', { server: 'https://h:1' }, { 'client-key-data': 'eA==' }, /key without its certificate/],
    ['exec + token', { server: 'https://h:1' }, { token: 'x', exec: { command: 'c' } }, /exec plugin and a token/],
    ['exec, no command', { server: 'https://h:1' }, { exec: {} }, /exec entry without a command/],
    ['basic + token', { server: 'https://h:1' }, { username: 'a', token: 'x' }, /username\/password and a token/],
  ];
  for (const [what, cluster, user, re] of cases) {
    kubeconfig(kc, cluster, user);
    t.match(
      refusal(() => loadKubeConfig(kc, {})),
      re,
      what,
    );
  }
  t.match(
    refusal(() => loadKubeConfig(join(dir, 'a:b'), {})),
    /one file only/,
  );
  t.match(
    refusal(() => loadKubeConfig(join(dir, 'missing'), {})),
    /cannot load/,
  );
  t.match(
    refusal(() => loadKubeConfig(undefined, {})),
    /KUBERNETES_SERVICE_HOST is unset/,
  );
  t.match(
    refusal(() => loadKubeConfig(undefined, { KUBERNETES_SERVICE_HOST: 'h' })),
    /KUBERNETES_SERVICE_PORT/,
  );
  t.equal(kubeconfigPath('x', {}), 'x');
  t.equal(kubeconfigPath('', { KUBECONFIG: ':a:b' }), 'a', 'the first file of $KUBECONFIG');
});

t.test('credential files: regular files only, capped, never a blocking read', async (t) => {
  const dir = temp(t);
  const good = join(dir, 'good');
  writeFileSync(good, 'tok');
  t.equal(readCredentialFile(good).toString(), 'tok');
  // A FIFO (the blocking case) needs mkfifo, a child process: test/integration/access-forms.test.ts has it.
  t.match(
    refusal(() => readCredentialFile('/dev/null')),
    /^not a regular file \(a device\)$/,
  );
  mkdirSync(join(dir, 'd'));
  t.match(
    refusal(() => readCredentialFile(join(dir, 'd'))),
    /not a regular file \(a directory\)/,
  );
  const huge = join(dir, 'huge');
  writeFileSync(huge, '');
  truncateSync(huge, MAX_CREDENTIAL_FILE_BYTES + 1);
  t.match(
    refusal(() => readCredentialFile(huge)),
    /^4194305 bytes, over 4194304$/,
    'too big: not read',
  );
  t.match(
    refusal(() => readCredentialFile(join(dir, 'none'))),
    /^ENOENT$/,
  );
});

t.test('a watched file keeps its last good content and reports each problem once', async (t) => {
  const dir = temp(t);
  const path = join(dir, 'token');
  writeFileSync(path, 'one');
  const seen: Array<string | null> = [];
  const f = new WatchedFile(path, 'token file', (_what, _path, detail) => seen.push(detail));
  t.equal(f.read().toString(), 'one');
  t.notOk(f.changed(), 'unchanged');
  rmSync(path);
  mkdirSync(path);
  t.ok(f.changed(), 'something new at the path');
  t.equal(f.read().toString(), 'one', 'a directory: the last good content');
  t.equal(f.read().toString(), 'one', 'again');
  t.notOk(f.changed(), 'the failed file is not "changed" again');
  rmSync(path, { recursive: true });
  t.equal(f.read().toString(), 'one', 'gone: the last good content');
  writeFileSync(path, 'two');
  f.invalidate();
  t.equal(f.read().toString(), 'two', 'readable again');
  t.same(seen, ['not a regular file (a directory)', 'ENOENT', null], 'each problem once, then the recovery');
  const never = new WatchedFile(join(dir, 'never'));
  t.match(
    refusal(() => never.read()),
    /ENOENT/,
    'never read: the error is the caller’s',
  );
});

interface Served {
  port: number;
  seen: Array<{ url: string; auth: string | undefined }>;
}

async function serve(t: Test, handle: (req: http.IncomingMessage, res: http.ServerResponse) => void): Promise<Served> {
  const seen: Served['seen'] = [];
  const server = http.createServer((req, res) => {
    seen.push({ url: req.url ?? '', auth: req.headers.authorization });
    handle(req, res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(
    () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  );
  return { port: (server.address() as { port: number }).port, seen };
}

function transportFor(t: Test, port: number, user: Record<string, unknown>, timeoutMs = 5000): ApiTransport {
  const kc = join(temp(t), 'kc');
  kubeconfig(kc, { server: `http://127.0.0.1:${port}`, 'insecure-skip-tls-verify': true }, user);
  return new ApiTransport(loadKubeConfig(kc, {}), timeoutMs, () => undefined);
}

t.test('transport: one error reader, one 401 retry with the re-read token, for requests and watches', async (t) => {
  const dir = temp(t);
  const token = join(dir, 'token');
  writeFileSync(token, 'old');
  const { port, seen } = await serve(t, (req, res) => {
    if (req.headers.authorization !== 'Bearer new') {
      res.writeHead(401, { 'content-type': 'application/json' });
      return res.end(JSON.stringify({ kind: 'Status', code: 401, message: 'Unauthorized' }));
    }
    if (req.url?.startsWith('/forbidden')) {
      res.writeHead(403);
      return res.end(JSON.stringify({ kind: 'Status', code: 403, message: 'nodes is forbidden: RBAC' }));
    }
    if (req.url?.includes('watch=true')) {
      res.writeHead(200);
      return res.end('{"type":"ADDED","object":{}}\n\n{"type":"BOOKMARK"}\n');
    }
    res.writeHead(200);
    res.end('{"ok":true}');
  });
  const tr = transportFor(t, port, { tokenFile: token });
  const refused = await tr.getJson('/api/v1/nodes').catch((e: unknown) => e);
  t.ok(refused instanceof ApiError && refused.statusCode === 401, 'the same token again: no retry, the 401');
  t.equal(seen.length, 1);
  writeFileSync(token, 'new');
  // Same size: only the 401 makes it re-read (mtime may or may not move within this test).
  t.same(await tr.getJson('/api/v1/nodes'), { ok: true }, 'a 401 re-reads the token file and retries once');
  const forbidden = (await tr.getJson('/forbidden').catch((e: unknown) => e)) as ApiError;
  t.equal(forbidden.statusCode, 403);
  t.equal(forbidden.detail, 'nodes is forbidden: RBAC', 'the Status message is kept');
  t.match(forbidden.message, /^GET \/forbidden: HTTP 403 nodes is forbidden: RBAC$/);
  const lines: string[] = [];
  const end = await new Promise<ApiError | null>((resolve) => {
    tr.stream('/api/v1/nodes?watch=true', 5000, (l) => lines.push(l), resolve);
  });
  t.equal(end, null, 'a clean end');
  t.same(lines, ['{"type":"ADDED","object":{}}', '{"type":"BOOKMARK"}'], 'blank lines skipped');
  writeFileSync(token, 'old');
  const cut = await new Promise<ApiError | null>((resolve) => {
    tr.stream('/api/v1/nodes?watch=true', 5000, () => undefined, resolve);
  });
  t.equal(cut?.statusCode, 401, 'a watch refused with the same token after the retry: its 401');
});

t.test('transport: watch deadlines and the line cap', async (t) => {
  const { port } = await serve(t, (req, res) => {
    if (req.url?.startsWith('/silent')) return; // never answers
    res.writeHead(200);
    if (req.url?.startsWith('/big')) return res.write(`${'x'.repeat(2048)}`);
    if (req.url?.startsWith('/bigline')) return res.write(`${'x'.repeat(2048)}\n`);
    res.write('{"type":"ADDED"}\n'); // then stays open
  });
  const tr = transportFor(t, port, {}, 300);
  const watch = (path: string, maxOpenMs: number): Promise<ApiError | null> =>
    new Promise((resolve) => {
      tr.stream(path, maxOpenMs, () => undefined, resolve, 1024);
    });
  t.match((await watch('/silent', 10_000))?.message, /no response headers within 300ms/);
  t.ok((await watch('/open', 200)) instanceof HungError, 'open past its deadline: hung');
  t.ok((await watch('/big', 10_000)) instanceof TooLargeError, 'a partial line over the cap');
  t.ok((await watch('/bigline', 10_000)) instanceof TooLargeError, 'a whole line over the cap');
  let called = false;
  const h = tr.stream(
    '/open',
    10_000,
    () => undefined,
    () => (called = true),
  );
  h.abort();
  await new Promise((r) => setTimeout(r, 50));
  t.notOk(called, 'an abort we asked for is not reported');
});

t.test('watch lines decoded: events, bookmarks, Status errors and garbage', async (t) => {
  t.same(decodeWatchLine('{"type":"ADDED","object":{"a":1}}'), { kind: 'event', type: 'ADDED', object: { a: 1 } });
  t.same(decodeWatchLine('{"type":"BOOKMARK","object":{"metadata":{"resourceVersion":"7"}}}'), {
    kind: 'bookmark',
    type: 'BOOKMARK',
    resourceVersion: '7',
  });
  t.same(decodeWatchLine('{"type":"ERROR","object":{"code":410}}'), { kind: 'error', type: 'ERROR', code: 410 });
  t.same(decodeWatchLine('{"type":"ERROR","object":{}}'), { kind: 'error', type: 'ERROR', code: undefined });
  t.match(decodeWatchLine('{"type":"ERROR","object":null}'), { kind: 'broken', reason: 'bad_error_event' });
  t.match(decodeWatchLine('{"type":'), { kind: 'broken', reason: 'bad_line', type: undefined });
  t.match(decodeWatchLine('42'), { kind: 'broken', reason: 'bad_line' });
});

t.test('the store: a relist deletes what is gone, keeps what it names unreadable, reports real changes', async (t) => {
  const log: string[] = [];
  const store = new Store<{ metadata: { name: string; namespace?: string; resourceVersion?: string } }>({
    upsert: (o) => log.push(`upsert ${o.metadata.namespace ?? ''}/${o.metadata.name}`),
    delete: (o) => log.push(`delete ${o.metadata.namespace ?? ''}/${o.metadata.name}`),
  });
  const o = (ns: string | undefined, name: string, rv?: string) => ({
    metadata: {
      name,
      ...(ns === undefined ? {} : { namespace: ns }),
      ...(rv === undefined ? {} : { resourceVersion: rv }),
    },
  });
  store.replaceAll([o('a', 'x', '1'), o('a', 'y', '1'), o(undefined, 'n', '1')]);
  store.upsert(o('a', 'x', '1'));
  store.upsert(o('a', 'x', '2'));
  store.upsert(o('b', 'z'));
  store.upsert(o('b', 'z'));
  store.remove(o('a', 'missing'));
  store.remove(o('b', 'z'));
  t.same(log.splice(0), [
    'upsert a/x',
    'upsert a/y',
    'upsert /n',
    'upsert a/x',
    'upsert b/z',
    'upsert b/z',
    'delete b/z',
  ]);
  store.replaceAll([o('a', 'x', '2')], [{ namespace: 'a', name: 'y' }]);
  t.same(log.splice(0), ['delete /n'], 'y is unreadable in the list: kept; n is gone: deleted; x unchanged');
  store.replaceAll([]);
  t.same(log.splice(0).sort(), ['delete a/x', 'delete a/y']);
});

t.test('credentials: what each request carries, never the secret in describe()', async (t) => {
  const dir = temp(t);
  const make = (user: Record<string, unknown>, cluster: Record<string, unknown> = {}) => {
    const kc = join(dir, 'kc');
    kubeconfig(kc, { server: 'https://h:1', ...cluster }, user);
    const access = loadKubeConfig(kc, {});
    return new Credentials(access.getCurrentCluster() as ClusterInfo, access.getCurrentUser());
  };
  const basic = make({ username: 'u', password: 'p', as: 'admin', 'as-uid': '7', 'as-groups': ['g1', 'g2'] });
  t.equal(basic.describe(), 'basic auth');
  const h = (await basic.prepare()).headers;
  t.equal(h.Authorization, `Basic ${Buffer.from('u:p').toString('base64')}`);
  t.same([h['Impersonate-User'], h['Impersonate-Uid'], h['Impersonate-Group']], ['admin', '7', ['g1', 'g2']]);
  t.notOk(basic.refreshAfterUnauthorized(h.Authorization), 'nothing to re-read: no retry');
  const token = make({ token: 'secret' }, { 'insecure-skip-tls-verify': true, 'tls-server-name': 'api' });
  t.equal(token.describe(), 'token');
  const p1 = await token.prepare();
  t.equal(p1.headers.Authorization, 'Bearer secret');
  t.equal((await token.prepare()).agent, p1.agent, 'the same TLS material: the same agent');
  t.notOk(token.filesChanged());
  t.equal(make({}).describe(), 'none (anonymous)');
  const exec = make({ exec: { command: '/bin/false', apiVersion: 'client.authentication.k8s.io/v1' } });
  t.equal(exec.describe(), 'exec /bin/false');
  t.ok(exec.refreshAfterUnauthorized(undefined), 'an exec plugin runs again after a 401');
  writeFileSync(join(dir, 'tok'), '');
  const empty = make({ tokenFile: join(dir, 'tok') });
  t.equal(empty.describe(), `token file ${join(dir, 'tok')}`);
  t.equal((await empty.prepare()).headers.Authorization, undefined, 'an empty token file: no header');
  t.match(
    refusal(() => make({ tokenFile: join(dir, 'none') })),
    /cannot read token file .*none: ENOENT/,
  );
});

t.test('kubeconfig: entries that cannot be used, in-cluster, the default path', async (t) => {
  const dir = temp(t);
  const kc = join(dir, 'kc');
  const write = (doc: unknown): void => writeFileSync(kc, JSON.stringify(doc));
  const base = {
    clusters: [{ name: 'c', cluster: { server: 'https://h:1' } }],
    users: [{ name: 'u', user: {} }],
    contexts: [{ name: 'c', context: { cluster: 'c', user: 'u' } }],
    'current-context': 'c',
  };
  write({ ...base, clusters: [{ cluster: {} }] });
  t.match(
    refusal(() => loadKubeConfig(kc, {})),
    /clusters\[0\] needs a name and a cluster/,
  );
  write({ ...base, users: [{ user: {} }] });
  t.match(
    refusal(() => loadKubeConfig(kc, {})),
    /users\[0\] needs a name/,
  );
  write({ ...base, contexts: [{ name: 'c' }] });
  t.match(
    refusal(() => loadKubeConfig(kc, {})),
    /contexts\[0\] needs a name and a context/,
  );
  write({ ...base, 'current-context': 'other' });
  t.match(
    refusal(() => loadKubeConfig(kc, {})),
    /no current context/,
  );
  write({ ...base, contexts: [{ name: 'c', context: { cluster: 'c', user: 'ghost' } }] });
  t.match(
    refusal(() => loadKubeConfig(kc, {})),
    /names user "ghost", which .* does not define/,
  );
  write({ ...base, contexts: [{ name: 'c', context: { cluster: 'c' } }] });
  t.equal(loadKubeConfig(kc, {}).getCurrentUser().name, '', 'a context without a user: anonymous');
  writeFileSync(kc, '- a list\n');
  t.match(
    refusal(() => loadKubeConfig(kc, {})),
    /no current context/,
    'not a mapping',
  );
  write({ ...base, users: [{ name: 'u', user: { 'auth-provider': 'x' } }] });
  t.match(
    refusal(() => loadKubeConfig(kc, {})),
    /auth-provider "unnamed"/,
  );
  write({
    ...base,
    users: [{ name: 'u', user: { exec: { command: 'p', args: ['a', 1], env: [{ name: 'K', value: 'v' }, 'x'] } } }],
  });
  t.same(loadKubeConfig(kc, {}).getCurrentUser().exec, {
    command: 'p',
    args: ['a', '1'],
    env: [{ name: 'K', value: 'v' }],
  });
  const inCluster = loadKubeConfig(undefined, { KUBERNETES_SERVICE_HOST: '::1', KUBERNETES_SERVICE_PORT: '443' });
  t.equal(inCluster.getCurrentCluster()?.server, 'https://[::1]:443', 'an IPv6 service host in brackets');
  t.match(inCluster.getCurrentUser().tokenFile, /serviceaccount\/token$/);
  t.equal(kubeconfigPath('', { HOME: dir }), undefined, 'no ~/.kube/config: in-cluster');
  mkdirSync(join(dir, '.kube'));
  writeFileSync(join(dir, '.kube', 'config'), '');
  t.equal(kubeconfigPath('', { HOME: dir }), join(dir, '.kube', 'config'));
});

t.test(
  'transport: unreachable, deadlines, bodies that are not JSON, cut streams, a watch retried after 401',
  async (t) => {
    const dir = temp(t);
    const token = join(dir, 'token');
    // Same inode, size and mtime before and after: only a 401 makes the file be read again.
    writeFileSync(token, 'a');
    utimesSync(token, 1_700_000_000, 1_700_000_000);
    let watches = 0;
    const { port, seen } = await serve(t, (req, res) => {
      const url = req.url ?? '';
      if (url.startsWith('/slow')) return;
      if (url.startsWith('/text')) return res.end('not json');
      if (url.startsWith('/cut')) {
        res.writeHead(200);
        res.write('{"type":"ADDED"}\n');
        return void setTimeout(() => req.socket.destroy(), 20);
      }
      if (url.startsWith('/badlist')) return res.end('{"items":[{"a":1}');
      if (url.startsWith('/post')) {
        let body = '';
        req.on('data', (c: Buffer) => (body += c.toString()));
        return req.on('end', () => res.end(JSON.stringify({ method: req.method, body: JSON.parse(body) as unknown })));
      }
      if (url.includes('watch=true')) {
        watches++;
        if (req.headers.authorization !== 'Bearer b') {
          res.writeHead(401);
          return res.end('{}');
        }
        res.writeHead(200);
        return res.end('{"type":"ADDED"}\n');
      }
      res.end('{}');
    });
    const tr = transportFor(t, port, { tokenFile: token }, 300);
    t.match(((await tr.getJson('/slow').catch((e: unknown) => e)) as Error).message, /no answer within 300ms/);
    t.match(((await tr.getJson('/text').catch((e: unknown) => e)) as Error).message, /response is not JSON/);
    t.same(await tr.postJson('/post', { a: 1 }), { method: 'POST', body: { a: 1 } }, 'POST carries its body');
    t.same(await tr.putJson('/post', { b: 2 }), { method: 'PUT', body: { b: 2 } }, 'PUT carries its body');
    const items: string[] = [];
    const bad = await tr
      .getList('/badlist', 1024, { item: (b) => items.push(b.toString()), oversize: () => undefined })
      .catch((e: unknown) => e);
    t.ok(bad instanceof ApiError, `a list that is not JSON fails: ${(bad as Error).message}`);
    const cut = await new Promise<ApiError | null>((resolve) => {
      tr.stream('/cut?watch=1', 10_000, () => undefined, resolve);
    });
    t.equal(cut?.kind, 'dropped', 'closed mid-stream: dropped');
    writeFileSync(token, 'b');
    utimesSync(token, 1_700_000_000, 1_700_000_000);
    const lines: string[] = [];
    const end = await new Promise<ApiError | null>((resolve) => {
      tr.stream('/w?watch=true', 10_000, (l) => lines.push(l), resolve);
    });
    t.equal(end, null, 'the retried watch ends cleanly');
    t.equal(watches, 2, 'a watch refused with 401 is retried once with the re-read token');
    t.same(lines, ['{"type":"ADDED"}']);
    const closed = transportFor(t, 1, {}, 300);
    const err = (await closed.getJson('/x').catch((e: unknown) => e)) as ApiError;
    t.equal(err.kind, 'unreachable', `nothing listening: unreachable (${err.message})`);
    t.ok(seen.length > 0);
  },
);
