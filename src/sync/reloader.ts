// Reloads through the master CLI, only as often as allowed: a random wait before each (edges that see
// one event do not reload together), --min-reload-interval between two, and after a failure a backoff
// of 1 s doubling to 30 s, so a fixed configuration lands within a minute. Before each reload the
// state file is written from the running worker, so agent-set states (DRAIN, weights) survive it.
import { reloadAndWait } from '../haproxy/master-cli.js';
import { isIP } from 'node:net';
import { parseServersState, rewriteServersState } from '../haproxy/servers-state.js';
import { errorMessage } from '../core/error-message.js';
import type { Logger } from '../platform/log.js';
import type { Desired } from './desired.js';
import type { SyncMetrics } from './metrics.js';
import { writeAtomically } from './write-file.js';

const BACKOFF_MIN_MS = 1000;
const BACKOFF_MAX_MS = 30_000;
/** Share of --min-reload-interval waited at random before a reload. */
const JITTER = 0.2;

export interface ReloadRecord {
  at: string;
  ok: boolean;
  reason: string;
  detail: string;
  durationMs: number;
}

export interface ReloadSettings {
  masterSocket: string;
  stateFile: string;
  minReloadIntervalMs: number;
  reloadTimeoutMs: number;
}

/** What a call to reload() did: reloaded (ok or not), or wait this long and call again. */
export type ReloadOutcome = { done: true; ok: boolean; retryInMs?: number } | { done: false; waitMs: number };

export class Reloader {
  private nextAllowedAt = 0;
  /** When the reload now wanted may go (the random wait drawn once per reload). */
  private goAt: number | undefined;
  private failures = 0;
  private lastFailureLogged = '';
  last: ReloadRecord | undefined;
  /** Why a reload is wanted and not done yet; empty when none is. */
  pending: string[] = [];
  oldWorkers: number | undefined;

  constructor(
    private readonly s: ReloadSettings,
    private readonly metrics: SyncMetrics,
    private readonly log: Logger,
  ) {}

  /**
   * A configuration HAProxy refused before any reload (haproxy -c): counted and retried like a
   * failed reload, and logged once while the same refusal repeats.
   */
  refused(reason: string, detail: string): number {
    this.pending = [reason];
    this.metrics.reloads.inc({ result: 'failed' });
    this.last = { at: new Date().toISOString(), ok: false, reason, detail, durationMs: 0 };
    return this.failed(`haproxy -c refused the new configuration: ${detail}`, ' (--out left as it was)');
  }

  private failed(detail: string, extra = ''): number {
    this.failures++;
    // Never more often than --min-reload-interval allows; capped so a fixed config lands soon after.
    const backoff = Math.max(
      this.s.minReloadIntervalMs,
      Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** (this.failures - 1)),
    );
    this.nextAllowedAt = Date.now() + backoff;
    if (detail !== this.lastFailureLogged)
      this.log.error(
        { detail, retryInMs: backoff },
        `HAProxy reload failed: ${detail}; the running worker keeps serving${extra}; retrying in ${backoff}ms ` +
          '(check the configuration with haproxy -c -f MAIN -f OUT)',
      );
    this.lastFailureLogged = detail;
    return backoff;
  }

  /** Nothing needs a reload any more (a later plan did without). */
  cancel(): void {
    this.pending = [];
    this.goAt = undefined;
  }

  get nextAllowed(): number {
    return this.nextAllowedAt;
  }

  get failuresInARow(): number {
    return this.failures;
  }

  /**
   * Reloads HAProxy onto `desired` (already in --out) when allowed. `stateText` is the running
   * worker's `show servers state`; `managed` says which backends are ours (their servers not wanted
   * are dropped from the state file, a changed address or port rewritten: the file wins over the config).
   */
  async reload(
    reasons: string[],
    desired: Desired,
    stateText: string,
    managed: ReadonlySet<string>,
  ): Promise<ReloadOutcome> {
    this.pending = reasons;
    const now = Date.now();
    this.goAt ??= Math.max(now, this.nextAllowedAt) + Math.random() * JITTER * this.s.minReloadIntervalMs;
    if (now < this.goAt) return { done: false, waitMs: this.goAt - now };
    this.goAt = undefined;
    const reason = reasons.join('; ');
    const ours = (backend: string): boolean => managed.has(backend) || desired.servers.has(backend);
    const runningPort = new Map(parseServersState(stateText).rows.map((r) => [`${r.backend}\0${r.server}`, r.port]));
    const state = rewriteServersState(stateText, (backend, server) => {
      if (!ours(backend)) return undefined;
      const d = desired.servers.get(backend)?.get(server);
      if (d === undefined) return 'drop';
      if (isIP(d.address) !== 0) return { address: d.address, port: d.port };
      // A host name runs as the address HAProxy resolved at load: keep that line unless the port
      // moved (then drop it: the new worker resolves again; the agent re-asserts within agent-inter).
      return runningPort.get(`${backend}\0${server}`) === d.port ? undefined : 'drop';
    });
    writeAtomically(this.s.stateFile, state.endsWith('\n') ? state : `${state}\n`);
    const started = Date.now();
    this.log.info({ reason }, `reloading HAProxy: ${reason}`);
    let ok = false;
    let detail: string;
    try {
      const res = await reloadAndWait(this.s.masterSocket, { timeoutMs: this.s.reloadTimeoutMs });
      ok = res.ok;
      detail = res.detail;
      this.oldWorkers = res.after.workers.filter((w) => !w.current).length;
    } catch (err) {
      detail = errorMessage(err);
    }
    const durationMs = Date.now() - started;
    this.metrics.reloads.inc({ result: ok ? 'ok' : 'failed' });
    this.metrics.reloadDuration.observe(durationMs / 1000);
    this.last = { at: new Date().toISOString(), ok, reason, detail, durationMs };
    if (ok) {
      this.failures = 0;
      this.pending = [];
      this.lastFailureLogged = '';
      this.nextAllowedAt = Date.now() + this.s.minReloadIntervalMs;
      this.log.info({ durationMs, oldWorkers: this.oldWorkers }, `HAProxy reloaded in ${durationMs}ms`);
      return { done: true, ok };
    }
    return { done: true, ok, retryInMs: this.failed(detail) };
  }
}
