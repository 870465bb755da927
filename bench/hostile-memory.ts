// Issue 17 item 1, full size: 1,000 Services each carrying ~250 KB of annotations (a third an
// invalid 250 KB weight, a third a valid weight plus a 250 KB harmless annotation, a third a 250 KB
// last-applied-configuration), against the built daemon with the DaemonSet's NODE_OPTIONS.
// Measures VmRSS/VmHWM (/proc/PID/status) of (a) an agent that is running when the Services
// arrive and (b) a cold restart that lists them all. Not part of `npm test` (it moves ~1 GB).
//   npx tsc -p tsconfig.bench.json && node build/bench/hostile-memory.js [--count 1000] [--cli dist/main.js]
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeApiServer, type KubeObject } from '../src/testkit/fakeapi/server.js';
import { runArgv } from '../src/run/run-config.js';
import { readJsonLogs } from '../test/lib/json-logs.js';
import { spawnChild, type Owner } from '../test/lib/spawn.js';
import { memoryMb } from './proc.js';

/** Children die with this process (pdeathsig) or are killed at its exit; nothing else to clean. */
const owner: Owner = { teardown: () => undefined };

const PREFIX = 'haproxy-node-agent.io';
/** deploy/daemonset.yaml: NODE_OPTIONS and resources.limits.memory. */
const NODE_OPTIONS = '--max-old-space-size=160 --max-semi-space-size=1';
const LIMIT_MB = 256;
const BLOB = 250_000;

/** Service i of the hostile set: ~250 KB of annotations of three kinds. */
export function hostileService(i: number): KubeObject {
  const fill = String.fromCharCode(97 + (i % 26)).repeat(BLOB);
  const annotations: Record<string, string> =
    i % 3 === 0
      ? { [`${PREFIX}/weight`]: `${i}\n"evil"\u0007${fill}` }
      : i % 3 === 1
        ? { [`${PREFIX}/weight`]: '50', 'example.com/blob': fill }
        : { 'kubectl.kubernetes.io/last-applied-configuration': JSON.stringify({ data: fill }) };
  return {
    metadata: { namespace: `tenant-${i % 10}`, name: `big-${i}`, annotations },
    spec: { type: 'NodePort', ports: [{ port: 80, nodePort: 30000 + (i % 2000) }] },
  };
}

// ------------------------------------------------------------------ the API host (child process)

type HostMsg = { op: 'start' } | { op: 'hostile'; from: number; count: number };

async function apiHost(): Promise<void> {
  const api = new FakeApiServer();
  process.on('message', (m: HostMsg) => {
    void (async () => {
      if (m.op === 'start') {
        await api.start();
        api.create('nodes', {
          metadata: { name: 'n1' },
          spec: {},
          status: { conditions: [{ type: 'Ready', status: 'True' }] },
        });
        api.create('services', {
          metadata: { namespace: 'shop', name: 'web' },
          spec: { type: 'NodePort', ports: [{ port: 80, nodePort: 30080 }] },
        });
        const dir = mkdtempSync(join(tmpdir(), 'hna-hostile-'));
        api.writeKubeconfig(join(dir, 'kubeconfig'));
        process.send?.({ kubeconfig: join(dir, 'kubeconfig'), dir });
      } else {
        for (let i = m.from; i < m.from + m.count; i++) {
          api.create('services', hostileService(i));
          // Let watches drain between creates, like a tenant's kubectl apply loop.
          if (i % 20 === 19) await new Promise((r) => setImmediate(r));
        }
        process.send?.({ created: m.count });
      }
    })();
  });
}

// ------------------------------------------------------------------ the measuring side

function ask<T>(child: ChildProcess, msg: HostMsg): Promise<T> {
  return new Promise((resolve) => {
    child.once('message', (m) => resolve(m as T));
    child.send(msg);
  });
}

interface Run {
  proc: ChildProcess;
  /** The agent's HTTP port once it listens; -1 if it exited first. */
  httpPort: Promise<number>;
  exited: Promise<number | null>;
  peakMb: number;
  stop(): void;
}

