// The removal guard render --out and sync share (src/edge/removal-guard.ts), and what it reads a
// configuration with (src/edge/config-text.ts: serverCounts, structureOf), on the default
// template's own output.
import t from 'tap';
import { judgeRemoval } from '../../src/edge/removal-guard.js';
import { serverCounts, serverLines, structureOf } from '../../src/edge/config-text.js';
import { buildModel, type ClusterSnapshot } from '../../src/edge/model.js';
import { renderHaproxy } from '../../src/edge/output.js';

const counts = (o: Record<string, number>) => new Map(Object.entries(o));

t.test('judgeRemoval: an emptied backend is held whatever the share', async (t) => {
  const v = judgeRemoval(counts({ a: 1, b: 9 }), counts({ a: 0, b: 9 }), 0.99);
  t.same(v, {
    held: true,
    lost: 1,
    before: 10,
    emptied: ['a'],
    reason: 'it would leave 1 backend(s) without a server (a)',
  });
  const many = judgeRemoval(
    counts(Object.fromEntries(['f', 'e', 'd', 'c', 'b', 'a'].map((b) => [b, 1]).concat([['z', 100]]))),
    counts({ a: 0, b: 0, c: 0, d: 0, e: 0, f: 0, z: 100 }),
    0.5,
  );
  t.equal(many.reason, 'it would leave 6 backend(s) without a server (a, b, c, d, e, ...)', 'sorted, five named');
  t.notOk(judgeRemoval(counts({ a: 0 }), counts({ a: 0 }), 0.5).held, 'empty before: nothing emptied');
});

t.test('judgeRemoval: a backend no longer wanted is not "emptied", its servers count as lost', async (t) => {
  const v = judgeRemoval(counts({ a: 2, b: 2 }), counts({ b: 2 }), 0.5);
  t.same(v, { held: false, lost: 2, before: 4, emptied: [], reason: '' }, 'exactly half: not more than 0.5');
  const w = judgeRemoval(counts({ a: 3 }), counts({}), 0.5);
  t.same(w, {
    held: true,
    lost: 3,
    before: 3,
    emptied: [],
    reason: 'it would remove 3 of 3 servers (more than 50%)',
  });
});

t.test('judgeRemoval: the fraction boundary', async (t) => {
  const before = counts({ a: 10 });
  t.notOk(judgeRemoval(before, counts({ a: 5 }), 0.5).held, '5 of 10 at 0.5: not more than');
  t.ok(judgeRemoval(before, counts({ a: 4 }), 0.5).held, '6 of 10 at 0.5: more than');
  t.equal(judgeRemoval(before, counts({ a: 4 }), 0.5).reason, 'it would remove 6 of 10 servers (more than 50%)');
  t.notOk(judgeRemoval(before, counts({ a: 9 }), 0.1).held, '1 of 10 at 0.1');
  t.equal(judgeRemoval(before, counts({ a: 8 }), 0.1).reason, 'it would remove 2 of 10 servers (more than 10%)');
  const both = judgeRemoval(counts({ a: 1, b: 3 }), counts({ a: 0, b: 1 }), 0.5);
  t.equal(
    both.reason,
    'it would leave 1 backend(s) without a server (a) and it would remove 3 of 4 servers (more than 50%)',
  );
});

t.test('judgeRemoval: a replaced server loses nothing; only capacity counts', async (t) => {
  // Per backend only the number counts: three servers on other nodes are three servers.
  const v = judgeRemoval(counts({ a: 3, b: 6 }), counts({ a: 3, b: 6 }), 0.01);
  t.same(v, { held: false, lost: 0, before: 9, emptied: [], reason: '' });
  t.equal(judgeRemoval(counts({ a: 3 }), counts({ a: 5, c: 2 }), 0.01).lost, 0, 'growth loses nothing');
  t.notOk(judgeRemoval(counts({}), counts({ a: 3 }), 0.01).held, 'nothing before: nothing to lose');
});

