// `demo`: a simulated cluster (the wire-level fake API server on loopback) with one Node and a few
// annotated Services, and the real daemon watching it over HTTP. kubectl works against it.
import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeApiServer } from './fakeapi/server.js';
import { type FlagSpec, helpText, parseFlags, parseIntFlag, parseEnumFlag } from './flags.js';
import { LOG_LEVELS, type Config } from './config.js';
import { createLogger } from './log.js';
import { startDaemon } from './daemon.js';

export const DEMO_FLAGS = [
  { name: 'node-name', default: 'demo-node', help: 'Name of the simulated Node the agent answers for' },
  { name: 'agent-port', default: '9300', help: 'Agent-check TCP port (on 127.0.0.1)' },
  { name: 'http-port', default: '9290', help: 'HTTP port for /metrics /status /healthz /readyz (on 127.0.0.1)' },
  { name: 'api-port', default: '0', help: 'Port of the simulated API server (0 = any free port)' },
  { name: 'kubeconfig-out', default: join(tmpdir(), 'haproxy-node-agent-demo', 'kubeconfig'), help: 'Where to write the kubeconfig for kubectl' },
  { name: 'log-level', default: 'info', help: `Log level: ${LOG_LEVELS.join(', ')}` },
  { name: 'help', default: '', help: 'Print this help and exit', boolean: true },
] as const satisfies readonly FlagSpec[];

type DemoFlag = (typeof DEMO_FLAGS)[number]['name'];

/** The demo cluster: what a newcomer can cordon and annotate. */
export function seedDemoCluster(api: FakeApiServer, nodeName: string): void {
  api.create('nodes', { metadata: { name: nodeName, labels: { 'kubernetes.io/hostname': nodeName } }, spec: {}, status: { conditions: [{ type: 'Ready', status: 'True' }] } });
  const svc = (namespace: string, name: string, nodePort: number, annotations: Record<string, string> = {}) =>
    api.create('services', {
      metadata: { namespace, name, annotations },
      spec: { type: 'NodePort', externalTrafficPolicy: 'Cluster', ports: [{ port: 80, targetPort: 8080, nodePort, protocol: 'TCP' }] },
    });
  svc('shop', 'web', 30080);
  svc('shop', 'api', 30081, { 'haproxy-node-agent.io/weight': '50' });
  svc('blog', 'www', 30082, { 'haproxy-node-agent.io/weight': 'lots' });
}

export async function runDemo(argv: string[]): Promise<number> {
  const raw = parseFlags<DemoFlag>(DEMO_FLAGS, argv, {});
  if (raw.help === 'true') {
    process.stdout.write(helpText('Usage: haproxy-node-agent demo [flags]', DEMO_FLAGS));
    return 0;
  }
  const agentPort = parseIntFlag('agent-port', raw['agent-port'], 1, 65535);
  const httpPort = parseIntFlag('http-port', raw['http-port'], 0, 65535);
  const apiPort = parseIntFlag('api-port', raw['api-port'], 0, 65535);
  const logLevel = parseEnumFlag('log-level', raw['log-level'], LOG_LEVELS);
  const nodeName = raw['node-name'];
  const kubeconfig = raw['kubeconfig-out'];

  const api = new FakeApiServer({ port: apiPort });
  await api.start();
  seedDemoCluster(api, nodeName);
  mkdirSync(join(kubeconfig, '..'), { recursive: true });
  api.writeKubeconfig(kubeconfig);

  const cfg: Config = {
    nodeName,
    kubeconfig,
    agentAddress: '127.0.0.1',
    agentPort,
    httpAddress: '127.0.0.1',
    httpPort,
    annotationPrefix: 'haproxy-node-agent.io',
    serviceSelector: '',
    logLevel,
    readTimeoutMs: 100,
    maxConnections: 1024,
    watchTimeoutMs: 60_000,
    requestTimeoutMs: 10_000,
    agentPortRange: { min: 9301, max: 9399 },
    overrideFile: join(kubeconfig, '..', 'override'),
    slowStartMs: 0,
    maxStalenessMs: 0,
  };
  const log = createLogger(logLevel);
  const daemon = await startDaemon(cfg, log, process.env);
  process.stdout.write(`
haproxy-node-agent demo: a simulated cluster at ${api.url} with node "${nodeName}" and Services
shop/web (weight unset = 100), shop/api (weight 50), blog/www (invalid weight "lots" = 100, counted).

  Probe like HAProxy:   printf 'shop/web\\n' | nc 127.0.0.1 ${daemon.agentPort}
  Node alone:           nc 127.0.0.1 ${daemon.agentPort} < /dev/null
  Drive the cluster:    export KUBECONFIG=${kubeconfig}
                        kubectl cordon ${nodeName}        # -> drain
                        kubectl uncordon ${nodeName}      # -> ready up 100%
                        kubectl annotate svc -n shop web haproxy-node-agent.io/weight=25 --overwrite
  Look inside:          curl -s 127.0.0.1:${daemon.httpPort}/status
                        curl -s 127.0.0.1:${daemon.httpPort}/metrics | grep haproxy_node_agent_

Ctrl-C stops it.
`);
  return new Promise<number>((resolve) => {
    const stop = (): void => {
      void daemon.stop().then(() => api.stop()).then(() => resolve(0));
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}
