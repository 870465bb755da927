// Issue 22 item 2, the red team's reproduction: `render` handed a victim's host to another tenant.
// (1) a 2024 Service annotated today took shop.example.com from the Service that had served it,
// because a claim's age was the Service's creationTimestamp; (2) namespace shop of cluster b
// (another team) joined cluster a's backend, and took the host outright when its Service was older.
// Two wire-level fake API servers are the two clusters, real kubectl annotates, the built CLI renders.
import t, { type Test } from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FakeApiServer, type KubeObject } from '../../src/testkit/fakeapi/server.js';
import { kubectl } from '../lib/agent-process.js';
import { render, serversOf } from '../lib/render-check.js';
import { tempDir } from '../lib/spawn.js';

t.setTimeout(600_000);

const P = 'haproxy-node-agent.io';
const CLAIMS = { namespace: 'haproxy-node-agent', name: 'haproxy-node-agent-edge-claims' };

function node(name: string, address: string): KubeObject {
  return {
    metadata: { name },
    spec: {},
    status: { conditions: [{ type: 'Ready', status: 'True' }], addresses: [{ type: 'InternalIP', address }] },
  };
}

function service(ns: string, name: string, nodePort: number, created: string, ann: Record<string, string> = {}) {
  return {
    metadata: {
      namespace: ns,
      name,
      creationTimestamp: created,
      annotations: Object.fromEntries(Object.entries(ann).map(([k, v]) => [`${P}/${k}`, v])),
    },
    spec: { type: 'NodePort', ports: [{ port: 80, nodePort }] },
  };
}

/** Clusters a and b, one kubeconfig with a context each (a first: the claims record lives there). */
async function twoClusters(t: Test): Promise<{ a: FakeApiServer; b: FakeApiServer; kubeconfig: string }> {
  const apis: FakeApiServer[] = [];
  for (const name of ['a', 'b']) {
    const api = new FakeApiServer();
    await api.start();
    t.teardown(() => api.stop());
    api.create('nodes', node(`${name}-n1`, name === 'a' ? '10.0.1.1' : '10.0.2.1'));
    apis.push(api);
  }
  const [a, b] = apis as [FakeApiServer, FakeApiServer];
  const kubeconfig = join(tempDir(t, 'hna-render-claims-'), 'kubeconfig');
  const contexts = { a, b };
  writeFileSync(
    kubeconfig,
    [
      'apiVersion: v1',
      'kind: Config',
      'clusters:',
      ...Object.entries(contexts).flatMap(([n, api]) => [
        `- name: ${n}`,
        '  cluster:',
        `    server: ${JSON.stringify(api.url)}`,
        '    insecure-skip-tls-verify: true',
      ]),
      'users:',
      '- name: u',
      '  user: {token: t}',
      'contexts:',
      ...Object.keys(contexts).flatMap((n) => [`- name: ${n}`, '  context:', `    cluster: ${n}`, '    user: u']),
      'current-context: a',
      '',
    ].join('\n'),
  );
  return { a, b, kubeconfig };
}

t.test(
  'an old Service annotated later, or namespace shop of another cluster, cannot take a recorded host',
  async (t) => {
    const { a, b, kubeconfig } = await twoClusters(t);
    const dir = tempDir(t, 'hna-render-claims-');
    // Cluster a: shop/web has served shop.example.com since September; evil/old is from 2024, unannotated.
    a.create(
      'services',
      service('shop', 'web', 30080, '2025-09-01T00:00:00Z', { expose: 'true', host: 'shop.example.com' }),
    );
    a.create('services', service('evil', 'old', 30666, '2024-01-01T00:00:00Z'));
    // Cluster b, another team: its namespace is called shop too, and its Service is older still.
    b.create('services', service('shop', 'old', 31666, '2024-01-01T00:00:00Z'));

    // What a writer (sync, or render --record-claims) recorded when shop/web first claimed the host;
    // written here with kubectl, as an operator who resolves a contested host would.
    const claims = JSON.stringify({
      version: 1,
      hosts: { 'shop.example.com': { owner: 'a/shop', service: 'a/shop/web', uid: '', since: '2025-09-01T00:00:05Z' } },
    });
    const file = join(dir, 'claims-configmap.json');
    writeFileSync(
      file,
      JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: CLAIMS, data: { 'claims.json': claims } }),
    );
    await kubectl(kubeconfig, '--context', 'a', 'create', '--validate=false', '-f', file);

    const ctx = ['--kubeconfig', kubeconfig, '--context', 'a,b'];
    const before = await render(ctx);
    t.equal(before.code, 0, before.stderr);
    t.equal(serversOf(before.stdout, 'shop.example.com').length, 1, 'shop/web serves its host');

    // The attack: annotate the old Services.
    const take = [`${P}/expose=true`, `${P}/host=shop.example.com`];
    await kubectl(kubeconfig, '--context', 'a', '-n', 'evil', 'annotate', 'service', 'old', ...take);
    await kubectl(kubeconfig, '--context', 'b', '-n', 'shop', 'annotate', 'service', 'old', ...take);
    const logged = a.requestLog.length;
    const r = await render(ctx);
    t.equal(r.code, 0, r.stderr);
    const shop = serversOf(r.stdout, 'shop.example.com');
    t.same(
      shop.map((l) => /agent-send "([^"\\]*)/.exec(l)?.[1]),
      ['shop/web'],
      'only shop/web of cluster a serves shop.example.com',
    );
    t.notMatch(r.stdout, /evil|31666|10\.0\.2\.1/, 'neither the old evil Service nor cluster b anywhere');
    t.match(r.stdout, /use_backend shop\.example\.com if /, 'the host still routes to its backend');
    t.match(
      r.stderr,
      'warning: service a/evil/old: host shop.example.com belongs to a/shop (service a/shop/web; ' +
        'claim recorded 2025-09-01T00:00:05Z), which does not share it with a/evil',
      'the warning names both Services with their clusters, and the recorded date',
    );
    t.match(
      r.stderr,
      /warning: service b\/shop\/old: host shop\.example\.com belongs to a\/shop .*does not share it with b\/shop/,
      "cluster b's shop is another owner",
    );
    t.notMatch(r.stderr, /claimed it first/);
    t.same(
      a.requestLog.slice(logged).filter((e) => e.method !== 'GET'),
      [],
      'render without --record-claims writes nothing',
    );

    // Sharing across clusters is explicit: CLUSTER/NAMESPACE.
    await kubectl(kubeconfig, '--context', 'a', '-n', 'shop', 'annotate', 'service', 'web', `${P}/share-with=shop`);
    const bare = await render(ctx);
    t.notMatch(bare.stdout, /10\.0\.2\.1/, 'a bare "shop" is cluster a\'s own namespace, not b\'s');
    await kubectl(
      kubeconfig,
      '--context',
      'a',
      '-n',
      'shop',
      'annotate',
      '--overwrite',
      'service',
      'web',
      `${P}/share-with=b/shop`,
    );
    const shared = await render(ctx);
    t.equal(shared.code, 0, shared.stderr);
    t.match(serversOf(shared.stdout, 'shop.example.com').join('\n'), /10\.0\.2\.1:31666/, 'b/shop joins when named');
    t.notMatch(shared.stdout, /evil/, 'evil stays out');
  },
);

