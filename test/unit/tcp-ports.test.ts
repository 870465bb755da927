// Issue 23: a stable TCP port per Service from a pool, recorded where tenants cannot write it.
import t from 'tap';
import { type ClaimEntry, emptyClaims, serializeClaimsDocument } from '../../src/core/claims-document.js';
import { claimsUpdate } from '../../src/edge/claims.js';
import { buildModel, type ClusterSnapshot } from '../../src/edge/model.js';
import { renderHaproxy } from '../../src/edge/output.js';
import { tcpAsk, tcpTimeout } from '../../src/edge/tcp-annotations.js';
import { PORT_QUARANTINE_MS, resolveTcpPorts, type TcpPortRequest } from '../../src/edge/tcp-ports.js';

const P = 'haproxy-node-agent.io';
const NOW = '2026-03-01T12:00:00.000Z';
const at = (ms: number): string => new Date(Date.parse(NOW) + ms).toISOString();
const RANGE = { min: 7000, max: 7002 };
const SYNC = { range: RANGE, clusters: new Set(['c']), assign: true };

function req(id: string, wanted: 'auto' | number = 'auto', created = 0): TcpPortRequest {
  const [cluster, namespace, name] = id.split('/') as [string, string, string];
  return { cluster, namespace, name, uid: `uid-${name}`, created, wanted };
}
const entry = (service: string, extra: Partial<ClaimEntry> = {}): ClaimEntry => ({
  owner: service.split('/').slice(0, 2).join('/'),
  service,
  uid: '',
  since: at(-1000),
  ...extra,
});
const ports = (r: { assigned: { request: TcpPortRequest; port: number }[] }): Record<string, number> =>
  Object.fromEntries(r.assigned.map((a) => [`${a.request.namespace}/${a.request.name}`, a.port]));

t.test('auto takes the lowest free port, oldest Service first; explicit N first', async (t) => {
  const r = resolveTcpPorts(
    [req('c/a/late', 'auto', 5), req('c/a/early', 'auto', 1), req('c/b/pg', 7000, 9)],
    new Map(),
    NOW,
    SYNC,
  );
  t.same(ports(r), { 'b/pg': 7000, 'a/early': 7001, 'a/late': 7002 });
  t.equal(r.ports.get('7001')?.service, 'c/a/early');
  t.equal(r.ports.get('7001')?.since, NOW, 'dated now');
  t.same(r.refusals, []);
});

t.test('a recorded port stays with its Service: other Services come and go, the record decides', async (t) => {
  const recorded = new Map([['7002', entry('c/a/db')]]);
  const r = resolveTcpPorts([req('c/z/old', 'auto', -1e12), req('c/a/db', 'auto', 1e12)], recorded, NOW, SYNC);
  t.same(ports(r), { 'a/db': 7002, 'z/old': 7000 }, 'an older Service does not take a recorded port');
  const again = resolveTcpPorts([req('c/a/db')], r.ports, at(5000), SYNC);
  t.same(ports(again), { 'a/db': 7002 });
});

t.test('another namespace asking for a held number is refused, naming both Services', async (t) => {
  const recorded = new Map([['7001', entry('c/a/db')]]);
  const r = resolveTcpPorts([req('c/a/db'), req('c/evil/x', 7001, -1e15)], recorded, NOW, SYNC);
  t.same(ports(r), { 'a/db': 7001 });
  t.equal(r.refusals.length, 1);
  t.equal(r.refusals[0]?.reason, 'taken');
  t.match(r.refusals[0]?.message ?? '', /c\/evil\/x.*7001.*c\/a\/db/);
  const out = resolveTcpPorts([req('c/x/y', 9000)], new Map(), NOW, SYNC);
  t.equal(out.refusals[0]?.reason, 'out-of-range');
});

t.test('quarantine: a deleted Service keeps its port for 24 h; it alone may come back', async (t) => {
  const recorded = new Map([['7000', entry('c/a/db')]]);
  const gone = resolveTcpPorts([req('c/b/new', 7000)], recorded, NOW, SYNC);
  t.equal(gone.ports.get('7000')?.vacated, NOW, 'vacated from now');
  t.equal(gone.refusals[0]?.reason, 'quarantined');
  const auto = resolveTcpPorts([req('c/b/new')], gone.ports, at(1000), SYNC);
  t.same(ports(auto), { 'b/new': 7001 }, 'auto skips a quarantined port');
  const back = resolveTcpPorts([req('c/a/db')], gone.ports, at(PORT_QUARANTINE_MS - 1), SYNC);
  t.same(ports(back), { 'a/db': 7000 });
  t.equal(back.ports.get('7000')?.vacated, undefined, 'back: no longer vacated');
  const later = resolveTcpPorts([req('c/b/new', 7000)], gone.ports, at(PORT_QUARANTINE_MS), SYNC);
  t.same(ports(later), { 'b/new': 7000 }, 'released after the quarantine');
  const unread = resolveTcpPorts([], new Map([['7000', entry('other/a/db')]]), NOW, SYNC);
  t.equal(unread.ports.get('7000')?.vacated, undefined, 'a cluster this run did not read: unvacated');
});

t.test('exhausted: refused, never a live port reused', async (t) => {
  const many = ['c/a/1', 'c/a/2', 'c/a/3', 'c/a/4'].map((id, i) => req(id, 'auto', i));
  const r = resolveTcpPorts(many, new Map(), NOW, SYNC);
  t.same(Object.values(ports(r)).sort(), [7000, 7001, 7002]);
  t.equal(r.refusals[0]?.reason, 'exhausted');
  t.match(r.refusals[0]?.message ?? '', /c\/a\/4/);
});

