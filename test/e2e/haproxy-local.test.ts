// Real HAProxy: externalTrafficPolicy Local — weights follow pods per node, none → DOWN, back → UP.
import t from 'tap';
import { agentSettled, allReady, requireHaproxy, startEdge, table } from '../lib/haproxy.js';
import type { ServerStat } from '../../src/testkit/haproxy/stats.js';
import type { FakeApiServer } from '../../src/testkit/fakeapi/server.js';

const api = (ss: ServerStat[]): ServerStat[] => ss.filter((s) => s.backend === 'api');
const on = (ss: ServerStat[], node: string): ServerStat | undefined =>
  api(ss).find((s) => s.server.endsWith(`.${node}`));

function endpoints(a: FakeApiServer, perNode: Record<string, number>): void {
  const eps = Object.entries(perNode).flatMap(([node, n]) =>
    Array.from({ length: n }, () => ({ nodeName: node, conditions: { ready: true } })),
  );
  const obj = {
    metadata: { namespace: 'shop', name: 'api-local', labels: { 'kubernetes.io/service-name': 'api' } },
    addressType: 'IPv4',
    endpoints: eps.map((e, i) => ({ ...e, addresses: [`10.1.0.${i + 1}`] })),
  };
  const prev = a.get('endpointslices', 'shop', 'api-local');
  if (prev === undefined) a.create('endpointslices', obj);
  else
    a.update('endpointslices', {
      ...obj,
      metadata: { ...obj.metadata, resourceVersion: prev.metadata.resourceVersion },
    });
}

const bin = requireHaproxy(t);
if (bin !== undefined) {
  const edge = await startEdge(t, bin);

  t.test('Local Service: weight per local pod, DOWN without one, UP again', async (t) => {
    t.teardown(async () => {
      edge.api.patch('services', 'shop', 'api', { spec: { externalTrafficPolicy: 'Cluster' } });
      if (edge.api.get('endpointslices', 'shop', 'api-local') !== undefined)
        edge.api.delete('endpointslices', 'shop', 'api-local');
      await edge.reset();
    });
    await edge.waitFor('all servers ready', allReady);
    endpoints(edge.api, { 'node-a': 1, 'node-b': 4 });
    edge.api.patch('services', 'shop', 'api', { spec: { type: 'NodePort', externalTrafficPolicy: 'Local' } });
    const spread = await edge.waitFor(
      'api weights 25/100',
      (ss) => on(ss, 'node-a')?.weight === 25 && on(ss, 'node-b')?.weight === 100,
    );
    t.same(
      api(spread.servers).map((s) => [s.server, s.status, s.weight]),
      [
        ['api.node-a', 'UP', 25],
        ['api.node-b', 'UP', 100],
      ],
      '1 pod on node-a, 4 on node-b',
      { servers: table(spread.servers) },
    );

    endpoints(edge.api, { 'node-b': 2 });
    const down = await edge.waitFor('api on node-a DOWN', (ss) => {
      const a = on(ss, 'node-a');
      if (a === undefined) return false;
      return a.status.startsWith('DOWN') && agentSettled(a); // settled: mid-check, no reason shows
    });
    t.match(on(down.servers, 'node-a')?.status, /^DOWN/, 'no local endpoint: DOWN at the edge');
    t.match(on(down.servers, 'node-a')?.lastAgent ?? '', /no local endpoints/, 'with the reason HAProxy shows');
    t.equal(on(down.servers, 'node-b')?.status, 'UP');
    const served = await edge.spread('/api/', 50);
    t.same(
      [...served.keys()].filter((k) => k.includes('node-a')),
      [],
      'no request reaches node-a',
    );

    endpoints(edge.api, { 'node-a': 2, 'node-b': 2 });
    const up = await edge.waitFor('api back UP at 100/100', (ss) =>
      api(ss).every((s) => s.status === 'UP' && s.weight === 100),
    );
    t.same(
      api(up.servers).map((s) => [s.status, s.weight]),
      [
        ['UP', 100],
        ['UP', 100],
      ],
      'a ready pod again: UP',
    );
  });
}