function startAgent(cli: string, kubeconfig: string): Run {
  const proc = spawnChild(
    owner,
    process.execPath,
    [
      cli,
      'run',
      ...runArgv({
        nodeName: 'n1',
        kubeconfig,
        agentAddress: '127.0.0.1',
        agentPort: 0,
        httpAddress: '127.0.0.1',
        httpPort: 0,
        overrideFile: join(tmpdir(), 'hna-none', 'override'),
      }),
    ],
    {
      env: { PATH: process.env.PATH ?? '', NODE_OPTIONS },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  // Records are not kept (the agent logs each hostile Service): only "listening" is read, for the port.
  const out = readJsonLogs(proc, { keep: false });
  const run: Run = {
    proc,
    peakMb: 0,
    httpPort: out
      .first('agent exited before listening', (rec) =>
        rec.msg === 'listening' ? Number(/:(\d+)$/.exec(String(rec.http))?.[1]) : undefined,
      )
      .catch((err: Error) => {
        process.stderr.write(`[agent stderr] ${err.message.slice(0, 400)}\n`);
        return -1;
      }),
    exited: new Promise((r) => proc.on('exit', (c, s) => r(c ?? (s === null ? null : -1)))),
    stop: () => clearInterval(sampler),
  };
  const sampler = setInterval(() => {
    try {
      const peak = memoryMb(proc.pid ?? 0).peakRssMb;
      if (Number.isFinite(peak)) run.peakMb = Math.max(run.peakMb, peak);
    } catch {
      // exited
    }
  }, 50);
  return run;
}

async function metric(port: number, sample: string): Promise<number | undefined> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${sample} `));
  return line === undefined ? undefined : Number(line.slice(sample.length + 1));
}

/** Waits until `check` passes or the agent exits; false if it exited. */
async function until(run: Run, check: () => Promise<boolean>, ms: number): Promise<boolean> {
  let dead = false;
  void run.exited.then(() => (dead = true));
  const deadline = Date.now() + ms;
  while (!dead && Date.now() < deadline) {
    if (await check().catch(() => false)) return true;
    await new Promise((r) => setTimeout(r, 200));
  }
  return false;
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const count = Number(argv[argv.indexOf('--count') + 1] ?? 1000) || 1000;
  const cli = argv.includes('--cli')
    ? (argv[argv.indexOf('--cli') + 1] as string)
    : join(import.meta.dirname, '..', '..', 'dist', 'main.js');
  const host = spawnChild(owner, process.execPath, [new URL(import.meta.url).pathname, '--api-host'], {
    stdio: ['inherit', 'inherit', 'inherit', 'ipc'],
  });
  const { kubeconfig, dir } = await ask<{ kubeconfig: string; dir: string }>(host, { op: 'start' });
  const want = count + 1;
  const report: Record<string, unknown> = {
    count,
    annotationBytesPerService: BLOB,
    nodeOptions: NODE_OPTIONS,
    limitMb: LIMIT_MB,
  };
  try {
    // (a) running agent, Services arrive over the watch.
    const a = startAgent(cli, kubeconfig);
    const port = await a.httpPort;
    await until(a, async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200, 60_000);
    const idle = memoryMb(a.proc.pid ?? 0);
    const t0 = Date.now();
    await ask(host, { op: 'hostile', from: 0, count });
    const ok = await until(
      a,
      async () => (await metric(port, 'haproxy_node_agent_snapshot_objects{resource="services"}')) === want,
      300_000,
    );
    const settled = ok ? memoryMb(a.proc.pid ?? 0) : undefined;
    const invalid = ok
      ? await metric(port, 'haproxy_node_agent_invalid_annotations_total{annotation="haproxy-node-agent.io/weight"}')
      : undefined;
    a.stop();
    report.running = {
      idleRssMb: idle.rssMb,
      survived: ok,
      seconds: (Date.now() - t0) / 1000,
      rssMb: settled?.rssMb,
      peakRssMb: Math.max(a.peakMb, settled?.peakRssMb ?? 0),
      invalidWeightCounted: invalid,
      exit: ok ? null : await Promise.race([a.exited, new Promise((r) => setTimeout(() => r('timeout'), 1000))]),
    };
    a.proc.kill('SIGKILL');
    await a.exited;

    // (b) cold restart: everything arrives in list pages.
    const b = startAgent(cli, kubeconfig);
    const t1 = Date.now();
    const bport = await Promise.race([b.httpPort, b.exited.then(() => -1)]);
    const ready =
      bport > 0 &&
      (await until(b, async () => (await fetch(`http://127.0.0.1:${bport}/readyz`)).status === 200, 300_000));
    const readyMs = Date.now() - t1;
    const after = ready ? memoryMb(b.proc.pid ?? 0) : undefined;
    const services = ready
      ? await metric(bport, 'haproxy_node_agent_snapshot_objects{resource="services"}')
      : undefined;
    b.stop();
    report.coldRestart = {
      ready,
      readySeconds: readyMs / 1000,
      services,
      rssMb: after?.rssMb,
      peakRssMb: Math.max(b.peakMb, after?.peakRssMb ?? 0),
      exit: ready ? null : await Promise.race([b.exited, new Promise((r) => setTimeout(() => r('timeout'), 1000))]),
    };
    b.proc.kill('SIGKILL');
    await b.exited;
  } finally {
    host.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
}

if (process.argv.includes('--api-host')) void apiHost();
else await main();
