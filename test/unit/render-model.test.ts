// Snapshot → backends: which nodes are eligible, which Services are exposed and how they merge.
import t from 'tap';
import { DEFAULT_POLICY, SIGNAL_NAMES, type SignalName } from '../../src/core/policy.js';
import { buildModel, eligibleNode, type ClusterSnapshot } from '../../src/edge/model.js';

const P = 'haproxy-node-agent.io';
const opts = { annotationPrefix: P, nodesPerService: 6 };

function node(
  name: string,
  extra: { labels?: Record<string, string>; spec?: object; ready?: string; addresses?: object[] } = {},
): object {
  return {
    metadata: { name, labels: extra.labels ?? {} },
    spec: extra.spec ?? {},
    status: {
      conditions: [{ type: 'Ready', status: extra.ready ?? 'True' }],
      addresses: extra.addresses ?? [{ type: 'InternalIP', address: `10.0.0.${name.length}` }],
    },
  };
}

function svc(
  ns: string,
  name: string,
  ann: Record<string, string>,
  ports: object[] = [{ port: 80, nodePort: 30080 }],
): object {
  return {
    metadata: {
      namespace: ns,
      name,
      annotations: Object.fromEntries(Object.entries(ann).map(([k, v]) => [`${P}/${k}`, v])),
    },
    spec: { type: 'NodePort', ports },
  };
}

t.test('eligible nodes: Ready, schedulable, not excluded, not being deleted, with an address', async (t) => {
  const warnings: string[] = [];
  const warn = (m: string): void => void warnings.push(m);
  t.ok(eligibleNode(node('ok'), warn));
  t.equal(eligibleNode(node('nr', { ready: 'False' }), warn), undefined, 'not Ready');
  t.equal(eligibleNode(node('unk', { ready: 'Unknown' }), warn), undefined, 'Ready Unknown');
  t.equal(eligibleNode(node('cordoned', { spec: { unschedulable: true } }), warn), undefined, 'cordoned');
  t.equal(
    eligibleNode(node('ex', { labels: { 'node.kubernetes.io/exclude-from-external-load-balancers': 'true' } }), warn),
    undefined,
    'excluded by label',
  );
  t.equal(
    eligibleNode(
      node('ca', { spec: { taints: [{ key: 'ToBeDeletedByClusterAutoscaler', effect: 'NoSchedule' }] } }),
      warn,
    ),
    undefined,
    'autoscaler deleting it',
  );
  t.ok(
    eligibleNode(node('other-taint', { spec: { taints: [{ key: 'dedicated', effect: 'NoSchedule' }] } }), warn),
    'other taints do not matter',
  );
  t.same(warnings, []);
  t.equal(eligibleNode(node('noaddr', { addresses: [] }), warn), undefined);
  t.match(warnings, [/node noaddr: Ready but no usable/]);
});

t.test(
  "eligibility follows the daemon's signal table: a default drain or down keeps a node out, a weight cut does not",
  async (t) => {
    const w = (): void => {};
    const taint = (key: string): object => ({ spec: { taints: [{ key, effect: 'NoSchedule' }] } });
    // Each signal as the API shows it; proxy-unhealthy is the agent's own probe, never in a Node object.
    const raised: Record<Exclude<SignalName, 'proxy-unhealthy'>, object> = {
      cordon: { spec: { unschedulable: true } },
      'unschedulable-taint': taint('node.kubernetes.io/unschedulable'),
      'autoscaler-to-be-deleted': taint('ToBeDeletedByClusterAutoscaler'),
      'autoscaler-deletion-candidate': taint('DeletionCandidateOfClusterAutoscaler'),
      'karpenter-disrupted': taint('karpenter.sh/disrupted'),
      'gke-impending-termination': taint('cloud.google.com/impending-node-termination'),
      'out-of-service': taint('node.kubernetes.io/out-of-service'),
      deletion: { metadata: { deletionTimestamp: '2026-01-01T00:00:00Z' } },
      'exclude-label': { metadata: { labels: { 'node.kubernetes.io/exclude-from-external-load-balancers': '' } } },
      'not-ready': { status: { conditions: [{ type: 'Ready', status: 'False' }] } },
    };
    const build = (name: string, part: object, annotations: Record<string, string> = {}): object => {
      const base = node(name) as { metadata: object; spec: object; status: object };
      const p = part as { metadata?: object; spec?: object; status?: object };
      return {
        metadata: { ...base.metadata, ...p.metadata, annotations },
        spec: { ...base.spec, ...p.spec },
        status: { ...base.status, ...p.status },
      };
    };
    for (const s of SIGNAL_NAMES) {
      if (s === 'proxy-unhealthy') continue;
      const kind = DEFAULT_POLICY[s].kind;
      const out = kind === 'drain' || kind === 'down';
      t.equal(eligibleNode(build(`n-${s}`, raised[s]), w) === undefined, out, `${s} (default ${kind})`);
    }
    // state=ready keeps a node serving through scheduling signals, so render keeps it too; never through
    // deletion or a down signal. state=drain/maint are run-time answers: the node keeps its servers.
    const ready = { [`${P}/state`]: 'ready' };
    t.ok(eligibleNode(build('sr-cordon', raised.cordon, ready), w), 'state=ready + cordon');
    t.ok(eligibleNode(build('sr-ex', raised['exclude-label'], ready), w), 'state=ready + exclude label');
    t.equal(eligibleNode(build('sr-del', raised.deletion, ready), w), undefined, 'state=ready + deletion');
    t.equal(eligibleNode(build('sr-nr', raised['not-ready'], ready), w), undefined, 'state=ready + NotReady');
    t.ok(eligibleNode(build('sd', {}, { [`${P}/state`]: 'drain' }), w), 'state=drain');
    t.ok(eligibleNode(build('sm', {}, { [`${P}/state`]: 'maint' }), w), 'state=maint');
    t.equal(
      eligibleNode(build('other', raised.cordon, { 'example.com/state': 'ready' }), w, P),
      undefined,
      'another prefix is not ours',
    );
    t.ok(
      eligibleNode(build('own', raised.cordon, { 'example.com/state': 'ready' }), w, 'example.com'),
      '--annotation-prefix is honoured',
    );
    // Render-only: no Ready condition at all is not eligible (the daemon counts it ready).
    t.equal(
      eligibleNode(
        { metadata: { name: 'fresh' }, status: { addresses: [{ type: 'InternalIP', address: '10.0.0.1' }] } },
        w,
      ),
      undefined,
      'no Ready condition',
    );
    // buildModel passes its prefix down.
    const snap = (annotations: Record<string, string>): ClusterSnapshot[] => [
      {
        name: 'c',
        nodes: [build('kept', raised.cordon, annotations)],
        services: [svc('a', 's', { expose: 'true', host: 'h.example' })],
      },
    ];
    t.equal(buildModel(snap({ [`${P}/state`]: 'ready' }), opts).backends[0]?.servers.length, 1);
    t.equal(buildModel(snap({}), opts).backends[0]?.servers.length, 0);
  },
);

