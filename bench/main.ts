// `npm run bench [-- --quick]`: probe throughput and CPU per probe (agent vs a bare Node server),
// propagation delay from an API change to the first probe that sees it, and initial sync time and
// memory at scale. Prints a table and writes bench/results.json. See the README, "Performance".
import { fork, spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { connect, createServer } from 'node:net';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { HostRequest, StampedRequest } from './api-host.js';
import { churn } from './churn.js';
import type { LoadJob, LoadResult } from './loadgen.js';
import { cpuMs, cpuMsOf, cpuTimes, machineFacts, memoryMb, round } from './proc.js';
import { concat, summarize, type LatencySummary } from './stats.js';
import { lineSplitter } from '../src/platform/lines.js';

// ------------------------------------------------------------------ options

interface Options {
  quick: boolean;
  only: Set<string>;
  levels: number[];
  warmupMs: number;
  durationMs: number;
  rounds: number;
  generators: number;
  pin: boolean;
  sourceAddresses: number;
  changes: number;
  kubectlChanges: number;
  services: number;
  slices: number;
  cpuProf: string | undefined;
  /** Another build of the CLI measured alongside (e.g. before an optimisation). */
  baselineCli: string | undefined;
  /** Extra node flags for the daemon, e.g. "--heapsnapshot-signal=SIGUSR2". */
  nodeFlags: string[];
  out: string;
  /** Churn scenario: Nodes in the cluster and status writes on other Nodes. */
  churnNodes: number;
  churnWrites: number;
}

function parseArgs(argv: string[]): Options {
  const quick = argv.includes('--quick');
  const val = (name: string): string | undefined => {
    const i = argv.indexOf(`--${name}`);
    if (i !== -1) return argv[i + 1];
    const eq = argv.find((a) => a.startsWith(`--${name}=`));
    return eq?.slice(name.length + 3);
  };
  const num = (name: string, dflt: number): number => {
    const v = val(name);
    if (v === undefined) return dflt;
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) throw new Error(`--${name}: expected a number, got "${v}"`);
    return n;
  };
  return {
    quick,
    only: new Set((val('only') ?? 'throughput,propagation,scale,churn').split(',')),
    churnNodes: num('churn-nodes', 300),
    churnWrites: num('churn-writes', 1000),
    levels: (val('levels') ?? '1,16,64,256').split(',').map(Number),
    warmupMs: num('warmup', 0.3) * 1000,
    durationMs: num('duration', quick ? 1.5 : 5) * 1000,
    rounds: num('rounds', quick ? 2 : 4),
    generators: num('generators', 1),
    pin: !argv.includes('--no-pin'),
    sourceAddresses: num('source-addresses', 8),
    changes: num('changes', 100),
    kubectlChanges: num('kubectl-changes', quick ? 0 : 10),
    services: num('services', 10_000),
    slices: num('slices', 20_000),
    cpuProf: val('cpu-prof'),
    baselineCli: val('baseline-cli'),
    nodeFlags: (val('daemon-node-flags') ?? '').split(' ').filter((f) => f !== ''),
    out: val('out') ?? join(import.meta.dirname, '..', '..', 'bench', 'results.json'),
  };
}

const opts = parseArgs(process.argv.slice(2));
const facts = machineFacts();
const nowMs = (): number => Number(process.hrtime.bigint()) / 1e6;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const CLI = join(import.meta.dirname, '..', 'src', 'main.js');
const children = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});
process.on('SIGINT', () => process.exit(130));

// Server on CPU 0; this process, the load generators (inherit) and the fake API on CPU 1.
const SERVER_CPU = '0';
const BENCH_CPU = '1';
const pinning = opts.pin && facts.cores >= 2;
if (pinning) execFileSync('taskset', ['-a', '-p', '-c', BENCH_CPU, String(process.pid)], { stdio: 'ignore' });

function log(line: string): void {
  process.stdout.write(`${line}\n`);
}

// ------------------------------------------------------------------ child processes

