// Edge subsets: what a full model build costs with pickNodes and with a SubsetIndex, and what one
// Node or Service event costs the index (what sync pays per watch event). Each measurement runs in
// its own process (bench/subsets-worker.ts), so RSS and heap are that build's alone.
import type { ChildProcess } from 'node:child_process';
import { forkScript, stopChild } from './children.js';
import { log, opts } from './context.js';
import type { EventCost, EventsResult, FullResult, SubsetsJob } from './subsets-worker.js';

export interface SubsetsFigures {
  nodes: number;
  services: number;
  zones: number;
  k: number;
  pickNodes: FullResult;
  index: FullResult;
  sameModel: boolean;
  events: EventsResult;
}

async function measure<T>(job: SubsetsJob): Promise<T> {
  const child: ChildProcess = forkScript('subsets-worker.js');
  try {
    return await new Promise<T>((resolve, reject) => {
      child.once('message', (m) => resolve(m as T));
      child.once('exit', (code) => reject(new Error(`subsets worker (${job.mode}) exited with ${code}`)));
      child.send(job);
    });
  } finally {
    await stopChild(child);
  }
}

export async function subsets(): Promise<SubsetsFigures> {
  const base = { nodes: opts.subsetNodes, services: opts.subsetServices, zones: opts.subsetZones, k: 6 };
  const job = (mode: SubsetsJob['mode']): SubsetsJob => ({ ...base, mode, events: opts.subsetEvents });
  const pickNodes = await measure<FullResult>(job('full-picknodes'));
  const index = await measure<FullResult>(job('full-index'));
  const events = await measure<EventsResult>(job('events'));
  return { ...base, pickNodes, index, sameModel: pickNodes.modelDigest === index.modelDigest, events };
}

export function printSubsets(s: SubsetsFigures): void {
  const full = (name: string, r: FullResult): string =>
    `  full build, ${name.padEnd(9)} CPU ${r.cpuMs} ms (wall ${r.wallMs} ms); ` +
    `RSS ${r.rssBeforeMb} → ${r.rssAfterMb} MB (peak ${r.peakRssMb} MB), ` +
    `heap used ${r.heapBeforeMb} → ${r.heapAfterMb} MB; ${r.servers} servers`;
  log(full('pickNodes', s.pickNodes));
  log(full('index', s.index));
  log(`  same model from both: ${s.sameModel ? 'yes' : 'NO'}; index holds ${s.events.keptEntries} entries`);
  const row = (kind: string, c: EventCost): string =>
    `  ${kind.padEnd(36)} CPU p50 ${c.p50Ms} ms, max ${c.maxMs} ms over ${c.n}; Services changed ${c.changed}`;
  for (const [kind, c] of Object.entries(s.events.costs)) log(row(kind, c));
  log(`  (the deleted nodes were picked by ${s.events.deletedNodePickedBy.join(', ')} Services)`);
  log(row('whole model rebuild with the index', s.events.rebuildWithIndex));
  log(
    `  picks equal pickNodes for ${s.events.sampleChecked - s.events.sampleWrong} of ${s.events.sampleChecked} ` +
      'sampled Services after the events',
  );
}
