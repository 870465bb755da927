// The removal guard over time: a desired state that empties a backend or removes too many servers
// at once is held (nothing changes, the reason is shown) until it stops doing so, until it has
// persisted for --removal-hold, or for good with --allow-removal.
import { judgeRemoval, type ServerCounts } from '../edge/removal-guard.js';
import type { Logger } from '../platform/log.js';

export interface HoldSettings {
  maxRemovalFraction: number;
  removalHoldMs: number;
  allowRemoval: boolean;
}

/** Admitted, or held (and when to look again, if the hold can end by itself). */
export type HoldVerdict = { admit: true } | { admit: false; recheckInMs?: number };

export class RemovalHold {
  held: { reason: string; since: number } | undefined;

  constructor(
    private readonly s: HoldSettings,
    private readonly onHeld: () => void,
    private readonly log: Logger,
  ) {}

  judge(before: ServerCounts, after: ServerCounts, now: number): HoldVerdict {
    const verdict = judgeRemoval(before, after, this.s.allowRemoval ? 1 : this.s.maxRemovalFraction);
    if (!verdict.held) {
      if (this.held !== undefined) this.log.info('the held change no longer removes too much; applying');
      this.held = undefined;
      return { admit: true };
    }
    if (this.held === undefined) {
      this.held = { reason: verdict.reason, since: now };
      this.onHeld();
      this.log.error(
        { reason: verdict.reason },
        `holding a change: ${verdict.reason}; the running servers stay. If it is intended, restart sync with ` +
          `--allow-removal${this.s.removalHoldMs > 0 ? ` or wait ${this.s.removalHoldMs}ms` : ''}`,
      );
    }
    this.held.reason = verdict.reason;
    if (this.s.removalHoldMs === 0) return { admit: false };
    const ends = this.held.since + this.s.removalHoldMs;
    if (now < ends) return { admit: false, recheckInMs: ends - now };
    this.log.warn({ reason: verdict.reason }, 'the held change persisted for --removal-hold; applying it');
    this.held = undefined;
    return { admit: true };
  }
}