/** Spawns node with a script, pinned to the server core when pinning. */
function spawnServer(args: string[], env: Record<string, string> = {}): ChildProcess {
  const cmd = pinning ? 'taskset' : process.execPath;
  const full = pinning ? ['-c', SERVER_CPU, process.execPath, ...args] : args;
  const child = spawn(cmd, full, { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  child.on('exit', () => children.delete(child));
  return child;
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(t);
}

/** Calls `onLine` with each stdout line (JSON-parsed when possible). */
function readLines(child: ChildProcess, onLine: (rec: Record<string, unknown>) => void): void {
  const split = lineSplitter();
  child.stdout?.setEncoding('utf8');
  child.stdout?.on('data', (c: string) => {
    for (const line of split(c)) {
      try {
        onLine(JSON.parse(line) as Record<string, unknown>);
      } catch {
        onLine({ raw: line });
      }
    }
  });
}

interface Daemon {
  proc: ChildProcess;
  pid: number;
  agentPort: number;
  httpPort: number;
  logs: Array<Record<string, unknown>>;
  spawnedAtMs: number;
}

async function startDaemon(kubeconfig: string, logLevel: string, extra: string[] = [], cli = CLI): Promise<Daemon> {
  const dir = mkdtempSync(join(tmpdir(), 'hna-bench-'));
  const nodeFlags = [
    ...(opts.cpuProf === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${opts.cpuProf}`]),
    ...opts.nodeFlags,
  ];
  // Ports chosen here: below info level the daemon does not log the ones it picked.
  const [agentPort, httpPort] = [await freePort(), await freePort()];
  const spawnedAtMs = nowMs();
  const proc = spawnServer(
    [
      ...nodeFlags,
      cli,
      'run',
      '--node-name',
      'n1',
      '--kubeconfig',
      kubeconfig,
      '--agent-address',
      '127.0.0.1',
      '--agent-port',
      String(agentPort),
      '--http-address',
      '127.0.0.1',
      '--http-port',
      String(httpPort),
      '--log-level',
      logLevel,
      '--override-file',
      join(dir, 'override'),
      '--max-connections',
      '8192',
      ...extra,
    ],
    // As deployed (DaemonSet, systemd unit): glibc hands freed list pages back to the kernel.
    { GLIBC_TUNABLES: 'glibc.malloc.mmap_threshold=131072' },
  );
  const logs: Array<Record<string, unknown>> = [];
  let stderr = '';
  proc.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
  readLines(proc, (rec) => logs.push(rec));
  const exited = new Promise<never>((_, reject) =>
    proc.once('exit', (code) => reject(new Error(`daemon exited (${code}): ${stderr}`))),
  );
  exited.catch(() => undefined);
  // Listening once the HTTP port answers (the agent port listens before it).
  for (;;) {
    const up = await Promise.race([
      fetch(`http://127.0.0.1:${httpPort}/healthz`).then(
        (r) => r.text().then(() => true),
        () => false,
      ),
      exited,
    ]);
    if (up) break;
    await sleep(5);
  }
  return { proc, pid: proc.pid as number, logs, spawnedAtMs, agentPort, httpPort };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a !== null ? a.port : 0));
    });
  });
}

