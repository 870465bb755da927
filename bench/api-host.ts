// The fake Kubernetes API server in its own process (forked by main.ts), so the work of serving
// lists and watches is neither the daemon's CPU nor the load generator's, and the bench process's
// event loop stays free for timing probes. Driven over IPC; every answer carries the monotonic
// time (process.hrtime, ms: the same clock in every process on the machine) at which it acted.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeApiServer, type KubeObject, type Resource } from '../src/testkit/fakeapi/server.js';

export type HostRequest =
  | { op: 'start' }
  | { op: 'seed' }
  | { op: 'scale'; services: number; slices: number; nodeName: string }
  | { op: 'patch'; resource: Resource; namespace?: string; name: string; patch: object }
  | { op: 'nodes'; count: number }
  | { op: 'churn'; writes: number; skip: string[] }
  | { op: 'requests' }
  | { op: 'stop' };

export interface StampedRequest {
  method: string;
  path: string;
  query: string;
  status: number;
  /** When the response head was written (for lists the body follows in the same tick). */
  atMs: number;
}

const nowMs = (): number => Number(process.hrtime.bigint()) / 1e6;

const api = new FakeApiServer({ historyLimit: 100_000 });
const stamped: StampedRequest[] = [];
// Time-stamp every request the fake server logs (it logs when the response head is written).
const origPush = api.requestLog.push.bind(api.requestLog);
api.requestLog.push = (...items) => {
  const at = nowMs();
  for (const i of items) stamped.push({ ...i, atMs: at });
  return origPush(...items);
};

function seed(): void {
  api.create('nodes', {
    metadata: { name: 'n1' },
    spec: {},
    status: { conditions: [{ type: 'Ready', status: 'True' }] },
  });
  api.create('nodes', {
    metadata: { name: 'other' },
    spec: {},
    status: { conditions: [{ type: 'Ready', status: 'True' }] },
  });
  api.create('services', {
    metadata: { namespace: 'shop', name: 'web' },
    spec: { type: 'NodePort', ports: [{ port: 80, nodePort: 30080 }] },
  });
  api.create('services', {
    metadata: { namespace: 'shop', name: 'api', annotations: { 'haproxy-node-agent.io/weight': '50' } },
    spec: { type: 'NodePort', ports: [{ port: 80, nodePort: 30081 }] },
  });
}

/**
 * A large cluster: `services` Services over 50 namespaces (a third externalTrafficPolicy Local,
 * every tenth with a weight annotation) and `slices` EndpointSlices spread evenly over them, each
 * with 3 endpoints on nodes n1..n20 (so some are local to the agent's node), plus the one Node.
 */
function scale(services: number, slices: number, nodeName: string): { services: number; slices: number } {
  api.create('nodes', {
    metadata: { name: nodeName, labels: { 'kubernetes.io/hostname': nodeName } },
    spec: {},
    status: { conditions: [{ type: 'Ready', status: 'True' }] },
  });
  const svc: Array<{ ns: string; name: string }> = [];
  for (let i = 0; i < services; i++) {
    const ns = `ns-${i % 50}`;
    const name = `svc-${i}`;
    svc.push({ ns, name });
    const local = i % 3 === 0;
    const obj: KubeObject = {
      metadata: {
        namespace: ns,
        name,
        labels: { app: name, tier: i % 2 === 0 ? 'web' : 'api' },
        ...(i % 10 === 0 ? { annotations: { 'haproxy-node-agent.io/weight': String(10 + (i % 90)) } } : {}),
      },
      spec: {
        type: 'NodePort',
        externalTrafficPolicy: local ? 'Local' : 'Cluster',
        selector: { app: name },
        ports: [{ name: 'http', protocol: 'TCP', port: 80, targetPort: 8080, nodePort: 30000 + (i % 2000) }],
        clusterIP: `10.96.${(i >> 8) & 255}.${i & 255}`,
        sessionAffinity: 'None',
      },
    };
    api.create('services', obj);
  }
  for (let j = 0; j < slices; j++) {
    const s = svc[j % svc.length] as { ns: string; name: string };
    const endpoints = [0, 1, 2].map((k) => ({
      addresses: [`10.${(j >> 16) & 255}.${(j >> 8) & 255}.${(j & 255) ^ k}`],
      nodeName: `n${1 + ((j + k * 7) % 20)}`,
      conditions: { ready: k !== 2 || j % 5 !== 0, serving: true, terminating: false },
      targetRef: { kind: 'Pod', namespace: s.ns, name: `${s.name}-${j}-${k}` },
    }));
    api.create('endpointslices', {
      metadata: {
        namespace: s.ns,
        name: `${s.name}-${Math.floor(j / svc.length)}`,
        labels: {
          'kubernetes.io/service-name': s.name,
          'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io',
        },
      },
      addressType: 'IPv4',
      endpoints,
      ports: [{ name: 'http', protocol: 'TCP', port: 8080 }],
    });
  }
  return { services: api.list('services').length, slices: api.list('endpointslices').length };
}

process.on('message', (msg: HostRequest & { id: number }) => {
  const reply = (body: object): void => void process.send?.({ id: msg.id, atMs: nowMs(), ...body });
  void (async () => {
    try {
      switch (msg.op) {
        case 'start': {
          await api.start();
          const kubeconfig = join(mkdtempSync(join(tmpdir(), 'hna-bench-')), 'kubeconfig');
          api.writeKubeconfig(kubeconfig);
          return reply({ port: api.port, kubeconfig });
        }
        case 'seed':
          seed();
          return reply({});
        case 'scale':
          return reply(scale(msg.services, msg.slices, msg.nodeName));
        case 'patch': {
          // Stamped before the change: propagation counts the fake API's own work too.
          const appliedAtMs = nowMs();
          api.patch(msg.resource, msg.namespace, msg.name, msg.patch);
          return reply({ appliedAtMs });
        }
        case 'nodes':
          // The churn scenario's cluster: node-0..node-(count-1), all Ready, and one Service.
          for (let i = 0; i < msg.count; i++)
            api.create('nodes', {
              metadata: { name: `node-${i}` },
              spec: {},
              status: { conditions: [{ type: 'Ready', status: 'True' }] },
            });
          api.create('services', {
            metadata: { namespace: 'shop', name: 'web' },
            spec: { type: 'NodePort', ports: [{ port: 80, nodePort: 30080 }] },
          });
          return reply({});
        case 'churn': {
          // Kubelet-like status writes, round-robin over the Nodes not in `skip`.
          const names = api
            .list('nodes')
            .map((n) => n.metadata.name)
            .filter((n) => !msg.skip.includes(n));
          for (let i = 0; i < msg.writes; i++) {
            api.patch('nodes', undefined, names[i % names.length] as string, {
              status: {
                conditions: [
                  {
                    type: 'Ready',
                    status: 'True',
                    lastHeartbeatTime: new Date(1_767_225_600_000 + i * 1000).toISOString(),
                  },
                ],
              },
            });
          }
          return reply({});
        }
        case 'requests':
          return reply({ requests: stamped.splice(0) });
        case 'stop':
          await api.stop();
          reply({});
          return process.exit(0);
      }
    } catch (e) {
      reply({ error: e instanceof Error ? e.message : String(e) });
    }
  })();
});
process.send?.({ id: 0, atMs: nowMs(), ready: true });
