// `npm run bench [-- --quick] [-- --only subsets,sync]`: probe throughput and CPU per probe (agent vs a
// bare Node server), propagation delay from an API change to the first probe that sees it, initial
// sync time and memory at scale, the edge subsets' cost per Node or Service event, and `sync`
// against the real master-worker HAProxy (when installed). Prints a table and writes
// bench/results.json. See the README, "Performance", and docs/performance.md.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { churn } from './churn.js';
import { ApiHost, startBare, startDaemon, stopChild } from './children.js';
import { BENCH_CPU, CLI, cleanUp, facts, log, nowMs, opts, owner, pinning, sleep } from './context.js';
import { probeOnce } from './probe.js';
import { type PropagationFigures, propagation } from './propagation.js';
import { memoryMb, round } from './proc.js';
import { type ScaleFigures, scale } from './scale.js';
import { printSubsets, type SubsetsFigures, subsets } from './subsets.js';
import { type SyncFigures, syncBench } from './sync.js';
import { type ThroughputRow, printThroughput, throughput } from './throughput.js';

process.on('SIGINT', () => process.exit(130));
if (pinning) execFileSync('taskset', ['-a', '-p', '-c', BENCH_CPU, String(process.pid)], { stdio: 'ignore' });

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
    const c = await churn(host, kubeconfig, CLI, opts.churnNodes, opts.churnWrites, owner);
    results.churn = c;
    for (const [mode, a] of Object.entries(c.agents))
      log(
        `  ${mode.padEnd(12)} Node watch events ${a.nodeEvents}, decision events ${a.decisionEvents}, ` +
          `agent CPU ${a.cpuMs} ms`,
      );
    log(`  coordinator  Node watch events ${c.coordinatorNodeEvents}`);
    await host.stop();
  }

  if (opts.only.has('subsets')) {
    log('');
    log(
      `subsets: ${opts.subsetNodes} eligible Nodes in ${opts.subsetZones} zones × ${opts.subsetServices} exposed ` +
        `Services, k=6; ${opts.subsetEvents} events of each kind…`,
    );
    const s = await subsets();
    results.subsets = s;
    printSubsets(s);
  }

  if (opts.only.has('sync')) {
    log('');
    const y = await syncBench();
    if (y !== undefined) {
      results.sync = y;
      const a = y.nodeEventToUp;
      log(
        `sync (a): Node deleted → replacement listed p50 ${a.addedP50Ms} ms (p99 ${a.addedP99Ms} ms), UP p50 ` +
          `${a.p50Ms} ms, p99 ${a.p99Ms} ms, max ${a.maxMs} ms over ${a.events} events; reloads ${a.reloads} ` +
          `(${y.haproxy})`,
      );
      const b = y.reloadsWithConnections;
      log(
        `sync (b): ${b.reloads} reloads; ${b.streams} streams, ${b.streamsCut} cut; ${b.keepAliveClients} keep-alive ` +
          `clients, ${b.keepAliveRequests} requests, ${b.keepAliveFailed} failed, ` +
          `${b.keepAliveNewConnections} connections opened` +
          `${b.keepAliveErrors.length > 0 ? ` (failures: ${b.keepAliveErrors.join(', ')})` : ''}`,
      );
      const c = y.churn;
      log(
        `sync (c): ${c.nodeEvents} Node deletes/adds in ${c.seconds} s: ${c.reloads} reloads ` +
          `(${c.reloadsPerHour} per hour), ${c.runtimeOps} runtime operations (add, drain, delete, ...)`,
      );
      const d = y.scale;
      log(
        `sync (d): ${d.backends} backends × ${d.serversPerBackend} servers on ${d.nodes} nodes: in sync ` +
          `${d.startToInSyncMs} ms after start; steady RSS ${d.steadyRssMb} MB, ` +
          `CPU ${d.steadyCpuPercent}% of a core; ` +
          `per Node event (${d.nodeEvents}) CPU ${d.cpuMsPerNodeEvent} ms for ${d.runtimeOpsPerNodeEvent} ` +
          `runtime operations, applied p50 ${d.convergeP50Ms} ms ` +
          `(max ${d.convergeMaxMs} ms), ${d.reloadsDuringEvents} reloads; RSS after ${d.rssAfterEventsMb} MB ` +
          `(peak ${d.peakRssMb} MB)`,
      );
    }
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
  const sub = r.subsets as SubsetsFigures | undefined;
  if (sub) {
    const nodeEvents = Object.entries(sub.events.costs).filter(([kind]) => kind.startsWith('node'));
    out['subsets: Node event ≤ 50 ms CPU'] = nodeEvents.every(([, c]) => c.maxMs <= 50);
    out['subsets: picks equal pickNodes'] = sub.sameModel && sub.events.sampleWrong === 0;
  }
  const y = r.sync as SyncFigures | undefined;
  if (y) {
    out['sync: no connection cut across reloads'] =
      y.reloadsWithConnections.streamsCut === 0 && y.reloadsWithConnections.keepAliveFailed === 0;
    out['sync: no reload on node churn'] = y.churn.reloads === 0 && y.nodeEventToUp.reloads === 0;
  }
  return out;
}

async function readLoad(): Promise<string> {
  const { readFile } = await import('node:fs/promises');
  return (await readFile('/proc/loadavg', 'utf8')).split(' ').slice(0, 3).join(' ');
}

// Children left running and temp folders go at the end (children also die with this process).
main().then(
  () => cleanUp().then(() => process.exit(0)),
  (err: unknown) => {
    process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    void cleanUp().finally(() => process.exit(1));
  },
);
