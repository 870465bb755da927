// `demo`: a simulated cluster (the wire-level fake API server on loopback) with one Node and a few
// annotated Services, and the real daemon watching it over HTTP. kubectl works against it.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeApiServer } from '../testkit/fakeapi/server.js';
import { port, text } from '../platform/flag-values.js';
import { decodeFlags, FlagError, type FlagRow, helpText, parseFlags } from '../platform/flags.js';
import { HELP_FLAG, HTTP_PORT_FLAG, LOG_LEVEL_FLAG, withoutEnv } from '../platform/shared-flags.js';
import type { LogLevel } from '../platform/log.js';
import { loadConfig, runArgv } from '../run/run-config.js';
import { createLogger } from '../platform/log.js';
import { startDaemon } from '../run/daemon.js';
import { findHaproxy, HaproxyStartError } from '../testkit/haproxy/process.js';
import { startDemoEdge, OTHER_NODE, type DemoEdge } from '../testkit/haproxy/demo-edge.js';

/** Short, so a cordon shows at the edge while you watch; production setups use 1-2 s. */
const DEMO_AGENT_INTER_MS = 200;

// No environment variables: the demo's flags are all on its command line.
export const DEMO_FLAGS = [
  {
    name: 'node-name',
    field: 'nodeName',
    default: 'demo-node',
    help: 'Name of the simulated Node the agent answers for',
    ...text,
  },
  { name: 'agent-port', field: 'agentPort', default: '9300', help: 'Agent-check TCP port (on 127.0.0.1)', ...port(1) },
  { ...withoutEnv(HTTP_PORT_FLAG), help: 'HTTP port for /metrics /status /healthz /readyz (on 127.0.0.1)' },
  {
    name: 'api-port',
    field: 'apiPort',
    default: '0',
    help: 'Port of the simulated API server (0 = any free port)',
    ...port(0),
  },
  {
    name: 'kubeconfig-out',
    field: 'kubeconfigOut',
    default: '',
    help:
      'Where to write the kubeconfig for kubectl, once every port listens ' +
      '(default: a new directory per run, printed at start)',
    ...text,
  },
  withoutEnv(LOG_LEVEL_FLAG),
  // Boolean with an empty default: absent = auto (on when haproxy is installed), --haproxy / --haproxy=false force it.
  {
    name: 'haproxy',
    default: '',
    help:
      'Also run HAProxy wired to the agent and print its server states live ' +
      '(default: on when haproxy is installed)',
    boolean: true,
  },
  {
    name: 'haproxy-port',
    field: 'haproxyPort',
    default: '8080',
    help: 'Port of the HAProxy frontend on 127.0.0.1 (with --haproxy)',
    ...port(1),
  },
  HELP_FLAG,
] as const satisfies readonly FlagRow[];

type DemoFlag = (typeof DEMO_FLAGS)[number]['name'];

/** The demo Services: what a newcomer can annotate (and what the demo's HAProxy fronts). */
export const DEMO_SERVICES = [
  { namespace: 'shop', name: 'web', nodePort: 30080, clusterIP: '10.96.0.10', annotations: {} },
  {
    namespace: 'shop',
    name: 'api',
    nodePort: 30081,
    clusterIP: '10.96.0.11',
    annotations: { 'haproxy-node-agent.io/weight': '50' },
  },
  {
    namespace: 'blog',
    name: 'www',
    nodePort: 30082,
    clusterIP: '10.96.0.12',
    annotations: { 'haproxy-node-agent.io/weight': 'lots' },
  },
] as const;

