// What every part of the bench shares: its options, the machine, the clock, CPU pinning, the log,
// and the owner of every child process and temp folder it starts (test/lib/spawn.ts: pdeathsig).
import { join } from 'node:path';
import type { Owner } from '../test/lib/spawn.js';
import { machineFacts } from './proc.js';

export interface Options {
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
  /** Subsets scenario: one cluster's eligible Nodes, exposed Services, zones; events of each kind. */
  subsetNodes: number;
  subsetServices: number;
  subsetZones: number;
  subsetEvents: number;
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
    only: new Set((val('only') ?? 'throughput,propagation,scale,churn,subsets,sync').split(',')),
    churnNodes: num('churn-nodes', 300),
    churnWrites: num('churn-writes', 1000),
    subsetNodes: num('subset-nodes', 5000),
    subsetServices: num('subset-services', 2000),
    subsetZones: num('subset-zones', 3),
    subsetEvents: num('subset-events', 20),
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

export const opts = parseArgs(process.argv.slice(2));
export const facts = machineFacts();
/** Monotonic, ms: the same clock in every process on the machine (the fake API stamps with it too). */
export const nowMs = (): number => Number(process.hrtime.bigint()) / 1e6;
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
export const CLI = join(import.meta.dirname, '..', 'src', 'main.js');

// Server on CPU 0; this process, the load generators (inherit) and the fake API on CPU 1.
export const SERVER_CPU = '0';
export const BENCH_CPU = '1';
export const pinning = opts.pin && facts.cores >= 2;

export function log(line: string): void {
  process.stdout.write(`${line}\n`);
}

const cleanups: Array<() => unknown> = [];
/** Owns the bench's children and temp folders (spawn.ts also kills live children at exit). */
export const owner: Owner = { teardown: (fn) => void cleanups.push(fn) };
export async function cleanUp(): Promise<void> {
  for (const fn of cleanups.splice(0).reverse()) await fn();
}
