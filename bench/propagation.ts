// Propagation: a change through the fake API (cordon, uncordon, annotate; and via the real kubectl)
// until the first fresh-connection probe that answers it, timed on the shared monotonic clock.
import type { HostRequest, StampedRequest } from './api-host.js';
import { spawnChild } from '../test/lib/spawn.js';
import type { ApiHost, Daemon } from './children.js';
import { nowMs, opts, owner, sleep } from './context.js';
import { probeOnce } from './probe.js';
import { round } from './proc.js';
import { summarize } from './stats.js';

export interface PropagationFigures {
  changes: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  meanProbeUs: number;
  wrongAnswers: number;
  byKind: Record<string, { n: number; p50Ms: number; maxMs: number }>;
  kubectl?: { changes: number; p50Ms: number; p99Ms: number; maxMs: number };
}

export async function propagation(host: ApiHost, agent: Daemon, kubeconfig: string): Promise<PropagationFigures> {
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
      const child = spawnChild(owner, 'kubectl', ['--kubeconfig', kubeconfig, cordoned ? 'cordon' : 'uncordon', 'n1'], {
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