t.test('node address: InternalIP, then ExternalIP, then Hostname; zone label', async (t) => {
  const w = (): void => {};
  t.equal(
    eligibleNode(
      node('a', {
        addresses: [
          { type: 'Hostname', address: 'a.local' },
          { type: 'ExternalIP', address: '203.0.113.9' },
          { type: 'InternalIP', address: '10.9.9.9' },
        ],
      }),
      w,
    )?.address,
    '10.9.9.9',
  );
  t.equal(
    eligibleNode(
      node('a', {
        addresses: [
          { type: 'Hostname', address: 'a.local' },
          { type: 'ExternalIP', address: '203.0.113.9' },
        ],
      }),
      w,
    )?.address,
    '203.0.113.9',
  );
  t.equal(eligibleNode(node('a', { addresses: [{ type: 'Hostname', address: 'a.local' }] }), w)?.address, 'a.local');
  t.equal(eligibleNode(node('a', { addresses: [{ type: 'InternalIP', address: 'fd00::1' }] }), w)?.address, 'fd00::1');
  t.equal(eligibleNode(node('a', { labels: { 'topology.kubernetes.io/zone': 'z1' } }), w)?.zone, 'z1');
  t.equal(eligibleNode(node('a'), w)?.zone, '');
});

t.test(
  'Services merge by host+path across clusters that share; explicit backends; routes most specific first',
  async (t) => {
    // Namespace shop of cluster a and of cluster b are two owners: each names the other (CLUSTER/NS).
    const clusters: ClusterSnapshot[] = [
      {
        name: 'b',
        nodes: [node('n1'), node('n22')],
        services: [
          svc('shop', 'web', { expose: 'true', host: 'shop.example.com', 'share-with': 'a/shop' }),
          svc('shop', 'api', { expose: 'true', host: 'shop.example.com', path: '/api' }),
        ],
      },
      {
        name: 'a',
        nodes: [node('m1')],
        services: [
          svc('shop', 'web', { expose: 'true', host: 'Shop.Example.com', path: '/', 'share-with': 'b/shop' }, [
            { port: 80, nodePort: 31000 },
          ]),
          svc('tools', 'x', { expose: 'true', backend: 'tools' }),
          svc('shop', 'v2', { expose: 'true', host: 'shop.example.com', path: '/api/v2/' }),
          svc('off', 'x', { expose: 'false', host: 'x.example.com' }),
          svc('none', 'x', {}),
        ],
      },
    ];
    const m = buildModel(clusters, opts);
    t.same(m.warnings, []);
    t.same(
      m.backends.map((b) => [b.name, b.services.map((s) => s.identity)]),
      [
        ['shop.example.com', ['a/shop/web', 'b/shop/web']],
        ['shop.example.com_api', ['b/shop/api']],
        ['shop.example.com_api_v2', ['a/shop/v2']],
        ['tools', ['a/tools/x']],
      ],
    );
    t.same(
      m.routes.map((r) => `${r.host}${r.path} -> ${r.backend}`),
      [
        'shop.example.com/api/v2 -> shop.example.com_api_v2',
        'shop.example.com/api -> shop.example.com_api',
        'shop.example.com/ -> shop.example.com',
      ],
    );
    const web = m.backends[0]!;
    t.same(
      web.servers.map((s) => `${s.name} ${s.address}:${s.nodePort}`),
      ['a_m1_shop_web 10.0.0.2:31000', 'b_n1_shop_web 10.0.0.2:30080', 'b_n22_shop_web 10.0.0.3:30080'],
    );
  },
);

