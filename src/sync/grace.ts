// Hysteresis for node eligibility: a node that turns ineligible (a cordon for a reboot, a Ready
// flap) keeps its servers for --replace-after, shown to the model as it last was when eligible, so
// subsets do not reshuffle on every flap; its agent drains it meanwhile (within one agent-inter). A
// node deleted from the cluster is gone at once. Pure apart from the clock passed in.

export class EligibilityGrace {
  /** cluster\0node → the node object as it was when last eligible. */
  private readonly lastEligible = new Map<string, unknown>();
  /** cluster\0node → when it was first seen ineligible (ms). */
  private readonly since = new Map<string, number>();

  constructor(
    private readonly graceMs: number,
    private readonly isEligible: (raw: unknown) => boolean,
    private readonly nameOf: (raw: unknown) => string | undefined,
  ) {}

  /**
   * The nodes the model should see for one cluster, and when the earliest grace ends (ms, absolute),
   * so the caller recomputes then.
   */
  apply(cluster: string, nodes: readonly unknown[], now: number): { nodes: unknown[]; nextExpiry?: number } {
    const present = new Set<string>();
    const out: unknown[] = [];
    let nextExpiry: number | undefined;
    for (const raw of nodes) {
      const name = this.nameOf(raw);
      if (name === undefined) {
        out.push(raw);
        continue;
      }
      const key = `${cluster}\0${name}`;
      present.add(key);
      if (this.isEligible(raw)) {
        this.lastEligible.set(key, raw);
        this.since.delete(key);
        out.push(raw);
        continue;
      }
      const last = this.lastEligible.get(key);
      if (last === undefined || this.graceMs === 0) {
        out.push(raw);
        continue;
      }
      const since = this.since.get(key) ?? now;
      this.since.set(key, since);
      const ends = since + this.graceMs;
      if (now < ends) {
        out.push(last);
        nextExpiry = Math.min(nextExpiry ?? ends, ends);
      } else {
        this.lastEligible.delete(key);
        this.since.delete(key);
        out.push(raw);
      }
    }
    // Deleted nodes are forgotten: they come back (if ever) as new nodes.
    for (const key of [...this.lastEligible.keys()])
      if (key.startsWith(`${cluster}\0`) && !present.has(key)) {
        this.lastEligible.delete(key);
        this.since.delete(key);
      }
    return nextExpiry === undefined ? { nodes: out } : { nodes: out, nextExpiry };
  }

  /** Nodes kept in the model although ineligible now, for /status. */
  held(now: number): { node: string; secondsLeft: number }[] {
    return [...this.since].map(([key, since]) => ({
      node: key.replace('\0', '/'),
      secondsLeft: Math.max(0, Math.round((since + this.graceMs - now) / 1000)),
    }));
  }
}
