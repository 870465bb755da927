// How long the API server has been silent, and whether that is past --max-staleness. The transport
// reports every successful answer (contact()); the clock decides the rest. A node that never reached
// the API is not stale: it has no answers yet, so there is nothing stale to stop serving.
export class Staleness {
  private lastContact: number | undefined;

  constructor(
    /** --max-staleness in ms; 0 = off (never stale). */
    private readonly maxMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** The API server answered a request. */
  contact(): void {
    this.lastContact = this.now();
  }

  /** Seconds since the API server last answered; undefined before it ever has. */
  secondsSinceContact(): number | undefined {
    return this.lastContact === undefined ? undefined : (this.now() - this.lastContact) / 1000;
  }

  /** Silent for longer than --max-staleness (answers drain while true). */
  isStale(): boolean {
    return this.maxMs > 0 && this.lastContact !== undefined && this.now() - this.lastContact > this.maxMs;
  }

  /** --max-staleness in seconds, null when off (as /status shows it). */
  get maxSeconds(): number | null {
    return this.maxMs / 1000 || null;
  }
}
