// The node's two clocks, advanced from the node verdict once per recompute and by the tick:
// slow start (--slow-start: after a recovery this process saw, the weight ramps up) and the drain
// deadline (--drain-deadline: a drain answered this long becomes a down). Both read the verdict
// before the clocks apply (decideNode reads neither clock), so one verdict serves both and the answers.
import { slowStartFactor, type NodeVerdict, type ReplyKind } from './decide.js';

export interface ClockOptions {
  slowStartMs: number;
  /** 0 = off. */
  drainDeadlineMs: number;
  now: () => number;
}

export class NodeClocks {
  /** Slow-start factor in (0, 1]; 1 = full weight. */
  ramp = 1;
  /** When the node last turned ready after not being ready, while the ramp runs. */
  readySince: number | undefined;
  /** When the node-level verdict turned drain, and whether --drain-deadline has passed since. */
  drainSince: number | undefined;
  drainExpired = false;

  constructor(private readonly opts: ClockOptions) {}

  /**
   * A recompute: `verdict` is the node verdict about to be answered (undefined while nothing can be
   * decided: not synced and no override), `previous` the kind the node answered until now.
   */
  advance(verdict: NodeVerdict | undefined, synced: boolean, previous: ReplyKind): void {
    const now = this.opts.now();
    // Slow start: only a transition this process saw (a restart is not a recovery).
    const isOk = synced && verdict?.kind === 'ok';
    if (isOk && previous !== 'ready' && previous !== 'none' && this.opts.slowStartMs > 0) this.readySince = now;
    if (!isOk) this.readySince = undefined;
    this.ramp = slowStartFactor(now, this.readySince, this.opts.slowStartMs);
    // The drain deadline: any verdict other than drain resets it.
    if (verdict?.kind === 'drain') {
      this.drainSince ??= now;
    } else {
      this.drainSince = undefined;
      this.drainExpired = false;
    }
  }

  /** About once a second: true when the answers must be recomputed (the deadline passed, the ramp moved). */
  tick(): boolean {
    const now = this.opts.now();
    let due = false;
    const deadline = this.opts.drainDeadlineMs;
    if (deadline > 0 && this.drainSince !== undefined && !this.drainExpired && now - this.drainSince >= deadline) {
      this.drainExpired = true;
      due = true;
    }
    // (A drain clock running means the ramp is not: readySince is undefined whenever the verdict is drain.)
    if (this.readySince !== undefined) {
      const ramp = slowStartFactor(now, this.readySince, this.opts.slowStartMs);
      if (ramp !== this.ramp) {
        if (ramp >= 1) this.readySince = undefined;
        due = true;
      }
    }
    return due;
  }
}
