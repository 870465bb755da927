// Scale: initial sync time and memory with many Services and EndpointSlices, propagation at that
// scale, and probe latency while Node updates that change no answer arrive.
import type { StampedRequest } from './api-host.js';
import { ApiHost, startDaemon, stopChild } from './children.js';
import { nowMs, opts, sleep } from './context.js';
import { probeOnce } from './probe.js';
import { cpuMs, memoryMb, round } from './proc.js';
import { summarize } from './stats.js';

export interface ScaleFigures {
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

export async function scale(): Promise<ScaleFigures> {
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
