// Polls the data-plane health URL (kube-proxy's /healthz by default) on its own timer, off the
// probe path: the agent answer only changes when the tracker reports a transition.
import { request } from 'node:http';
import type { DataplaneTracker, ProbeOutcome, Transition } from './tracker.js';

export interface ProberOptions {
  url: URL;
  intervalMs: number;
  /** Per-poll deadline; below the interval so polls never overlap. */
  timeoutMs: number;
}

/** Each poll times out after this share of the interval. */
export const TIMEOUT_SHARE = 0.8;

export function pollTimeout(intervalMs: number): number {
  return Math.max(1, Math.round(intervalMs * TIMEOUT_SHARE));
}

/** One GET: the status code as soon as headers arrive (the body is not read), or why none came. */
export function pollOnce(url: URL, timeoutMs: number): Promise<ProbeOutcome> {
  return new Promise((resolve) => {
    let done = false;
    const finish = (o: ProbeOutcome): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      req.destroy();
      resolve(o);
    };
    // A fresh connection each time (agent: false): a wedged keep-alive socket must not hide a restart.
    const req = request(
      url,
      { method: 'GET', agent: false, headers: { 'user-agent': 'haproxy-node-agent' } },
      (res) => {
        finish({ kind: 'answer', status: res.statusCode ?? 0 });
      },
    );
    const timer = setTimeout(() => finish({ kind: 'timeout' }), timeoutMs);
    req.on('error', (err: NodeJS.ErrnoException) => finish({ kind: 'error', code: err.code ?? err.message }));
    req.end();
  });
}

export interface ProberHooks {
  /** Every poll's outcome, and the transition it caused if any. */
  polled(outcome: ProbeOutcome, transition: Transition | undefined): void;
}

export class DataplaneProber {
  private running = false;
  private wake: NodeJS.Timeout | undefined;

  constructor(
    private readonly opts: ProberOptions,
    private readonly tracker: DataplaneTracker,
    private readonly hooks: ProberHooks,
    private readonly now: () => number = Date.now,
  ) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    void this.loop();
  }

  stop(): void {
    this.running = false;
    if (this.wake !== undefined) clearTimeout(this.wake);
  }

  private async loop(): Promise<void> {
    while (this.running) {
      const started = this.now();
      const outcome = await pollOnce(this.opts.url, this.opts.timeoutMs);
      if (!this.running) return;
      this.hooks.polled(outcome, this.tracker.observe(outcome, this.now()));
      // A steady cadence: the next poll starts one interval after this one started.
      const wait = Math.max(0, this.opts.intervalMs - (this.now() - started));
      await new Promise<void>((resolve) => {
        this.wake = setTimeout(resolve, wait);
        this.wake.unref();
      });
    }
  }
}
