// Connects the data-plane poller to the rest: the agent state hears transitions only, operators get
// one log line and one Event per transition, metrics count every poll.
import type { Logger } from '../../platform/log.js';
import { DataplaneProber, pollTimeout } from './prober.js';
import { DataplaneTracker, type DataplaneState, type ProbeOutcome, type Transition } from './tracker.js';

export interface DataplaneMonitorOptions {
  url: URL | undefined;
  intervalMs: number;
  failures: number;
  successes: number;
}

export interface DataplaneSinks {
  /** The agent state: since when unhealthy, or undefined. */
  setUnhealthy(since: number | undefined): void;
  polled(result: '2xx' | 'non_2xx' | 'timeout' | 'error'): void;
  /** Post a Kubernetes Event (transitions to and from unhealthy only). */
  event(healthy: boolean, note: string): void;
}

export interface DataplaneStatus {
  url: string | null;
  state: DataplaneState | 'off';
  since: string | null;
  lastStatusCode: number | null;
  lastResult: string | null;
  lastPollAt: string | null;
  consecutiveFailures: number;
  consecutiveSuccesses: number;
  thresholds: { failures: number; successes: number; intervalMs: number; timeoutMs: number };
}

export class DataplaneMonitor {
  private readonly tracker: DataplaneTracker | undefined;
  private readonly prober: DataplaneProber | undefined;
  private warnedUnknown = false;

  constructor(
    private readonly opts: DataplaneMonitorOptions,
    private readonly log: Logger,
    private readonly sinks: DataplaneSinks,
    now: () => number = Date.now,
  ) {
    if (opts.url === undefined) return;
    this.tracker = new DataplaneTracker({ failures: opts.failures, successes: opts.successes }, now());
    this.prober = new DataplaneProber(
      { url: opts.url, intervalMs: opts.intervalMs, timeoutMs: pollTimeout(opts.intervalMs) },
      this.tracker,
      { polled: (o, tr) => this.polled(o, tr) },
      now,
    );
  }

  start(): void {
    if (this.prober === undefined) {
      this.log.info('data-plane health polling off (--proxy-healthz-url is empty)');
      return;
    }
    this.log.info(
      {
        url: this.opts.url?.href,
        intervalMs: this.opts.intervalMs,
        failures: this.opts.failures,
        successes: this.opts.successes,
      },
      `polling data-plane health at ${this.opts.url?.href ?? ''}`,
    );
    this.prober.start();
  }

  stop(): void {
    this.prober?.stop();
  }

  get state(): DataplaneState | 'off' {
    return this.tracker?.current ?? 'off';
  }

  status(): DataplaneStatus {
    const s = this.tracker?.status();
    const iso = (ms: number | null | undefined): string | null =>
      ms === null || ms === undefined ? null : new Date(ms).toISOString();
    return {
      url: this.opts.url?.href ?? null,
      state: s?.state ?? 'off',
      since: iso(s?.since),
      lastStatusCode: s?.lastStatusCode ?? null,
      lastResult: s?.lastResult ?? null,
      lastPollAt: iso(s?.lastProbeAt),
      consecutiveFailures: s?.consecutiveFailures ?? 0,
      consecutiveSuccesses: s?.consecutiveSuccesses ?? 0,
      thresholds: {
        failures: this.opts.failures,
        successes: this.opts.successes,
        intervalMs: this.opts.intervalMs,
        timeoutMs: pollTimeout(this.opts.intervalMs),
      },
    };
  }

  private polled(o: ProbeOutcome, tr: Transition | undefined): void {
    this.sinks.polled(o.kind === 'answer' ? (o.status >= 200 && o.status < 300 ? '2xx' : 'non_2xx') : o.kind);
    const url = this.opts.url?.href ?? '';
    if (tr === undefined) {
      // Never reached since start: no kube-proxy here, or not up yet. Said once; answers unaffected.
      if (!this.warnedUnknown && this.tracker?.current === 'unknown' && o.kind !== 'answer') {
        this.warnedUnknown = true;
        this.log.warn(
          { url, result: o.kind === 'timeout' ? 'timeout' : o.code },
          `data-plane health ${url} not reachable: state unknown, answers unaffected until it answers ` +
            '(set --proxy-healthz-url= to turn polling off on nodes without kube-proxy)',
        );
      }
      return;
    }
    const fields = { url, from: tr.from, to: tr.to, cause: tr.cause };
    if (tr.to === 'unhealthy') {
      this.log.error(
        fields,
        `data-plane health ${url} is unhealthy after ${tr.cause}: signal proxy-unhealthy on ` +
          '(down #kube-proxy unhealthy unless the policy, an operator state or the override file says otherwise)',
      );
      this.sinks.event(
        false,
        `kube-proxy health ${url} failing (${tr.cause}): signal proxy-unhealthy on for this node`,
      );
      this.sinks.setUnhealthy(tr.at);
      return;
    }
    this.log.info(fields, `data-plane health ${url} is healthy (${tr.cause})`);
    if (tr.from === 'unhealthy') {
      this.sinks.event(true, `kube-proxy health ${url} healthy again (${tr.cause})`);
      this.sinks.setUnhealthy(undefined);
    }
  }
}