async function startBare(heavy = false): Promise<{ proc: ChildProcess; pid: number; port: number }> {
  const prof = opts.cpuProf === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${opts.cpuProf}`];
  const proc = spawnServer([...prof, join(import.meta.dirname, 'bare-server.js'), '0', ...(heavy ? ['heavy'] : [])]);
  const port = await new Promise<number>((resolve, reject) => {
    readLines(proc, (rec) => {
      if (typeof rec.port === 'number') resolve(rec.port);
    });
    proc.once('exit', (code) => reject(new Error(`bare server exited (${code})`)));
  });
  return { proc, pid: proc.pid as number, port };
}

/** The fake API server in a child process, answering requests by id. */
class ApiHost {
  private readonly proc: ChildProcess;
  private nextId = 1;
  private readonly waiting = new Map<number, (m: Record<string, unknown>) => void>();
  readonly ready: Promise<void>;

  constructor() {
    this.proc = fork(join(import.meta.dirname, 'api-host.js'), [], {
      serialization: 'advanced',
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    children.add(this.proc);
    this.ready = new Promise((resolve) => {
      this.proc.on('message', (m: Record<string, unknown>) => {
        if (m.ready === true) return resolve();
        const w = this.waiting.get(m.id as number);
        this.waiting.delete(m.id as number);
        w?.(m);
      });
    });
  }

  get pid(): number {
    return this.proc.pid as number;
  }

  async request<T = Record<string, unknown>>(req: HostRequest): Promise<T & { atMs: number }> {
    await this.ready;
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, (m) =>
        typeof m.error === 'string' ? reject(new Error(m.error)) : resolve(m as T & { atMs: number }),
      );
      this.proc.send({ ...req, id });
    });
  }

  async stop(): Promise<void> {
    const exited = new Promise<void>((r) => this.proc.once('exit', () => r()));
    this.proc.send({ op: 'stop', id: 0 });
    await exited;
  }
}

// ------------------------------------------------------------------ probes from this process

/** One probe like HAProxy's: connect, send, read until the server closes. */
function probeOnce(port: number, send: string, timeoutMs = 3000): Promise<{ text: string; endMs: number }> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port, noDelay: true });
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error('probe timed out'));
    }, timeoutMs);
    s.write(send);
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('end', () => {
      const endMs = nowMs();
      clearTimeout(timer);
      resolve({ text: Buffer.concat(chunks).toString('latin1'), endMs });
    });
    s.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

// ------------------------------------------------------------------ throughput

interface Generators {
  procs: ChildProcess[];
  pids: number[];
}

async function startGenerators(n: number): Promise<Generators> {
  const procs: ChildProcess[] = [];
  for (let i = 0; i < n; i++) {
    const p = fork(join(import.meta.dirname, 'loadgen.js'), [], {
      serialization: 'advanced',
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    children.add(p);
    await new Promise<void>((resolve) => p.once('message', () => resolve()));
    procs.push(p);
  }
  return { procs, pids: procs.map((p) => p.pid as number) };
}

interface LevelRun {
  probes: number;
  durationMs: number;
  serverCpuMs: number;
  serverUserMs: number;
  generatorCpuMs: number;
  wrong: number;
  errors: number;
  firstError: string | undefined;
  latencies: Float64Array;
}

async function runLevel(
  gens: Generators,
  server: { pid: number; port: number },
  send: string,
  expect: string,
  concurrency: number,
): Promise<LevelRun> {
  const start = nowMs();
  const from = start + opts.warmupMs + 50;
  // --duration is the measured time per server and level, split over the rounds.
  const to = from + opts.durationMs / opts.rounds;
  const addrs = Array.from({ length: opts.sourceAddresses }, (_, i) => `127.0.0.${i + 2}`);
  const shares = gens.procs.map(
    (_, i) => Math.floor(concurrency / gens.procs.length) + (i < concurrency % gens.procs.length ? 1 : 0),
  );
  const results = gens.procs.map(
    (p, i) =>
      new Promise<LoadResult>((resolve) => {
        const share = shares[i] as number;
        if (share === 0)
          return resolve({
            probes: 0,
            latenciesUs: new Float64Array(0),
            wrong: 0,
            errors: 0,
            firstError: undefined,
            started: 0,
          });
        p.once('message', (m: { result: LoadResult }) => resolve(m.result));
        const job: LoadJob = {
          port: server.port,
          send,
          expect,
          concurrency: share,
          measureFromMs: from,
          measureToMs: to,
          localAddresses: addrs,
          maxSamples: 1 << 21,
        };
        p.send({ op: 'run', job });
      }),
  );
  await sleep(from - nowMs());
  const cpu0 = { server: cpuTimes(server.pid), gens: cpuMsOf(gens.pids), at: nowMs() };
  await sleep(to - nowMs());
  const cpu1 = { server: cpuTimes(server.pid), gens: cpuMsOf(gens.pids), at: nowMs() };
  const rs = await Promise.all(results);
  return {
    probes: rs.reduce((a, r) => a + r.probes, 0),
    durationMs: cpu1.at - cpu0.at,
    serverCpuMs: cpu1.server.userMs + cpu1.server.sysMs - cpu0.server.userMs - cpu0.server.sysMs,
    serverUserMs: cpu1.server.userMs - cpu0.server.userMs,
    generatorCpuMs: cpu1.gens - cpu0.gens,
    wrong: rs.reduce((a, r) => a + r.wrong, 0),
    errors: rs.reduce((a, r) => a + r.errors, 0),
    firstError: rs.find((r) => r.firstError !== undefined)?.firstError,
    latencies: concat(rs.map((r) => r.latenciesUs)),
  };
}

interface LevelFigures {
  probesPerSec: number;
  latencyUs: LatencySummary;
  serverCpuUsPerProbe: number;
  /** The user-space part of it (JavaScript, V8, libuv); the rest is the kernel's TCP work. */
  serverUserUsPerProbe: number;
  serverCpuUtilisation: number;
  generatorCpuUsPerProbe: number;
  probes: number;
  wrongReplies: number;
  errors: number;
  firstError?: string;
}

function figures(runs: LevelRun[]): LevelFigures {
  const probes = runs.reduce((a, r) => a + r.probes, 0);
  const dur = runs.reduce((a, r) => a + r.durationMs, 0);
  const srv = runs.reduce((a, r) => a + r.serverCpuMs, 0);
  const usr = runs.reduce((a, r) => a + r.serverUserMs, 0);
  const gen = runs.reduce((a, r) => a + r.generatorCpuMs, 0);
  const lat = summarize(concat(runs.map((r) => r.latencies)));
  const firstError = runs.find((r) => r.firstError !== undefined)?.firstError;
  return {
    probesPerSec: round((probes * 1000) / dur),
    latencyUs: { count: lat.count, p50: round(lat.p50), p99: round(lat.p99), max: round(lat.max) },
    serverCpuUsPerProbe: round((srv * 1000) / probes, 1),
    serverUserUsPerProbe: round((usr * 1000) / probes, 1),
    serverCpuUtilisation: round(srv / dur, 2),
    generatorCpuUsPerProbe: round((gen * 1000) / probes, 1),
    probes,
    wrongReplies: runs.reduce((a, r) => a + r.wrong, 0),
    errors: runs.reduce((a, r) => a + r.errors, 0),
    ...(firstError === undefined ? {} : { firstError }),
  };
}

type ServerName = 'bare' | 'agent' | 'baseline';

interface ThroughputRow {
  concurrency: number;
  bare: LevelFigures;
  agent: LevelFigures;
  /** The --baseline-cli build, when one was given. */
  baseline?: LevelFigures;
  /** agent/bare. */
  ratios: { probesPerSec: number; cpuPerProbe: number; p99: number };
  baselineRatios?: { probesPerSec: number; cpuPerProbe: number; p99: number };
}

async function throughput(
  agent: { pid: number; port: number },
  baseline: { pid: number; port: number } | undefined,
): Promise<ThroughputRow[]> {
  const bare = await startBare();
  const gens = await startGenerators(opts.generators);
  const send = 'shop/web\n';
  const expect = 'ready up 100%\n';
  const servers: Partial<Record<ServerName, { pid: number; port: number }>> = {
    bare,
    agent,
    ...(baseline === undefined ? {} : { baseline }),
  };
  const names = Object.keys(servers) as ServerName[];
  // Every server answers the same line; confirm before measuring.
  for (const srv of Object.values(servers)) {
    const r = await probeOnce(srv.port, send);
    if (r.text !== expect)
      throw new Error(`server on ${srv.port} answered ${JSON.stringify(r.text)}, expected ${JSON.stringify(expect)}`);
  }
  const rows: ThroughputRow[] = [];
  for (const c of opts.levels) {
    const runs: Partial<Record<ServerName, LevelRun[]>> = {};
    for (let round = 0; round < opts.rounds; round++) {
      // Alternate the order (ABBA) so drift from other load on the machine hits all alike.
      const order = round % 2 === 0 ? names : [...names].reverse();
      for (const which of order) {
        const srv = servers[which] as { pid: number; port: number };
        (runs[which] ??= []).push(await runLevel(gens, srv, send, expect, c));
      }
    }
    const b = figures(runs.bare ?? []);
    const a = figures(runs.agent ?? []);
    const ratio = (x: LevelFigures) => ({
      probesPerSec: round(x.probesPerSec / b.probesPerSec, 3),
      cpuPerProbe: round(x.serverCpuUsPerProbe / b.serverCpuUsPerProbe, 3),
      p99: round(x.latencyUs.p99 / b.latencyUs.p99, 3),
    });
    const row: ThroughputRow = { concurrency: c, bare: b, agent: a, ratios: ratio(a) };
    if (runs.baseline) {
      row.baseline = figures(runs.baseline);
      row.baselineRatios = ratio(row.baseline);
    }
    rows.push(row);
    log(
      `  concurrency ${String(c).padStart(3)}: ${(['bare', 'agent', 'baseline'] as const)
        .filter((n) => row[n] !== undefined)
        .map(
          (n) =>
            `${n} ${row[n]?.probesPerSec}/s ${row[n]?.serverCpuUsPerProbe}µs CPU/probe ` +
            `p99 ${row[n]?.latencyUs.p99}µs`,
        )
        .join(' | ')}`,
    );
  }
  for (const p of gens.procs) p.send({ op: 'exit' });
  await stopChild(bare.proc);
  return rows;
}

// ------------------------------------------------------------------ propagation

interface PropagationFigures {
  changes: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  meanProbeUs: number;
  wrongAnswers: number;
  byKind: Record<string, { n: number; p50Ms: number; maxMs: number }>;
  kubectl?: { changes: number; p50Ms: number; p99Ms: number; maxMs: number };
}

async function propagation(host: ApiHost, agent: Daemon, kubeconfig: string): Promise<PropagationFigures> {
  const send = 'shop/web\n';
  let current = (await probeOnce(agent.agentPort, send)).text;
  const lat: number[] = [];
  const kinds: Record<string, number[]> = { cordon: [], uncordon: [], annotate: [] };
  let wrong = 0;
  let probes = 0;
  let probeTime = 0;
  let weight = 100;
  let cordoned = false;

  /** Probes until the answer is `expected`; every answer before it must be the previous one. */
  const until = async (expected: string): Promise<number> => {
    for (;;) {
      const t0 = nowMs();
      const r = await probeOnce(agent.agentPort, send);
      probes++;
      probeTime += r.endMs - t0;
      if (r.text === expected) return r.endMs;
      if (r.text !== current) wrong++;
    }
  };

  for (let i = 0; i < opts.changes; i++) {
    let kind: string;
    let patch: HostRequest;
    let expected: string;
    if (i % 3 === 2) {
      kind = 'annotate';
      weight = weight === 100 ? 10 + ((i * 7) % 80) : 100;
      patch = {
        op: 'patch',
        resource: 'services',
        namespace: 'shop',
        name: 'web',
        patch: { metadata: { annotations: { 'haproxy-node-agent.io/weight': String(weight) } } },
      };
      expected = `ready up ${weight}%\n`; // every third change, always right after an uncordon
    } else {
      cordoned = !cordoned;
      kind = cordoned ? 'cordon' : 'uncordon';
      patch = { op: 'patch', resource: 'nodes', name: 'n1', patch: { spec: { unschedulable: cordoned } } };
      expected = cordoned ? 'drain\n' : `ready up ${weight}%\n`;
    }
    const applied = host.request<{ appliedAtMs: number }>(patch);
    const seenAt = await until(expected);
    const { appliedAtMs } = await applied;
    const ms = seenAt - appliedAtMs;
    lat.push(ms);
    kinds[kind]?.push(ms);
    current = expected;
    await sleep(5);
  }

  let kubectlFig: PropagationFigures['kubectl'];
  if (opts.kubectlChanges > 0) {
    // The real client: time from the API server's answer to kubectl's PATCH to the first new probe answer.
    const kc: number[] = [];
    await host.request({ op: 'requests' });
    for (let i = 0; i < opts.kubectlChanges; i++) {
      cordoned = !cordoned;
      const expected = cordoned ? 'drain\n' : `ready up ${weight}%\n`;
      const child = spawn('kubectl', ['--kubeconfig', kubeconfig, cordoned ? 'cordon' : 'uncordon', 'n1'], {
        stdio: 'ignore',
      });
      const seenAt = await until(expected);
      await new Promise((r) => (child.exitCode !== null ? r(null) : child.once('exit', r)));
      const reqs = (await host.request<{ requests: StampedRequest[] }>({ op: 'requests' })).requests;
      const p = reqs.find((r) => r.method === 'PATCH' && r.path === '/api/v1/nodes/n1');
      if (p !== undefined) kc.push(seenAt - p.atMs);
      current = expected;
    }
    const s = summarize(Float64Array.from(kc));
    kubectlFig = { changes: kc.length, p50Ms: round(s.p50, 2), p99Ms: round(s.p99, 2), maxMs: round(s.max, 2) };
  }

  const s = summarize(Float64Array.from(lat));
  const byKind: PropagationFigures['byKind'] = {};
  for (const [k, v] of Object.entries(kinds)) {
    const ks = summarize(Float64Array.from(v));
    byKind[k] = { n: v.length, p50Ms: round(ks.p50, 2), maxMs: round(ks.max, 2) };
  }
  return {
    changes: lat.length,
    p50Ms: round(s.p50, 2),
    p99Ms: round(s.p99, 2),
    maxMs: round(s.max, 2),
    meanProbeUs: round((probeTime * 1000) / probes),
    wrongAnswers: wrong,
    byKind,
    ...(kubectlFig === undefined ? {} : { kubectl: kubectlFig }),
  };
}

// ------------------------------------------------------------------ scale

interface ScaleFigures {
  services: number;
  endpointSlices: number;
  createMs: number;
  /** Daemon spawn → first probe answered (synced). */
  startToReadyMs: number;
  /** Daemon spawn → /readyz 200. */
  startToReadyzMs: number;
  /** First list request reaching the API server → ready. */
  firstListToReadyMs: number;
  /** Last list page written by the API server → ready: the daemon's own sync cost. */
  lastListToReadyMs: number;
  listRequests: number;
  daemonCpuAtReadyMs: number;
  /** Cordon/uncordon at this scale: API change → first probe with the new answer. */
  propagationAtScale: { changes: number; p50Ms: number; maxMs: number };
  /** Node status updates that change no answer (kubelet heartbeats), one every 50 ms, with a probe loop running. */
  probeLatencyDuringNodeUpdates: {
    updates: number;
    probes: number;
    p50Ms: number;
    p99Ms: number;
    maxMs: number;
    daemonCpuPerUpdateMs: number;
  };
  rssMb: number;
  peakRssMb: number;
  heapUsedMb?: number;
  correctAnswers: boolean;
}

async function scale(): Promise<ScaleFigures> {
  const host = new ApiHost();
  const { kubeconfig } = await host.request<{ kubeconfig: string }>({ op: 'start' });
  const t0 = nowMs();
  const made = await host.request<{ services: number; slices: number }>({
    op: 'scale',
    services: opts.services,
    slices: opts.slices,
    nodeName: 'n1',
  });
  const createMs = nowMs() - t0;
  await host.request({ op: 'requests' });
  const daemon = await startDaemon(kubeconfig, 'info');
  // Service 10: Cluster policy, weight annotation 20 → "ready up 20%".
  const send = 'ns-10/svc-10\n';
  let readyAt = 0;
  for (;;) {
    const r = await probeOnce(daemon.agentPort, send, 30_000);
    if (r.text !== '') {
      readyAt = r.endMs;
      break;
    }
    if (nowMs() - daemon.spawnedAtMs > 60_000) throw new Error('daemon not ready within 60 s');
    await sleep(1);
  }
  const cpuAtReady = cpuMs(daemon.pid);
  let readyzAt = 0;
  for (;;) {
    const res = await fetch(`http://127.0.0.1:${daemon.httpPort}/readyz`);
    await res.text();
    if (res.status === 200) {
      readyzAt = nowMs();
      break;
    }
    await sleep(1);
  }
  const reqs = (await host.request<{ requests: StampedRequest[] }>({ op: 'requests' })).requests;
  const lists = reqs.filter(
    (r) =>
      r.method === 'GET' &&
      !r.query.includes('watch=') &&
      /\/(nodes|services|endpointslices)$/.test(r.path) &&
      r.atMs <= readyAt,
  );
  const firstList = Math.min(...lists.map((r) => r.atMs));
  const lastList = Math.max(...lists.map((r) => r.atMs));
  // Settle.
  await sleep(2000);

  // Changes at this scale: a cordon or uncordon recomputes every Service's answer.
  const prop: number[] = [];
  let cordoned = false;
  for (let i = 0; i < 10; i++) {
    cordoned = !cordoned;
    const expected = cordoned ? 'drain\n' : 'ready up 20%\n';
    const applied = host.request<{ appliedAtMs: number }>({
      op: 'patch',
      resource: 'nodes',
      name: 'n1',
      patch: { spec: { unschedulable: cordoned } },
    });
    let seenAt = 0;
    for (;;) {
      const r = await probeOnce(daemon.agentPort, send, 60_000);
      if (r.text === expected) {
        seenAt = r.endMs;
        break;
      }
    }
    prop.push(seenAt - (await applied).appliedAtMs);
    await sleep(20);
  }
  const ps = summarize(Float64Array.from(prop));

  // Heartbeat-like node updates that change no answer: their CPU cost alone, then how long they
  // hold up probes that arrive meanwhile.
  const updates = 20;
  let beat = 0;
  const heartbeat = () =>
    host.request({
      op: 'patch',
      resource: 'nodes',
      name: 'n1',
      patch: {
        status: {
          conditions: [
            { type: 'Ready', status: 'True', lastHeartbeatTime: new Date(Date.now() + beat++ * 1000).toISOString() },
          ],
        },
      },
    });
  const cpuBefore = cpuMs(daemon.pid);
  for (let i = 0; i < updates; i++) {
    await heartbeat();
    await sleep(50);
  }
  await sleep(200);
  const cpuPerUpdate = (cpuMs(daemon.pid) - cpuBefore) / updates;
  let probing = true;
  const lat: number[] = [];
  const loop = (async () => {
    while (probing) {
      const t0 = nowMs();
      // A long timeout: how long a probe waits here is the figure, not a failure.
      const r = await probeOnce(daemon.agentPort, send, 60_000);
      lat.push(r.endMs - t0);
    }
  })();
  for (let i = 0; i < updates; i++) {
    await heartbeat();
    await sleep(50);
  }
  await sleep(200);
  probing = false;
  await loop;
  const ls = summarize(Float64Array.from(lat));

  // A forced probe burst over many services, then memory.
  let correct = (await probeOnce(daemon.agentPort, send)).text === 'ready up 20%\n';
  const burst = Array.from({ length: 16 }, async (_, w) => {
    for (let i = 0; i < 200; i++) {
      const k = (w * 200 + i) % opts.services;
      const r = await probeOnce(daemon.agentPort, `ns-${k % 50}/svc-${k}\n`, 30_000);
      if (r.text === '') correct = false;
    }
  });
  await Promise.all(burst);
  await sleep(500);
  const mem = memoryMb(daemon.pid);
  const metrics = await (await fetch(`http://127.0.0.1:${daemon.httpPort}/metrics`)).text();
  const heap = /^nodejs_heap_size_used_bytes (\d+(?:\.\d+)?(?:e\+\d+)?)$/m.exec(metrics);
  if (opts.nodeFlags.some((f) => f.startsWith('--heapsnapshot-signal'))) {
    daemon.proc.kill('SIGUSR2');
    await sleep(15_000);
  }
  await stopChild(daemon.proc);
  await host.stop();
  return {
    services: made.services,
    endpointSlices: made.slices,
    createMs: round(createMs),
    startToReadyMs: round(readyAt - daemon.spawnedAtMs),
    startToReadyzMs: round(readyzAt - daemon.spawnedAtMs),
    firstListToReadyMs: round(readyAt - firstList),
    lastListToReadyMs: round(readyAt - lastList),
    listRequests: lists.length,
    daemonCpuAtReadyMs: round(cpuAtReady),
    propagationAtScale: { changes: prop.length, p50Ms: round(ps.p50, 1), maxMs: round(ps.max, 1) },
    probeLatencyDuringNodeUpdates: {
      updates,
      probes: ls.count,
      p50Ms: round(ls.p50, 2),
      p99Ms: round(ls.p99, 1),
      maxMs: round(ls.max, 1),
      daemonCpuPerUpdateMs: round(cpuPerUpdate, 1),
    },
    ...mem,
    ...(heap === null ? {} : { heapUsedMb: round(Number(heap[1]) / 1048576, 1) }),
    correctAnswers: correct,
  };
}