/** The demo cluster: what a newcomer can cordon and annotate. */
export function seedDemoCluster(api: FakeApiServer, nodeName: string): void {
  // Shaped like a kubelet-registered Node: an InternalIP (so `render` has an address to write), the
  // kubelet version and capacity `kubectl get nodes` and `kubectl describe node` print.
  api.create('nodes', {
    metadata: {
      name: nodeName,
      labels: { 'kubernetes.io/hostname': nodeName, 'kubernetes.io/os': 'linux', 'node-role.kubernetes.io/worker': '' },
    },
    spec: {},
    status: {
      conditions: [
        {
          type: 'Ready',
          status: 'True',
          reason: 'KubeletReady',
          message: 'kubelet is posting ready status',
          lastHeartbeatTime: now(),
          lastTransitionTime: now(),
        },
      ],
      addresses: [
        { type: 'InternalIP', address: '127.0.0.1' },
        { type: 'Hostname', address: nodeName },
      ],
      capacity: { cpu: '2', memory: '4Gi', pods: '110' },
      allocatable: { cpu: '2', memory: '4Gi', pods: '110' },
      nodeInfo: {
        kubeletVersion: 'v1.32.0',
        kubeProxyVersion: 'v1.32.0',
        osImage: 'simulated by haproxy-node-agent demo',
        kernelVersion: '',
        containerRuntimeVersion: 'none://',
        operatingSystem: 'linux',
        architecture: 'amd64',
        machineID: '',
        systemUUID: '',
        bootID: '',
      },
    },
  });
  api.create('leases', {
    metadata: { namespace: 'kube-node-lease', name: nodeName },
    spec: { holderIdentity: nodeName, leaseDurationSeconds: 40, renewTime: now().replace('Z', '.000000Z') },
  });
  for (const { namespace, name, nodePort, clusterIP, annotations } of DEMO_SERVICES) {
    api.create('services', {
      // expose + host + path: `render` against the demo writes a backend per Service, routed like the demo's
      // edge. Both teams share the one host, so each lets the other in (share-with): whichever namespace
      // owns demo.localhost (its oldest claimant), the other's Service is not skipped as an intruder.
      metadata: {
        namespace,
        name,
        annotations: {
          'haproxy-node-agent.io/expose': 'true',
          'haproxy-node-agent.io/host': 'demo.localhost',
          'haproxy-node-agent.io/path': `/${namespace}/${name}`,
          'haproxy-node-agent.io/share-with': namespace === 'shop' ? 'blog' : 'shop',
          ...annotations,
        },
      },
      spec: {
        type: 'NodePort',
        clusterIP,
        clusterIPs: [clusterIP],
        externalTrafficPolicy: 'Cluster',
        ports: [{ port: 80, targetPort: 8080, nodePort, protocol: 'TCP' }],
      },
    });
  }
}

function now(): string {
  return new Date().toISOString().replace(/\.\d+Z$/, 'Z');
}

/** --haproxy: '' = auto. Returns the binary to run, or undefined for none. */
function haproxyWanted(flag: string): string | undefined {
  if (flag === 'false') return undefined;
  const bin = findHaproxy(process.env);
  if (bin === undefined && flag === 'true')
    throw new FlagError('haproxy', 'haproxy not found on PATH or in /usr/sbin (apt-get install haproxy)');
  return bin;
}

export async function runDemo(argv: string[]): Promise<number> {
  const raw = parseFlags<DemoFlag>(DEMO_FLAGS, argv, {});
  if (raw.help === 'true') {
    process.stdout.write(helpText('Usage: haproxy-node-agent demo [flags]', DEMO_FLAGS));
    return 0;
  }
  const { nodeName, agentPort, httpPort, apiPort, kubeconfigOut, logLevel, haproxyPort } = decodeFlags(DEMO_FLAGS, raw);
  const haproxyBin = haproxyWanted(raw.haproxy);
  // Everything this run writes lives in its own directory, so a second demo never touches the first's.
  const runDir = mkdtempSync(join(tmpdir(), 'haproxy-node-agent-demo-'));
  const kubeconfig = kubeconfigOut === '' ? join(runDir, 'kubeconfig') : kubeconfigOut;
  try {
    return await demo({
      raw,
      agentPort,
      httpPort,
      apiPort,
      logLevel,
      nodeName,
      kubeconfig,
      haproxyPort,
      haproxyBin,
      runDir,
    });
  } finally {
    rmSync(runDir, { recursive: true, force: true });
  }
}

