// PURE: the data-plane health state machine with hysteresis. No I/O, no timers: each probe's
// outcome and the time it finished are passed in, so tests drive it step by step.

export type DataplaneState = 'unknown' | 'healthy' | 'unhealthy';

/** One poll of the health URL. `status` is set when an HTTP answer arrived (any code). */
export type ProbeOutcome = { kind: 'answer'; status: number } | { kind: 'timeout' } | { kind: 'error'; code: string };

export interface TrackerOptions {
  /** Consecutive failures that turn healthy (or a never-healthy endpoint that answers) unhealthy. */
  failures: number;
  /** Consecutive 2xx answers that turn unhealthy healthy again. */
  successes: number;
}

export interface Transition {
  from: DataplaneState;
  to: DataplaneState;
  /** When the state changed (the finishing time of the probe that tipped it). */
  at: number;
  /** The outcome that tipped it, as words for logs and Events. */
  cause: string;
}

export interface TrackerStatus {
  state: DataplaneState;
  /** When the current state began (epoch ms); the tracker's creation for `unknown`. */
  since: number;
  /** HTTP status of the last answer, or null when the last poll got none. */
  lastStatusCode: number | null;
  /** The last poll's outcome in words (e.g. "503", "timeout", "ECONNREFUSED"). */
  lastResult: string | null;
  lastProbeAt: number | null;
  consecutiveFailures: number;
  consecutiveSuccesses: number;
  /** True once the endpoint has answered HTTP at all since start. */
  everAnswered: boolean;
}

export function describeOutcome(o: ProbeOutcome): string {
  if (o.kind === 'answer') return `HTTP ${o.status}`;
  return o.kind === 'timeout' ? 'timeout' : o.code;
}

export class DataplaneTracker {
  private state: DataplaneState = 'unknown';
  private since: number;
  private lastStatusCode: number | null = null;
  private lastResult: string | null = null;
  private lastProbeAt: number | null = null;
  private failures = 0;
  private successes = 0;
  private everAnswered = false;

  constructor(
    private readonly opts: TrackerOptions,
    startedAt: number,
  ) {
    if (!(opts.failures >= 1 && opts.successes >= 1)) throw new Error('thresholds must be at least 1');
    this.since = startedAt;
  }

  get current(): DataplaneState {
    return this.state;
  }

  /** Feeds one poll's outcome; returns the transition it caused, if any. */
  observe(o: ProbeOutcome, now: number): Transition | undefined {
    this.lastProbeAt = now;
    this.lastResult = describeOutcome(o);
    this.lastStatusCode = o.kind === 'answer' ? o.status : null;
    if (o.kind === 'answer') this.everAnswered = true;
    const ok = o.kind === 'answer' && o.status >= 200 && o.status < 300;
    // Never answered since start (no kube-proxy here, or not up yet): silence is not a verdict.
    if (!ok && !this.everAnswered) return undefined;
    if (ok) {
      this.failures = 0;
      this.successes++;
      // From unknown nothing is taken away either way, so the first 2xx is enough.
      if (this.state === 'unknown' || (this.state === 'unhealthy' && this.successes >= this.opts.successes))
        return this.move('healthy', now, o);
      return undefined;
    }
    this.successes = 0;
    this.failures++;
    if (this.state !== 'unhealthy' && this.failures >= this.opts.failures) return this.move('unhealthy', now, o);
    return undefined;
  }

  status(): TrackerStatus {
    return {
      state: this.state,
      since: this.since,
      lastStatusCode: this.lastStatusCode,
      lastResult: this.lastResult,
      lastProbeAt: this.lastProbeAt,
      consecutiveFailures: this.failures,
      consecutiveSuccesses: this.successes,
      everAnswered: this.everAnswered,
    };
  }

  private move(to: DataplaneState, at: number, o: ProbeOutcome): Transition {
    const from = this.state;
    this.state = to;
    this.since = at;
    const n = to === 'healthy' ? this.successes : this.failures;
    return { from, to, at, cause: `${describeOutcome(o)} (${n} in a row)` };
  }
}