// ------------------------------------------------------------------ report

function pad(s: string | number, n: number): string {
  return String(s).padStart(n);
}

function printThroughput(rows: ThroughputRow[]): void {
  log('');
  log(
    `Throughput: fresh TCP connection per probe ("shop/web\\n" → "ready up 100%\\n"); ` +
      `${opts.durationMs / 1000} s measured per server and level, in ${opts.rounds} interleaved slices ` +
      `each after a ${opts.warmupMs / 1000} s warm-up; ${opts.generators} generator process(es)` +
      `${pinning ? `, server pinned to CPU ${SERVER_CPU}, generators to CPU ${BENCH_CPU}` : ', unpinned'}`,
  );
  log(
    `${pad('conc', 4)} ${pad('server', 6)} ${pad('probes/s', 9)} ${pad('p50 µs', 7)} ${pad('p99 µs', 7)} ` +
      `${pad('max µs', 7)} ${pad('srv CPU µs/probe', 16)} ${pad('(user)', 6)} ${pad('srv core', 8)} ` +
      `${pad('gen CPU µs/probe', 16)}`,
  );
  for (const r of rows) {
    for (const [name, f] of [
      ['bare', r.bare],
      ['agent', r.agent],
      ...(r.baseline ? [['before', r.baseline] as const] : []),
    ] as const) {
      const trouble =
        f.wrongReplies + f.errors > 0
          ? `  (${f.wrongReplies} wrong, ${f.errors} errors${f.firstError ? `: ${f.firstError}` : ''})`
          : '';
      log(
        `${pad(r.concurrency, 4)} ${pad(name, 6)} ${pad(f.probesPerSec, 9)} ${pad(f.latencyUs.p50, 7)} ` +
          `${pad(f.latencyUs.p99, 7)} ${pad(f.latencyUs.max, 7)} ${pad(f.serverCpuUsPerProbe, 16)} ` +
          `${pad(f.serverUserUsPerProbe, 6)} ${pad(`${Math.round(f.serverCpuUtilisation * 100)}%`, 8)} ` +
          `${pad(f.generatorCpuUsPerProbe, 16)}${trouble}`,
      );
    }
  }
  log('');
  log('agent/bare   probes/s (≥0.85)   CPU per probe (≤1.15)   p99 (≤1.2)');
  for (const r of rows) {
    const mark = (ok: boolean): string => (ok ? ' ok ' : ' MISS');
    log(
      `${pad(r.concurrency, 4)}        ` +
        `${pad(r.ratios.probesPerSec.toFixed(3), 8)}${mark(r.ratios.probesPerSec >= 0.85)}        ` +
        `${pad(r.ratios.cpuPerProbe.toFixed(3), 8)}${mark(r.ratios.cpuPerProbe <= 1.15)}       ` +
        `${pad(r.ratios.p99.toFixed(3), 7)}${mark(r.ratios.p99 <= 1.2)}`,
    );
  }
  if (rows.some((r) => r.baselineRatios)) {
    log(`before/bare (--baseline-cli ${opts.baselineCli})`);
    for (const r of rows) {
      const x = r.baselineRatios;
      if (x)
        log(
          `${pad(r.concurrency, 4)}        ${pad(x.probesPerSec.toFixed(3), 8)}             ` +
            `${pad(x.cpuPerProbe.toFixed(3), 8)}              ${pad(x.p99.toFixed(3), 7)}`,
        );
    }
  }
}