interface DemoArgs {
  raw: Record<DemoFlag, string>;
  agentPort: number;
  httpPort: number;
  apiPort: number;
  logLevel: LogLevel;
  nodeName: string;
  kubeconfig: string;
  haproxyPort: number;
  haproxyBin: string | undefined;
  runDir: string;
}

async function demo({
  raw,
  agentPort,
  httpPort,
  apiPort,
  logLevel,
  nodeName,
  kubeconfig,
  haproxyPort,
  haproxyBin,
  runDir,
}: DemoArgs): Promise<number> {
  const api = new FakeApiServer({ port: apiPort });
  await api.start();
  seedDemoCluster(api, nodeName);
  // The daemon reads a private kubeconfig; the one for kubectl is written only once every port listens.
  const daemonKubeconfig = join(runDir, 'daemon.kubeconfig');
  api.writeKubeconfig(daemonKubeconfig);

  // The demo runs `run` with its defaults, only pointed at the simulated cluster on loopback; it has no
  // kube-proxy, so data-plane polling is off rather than warning about an unreachable health port.
  const cfg = loadConfig(
    runArgv({
      nodeName,
      kubeconfig: daemonKubeconfig,
      agentAddress: '127.0.0.1',
      agentPort,
      httpAddress: '127.0.0.1',
      httpPort,
      logLevel,
      overrideFile: join(runDir, 'override'),
      proxyHealthzUrl: undefined,
    }),
    {},
  );
  if (cfg === 'help') return 0;
  const log = createLogger(logLevel);
  let daemon: Awaited<ReturnType<typeof startDaemon>>;
  try {
    daemon = await startDaemon(cfg, log, process.env);
  } catch (err) {
    await api.stop();
    throw err;
  }
  let edge: DemoEdge | undefined;
  if (haproxyBin !== undefined) {
    try {
      edge = await startDemoEdge({
        bin: haproxyBin,
        port: haproxyPort,
        agentPort: daemon.agentPort,
        agentInterMs: DEMO_AGENT_INTER_MS,
        nodeName,
        services: DEMO_SERVICES,
        print: (line) => process.stdout.write(`${line}\n`),
      });
    } catch (err) {
      await daemon.stop();
      await api.stop();
      if (err instanceof HaproxyStartError && /cannot bind/i.test(err.output))
        throw new FlagError(
          'haproxy-port',
          `HAProxy cannot listen on 127.0.0.1:${haproxyPort} (in use?); pick another or --haproxy=false`,
        );
      throw err;
    }
  }
  mkdirSync(join(kubeconfig, '..'), { recursive: true });
  api.writeKubeconfig(kubeconfig);
  const edgeText =
    edge !== undefined
      ? edgeBanner(edge, haproxyPort, nodeName)
      : raw.haproxy === 'false'
        ? ''
        : 'HAProxy not found (apt-get install haproxy): running without the edge.\n\n';
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

${edgeText}Ctrl-C stops it.
`);
  return new Promise<number>((resolve) => {
    const stop = (): void => {
      void (edge?.stop() ?? Promise.resolve())
        .then(() => daemon.stop())
        .then(() => api.stop())
        .then(() => resolve(0));
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}

function edgeBanner(edge: DemoEdge, port: number, nodeName: string): string {
  const first = edge.routes[0];
  const curls = edge.routes.map((r) => `curl -s 127.0.0.1:${port}${r.path}`).join('\n                        ');
  // The two long banner lines are split with `+` in the source only; each still prints as one line.
  return (
    `  The edge:             HAProxy (pid ${edge.haproxy.pid}) on 127.0.0.1:${port}, ` +
    `agent-check every ${DEMO_AGENT_INTER_MS}ms to the agent
                        ${curls}
                        # answered by ${first?.backend ?? 'web'}@${nodeName} or ` +
    `${first?.backend ?? 'web'}@${OTHER_NODE} (${OTHER_NODE}: no agent-check, the rest of the cluster)
                        echo 'show stat' | socat - ${edge.haproxy.statsSocket}
  Below, one line per HAProxy server change: watch cordon and annotate reach the edge.

`
  );
}