t.test('render never assigns: only recorded ports, others skipped with a warning', async (t) => {
  const recorded = new Map([['7000', entry('c/a/db')]]);
  const r = resolveTcpPorts([req('c/a/db'), req('c/b/new')], recorded, NOW, { ...SYNC, assign: false });
  t.same(ports(r), { 'a/db': 7000 });
  t.equal(r.refusals[0]?.reason, 'unassigned');
  t.same([...r.ports], [...recorded], 'the record is left as it was');
});

t.test('two writers: the loser re-resolves against the stored record and keeps the winner', async (t) => {
  const svc = (name: string, created: string): unknown => ({
    metadata: {
      name,
      namespace: 'ns',
      uid: `u-${name}`,
      creationTimestamp: created,
      annotations: { [`${P}/expose`]: 'true', [`${P}/tcp-port`]: 'auto' },
    },
    spec: { ports: [{ port: 5432, nodePort: 30432 }] },
  });
  const clusters = (services: unknown[]): ClusterSnapshot[] => [{ name: 'c', nodes: [], services }];
  const opts = { annotationPrefix: P, nodesPerService: 2, tcp: { range: RANGE, assign: true } };
  // Edge 1 sees only "a"; edge 2 sees only "b" (its watch is behind): both want 7000.
  const one = buildModel(clusters([svc('a', '2026-01-01T00:00:00Z')]), {
    ...opts,
    claims: { record: emptyClaims(), now: NOW },
  });
  const two = buildModel(clusters([svc('b', '2026-02-01T00:00:00Z')]), {
    ...opts,
    claims: { record: emptyClaims(), now: NOW },
  });
  t.equal(one.tcp[0]?.port, 7000);
  t.equal(two.tcp[0]?.port, 7000);
  const stored = claimsUpdate(one.claims, NOW)(emptyClaims());
  t.equal(stored?.ports.get('7000')?.service, 'c/ns/a', 'edge 1 wrote first');
  // Edge 2's write met a 409: its mutator runs again on what edge 1 stored.
  const retried = claimsUpdate(two.claims, NOW)(stored ?? emptyClaims());
  t.equal(retried?.ports.get('7000')?.service, 'c/ns/a', 'the winner keeps its port');
  t.equal(retried?.ports.get('7001')?.service, 'c/ns/b', 'the loser gets the next one');
});

t.test('annotations: auto or a port; timeouts are validated durations', async (t) => {
  const ask = (v: Record<string, string>) => tcpAsk(P, (k) => v[k]);
  t.same(ask({ 'tcp-port': 'auto' }), { wanted: 'auto', timeoutClientMs: 3_600_000, timeoutServerMs: 3_600_000 });
  t.same(ask({ 'tcp-port': '7001', 'tcp-timeout-client': '30m' }), {
    wanted: 7001,
    timeoutClientMs: 1_800_000,
    timeoutServerMs: 3_600_000,
  });
  t.equal(ask({}), undefined);
  for (const bad of ['0', '65536', '1e3', ' 80', '80\nbind :1', '-1'])
    t.ok(ask({ 'tcp-port': bad }) !== undefined && 'error' in (ask({ 'tcp-port': bad }) as object), bad);
  for (const bad of ['1h\n  bind :22', '999ms', '8d', '1e300s', 'forever', ''])
    t.equal(tcpTimeout(bad), undefined, JSON.stringify(bad));
});

t.test('render: a TCP frontend and backend per port; nothing without TCP Services', async (t) => {
  const node = {
    metadata: { name: 'n1', labels: { 'topology.kubernetes.io/zone': 'z' } },
    status: {
      addresses: [{ type: 'InternalIP', address: '10.0.0.1' }],
      conditions: [{ type: 'Ready', status: 'True' }],
    },
  };
  const svc = {
    metadata: {
      name: 'pg',
      namespace: 'db',
      uid: 'u1',
      annotations: { [`${P}/expose`]: 'true', [`${P}/tcp-port`]: 'auto', [`${P}/tcp-timeout-server`]: '2h' },
    },
    spec: {
      ports: [
        { port: 80, nodePort: 30080 },
        { port: 5432, nodePort: 30432 },
      ],
    },
  };
  const named = {
    ...svc,
    metadata: { ...svc.metadata, annotations: { ...svc.metadata.annotations, [`${P}/port`]: '5432' } },
  };
  const record = emptyClaims();
  record.ports.set('7000', entry('c/db/pg'));
  const m = buildModel([{ name: 'c', nodes: [node], services: [named] }], {
    annotationPrefix: P,
    nodesPerService: 2,
    claims: { record, now: NOW },
  });
  const text = renderHaproxy(m, {
    agentPort: 9300,
    agentInterMs: 2000,
    slowstartMs: 0,
    bind: ':80',
    nodesPerService: 2,
  });
  t.match(text, /frontend tcp_7000\n {2}bind :7000\n {2}mode tcp\n {2}option clitcpka\n {2}timeout client 3600s\n/);
  t.match(
    text,
    /backend tcp_7000\n {2}mode tcp\n {2}balance leastconn\n {2}option srvtcpka\n {2}timeout server 7200s\n/,
  );
  t.match(text, /server c_n1_db_pg 10\.0\.0\.1:30432 check agent-check agent-addr 10\.0\.0\.1 agent-port 9300 /);
  t.notMatch(text, /frontend fe_/, 'no HTTP frontend without routes');
  t.match(
    serializeClaimsDocument(emptyClaims()),
    /^\{\n "version": 1,\n "hosts": \{\},\n "backends": \{\}\n\}\n$/,
    'no ports key while empty',
  );
});