async function main(): Promise<void> {
  log(
    `haproxy-node-agent bench: ${facts.cores} cores (${facts.cpuModel}), Node ${facts.node}, Linux ${facts.kernel}, ` +
      `CLK_TCK ${facts.clkTck}, net.ipv4.tcp_tw_reuse=${facts.tcpTwReuse}, ` +
      `ephemeral ports ${facts.ephemeralPorts}${opts.quick ? ' [--quick]' : ''}`,
  );
  if (facts.tcpTwReuse === '0')
    log(
      'hint: net.ipv4.tcp_tw_reuse=0; fresh connections at this rate may exhaust ephemeral ports ' +
        '(sysctl -w net.ipv4.tcp_tw_reuse=2 allows reuse on loopback)',
    );
  const load = await readLoad();
  const results: Record<string, unknown> = {
    command: `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
    date: new Date().toISOString(),
    machine: { ...facts, loadAverageAtStart: load },
    settings: {
      ...(opts.baselineCli === undefined ? {} : { baselineCli: opts.baselineCli }),
      levels: opts.levels,
      warmupMs: opts.warmupMs,
      durationMs: opts.durationMs,
      rounds: opts.rounds,
      generators: opts.generators,
      pinned: pinning,
      sourceAddresses: opts.sourceAddresses,
    },
  };
  const started = nowMs();

  if (opts.only.has('throughput') || opts.only.has('propagation')) {
    const host = new ApiHost();
    const { kubeconfig } = await host.request<{ kubeconfig: string }>({ op: 'start' });
    await host.request({ op: 'seed' });
    const agent = await startDaemon(kubeconfig, 'warn');
    // --baseline-cli bare: a second bare server in the baseline slot, to see the noise floor (A/A);
    // bare-heavy: the bare server in a process that has loaded what the agent loads.
    const baseline =
      opts.baselineCli === undefined || !opts.only.has('throughput')
        ? undefined
        : opts.baselineCli === 'bare' || opts.baselineCli === 'bare-heavy'
          ? await startBare(opts.baselineCli === 'bare-heavy').then((b) => ({
              proc: b.proc,
              pid: b.pid,
              agentPort: b.port,
            }))
          : await startDaemon(kubeconfig, 'warn', [], opts.baselineCli);
    for (let i = 0; (await probeOnce(agent.agentPort, 'shop/web\n')).text === ''; i++) {
      if (i > 5000) throw new Error('agent never synced');
      await sleep(2);
    }
    if (opts.only.has('throughput')) {
      log('throughput…');
      for (const d of baseline === undefined ? [] : [baseline]) {
        for (let i = 0; (await probeOnce(d.agentPort, 'shop/web\n')).text === ''; i++) {
          if (i > 5000) throw new Error('baseline agent never synced');
          await sleep(2);
        }
      }
      const rows = await throughput(
        { pid: agent.pid, port: agent.agentPort },
        baseline === undefined ? undefined : { pid: baseline.pid, port: baseline.agentPort },
      );
      if (baseline !== undefined) await stopChild(baseline.proc);
      results.throughput = rows;
      printThroughput(rows);
      results.agentRssAfterThroughputMb = memoryMb(agent.pid);
    }
    if (opts.only.has('propagation')) {
      log('');
      log(
        `propagation: ${opts.changes} changes through the fake API (cordon/uncordon/annotate), ` +
          'a fresh-connection probe loop…',
      );
      const p = await propagation(host, agent, kubeconfig);
      results.propagation = p;
      log(
        `propagation over ${p.changes} changes: p50 ${p.p50Ms} ms, p99 ${p.p99Ms} ms, max ${p.maxMs} ms ` +
          `(target p99 < 50 ms)${p.wrongAnswers > 0 ? `, ${p.wrongAnswers} WRONG answers` : ', no wrong answer'}; ` +
          `one probe takes ${p.meanProbeUs} µs`,
      );
      for (const [k, v] of Object.entries(p.byKind))
        log(`  ${k.padEnd(8)} n=${v.n} p50 ${v.p50Ms} ms max ${v.maxMs} ms`);
      if (p.kubectl)
        log(
          `  via kubectl (${p.kubectl.changes} cordon/uncordon, from the API server's PATCH answer): ` +
            `p50 ${p.kubectl.p50Ms} ms, max ${p.kubectl.maxMs} ms`,
        );
    }
    await stopChild(agent.proc);
    await host.stop();
  }

  if (opts.only.has('scale')) {
    log('');
    log(`scale: ${opts.services} Services + ${opts.slices} EndpointSlices + 1 Node…`);
    const s = await scale();
    results.scale = s;
    log(
      `scale: created in ${s.createMs} ms; daemon start → ready ${s.startToReadyMs} ms ` +
        `(/readyz ${s.startToReadyzMs} ms); first list request → ready ${s.firstListToReadyMs} ms; ` +
        `last list page sent → ready ${s.lastListToReadyMs} ms (target < 1000 ms; ${s.listRequests} list requests); ` +
        `daemon CPU until ready ${s.daemonCpuAtReadyMs} ms`,
    );
    log(
      `scale: cordon/uncordon at this scale: p50 ${s.propagationAtScale.p50Ms} ms, ` +
        `max ${s.propagationAtScale.maxMs} ms; ` +
        `during ${s.probeLatencyDuringNodeUpdates.updates} heartbeat-like node updates (no answer change) ` +
        `probe latency p50 ${s.probeLatencyDuringNodeUpdates.p50Ms} ms, ` +
        `p99 ${s.probeLatencyDuringNodeUpdates.p99Ms} ms, ` +
        `max ${s.probeLatencyDuringNodeUpdates.maxMs} ms ` +
        `(daemon CPU ${s.probeLatencyDuringNodeUpdates.daemonCpuPerUpdateMs} ms per update)`,
    );
    log(
      `scale: RSS ${s.rssMb} MB (peak ${s.peakRssMb} MB, heap used ${s.heapUsedMb ?? '?'} MB) ` +
        `after settle and a 3,200-probe burst (target < 80 MB); ` +
        `answers ${s.correctAnswers ? 'correct' : 'WRONG'}`,
    );
  }

  if (opts.only.has('churn')) {
    log('');
    log(
      `churn: ${opts.churnWrites} Node status writes over ${opts.churnNodes} Nodes, ` +
        'one agent per --guard-mode and a coordinator…',
    );
    const host = new ApiHost();
    const { kubeconfig } = await host.request<{ kubeconfig: string }>({ op: 'start' });
    const c = await churn(host, kubeconfig, CLI, opts.churnNodes, opts.churnWrites, children);
    results.churn = c;
    for (const [mode, a] of Object.entries(c.agents))
      log(
        `  ${mode.padEnd(12)} Node watch events ${a.nodeEvents}, decision events ${a.decisionEvents}, ` +
          `agent CPU ${a.cpuMs} ms`,
      );
    log(`  coordinator  Node watch events ${c.coordinatorNodeEvents}`);
    await host.stop();
  }

  results.totalSeconds = round((nowMs() - started) / 1000, 1);
  results.targets = targets(results);
  writeFileSync(opts.out, `${JSON.stringify(results, null, 2)}\n`);
  log('');
  log(
    `targets: ${Object.entries(results.targets as Record<string, boolean>)
      .map(([k, v]) => `${k} ${v ? 'met' : 'MISSED'}`)
      .join('; ')}`,
  );
  log(`wrote ${opts.out} (${results.totalSeconds} s)`);
}

function targets(r: Record<string, unknown>): Record<string, boolean> {
  const out: Record<string, boolean> = {};
  const rows = r.throughput as ThroughputRow[] | undefined;
  if (rows) {
    out['probes/s ratio ≥ 0.85'] = rows.every((x) => x.ratios.probesPerSec >= 0.85);
    out['CPU per probe ≤ 1.15 × bare'] = rows.every((x) => x.ratios.cpuPerProbe <= 1.15);
    out['p99 ≤ 1.2 × bare'] = rows.every((x) => x.ratios.p99 <= 1.2);
  }
  const p = r.propagation as PropagationFigures | undefined;
  if (p) out['propagation p99 < 50 ms'] = p.p99Ms < 50 && p.wrongAnswers === 0;
  const s = r.scale as ScaleFigures | undefined;
  if (s) {
    out['ready < 1 s after the list'] = s.lastListToReadyMs < 1000;
    out['RSS < 80 MB'] = s.rssMb < 80;
  }
  return out;
}

async function readLoad(): Promise<string> {
  const { readFile } = await import('node:fs/promises');
  return (await readFile('/proc/loadavg', 'utf8')).split(' ').slice(0, 3).join(' ');
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