t.test('render --record-claims records an uncontested host in the first cluster; then it holds', async (t) => {
  const { a, b, kubeconfig } = await twoClusters(t);
  a.create(
    'services',
    service('shop', 'web', 30080, '2025-09-01T00:00:00Z', { expose: 'true', host: 'shop.example.com' }),
  );
  a.create('services', service('evil', 'old', 30666, '2024-01-01T00:00:00Z'));
  const ctx = ['--kubeconfig', kubeconfig, '--context', 'a,b'];
  const first = await render([...ctx, '--record-claims']);
  t.equal(first.code, 0, first.stderr);
  t.match(first.stderr, `render: claims record ConfigMap ${CLAIMS.namespace}/${CLAIMS.name}: created (1 claims)`);
  const cm = a.get('configmaps', CLAIMS.namespace, CLAIMS.name);
  const doc = JSON.parse(((cm?.data ?? {}) as Record<string, string>)['claims.json'] ?? '{}');
  t.match(doc.hosts['shop.example.com'], { owner: 'a/shop', service: 'a/shop/web' });
  t.equal(b.get('configmaps', CLAIMS.namespace, CLAIMS.name), undefined, 'nothing in cluster b');
  const again = await render([...ctx, '--record-claims']);
  t.match(again.stderr, 'claims record ConfigMap haproxy-node-agent/haproxy-node-agent-edge-claims: unchanged');
  t.equal(a.get('configmaps', CLAIMS.namespace, CLAIMS.name)?.metadata.resourceVersion, cm?.metadata.resourceVersion);

  await kubectl(
    kubeconfig,
    '--context',
    'a',
    '-n',
    'evil',
    'annotate',
    'service',
    'old',
    `${P}/expose=true`,
    `${P}/host=shop.example.com`,
  );
  const r = await render([...ctx, '--record-claims']);
  t.equal(r.code, 0, r.stderr);
  t.notMatch(r.stdout, /evil/, 'the recorded owner keeps its host');
});

t.test('without a record, a host two owners claim serves neither: nobody can tell who was first', async (t) => {
  const { a, kubeconfig } = await twoClusters(t);
  a.create(
    'services',
    service('shop', 'web', 30080, '2025-09-01T00:00:00Z', { expose: 'true', host: 'shop.example.com' }),
  );
  a.create(
    'services',
    service('evil', 'old', 30666, '2024-01-01T00:00:00Z', { expose: 'true', host: 'shop.example.com' }),
  );
  const r = await render(['--kubeconfig', kubeconfig, '--context', 'a,b']);
  t.equal(r.code, 0, r.stderr);
  t.notMatch(r.stdout, /evil/, 'the older Service does not win by age');
  t.equal(serversOf(r.stdout, 'shop.example.com').length, 0);
  for (const who of ['a/shop/web', 'a/evil/old'])
    t.match(r.stderr, `warning: service ${who}: host shop.example.com is claimed by a/evil, a/shop and the claims`);
  const refused = await render(['--kubeconfig', kubeconfig, '--context', 'a,b', '--record-claims']);
  t.equal(a.get('configmaps', CLAIMS.namespace, CLAIMS.name), undefined, 'a contested host is not recorded');
  t.equal(refused.code, 0, refused.stderr);
});
