// Jittered exponential backoff for one kind of failure. Each counts only its own failures in a row,
// and the caller resets it on the success that proves that kind of request works again: without the
// reset, the waits of one outage carry over into the next and grow to the cap across short ones.

export class Backoff {
  private stepMs: number;

  constructor(
    private readonly minMs: number,
    private readonly maxMs: number,
    /** 0 <= random() < 1; Math.random unless a test fixes it. */
    private readonly random: () => number = Math.random,
  ) {
    this.stepMs = minMs;
  }

  /** The wait before the next retry: half the current step plus up to another half; the step then doubles, to maxMs. */
  next(): number {
    const delay = Math.round(this.stepMs / 2 + (this.random() * this.stepMs) / 2);
    this.stepMs = Math.min(this.stepMs * 2, this.maxMs);
    return delay;
  }

  /** A success: the next failure waits the shortest step again. */
  reset(): void {
    this.stepMs = this.minMs;
  }
}
