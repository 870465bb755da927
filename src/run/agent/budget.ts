// One connection budget for the whole agent: the agent port and every dedicated port draw from
// the same --max-connections, and each source address from the same --max-connections-per-source,
// so tenant ports cannot multiply the cap and one neighbour cannot hold the slots HAProxy needs.
// Loopback sources (processes on this node, which could do anything anyway) are not limited per
// source. Admitting and releasing cost one Map lookup and one write.
import type { RejectReason } from './probe-counters.js';

export class ConnectionBudget {
  /** Connections admitted and not yet closed, over every listener. */
  open = 0;
  private readonly bySource = new Map<string, number>();

  constructor(
    readonly max: number,
    readonly perSource: number,
  ) {}

  /** Admits a connection from `source` (undefined), or says why not; release() it with the same source. */
  admit(source: string | undefined): RejectReason | undefined {
    if (this.open >= this.max) return 'over_capacity';
    if (source !== undefined && !isLoopback(source)) {
      const n = this.bySource.get(source) ?? 0;
      if (n >= this.perSource) return 'over_capacity_source';
      this.bySource.set(source, n + 1);
    }
    this.open++;
    return undefined;
  }

  release(source: string | undefined): void {
    this.open--;
    if (source === undefined || isLoopback(source)) return;
    const n = this.bySource.get(source) ?? 1;
    if (n <= 1) this.bySource.delete(source);
    else this.bySource.set(source, n - 1);
  }

  /** Sources holding connections now (bounded by --max-connections). */
  get sources(): number {
    return this.bySource.size;
  }
}

function isLoopback(a: string): boolean {
  return a.startsWith('127.') || a === '::1' || a.startsWith('::ffff:127.');
}