t.test('ports: the first TCP nodePort, or the one PREFIX/port names; problems are warnings', async (t) => {
  const m = buildModel(
    [
      {
        name: 'c',
        nodes: [node('n1')],
        services: [
          svc('ns', 'udp-first', { expose: 'true', host: 'a.example.com' }, [
            { port: 53, nodePort: 30053, protocol: 'UDP' },
            { port: 80, nodePort: 30080 },
          ]),
          svc('ns', 'by-name', { expose: 'true', host: 'b.example.com', port: 'http' }, [
            { name: 'm', port: 9, nodePort: 30009 },
            { name: 'http', port: 80, nodePort: 30081 },
          ]),
          svc('ns', 'by-number', { expose: 'true', host: 'c.example.com', port: '80' }, [
            { name: 'm', port: 9, nodePort: 30009 },
            { name: 'http', port: 80, nodePort: 30082 },
          ]),
          svc('ns', 'missing-port', { expose: 'true', host: 'd.example.com', port: 'https' }),
          svc('ns', 'clusterip', { expose: 'true', host: 'e.example.com' }, [{ port: 80 }]),
          svc('ns', 'yes', { expose: 'yes', host: 'f.example.com' }),
          svc('ns', 'badhost', { expose: 'true', host: 'not a host' }),
          svc('ns', 'badpath', { expose: 'true', host: 'g.example.com', path: "/it's" }),
          svc('ns', 'badbackend', { expose: 'true', backend: 'has space' }),
          svc('ns', 'nowhere', { expose: 'true' }),
        ],
      },
    ],
    opts,
  );
  t.same(
    m.backends.map((b) => `${b.name}:${b.services[0]!.nodePort}`),
    ['a.example.com:30080', 'b.example.com:30081', 'c.example.com:30082'],
  );
  // In input order, one line each.
  t.same(m.warnings, [
    `service c/ns/missing-port: ${P}/port "https" names no TCP port with a nodePort; skipped`,
    'service c/ns/clusterip: no TCP port with a nodePort (type NodePort or LoadBalancer needed); skipped',
    `service c/ns/yes: ${P}/expose is "yes", expected "true" or "false"; skipped`,
    `service c/ns/badhost: ${P}/host "not a host" is not a DNS name; skipped`,
    `service c/ns/badpath: ${P}/path "/it's" must start with / and hold only URL path characters; skipped`,
    `service c/ns/badbackend: ${P}/backend "has space" is not an HAProxy name (letters, digits, - _ . :); skipped`,
    `service c/ns/nowhere: needs ${P}/host, ${P}/backend or ${P}/tcp-port; skipped`,
  ]);
});

t.test('conflicts: one host+path claimed twice, backend names that meet, no eligible nodes', async (t) => {
  const m = buildModel(
    [
      {
        name: 'c',
        nodes: [node('down', { ready: 'False' })],
        services: [
          svc('ns', 'one', { expose: 'true', host: 'a.example.com', backend: 'zeta' }),
          svc('ns', 'two', { expose: 'true', host: 'a.example.com' }),
          svc('ns', 'three', { expose: 'true', backend: 'a.example.com' }),
        ],
      },
    ],
    opts,
  );
  t.same(
    m.backends.map((b) => b.name),
    ['a.example.com', 'a.example.com_2', 'zeta'],
  );
  t.same(m.routes, [{ host: 'a.example.com', path: '/', backend: 'a.example.com_2' }]);
  t.same(m.warnings, [
    'cluster c: no eligible nodes (Ready, schedulable, not excluded); its Services get no servers',
    'backend name a.example.com is taken by another host/path or backend annotation; using a.example.com_2',
    'host a.example.com path / is claimed by backends a.example.com_2, zeta; routing it to a.example.com_2',
  ]);
  t.ok(m.backends.every((b) => b.servers.length === 0));
});

t.test('server names stay unique even when sanitizing makes them meet', async (t) => {
  const m = buildModel(
    [
      {
        name: 'x y',
        nodes: [node('n1')],
        services: [svc('ns', 's', { expose: 'true', backend: 'be', 'share-with': 'x_y/ns' })],
      },
      {
        name: 'x_y',
        nodes: [node('n1')],
        services: [svc('ns', 's', { expose: 'true', backend: 'be', 'share-with': 'x y/ns' })],
      },
    ],
    opts,
  );
  t.same(
    m.backends[0]!.servers.map((s) => `${s.cluster} ${s.name}`),
    ['x y x_y_n1_ns_s', 'x_y x_y_n1_ns_s_2'],
  );
  t.match(m.warnings, [/server name x_y_n1_ns_s repeats; using x_y_n1_ns_s_2/]);
});
