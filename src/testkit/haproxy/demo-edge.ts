// The demo's edge: real HAProxy in front of small HTTP servers standing for the demo Services'
// NodePorts, agent-checks to the demo agent, and one printed line per server change.
import { renderHaproxyConfig, type BackendSpec } from './edge-config.js';
import { startHaproxy, type HaproxyProcess } from './process.js';
import { describeServer, watchServers } from './watch.js';
import { startWhoami, type WhoamiServer } from './whoami.js';

/** A node with no agent-check: the rest of the cluster, so a drained demo node has somewhere to send traffic. */
export const OTHER_NODE = 'other-node';

export interface DemoEdgeOptions {
  bin: string;
  /** Frontend port on 127.0.0.1. */
  port: number;
  agentPort: number;
  agentInterMs: number;
  nodeName: string;
  services: ReadonlyArray<{ namespace: string; name: string }>;
  /** Where live lines go. */
  print: (line: string) => void;
}

export interface DemoEdge {
  haproxy: HaproxyProcess;
  /** Path prefix → backend, for the banner. */
  routes: Array<{ path: string; backend: string }>;
  stop(): Promise<void>;
}

export async function startDemoEdge(opts: DemoEdgeOptions): Promise<DemoEdge> {
  const whoamis: WhoamiServer[] = [];
  const closeAll = (): Promise<unknown> => Promise.all(whoamis.map((w) => w.close()));
  const names = opts.services.map((s) => s.name);
  const routes: DemoEdge['routes'] = [];
  const backends: BackendSpec[] = [];
  try {
    for (const svc of opts.services) {
      // Backends named after the Service, so lines read "web@demo-node"; namespaced only on a clash.
      const backend = names.filter((n) => n === svc.name).length === 1 ? svc.name : `${svc.namespace}-${svc.name}`;
      const servers: BackendSpec['servers'] = [];
      for (const node of [opts.nodeName, OTHER_NODE]) {
        const w = await startWhoami(`${backend}@${node}`);
        whoamis.push(w);
        servers.push({
          name: node,
          address: '127.0.0.1',
          port: w.port,
          weight: 100,
          checkInterMs: 1000,
          ...(node === opts.nodeName
            ? {
                agent: {
                  addr: '127.0.0.1',
                  port: opts.agentPort,
                  send: `${svc.namespace}/${svc.name}\n`,
                  interMs: opts.agentInterMs,
                },
              }
            : {}),
        });
      }
      backends.push({ name: backend, mode: 'http', balance: 'roundrobin', servers });
      routes.push({ path: `/${svc.namespace}/${svc.name}/`, backend });
    }
    const haproxy = await startHaproxy({
      bin: opts.bin,
      config: ({ statsSocket }) =>
        renderHaproxyConfig({
          statsSocket,
          checkTimeoutMs: 1000,
          idleTimeoutMs: 30_000,
          frontends: [
            {
              name: 'demo',
              address: '127.0.0.1',
              port: opts.port,
              mode: 'http',
              routes: routes.map((r) => ({ pathPrefix: r.path, backend: r.backend })),
            },
          ],
          backends,
        }),
    });
    let failing = false; // report a broken stats socket once, not every poll
    const watch = watchServers({
      statsSocket: haproxy.statsSocket,
      intervalMs: 200,
      onChange: (s) => {
        failing = false;
        // "UP 1/3" and the like are health-check transitions (startup, a flapping check): noise here.
        if (/ \d+\/\d+$/.test(s.status)) return;
        opts.print(`${new Date().toISOString().slice(11, 23)} haproxy  ${describeServer(s)}`);
      },
      onError: (e) => {
        if (!failing)
          opts.print(`haproxy stats socket: ${e.message}${haproxy.running() ? '' : ' (haproxy has exited)'}`);
        failing = true;
      },
    });
    return {
      haproxy,
      routes,
      async stop() {
        watch.stop();
        await haproxy.stop();
        await closeAll();
      },
    };
  } catch (err) {
    await closeAll();
    throw err;
  }
}
