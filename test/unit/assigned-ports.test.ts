// Issue 23: the annotation PREFIX/assigned-tcp-port reports what the claims record holds; the
// record decides, so a value a tenant writes by hand is corrected or removed.
import t from 'tap';
import { annotationChanges } from '../../src/sync/assigned-ports.js';
import type { TcpService } from '../../src/edge/model.js';

const P = 'haproxy-node-agent.io';
const KEY = `${P}/assigned-tcp-port`;
const svc = (ns: string, name: string, ann: Record<string, string> = {}): unknown => ({
  metadata: { namespace: ns, name, annotations: ann },
});
const tcp = (identity: string, port: number): TcpService => {
  const [cluster, namespace, name] = identity.split('/') as [string, string, string];
  return {
    port,
    name: `tcp_${port}`,
    service: { cluster, namespace, name, identity, nodePort: 30000, eligible: 1, picked: 1 },
    servers: [],
    timeoutClientMs: 1000,
    timeoutServerMs: 1000,
  };
};

t.test('set where it differs, removed where no port is held, untouched where right', async (t) => {
  const clusters = [
    {
      name: 'c',
      nodes: [],
      services: [
        svc('db', 'pg'),
        svc('db', 'right', { [KEY]: '7001' }),
        svc('db', 'stale', { [KEY]: '7009' }),
        svc('evil', 'forger', { [KEY]: '7000' }),
        svc('web', 'plain'),
      ],
    },
  ];
  const changes = annotationChanges(
    clusters,
    [tcp('c/db/pg', 7000), tcp('c/db/right', 7001), tcp('c/db/stale', 7002)],
    P,
  );
  t.same(changes, [
    { cluster: 'c', namespace: 'db', name: 'pg', value: '7000', has: null },
    { cluster: 'c', namespace: 'db', name: 'stale', value: '7002', has: '7009' },
    { cluster: 'c', namespace: 'evil', name: 'forger', value: null, has: '7000' },
  ]);
});

t.test('the same name in another cluster is another Service', async (t) => {
  const clusters = [
    { name: 'a', nodes: [], services: [svc('db', 'pg')] },
    { name: 'b', nodes: [], services: [svc('db', 'pg', { [KEY]: '7000' })] },
  ];
  t.same(annotationChanges(clusters, [tcp('a/db/pg', 7000)], P), [
    { cluster: 'a', namespace: 'db', name: 'pg', value: '7000', has: null },
    { cluster: 'b', namespace: 'db', name: 'pg', value: null, has: '7000' },
  ]);
});
