// The fake API server, checked against the real kubectl and the real @kubernetes/client-node informers.
import t, { type Test } from 'tap';
import { request, type IncomingMessage } from 'node:http';
import { join } from 'node:path';
import {
  CoreV1Api,
  KubeConfig,
  ListWatch,
  Watch,
  makeInformer,
  type Informer,
  type KubernetesObject,
} from '@kubernetes/client-node';
import { FakeApiServer, type KubeObject } from '../../src/testkit/fakeapi/server.js';
import {
  matchFields,
  matchLabels,
  parseFieldSelector,
  parseLabelSelector,
} from '../../src/testkit/fakeapi/selectors.js';
import { applyJsonPatch, applyMergePatch, applyStrategicMergePatch } from '../../src/testkit/fakeapi/patch.js';
import { lineSplitter } from '../../src/platform/lines.js';
import { runChild, tempDir } from '../lib/spawn.js';
import { deadline as stretch } from '../lib/deadline.js';

// ---------------------------------------------------------------- helpers

async function until(what: string, cond: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + stretch(timeoutMs);
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function started(t: Test, opts: ConstructorParameters<typeof FakeApiServer>[0] = {}): Promise<FakeApiServer> {
  const api = new FakeApiServer(opts);
  await api.start();
  t.teardown(() => api.stop());
  return api;
}

interface Reply {
  status: number;
  // biome-ignore lint/suspicious/noExplicitAny: test assertions poke into arbitrary JSON
  body: any;
}

async function call(
  api: FakeApiServer,
  method: string,
  path: string,
  body?: unknown,
  contentType = 'application/json',
): Promise<Reply> {
  const res = await fetch(api.url + path, {
    method,
    headers: body === undefined ? {} : { 'Content-Type': contentType },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

interface WatchEvent {
  type: string;
  // biome-ignore lint/suspicious/noExplicitAny: as Reply.body
  object: any;
}

/** A raw watch: collects events until the server ends the stream. */
function watch(api: FakeApiServer, path: string) {
  const events: WatchEvent[] = [];
  let res: IncomingMessage | undefined;
  let ended = false;
  const split = lineSplitter();
  const req = request(api.url + path, { agent: false }, (r) => {
    res = r;
    r.setEncoding('utf8');
    r.on('data', (chunk: string) => {
      for (const line of split(chunk)) events.push(JSON.parse(line) as WatchEvent);
    });
    r.on('end', () => (ended = true));
    r.on('error', () => (ended = true));
  });
  req.on('error', () => (ended = true));
  req.end();
  return {
    events,
    get status() {
      return res?.statusCode;
    },
    get headers() {
      return res?.headers;
    },
    get ended() {
      return ended;
    },
    close: () => req.destroy(),
  };
}

const node = (name: string, extra: Partial<KubeObject> = {}): KubeObject => ({
  metadata: { name },
  spec: {},
  ...extra,
});
const svc = (namespace: string, name: string, labels: Record<string, string> = {}): KubeObject => ({
  metadata: { name, namespace, labels },
  spec: { type: 'ClusterIP', ports: [{ port: 80, protocol: 'TCP' }] },
});

// ---------------------------------------------------------------- pure functions

t.test('label selectors', async (t) => {
  const labels = { app: 'web', tier: 'front', 'example.com/zone': 'a', n: '7' };
  const cases: Array<[string, boolean]> = [
    ['', true],
    ['app=web', true],
    ['app==web', true],
    ['app!=web', false],
    ['missing!=x', true],
    ['app in (web, api)', true],
    ['app in (api)', false],
    ['app notin (api,db)', true],
    ['missing notin (a)', true],
    ['tier', true],
    ['!tier', false],
    ['!missing', true],
    ['example.com/zone=a,app=web', true],
    ['example.com/zone=a,app=api', false],
    ['n>5', true],
    ['n<5', false],
    ['  app = web ,  tier  ', true],
    ['app=', false],
  ];
  for (const [sel, want] of cases) t.equal(matchLabels(parseLabelSelector(sel), labels), want, sel);
  t.equal(matchLabels(parseLabelSelector('app'), undefined), false, 'no labels at all');
  for (const bad of ['app=(', 'in (a)', 'app in a', 'a b', 'app=web,', 'bad key!=x', 'x=has space', '-x=y']) {
    t.throws(() => parseLabelSelector(bad), { code: 400 }, `rejects ${JSON.stringify(bad)}`);
  }
});

t.test('field selectors', async (t) => {
  const obj = { metadata: { name: 'n1', namespace: 'shop' }, spec: { unschedulable: true } };
  const cases: Array<[string, boolean]> = [
    ['', true],
    ['metadata.name=n1', true],
    ['metadata.name==n1', true],
    ['metadata.name!=n1', false],
    ['metadata.name=n1,metadata.namespace=shop', true],
    ['metadata.namespace!=kube-system', true],
    ['spec.unschedulable=true', true],
    ['spec.missing=', true],
  ];
  for (const [sel, want] of cases) t.equal(matchFields(parseFieldSelector(sel), obj), want, sel);
  t.same(parseFieldSelector('a=x\\,y,b!=z'), [
    { field: 'a', operator: '=', value: 'x,y' },
    { field: 'b', operator: '!=', value: 'z' },
  ]);
  t.throws(() => parseFieldSelector('metadata.name'), { code: 400 });
  t.throws(() => parseFieldSelector('a=b\\q'), { code: 400 });
});

t.test('JSON merge patch (RFC 7386)', async (t) => {
  const doc = { a: 'b', c: { d: 'e', f: 'g' }, list: [1, 2] };
  const out = applyMergePatch(doc, { a: 'z', c: { f: null, h: 1 }, list: [3] });
  t.same(out, { a: 'z', c: { d: 'e', h: 1 }, list: [3] });
  t.same(doc, { a: 'b', c: { d: 'e', f: 'g' }, list: [1, 2] }, 'input untouched');
  t.same(applyMergePatch({ a: 1 }, { b: { c: null } }), { a: 1, b: {} });
  t.equal(applyMergePatch({ a: 1 }, 'x'), 'x');
});

t.test('JSON patch (RFC 6902)', async (t) => {
  const doc = { metadata: { name: 'x', labels: { 'a/b': '1' } }, spec: { taints: [{ key: 'k1' }, { key: 'k2' }] } };
  const out = applyJsonPatch(doc, [
    { op: 'add', path: '/metadata/annotations', value: { w: '1' } },
    { op: 'replace', path: '/metadata/labels/a~1b', value: '2' },
    { op: 'remove', path: '/spec/taints/0' },
    { op: 'add', path: '/spec/taints/-', value: { key: 'k3' } },
    { op: 'copy', from: '/metadata/name', path: '/spec/copied' },
    { op: 'move', from: '/spec/copied', path: '/spec/moved' },
    { op: 'test', path: '/spec/taints/1/key', value: 'k3' },
  ]);
  t.same(out, {
    metadata: { name: 'x', labels: { 'a/b': '2' }, annotations: { w: '1' } },
    spec: { taints: [{ key: 'k2' }, { key: 'k3' }], moved: 'x' },
  });
  t.throws(() => applyJsonPatch(doc, [{ op: 'test', path: '/metadata/name', value: 'y' }]), { code: 422 });
  t.throws(() => applyJsonPatch(doc, [{ op: 'remove', path: '/nope' }]), { code: 422 });
  t.throws(() => applyJsonPatch(doc, [{ op: 'bogus', path: '/' }]), { code: 400 });
});

t.test('strategic merge patch', async (t) => {
  const schema = { 'spec.ports': { mergeKey: 'port' }, 'metadata.finalizers': { primitives: true as const } };
  const doc = {
    metadata: { name: 's', finalizers: ['a'] },
    spec: {
      taints: [{ key: 'k1' }],
      ports: [
        { port: 80, name: 'http' },
        { port: 443, name: 'https' },
      ],
    },
  };
  t.same(
    applyStrategicMergePatch(doc, { spec: { taints: [{ key: 'k2' }] } }, schema),
    { ...doc, spec: { ...doc.spec, taints: [{ key: 'k2' }] } },
    'lists without a merge key are replaced',
  );
  t.same(applyStrategicMergePatch(doc, { spec: { taints: null } }, schema), {
    ...doc,
    spec: { ports: doc.spec.ports },
  });
  const ports = applyStrategicMergePatch(
    doc,
    { spec: { ports: [{ port: 80, name: 'web' }, { port: 443, $patch: 'delete' }, { port: 8080 }] } },
    schema,
  ) as typeof doc;
  t.same(ports.spec.ports, [{ port: 80, name: 'web' }, { port: 8080 }], 'merge by key, $patch: delete');
  const fin = applyStrategicMergePatch(
    doc,
    { metadata: { finalizers: ['b'], '$deleteFromPrimitiveList/finalizers': ['a'] } },
    schema,
  ) as typeof doc;
  t.same(fin.metadata.finalizers, ['b']);
  const order = applyStrategicMergePatch(
    doc,
    { spec: { '$setElementOrder/ports': [{ port: 443 }, { port: 80 }] } },
    schema,
  ) as typeof doc;
  t.same(
    order.spec.ports.map((p) => p.port),
    [443, 80],
  );
  t.same(applyStrategicMergePatch(doc, { spec: { $patch: 'replace', x: 1 } }, schema), {
    metadata: doc.metadata,
    spec: { x: 1 },
  });
});

// ---------------------------------------------------------------- store semantics

t.test('direct store access', async (t) => {
  const api = await started(t);
  const n = api.create('nodes', node('n1'));
  t.equal(n.apiVersion, 'v1');
  t.equal(n.kind, 'Node');
  t.match(n.metadata, { name: 'n1', resourceVersion: String, uid: String, creationTimestamp: /Z$/ });
  t.equal(n.metadata.resourceVersion, api.resourceVersion);
  t.throws(() => api.create('nodes', node('n1')), { code: 409, reason: 'AlreadyExists' });
  t.throws(() => api.create('services', { metadata: { name: 'no-ns' } }), { code: 400 });
  const s = api.create('services', svc('shop', 'web'));
  t.equal(s.kind, 'Service');
  t.equal(
    api.create('endpointslices', { metadata: { name: 'e', namespace: 'shop' }, addressType: 'IPv4', endpoints: [] })
      .apiVersion,
    'discovery.k8s.io/v1',
  );
  t.equal(
    api.create('events', { metadata: { name: 'ev', namespace: 'shop' }, reason: 'X' }).apiVersion,
    'events.k8s.io/v1',
  );

  const rv = api.resourceVersion;
  const same = api.patch('nodes', undefined, 'n1', { spec: {} });
  t.equal(same.metadata.resourceVersion, n.metadata.resourceVersion, 'a no-op patch keeps the resourceVersion');
  t.equal(api.resourceVersion, rv);
  const cordoned = api.patch('nodes', undefined, 'n1', { spec: { unschedulable: true } });
  t.same(cordoned.spec, { unschedulable: true });
  t.ok(Number(cordoned.metadata.resourceVersion) > Number(rv));
  t.throws(() => api.update('nodes', n), { code: 409, reason: 'Conflict' }, 'stale resourceVersion');
  const replaced = api.update('nodes', { ...cordoned, spec: {} });
  t.same(replaced.spec, {});
  t.equal(replaced.metadata.uid, n.metadata.uid, 'uid survives updates');
  const got = api.get('nodes', undefined, 'n1');
  if (got) got.metadata.name = 'mutated';
  t.equal(api.get('nodes', undefined, 'n1')?.metadata.name, 'n1', 'returned objects are copies');
  t.same(
    api.list('services', 'shop').map((o) => o.metadata.name),
    ['web'],
  );
  t.same(api.list('services', 'other'), []);
  api.delete('nodes', undefined, 'n1');
  t.equal(api.get('nodes', undefined, 'n1'), undefined);
  t.throws(() => api.delete('nodes', undefined, 'n1'), { code: 404 });
});

// ---------------------------------------------------------------- HTTP surface

t.test('discovery and errors over HTTP', async (t) => {
  const api = await started(t);
  t.match((await call(api, 'GET', '/version')).body, { gitVersion: /^v1\.32/ });
  t.match((await call(api, 'GET', '/api')).body, { kind: 'APIVersions', versions: ['v1'] });
  const groups = (await call(api, 'GET', '/apis')).body.groups.map((g: { name: string }) => g.name);
  t.same(groups.sort(), ['coordination.k8s.io', 'discovery.k8s.io', 'events.k8s.io']);
  const core = (await call(api, 'GET', '/api/v1')).body;
  t.match(
    core.resources.find((r: { name: string }) => r.name === 'nodes'),
    { namespaced: false, kind: 'Node', shortNames: ['no'] },
  );
  t.match(
    core.resources.find((r: { name: string }) => r.name === 'services'),
    { namespaced: true, shortNames: ['svc'], verbs: Array },
  );
  t.match((await call(api, 'GET', '/apis/discovery.k8s.io/v1')).body.resources[0], {
    name: 'endpointslices',
    kind: 'EndpointSlice',
  });
  t.match((await call(api, 'GET', '/api/v1/namespaces/anything')).body, {
    kind: 'Namespace',
    status: { phase: 'Active' },
  });
  t.equal((await call(api, 'GET', '/openapi/v2')).status, 404);

  const missing = await call(api, 'GET', '/api/v1/namespaces/shop/services/nope');
  t.match(missing, {
    status: 404,
    body: { kind: 'Status', code: 404, reason: 'NotFound', message: 'services "nope" not found' },
  });
  t.equal((await call(api, 'POST', '/api/v1/namespaces/shop/services', svc('shop', 'web'))).status, 201);
  t.match(await call(api, 'POST', '/api/v1/namespaces/shop/services', svc('shop', 'web')), {
    status: 409,
    body: { reason: 'AlreadyExists' },
  });
  t.match(await call(api, 'POST', '/api/v1/namespaces/other/services', svc('shop', 'x')), { status: 400 });
  const cur = api.get('services', 'shop', 'web')!;
  const stale = { ...cur, metadata: { ...cur.metadata, resourceVersion: '1' } };
  t.match(await call(api, 'PUT', '/api/v1/namespaces/shop/services/web', stale), {
    status: 409,
    body: { reason: 'Conflict' },
  });
  t.equal(
    (await call(api, 'PUT', '/api/v1/namespaces/shop/services/web', { ...cur, spec: { type: 'NodePort' } })).status,
    200,
  );
  t.match(
    await call(
      api,
      'PATCH',
      '/api/v1/namespaces/shop/services/web',
      [{ op: 'add', path: '/metadata/labels', value: { a: 'b' } }],
      'application/json-patch+json',
    ),
    {
      status: 200,
      body: { metadata: { labels: { a: 'b' } } },
    },
  );
  t.match(
    await call(
      api,
      'PATCH',
      '/api/v1/namespaces/shop/services/web',
      { metadata: { resourceVersion: '1', labels: { a: 'c' } } },
      'application/merge-patch+json',
    ),
    {
      status: 409,
    },
    'a patch that sets resourceVersion is a precondition',
  );
  t.equal(
    (await call(api, 'PATCH', '/api/v1/namespaces/shop/services/web', {}, 'application/apply-patch+yaml')).status,
    415,
  );
  t.match(await call(api, 'GET', '/api/v1/services?fieldSelector=spec.bogus%3Dx'), {
    status: 400,
    body: { message: /field label not supported/ },
  });
  t.match(await call(api, 'GET', '/api/v1/services?labelSelector=a%20in'), { status: 400 });
  t.match(await call(api, 'DELETE', '/api/v1/namespaces/shop/services/web'), {
    status: 200,
    body: { kind: 'Service' },
  });
  api.create('nodes', node('n1'));
  t.match(await call(api, 'DELETE', '/api/v1/nodes/n1'), { status: 200, body: { kind: 'Status', status: 'Success' } });
  t.equal((await call(api, 'GET', '/api/v1/services/web')).status, 404, 'a namespaced object needs its namespace');
});

t.test('list: selectors, pagination, continue after compaction', async (t) => {
  const api = await started(t);
  for (let i = 0; i < 5; i++)
    api.create('services', svc(i % 2 ? 'a' : 'b', `s${i}`, { i: String(i), odd: String(i % 2 === 1) }));
  const all = (await call(api, 'GET', '/api/v1/services')).body;
  t.match(all, { kind: 'ServiceList', apiVersion: 'v1', metadata: { resourceVersion: api.resourceVersion } });
  t.same(
    all.items.map((s: KubeObject) => `${s.metadata.namespace}/${s.metadata.name}`),
    ['a/s1', 'a/s3', 'b/s0', 'b/s2', 'b/s4'],
  );
  t.equal(all.items[0].kind, 'Service', 'items carry kind');
  t.equal((await call(api, 'GET', '/api/v1/namespaces/a/services')).body.items.length, 2);
  t.equal((await call(api, 'GET', '/api/v1/services?labelSelector=odd%3Dtrue,i!%3D1')).body.items.length, 1);
  t.equal(
    (await call(api, 'GET', '/api/v1/services?fieldSelector=metadata.namespace%3Db,metadata.name!%3Ds0')).body.items
      .length,
    2,
  );

  const p1 = (await call(api, 'GET', '/api/v1/services?limit=2')).body;
  t.equal(p1.items.length, 2);
  t.equal(p1.metadata.remainingItemCount, 3);
  const p2 = (await call(api, 'GET', `/api/v1/services?limit=2&continue=${p1.metadata.continue}`)).body;
  t.same(
    p2.items.map((s: KubeObject) => s.metadata.name),
    ['s0', 's2'],
  );
  t.equal(p2.metadata.resourceVersion, p1.metadata.resourceVersion, 'later pages report the snapshot RV');
  api.compact();
  t.match(await call(api, 'GET', `/api/v1/services?limit=2&continue=${p2.metadata.continue}`), {
    status: 410,
    body: { code: 410, reason: 'Expired' },
  });
});

t.test('watch: initial state, replay, selectors, timeout, bookmarks, 410', async (t) => {
  const api = await started(t, { bookmarkIntervalMs: 50 });
  api.create('nodes', node('n1', { metadata: { name: 'n1', labels: { pool: 'edge' } } }));
  const rv0 = api.resourceVersion;
  api.create('nodes', node('n2'));

  const fromNow = watch(api, '/api/v1/nodes?watch=1');
  const edge = watch(api, `/api/v1/nodes?watch=true&labelSelector=pool%3Dedge&resourceVersion=${rv0}`);
  const replay = watch(api, `/api/v1/nodes?watch=true&resourceVersion=${rv0}`);
  await until('watches open', () => api.watchCount() === 3);
  t.equal(fromNow.headers?.['content-type'], 'application/json');
  t.equal(fromNow.headers?.['transfer-encoding'], 'chunked');
  await until('initial ADDED', () => fromNow.events.length === 2);
  t.same(
    fromNow.events.map((e) => `${e.type} ${e.object.metadata.name}`),
    ['ADDED n1', 'ADDED n2'],
  );
  await until('replay', () => replay.events.length === 1);
  t.same(
    replay.events.map((e) => `${e.type} ${e.object.metadata.name}`),
    ['ADDED n2'],
    'only events after the RV',
  );

  api.patch('nodes', undefined, 'n1', { metadata: { labels: { pool: null } } }); // leaves the selector
  api.patch('nodes', undefined, 'n2', { metadata: { labels: { pool: 'edge' } } }); // enters it
  api.patch('nodes', undefined, 'n2', { spec: { unschedulable: true } });
  api.delete('nodes', undefined, 'n2');
  await until('selector events', () => edge.events.length === 4);
  t.same(
    edge.events.map((e) => `${e.type} ${e.object.metadata.name}`),
    ['DELETED n1', 'ADDED n2', 'MODIFIED n2', 'DELETED n2'],
  );
  await until('all events', () => fromNow.events.length === 6);
  t.same(
    fromNow.events.slice(2).map((e) => e.type),
    ['MODIFIED', 'MODIFIED', 'MODIFIED', 'DELETED'],
  );
  t.equal(fromNow.events[5]?.object.metadata.resourceVersion, api.resourceVersion, 'DELETED carries the deletion RV');

  const bm = watch(api, `/api/v1/nodes?watch=true&allowWatchBookmarks=true&resourceVersion=${api.resourceVersion}`);
  await until('bookmark', () => bm.events.some((e) => e.type === 'BOOKMARK'));
  t.match(bm.events[0], {
    type: 'BOOKMARK',
    object: { kind: 'Node', metadata: { resourceVersion: api.resourceVersion } },
  });
  t.notOk(
    fromNow.events.some((e) => e.type === 'BOOKMARK'),
    'no bookmarks unless asked',
  );

  const timed = watch(api, '/api/v1/nodes?watch=true&timeoutSeconds=1');
  const t0 = Date.now();
  await until('timeoutSeconds ends the stream', () => timed.ended);
  t.ok(Date.now() - t0 >= 900, 'not before timeoutSeconds');

  api.compact();
  const gone = watch(api, `/api/v1/nodes?watch=true&resourceVersion=${rv0}`);
  await until('410 and end', () => gone.ended);
  t.equal(gone.status, 200, 'the apiserver reports expiry inside the stream');
  t.match(gone.events, [{ type: 'ERROR', object: { kind: 'Status', code: 410, reason: 'Expired' } }]);
  t.equal(fromNow.ended, false, 'compaction leaves open watches alone');

  api.dropWatches();
  await until('dropWatches ends streams', () => fromNow.ended && edge.ended && replay.ended && bm.ended);
  t.equal(api.watchCount(), 0);
});

t.test('faults', async (t) => {
  const api = await started(t);
  api.create('nodes', node('n1'));

  api.faults.failRequests = 2;
  t.match(await call(api, 'GET', '/api/v1/nodes'), {
    status: 503,
    body: { kind: 'Status', code: 503, reason: 'ServiceUnavailable' },
  });
  api.faults.failStatus = 500;
  t.match(await call(api, 'GET', '/api/v1/nodes/n1'), { status: 500, body: { reason: 'InternalError' } });
  t.equal((await call(api, 'GET', '/api/v1/nodes')).status, 200, 'only N requests fail');
  api.faults.failRequests = 1;
  const w = watch(api, '/api/v1/nodes?watch=true');
  await until('watch unaffected by failRequests', () => w.events.length === 1);
  t.equal(api.faults.failRequests, 1);
  api.faults.failRequests = 0;
  t.match(api.requestLog.at(-1), { method: 'GET', path: '/api/v1/nodes', query: 'watch=true', status: 200 });
  t.match(api.requestLog.at(-3), { path: '/api/v1/nodes/n1', status: 500 });

  api.faults.hangWatches = true;
  const hung = watch(api, '/api/v1/nodes?watch=true&timeoutSeconds=1');
  await until('hung watch has headers', () => hung.status === 200);
  api.patch('nodes', undefined, 'n1', { spec: { unschedulable: true } });
  await new Promise((r) => setTimeout(r, 1200));
  t.same(hung.events, [], 'a hung watch sends nothing, not even its timeout');
  t.equal(hung.ended, false);
  api.faults.hangWatches = false;

  api.faults.watchGone = true;
  const gone = watch(api, '/api/v1/nodes?watch=true');
  await until('watchGone', () => gone.ended);
  t.match(gone.events, [{ type: 'ERROR', object: { code: 410 } }]);
  api.faults.watchGone = false;

  // A list is held back at least listDelayMs (a lower bound: load only adds to it); a get of one
  // object started after it is not held: it is answered first. Order, not a stopwatch.
  api.faults.listDelayMs = 1000;
  const order: string[] = [];
  const t0 = Date.now();
  const list = call(api, 'GET', '/api/v1/nodes').then(() => order.push('list'));
  await call(api, 'GET', '/api/v1/nodes/n1').then(() => order.push('get'));
  await list;
  t.same(order, ['get', 'list'], 'get not delayed behind the list');
  t.ok(Date.now() - t0 >= 950, 'list delayed');
  api.faults.listDelayMs = 0;

  api.dropWatches();
  await until('hung watch dropped', () => hung.ended);
});

t.test('resetHistory: RV jumps, old RVs get 410', async (t) => {
  const api = await started(t);
  api.create('nodes', node('n1'));
  const old = api.resourceVersion;
  api.resetHistory(5);
  t.equal(api.resourceVersion, '5');
  t.equal(api.get('nodes', undefined, 'n1')?.metadata.resourceVersion, '5');
  const w = watch(api, `/api/v1/nodes?watch=true&resourceVersion=${old}`);
  await until('410', () => w.ended);
  t.match(w.events, [{ type: 'ERROR', object: { code: 410 } }]);
  api.resetHistory();
  t.equal(api.resourceVersion, '1005');
});

t.test('history is trimmed past historyLimit', async (t) => {
  const api = await started(t, { historyLimit: 4 });
  api.create('nodes', node('n1'));
  const early = api.resourceVersion;
  for (let i = 0; i < 5; i++) api.patch('nodes', undefined, 'n1', { metadata: { labels: { i: String(i) } } });
  const recent = String(Number(api.resourceVersion) - 1);
  const old = watch(api, `/api/v1/nodes?watch=true&resourceVersion=${early}`);
  const ok = watch(api, `/api/v1/nodes?watch=true&resourceVersion=${recent}`);
  await until('410 for the trimmed RV', () => old.ended);
  t.match(old.events, [{ type: 'ERROR', object: { code: 410 } }]);
  await until('recent RV replays', () => ok.events.length === 1);
  t.match(ok.events, [{ type: 'MODIFIED', object: { metadata: { labels: { i: '4' } } } }]);
  ok.close();
});

t.test('stop() destroys connections; start() reuses the port and keeps the store', async (t) => {
  const api = await started(t);
  api.create('nodes', node('n1'));
  const port = api.port;
  api.faults.listDelayMs = 5000;
  const pendingList = fetch(`${api.url}/api/v1/nodes`).then(
    () => 'answered',
    () => 'failed',
  );
  const w = watch(api, '/api/v1/nodes?watch=true');
  await until('watch open', () => api.watchCount() === 1);
  await new Promise((r) => setTimeout(r, 100)); // let the list request arrive
  await api.stop();
  api.faults.listDelayMs = 0;
  await until('watch torn down', () => w.ended);
  t.equal(await pendingList, 'failed', 'in-flight requests are cut off');
  t.equal(api.watchCount(), 0);
  await api.start();
  t.equal(api.port, port);
  t.equal(api.get('nodes', undefined, 'n1')?.metadata.name, 'n1');
  t.equal((await call(api, 'GET', '/api/v1/nodes')).body.items.length, 1);
});

t.test('performance: LIST 10,000 Services and 20,000 EndpointSlices', async (t) => {
  const api = await started(t);
  for (let i = 0; i < 10_000; i++) api.create('services', svc(`ns${i % 50}`, `svc-${i}`, { app: `a${i}` }));
  for (let i = 0; i < 20_000; i++) {
    api.create('endpointslices', {
      metadata: {
        name: `svc-${i >> 1}-${i & 1}`,
        namespace: `ns${(i >> 1) % 50}`,
        labels: { 'kubernetes.io/service-name': `svc-${i >> 1}` },
      },
      addressType: 'IPv4',
      endpoints: [
        { addresses: [`10.0.${(i >> 8) & 255}.${i & 255}`], conditions: { ready: true }, nodeName: `node-${i % 100}` },
      ],
      ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
    });
  }
  // How fast is the bench's business (`npm run bench`, "scale": initial sync at 10,000 Services and
  // 20,000 EndpointSlices); here only that it works, with the time as a comment.
  const t0 = performance.now();
  const [s, e] = await Promise.all([
    call(api, 'GET', '/api/v1/services'),
    call(api, 'GET', '/apis/discovery.k8s.io/v1/endpointslices'),
  ]);
  t.comment(`both lists took ${(performance.now() - t0).toFixed(0)} ms`);
  t.equal(s.body.items.length, 10_000);
  t.equal(e.body.items.length, 20_000);

  const w = watch(api, `/api/v1/services?watch=true&resourceVersion=${api.resourceVersion}`);
  await until('watch open', () => api.watchCount() === 1);
  const t1 = performance.now();
  for (let i = 0; i < 1000; i++)
    api.patch('services', `ns${i % 50}`, `svc-${i}`, { metadata: { annotations: { n: String(i) } } });
  await until('1000 watch events', () => w.events.length === 1000, 30_000);
  t.comment(`1000 changes delivered to a watch in ${(performance.now() - t1).toFixed(0)} ms`);
  t.same(
    w.events.map((ev) => ev.object.metadata.annotations.n),
    Array.from({ length: 1000 }, (_, i) => String(i)),
    'every change, in order',
  );
});

// ---------------------------------------------------------------- real kubectl

t.test('kubectl', async (t) => {
  const api = await started(t);
  const dir = tempDir(t, 'hna-fakeapi-kubectl-');
  const kubeconfig = join(dir, 'kubeconfig');
  api.writeKubeconfig(kubeconfig, { namespace: 'shop' });
  const kubectl = async (...args: string[]): Promise<string> => {
    const r = await runChild('kubectl', ['--kubeconfig', kubeconfig, '--cache-dir', join(dir, 'cache'), ...args], {
      env: { ...process.env, HOME: dir, KUBECONFIG: '' },
    });
    if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')}: exit ${r.code}: ${r.stderr}`);
    return r.stdout;
  };
  api.create('nodes', node('n1', { status: { conditions: [{ type: 'Ready', status: 'True' }] } }));
  api.create('nodes', node('n2', { spec: { taints: [{ key: 'a', value: 'b', effect: 'NoExecute' }] } }));
  api.create('services', svc('shop', 'web'));

  t.match(await kubectl('get', 'nodes'), /^NAME\s.*\nn1\s.*\nn2\s/s);
  t.match(await kubectl('get', 'svc'), /\nweb\s/, 'namespace from the kubeconfig context');
  api.create('endpointslices', { metadata: { name: 'web-x1', namespace: 'shop' }, addressType: 'IPv4', endpoints: [] });
  t.match(await kubectl('get', 'endpointslices', '-A'), /\nshop\s+web-x1\s/);

  await kubectl('cordon', 'n1');
  t.same(api.get('nodes', undefined, 'n1')?.spec, { unschedulable: true });
  await kubectl('uncordon', 'n1');
  t.same(api.get('nodes', undefined, 'n1')?.spec, {});

  await kubectl('annotate', 'svc', '-n', 'shop', 'web', 'haproxy-node-agent.io/weight=25', '--overwrite');
  t.same(api.get('services', 'shop', 'web')?.metadata.annotations, { 'haproxy-node-agent.io/weight': '25' });
  await kubectl('annotate', 'svc', '-n', 'shop', 'web', 'haproxy-node-agent.io/weight-');
  t.same(api.get('services', 'shop', 'web')?.metadata.annotations ?? {}, {});

  await kubectl('label', 'node', 'n1', 'pool=edge');
  t.same(api.get('nodes', undefined, 'n1')?.metadata.labels, { pool: 'edge' });
  await kubectl('annotate', 'node', 'n1', 'note=hi');
  t.same(api.get('nodes', undefined, 'n1')?.metadata.annotations, { note: 'hi' });

  await kubectl('taint', 'node', 'n1', 'k=v:NoSchedule');
  t.same(api.get('nodes', undefined, 'n1')?.spec, { taints: [{ effect: 'NoSchedule', key: 'k', value: 'v' }] });
  await kubectl('taint', 'node', 'n1', 'k:NoSchedule-');
  t.same(api.get('nodes', undefined, 'n1')?.spec, {}, 'the last taint removed: spec.taints is null');
  await kubectl('taint', 'node', 'n2', 'k=v:NoSchedule');
  t.equal((api.get('nodes', undefined, 'n2')?.spec as { taints: unknown[] } | undefined)?.taints.length, 2);
  await kubectl('taint', 'node', 'n2', 'k:NoSchedule-');
  t.same(api.get('nodes', undefined, 'n2')?.spec, { taints: [{ effect: 'NoExecute', key: 'a', value: 'b' }] });

  const patches = api.requestLog.filter((r) => r.method === 'PATCH');
  t.ok(patches.length === 10 && patches.every((r) => r.status === 200), 'every change was one PATCH');
  t.match(await kubectl('get', 'node', 'n1', '-o', 'jsonpath={.metadata.labels.pool}'), 'edge');
  await kubectl('delete', 'svc', 'web');
  t.equal(api.get('services', 'shop', 'web'), undefined);
});

// ---------------------------------------------------------------- real client-node informers

t.test('client-node informers', async (t) => {
  const api = await started(t);
  const dir = tempDir(t, 'hna-fakeapi-informer-');
  const kubeconfig = join(dir, 'kubeconfig');
  api.writeKubeconfig(kubeconfig);
  api.create('nodes', node('n1'));
  api.create('nodes', node('n2'));
  api.create('services', svc('shop', 'web'));

  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  const core = kc.makeApiClient(CoreV1Api);

  // makeInformer() in 1.4.0 takes no field selector; ListWatch does, and passes it to the watch.
  const nodes = new ListWatch(
    '/api/v1/nodes',
    new Watch(kc),
    () => core.listNode({ fieldSelector: 'metadata.name=n1' }),
    false,
    undefined,
    'metadata.name=n1',
  );
  const services = makeInformer(kc, '/api/v1/services', () => core.listServiceForAllNamespaces());
  const log: string[] = [];
  const record = (inf: Informer<KubernetesObject>, tag: string) => {
    inf.on('add', (o: KubernetesObject) => log.push(`${tag} add ${o.metadata?.name}`));
    inf.on('update', (o: KubernetesObject) => log.push(`${tag} update ${o.metadata?.name}`));
    inf.on('delete', (o: KubernetesObject) => log.push(`${tag} delete ${o.metadata?.name}`));
    inf.on('connect', () => log.push(`${tag} connect`));
    inf.on('error', (err: unknown) => log.push(`${tag} error ${(err as Error)?.message ?? String(err)}`));
  };
  record(nodes, 'nodes');
  record(services, 'svc');
  t.teardown(async () => {
    await nodes.stop();
    await services.stop();
  });

  await nodes.start();
  await services.start();
  await until('informers watching', () => api.watchCount() === 2);
  t.same(log.splice(0), ['nodes connect', 'nodes add n1', 'svc connect', 'svc add web']);

  api.patch('nodes', undefined, 'n1', { spec: { unschedulable: true } });
  api.patch('nodes', undefined, 'n2', { spec: { unschedulable: true } });
  api.patch('services', 'shop', 'web', { metadata: { annotations: { 'haproxy-node-agent.io/weight': '25' } } });
  await until('updates', () => log.length === 2);
  t.same(log.splice(0).sort(), ['nodes update n1', 'svc update web'], 'the field selector reaches the watch');
  t.equal((nodes.get('n1') as { spec?: { unschedulable?: boolean } }).spec?.unschedulable, true);

  // Compaction + a server-side close: the informer re-watches from its RV, gets the 410 ERROR, relists.
  api.compact();
  api.dropWatches();
  await until(
    'relisted and watching',
    () => api.watchCount() === 2 && log.filter((l) => l.endsWith('connect')).length === 4,
  );
  t.same(
    log.splice(0).sort(),
    ['nodes connect', 'nodes connect', 'svc connect', 'svc connect'],
    'connect on re-watch, connect again on relist; no add/update',
  );
  const lists = api.requestLog.filter((r) => r.method === 'GET' && !r.query.includes('watch='));
  t.equal(lists.length, 4, 'one initial list and one relist per informer');
  api.create('services', svc('shop', 'api'));
  await until('still watching', () => log.includes('svc add api'));
  log.splice(0);

  // A crashed apiserver: the informer reports 'error' and does not restart by itself.
  await api.stop();
  await until('errors', () => log.length >= 2);
  await new Promise((r) => setTimeout(r, 200));
  const errors = log.splice(0);
  t.ok(
    errors.every((l) => / error /.test(l)),
    `only error events: ${JSON.stringify(errors)}`,
  );
  t.same(errors.map((l) => l.split(' ')[0]).sort(), ['nodes', 'svc']);
  t.comment(`on stop(): ${JSON.stringify(errors)}`);

  api.patch('services', 'shop', 'web', { metadata: { annotations: { 'haproxy-node-agent.io/weight': '50' } } });
  await api.start();
  await nodes.start();
  await services.start();
  await until('resumed', () => api.watchCount() === 2 && log.includes('svc update web'));
  t.same(
    log.splice(0).sort(),
    ['nodes connect', 'svc connect', 'svc update web'],
    'resumes from its resourceVersion, no relist',
  );
});