t.test('judgeRemoval: fraction 1 never holds, not even an emptied backend', async (t) => {
  const v = judgeRemoval(counts({ a: 3, b: 3 }), counts({ a: 0 }), 1);
  t.same(v, { held: false, lost: 6, before: 6, emptied: ['a'], reason: '' });
});

// ---- config-text on the default template's output ----

const node = (name: string, ip: string) => ({
  metadata: { name, labels: { 'topology.kubernetes.io/zone': 'z1' } },
  status: { conditions: [{ type: 'Ready', status: 'True' }], addresses: [{ type: 'InternalIP', address: ip }] },
});
const svc = (name: string, host: string, nodePort: number, path?: string) => ({
  metadata: {
    namespace: 'shop',
    name,
    annotations: {
      'haproxy-node-agent.io/expose': 'true',
      'haproxy-node-agent.io/host': host,
      ...(path === undefined ? {} : { 'haproxy-node-agent.io/path': path }),
    },
  },
  spec: { type: 'NodePort', ports: [{ port: 80, nodePort }] },
});
const settings = { agentPort: 9300, agentInterMs: 2000, slowstartMs: 0, bind: ':80', nodesPerService: 2 };
const render = (nodes: object[], services: object[]) =>
  renderHaproxy(
    buildModel([{ name: 'c', nodes, services } satisfies ClusterSnapshot], {
      annotationPrefix: 'haproxy-node-agent.io',
      nodesPerService: 2,
    }),
    settings,
  );
const three = [node('n1', '10.0.0.1'), node('n2', '10.0.0.2'), node('n3', '10.0.0.3')];
const services = [svc('web', 'shop.example.com', 30080), svc('api', 'shop.example.com', 30081, '/api')];

t.test('serverCounts and serverLines on the default template', async (t) => {
  const text = render(three, services);
  t.same(serverCounts(text), counts({ 'shop.example.com_api': 2, 'shop.example.com': 2 }));
  t.equal(serverLines(text).size, 4);
  t.same(serverCounts(render(three, [])), counts({}), 'nothing exposed: no backend');
  t.same(serverCounts(render([], services)), counts({ 'shop.example.com_api': 0, 'shop.example.com': 0 }));
  t.same(
    serverCounts(
      [
        '# backend commented',
        'global',
        '  server x 1.1.1.1:1',
        'listen l',
        '  server a 1.1.1.1:1 # trailing',
        '  # server b 1.1.1.1:1',
        'frontend f',
        '  server c 1.1.1.1:1',
        'backend b',
      ].join('\n'),
    ),
    counts({ l: 1, b: 0 }),
    'listen sections count; comments, global and frontend lines do not',
  );
});

t.test('structureOf: servers and comments out, everything else in', async (t) => {
  const text = render(three, services);
  const s = structureOf(text);
  t.notMatch(s, /^\s*server /m, 'no server line');
  t.notMatch(s, /^\s*#/m, 'no comment line (the header counts servers, each service line counts nodes)');
  t.match(s, /^frontend fe_haproxy_node_agent$/m);
  t.match(s, /^ {2}use_backend shop\.example\.com_api if /m);
  t.match(s, /^backend shop\.example\.com$/m);
  // Node churn moves servers and changes the comments' counts: same structure.
  const fewer = render([node('n1', '10.0.0.1'), node('n4', '10.0.0.4')], services);
  t.not(fewer, text);
  t.equal(structureOf(fewer), s, 'a node replaced: same structure');
  t.equal(structureOf(render([], services)), s, 'no servers at all: same structure');
  // A Service with a new path: a new backend and route.
  t.not(structureOf(render(three, [...services, svc('img', 'shop.example.com', 30082, '/img')])), s);
  t.not(
    structureOf(
      renderHaproxy(
        buildModel([{ name: 'c', nodes: three, services }], {
          annotationPrefix: 'haproxy-node-agent.io',
          nodesPerService: 2,
        }),
        { ...settings, bind: ':8080' },
      ),
    ),
    s,
    'a bind change',
  );
});
