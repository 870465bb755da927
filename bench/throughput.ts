// Throughput: fresh-connection probes from the load generators against the bare server, the agent
// and optionally a baseline build, in interleaved slices; CPU per probe from /proc.
import type { ChildProcess } from 'node:child_process';
import type { LoadJob, LoadResult } from './loadgen.js';
import { forkScript, startBare, stopChild } from './children.js';
import { BENCH_CPU, SERVER_CPU, log, nowMs, opts, pinning, sleep } from './context.js';
import { probeOnce } from './probe.js';
import { cpuMsOf, cpuTimes, round } from './proc.js';
import { concat, summarize, type LatencySummary } from './stats.js';

// ------------------------------------------------------------------ throughput

interface Generators {
  procs: ChildProcess[];
  pids: number[];
}

async function startGenerators(n: number): Promise<Generators> {
  const procs: ChildProcess[] = [];
  for (let i = 0; i < n; i++) {
    const p = forkScript('loadgen.js');
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

export interface ThroughputRow {
  concurrency: number;
  bare: LevelFigures;
  agent: LevelFigures;
  /** The --baseline-cli build, when one was given. */
  baseline?: LevelFigures;
  /** agent/bare. */
  ratios: { probesPerSec: number; cpuPerProbe: number; p99: number };
  baselineRatios?: { probesPerSec: number; cpuPerProbe: number; p99: number };
}

export async function throughput(
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

export function pad(s: string | number, n: number): string {
  return String(s).padStart(n);
}

export function printThroughput(rows: ThroughputRow[]): void {
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
