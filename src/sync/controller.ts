// One sync cycle, run on every change (debounced), every --resync-interval and when a timer it set
// comes due: clusters → model → desired state → removal guard → --out → plan against the running
// worker → runtime commands, or a reload when the runtime API cannot apply it. One cycle at a time.
import { renameSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { buildModel } from '../edge/model.js';
import type { OutputSettings } from '../edge/output.js';
import type { Template } from '../edge/template.js';
import { serverCounts, structureOf } from '../edge/config-text.js';
import { judgeRemoval } from '../edge/removal-guard.js';
import { reloadAndWait, showProc } from '../haproxy/master-cli.js';
import { rewriteServersState } from '../haproxy/servers-state.js';
import { errorMessage } from '../core/error-message.js';
import type { Logger } from '../platform/log.js';
import type { WatchedClusters } from './clusters.js';
import type { SyncConfig } from './config.js';
import { type Desired, type DesiredServer, desiredState, serverCount } from './desired.js';
import type { EligibilityGrace } from './grace.js';
import type { SyncMetrics } from './metrics.js';
import { type Plan, type Running, type ServerRef, isEmpty, planChanges } from './plan.js';
import { type OpResult, RuntimeApi, type ServerSettings, commandsFor, runtimeAddable } from './runtime.js';

/** Reload backoff after a failure: 1 s, doubling, capped so a fixed config lands within a minute. */
const RELOAD_BACKOFF_MIN_MS = 1000;
const RELOAD_BACKOFF_MAX_MS = 30_000;
/** How often a server waiting for its connections to end is looked at again. */
const DRAIN_POLL_MS = 1000;
/** Jitter added to --min-reload-interval, so several edges do not reload together. */
const RELOAD_JITTER = 0.2;
const SOCKET_TIMEOUT_MS = 5000;
/** Distinct model warnings logged per cycle at most (the rest are counted in the line). */
const MAX_WARNINGS_LOGGED = 20;

export interface ReloadRecord {
  at: string;
  ok: boolean;
  reason: string;
  detail: string;
  durationMs: number;
}

interface Draining {
  ref: ServerRef;
  since: number;
}

export interface ControllerIO {
  /** --dry-run's output: the commands and reload reasons, as an operator reads them. */
  print(text: string): void;
}

export class SyncController {
  private readonly runtime: RuntimeApi;
  private readonly serverSettings: ServerSettings;
  private onDisk: string;
  /** Structure of the file the running worker loaded (assumed: the file found at start). */
  private loadedStructure: string | undefined;
  /** Backends of the files we wrote: running ones no longer wanted go by reload. */
  private managed: Set<string>;
  /** The desired state last accepted (the removal guard's baseline); undefined: the file's servers. */
  private applied: Desired | undefined;
  private held: { reason: string; since: number } | undefined;
  private readonly draining = new Map<string, Draining>();
  private nextReloadAt = 0;
  /** When the reload now wanted may go: a random wait first, so edges seeing one event do not reload together. */
  private reloadAt: number | undefined;
  private reloadFailures = 0;
  private lastReload: ReloadRecord | undefined;
  private pendingReload: string[] = [];
  private lastPlan: Plan | undefined;
  private lastRunning: Running | undefined;
  private lastStatuses = new Map<string, { status: string; scur: number; weight: number }>();
  private haproxyError: string | undefined = 'not contacted yet';
  private oldWorkers: number | undefined;
  private lastWarnings = new Set<string>();
  private lastPrinted = '';
  private lastFailureLogged = '';
  private refusalsLogged = new Set<string>();
  private written = false;
  // Cycle scheduling: one at a time; a kick while one runs makes it run again.
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Number.POSITIVE_INFINITY;
  private running = false;
  private againAt = Number.POSITIVE_INFINITY;
  private stopped = false;

  constructor(
    private readonly cfg: SyncConfig,
    private readonly settings: OutputSettings,
    private readonly template: Template | undefined,
    private readonly clusters: WatchedClusters,
    private readonly grace: EligibilityGrace,
    private readonly metrics: SyncMetrics,
    private readonly log: Logger,
    private readonly io: ControllerIO,
    onDisk: string,
  ) {
    this.runtime = new RuntimeApi(cfg.haproxySocket, SOCKET_TIMEOUT_MS, (op, ok) =>
      metrics.runtimeCommands.inc({ op, result: ok ? 'ok' : 'failed' }),
    );
    this.serverSettings = {
      agentPort: cfg.agentPort,
      agentInterMs: cfg.agentInterMs,
      slowstartMs: cfg.slowstartMs,
      shutdownSessionsOnDown: cfg.shutdownSessionsOnDown,
    };
    this.onDisk = onDisk;
    this.loadedStructure = onDisk === '' ? undefined : this.structure(onDisk);
    this.managed = new Set(serverCounts(onDisk).keys());
  }

  /** Runs a cycle after `delayMs` (the debounce), unless one is due sooner; during a cycle, after it. */
  kick(delayMs = this.cfg.debounceMs): void {
    if (this.stopped) return;
    const at = Date.now() + delayMs;
    if (this.running) {
      // Remember the earliest time asked for: a timer a cycle sets for itself keeps its delay.
      this.againAt = Math.min(this.againAt, at);
      return;
    }
    if (this.timer !== undefined && this.timerAt <= at) return;
    clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.timerAt = Number.POSITIVE_INFINITY;
      void this.cycle();
    }, delayMs);
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  private async cycle(): Promise<void> {
    if (this.stopped) return;
    this.running = true;
    this.againAt = Number.POSITIVE_INFINITY;
    try {
      await this.once();
    } catch (err) {
      this.log.error({ err: errorMessage(err) }, `sync cycle failed: ${errorMessage(err)}; retrying`);
      this.kick(RELOAD_BACKOFF_MIN_MS);
    } finally {
      this.running = false;
      if (this.againAt !== Number.POSITIVE_INFINITY) this.kick(Math.max(0, this.againAt - Date.now()));
    }
  }

  private structure(text: string): string {
    return this.template === undefined ? structureOf(text) : text;
  }

  private async once(): Promise<void> {
    // Fail static: before every cluster has listed, the model would drop what it has not seen yet.
    if (!this.clusters.listed) return;
    const now = Date.now();
    let graceEnds: number | undefined;
    const snapshots = this.clusters.snapshots().map((c) => {
      const g = this.grace.apply(c.name, c.nodes, now);
      if (g.nextExpiry !== undefined) graceEnds = Math.min(graceEnds ?? g.nextExpiry, g.nextExpiry);
      return { ...c, nodes: g.nodes };
    });
    if (graceEnds !== undefined) this.kick(Math.max(0, graceEnds - now));
    const model = buildModel(snapshots, {
      annotationPrefix: this.cfg.annotationPrefix,
      nodesPerService: this.cfg.nodesPerService,
    });
    this.logWarnings(model.warnings);
    const desired = desiredState(model, this.settings, this.template);

    if (!this.admitted(desired, now)) return;
    this.applied = desired;

    if (this.cfg.dryRun) return this.dryRun(desired);
    if (desired.text !== this.onDisk) {
      writeAtomically(this.cfg.out, desired.text);
      this.onDisk = desired.text;
      this.log.info({ out: this.cfg.out, bytes: desired.text.length }, `${this.cfg.out} written`);
    }
    this.written = true;

    let state: { text: string; running: Running };
    try {
      state = await this.runtime.serversState();
      if (this.haproxyError !== undefined)
        this.log.info({ socket: this.cfg.haproxySocket }, 'HAProxy runtime API answers');
      this.haproxyError = undefined;
    } catch (err) {
      const msg = errorMessage(err);
      if (this.haproxyError !== msg)
        this.log.warn(
          { socket: this.cfg.haproxySocket, err: msg },
          `HAProxy runtime API unavailable: ${msg}; ${this.cfg.out} is written, retrying every ` +
            `${this.cfg.resyncIntervalMs}ms (start HAProxy with -f ${this.cfg.out})`,
        );
      this.haproxyError = msg;
      return;
    }
    this.lastRunning = state.running;
    const plan = this.plan(desired, state.running);
    this.lastPlan = plan;
    if (plan.reload.length > 0) {
      await this.reload(plan.reload, desired, state.text);
    } else {
      this.pendingReload = [];
      this.reloadAt = undefined;
      if (await this.applyRuntime(plan, state.running)) await this.refreshStateFile();
    }
    await this.readStatuses();
  }

  /** The removal guard: false while a change is held (then nothing at all changes). */
  private admitted(desired: Desired, now: number): boolean {
    const before = this.applied === undefined ? serverCounts(this.onDisk) : serverCount(this.applied);
    const verdict = judgeRemoval(before, serverCount(desired), this.cfg.allowRemoval ? 1 : this.cfg.maxRemovalFraction);
    if (!verdict.held) {
      if (this.held !== undefined) this.log.info('the held change no longer removes too much; applying');
      this.held = undefined;
      return true;
    }
    if (this.held === undefined) {
      this.held = { reason: verdict.reason, since: now };
      this.metrics.heldChanges.inc();
      this.log.error(
        { reason: verdict.reason },
        `holding a change: ${verdict.reason}; the running servers stay. If it is intended, restart sync with ` +
          `--allow-removal${this.cfg.removalHoldMs > 0 ? ` or wait ${this.cfg.removalHoldMs}ms` : ''}`,
      );
    }
    this.held.reason = verdict.reason;
    if (this.cfg.removalHoldMs > 0) {
      const ends = this.held.since + this.cfg.removalHoldMs;
      if (now >= ends) {
        this.log.warn({ reason: verdict.reason }, 'the held change persisted for --removal-hold; applying it');
        this.held = undefined;
        return true;
      }
      this.kick(ends - now);
    }
    return false;
  }

  private plan(desired: Desired, running: Running): Plan {
    const plan = planChanges(desired, running, {
      loadedStructure: this.loadedStructure,
      runtimeServers: this.template === undefined,
      managed: this.managed,
    });
    const named = plan.add.filter((s) => !runtimeAddable(s));
    if (named.length > 0) plan.reload.push(`${named.length} new server(s) addressed by host name`);
    return plan;
  }

  private dryRun(desired: Desired): void {
    const lines: string[] = [];
    if (desired.text !== this.onDisk) lines.push(`would write ${this.cfg.out} (${desired.text.length} bytes)`);
    const running = this.lastRunning ?? fileServers(this.onDisk);
    const plan = this.plan(desired, running);
    if (plan.reload.length > 0) lines.push(`reload needed because ${plan.reload.join('; ')}`);
    else {
      for (const s of plan.add) lines.push(...commandsFor('add', s, this.serverSettings));
      for (const s of plan.readdress)
        lines.push(...commandsFor('readdress', s, this.serverSettings, running.get(s.backend)?.get(s.name)));
      for (const r of plan.remove)
        lines.push(...commandsFor('drain', r, this.serverSettings), ...commandsFor('delete', r, this.serverSettings));
    }
    const text = lines.length === 0 ? 'in sync: nothing to change' : lines.join('\n');
    if (text !== this.lastPrinted) this.io.print(`${text}\n`);
    this.lastPrinted = text;
    this.written = true;
  }

  /**
   * The state file also serves an HAProxy restart: after runtime changes it is rewritten from the
   * worker, or a restart would take a stale port from it (the state file wins over the config).
   */
  private async refreshStateFile(): Promise<void> {
    try {
      const { text } = await this.runtime.serversState();
      writeAtomically(this.cfg.stateFile, text.endsWith('\n') ? text : `${text}\n`);
    } catch (err) {
      this.log.warn({ err: errorMessage(err) }, `cannot refresh ${this.cfg.stateFile}: ${errorMessage(err)}`);
    }
  }

  /** Applies the plan's server changes; true when any command was sent. */
  private async applyRuntime(plan: Plan, running: Running): Promise<boolean> {
    let sent = false;
    const failed = new Set<string>();
    // Logged once while it repeats: the next cycles retry the same command.
    const fail = (r: OpResult, what: string): void => {
      failed.add(r.detail);
      if (!this.refusalsLogged.has(r.detail))
        this.log.error({ detail: r.detail }, `runtime API refused ${what}: ${r.detail}; the next cycle retries`);
    };
    // New servers first, so capacity never dips while old ones drain.
    for (const s of plan.add) {
      sent = true;
      const r = await this.runtime.run('add', s, this.serverSettings);
      if (r.ok) this.log.info({ backend: s.backend, server: s.name, node: s.node }, 'server added (runtime API)');
      else fail(r, `adding ${s.backend}/${s.name}`);
    }
    for (const s of plan.readdress) {
      sent = true;
      const r = await this.runtime.run('readdress', s, this.serverSettings, running.get(s.backend)?.get(s.name));
      if (r.ok)
        this.log.info({ backend: s.backend, server: s.name, address: `${s.address}:${s.port}` }, 'server readdressed');
      else fail(r, `readdressing ${s.backend}/${s.name}`);
    }
    // A server wanted again while it drained (its node came back): it is enabled again.
    for (const [key, d] of this.draining) {
      const want = this.applied?.servers.get(d.ref.backend)?.get(d.ref.name);
      if (want === undefined) continue;
      sent = true;
      const r = await this.runtime.run('restore', d.ref, this.serverSettings);
      if (r.ok) {
        this.draining.delete(key);
        this.log.info({ backend: d.ref.backend, server: d.ref.name }, 'server wanted again: drain ended');
      } else fail(r, `restoring ${d.ref.backend}/${d.ref.name}`);
    }
    for (const ref of plan.remove) {
      const key = `${ref.backend}\0${ref.name}`;
      if (this.draining.has(key)) continue;
      sent = true;
      const r = await this.runtime.run('drain', ref, this.serverSettings);
      if (!r.ok) {
        fail(r, `draining ${ref.backend}/${ref.name}`);
        continue;
      }
      this.draining.set(key, { ref, since: Date.now() });
      this.log.info({ backend: ref.backend, server: ref.name }, 'server draining before del server');
    }
    this.refusalsLogged = failed;
    if (this.draining.size === 0) return sent;
    const sessions = await this.runtime.sessions();
    for (const [key, d] of this.draining) {
      const scur = sessions.get(key);
      if (scur === undefined) {
        this.draining.delete(key);
        continue;
      }
      if (scur > 0) continue;
      sent = true;
      const r = await this.runtime.run('delete', d.ref, this.serverSettings);
      if (r.ok) {
        this.draining.delete(key);
        this.log.info({ backend: d.ref.backend, server: d.ref.name }, 'server deleted (runtime API)');
      }
    }
    if (this.draining.size > 0) this.kick(DRAIN_POLL_MS);
    return sent;
  }

  private async reload(reasons: string[], desired: Desired, stateText: string): Promise<void> {
    this.pendingReload = reasons;
    const now = Date.now();
    this.reloadAt ??= Math.max(now, this.nextReloadAt) + Math.random() * RELOAD_JITTER * this.cfg.minReloadIntervalMs;
    if (now < this.reloadAt) {
      this.kick(this.reloadAt - now);
      return;
    }
    this.reloadAt = undefined;
    const reason = reasons.join('; ');
    // The state file carries agent-set states (DRAIN, weights) across the reload; for a server whose
    // address or port changed its line is rewritten, since the state file wins over the config.
    const wanted = (backend: string): boolean => this.managed.has(backend) || desired.servers.has(backend);
    const stateFile = rewriteServersState(stateText, (backend, server) => {
      if (!wanted(backend)) return undefined;
      const d = desired.servers.get(backend)?.get(server);
      return d === undefined ? 'drop' : { address: d.address, port: d.port };
    });
    writeAtomically(this.cfg.stateFile, stateFile.endsWith('\n') ? stateFile : `${stateFile}\n`);
    const started = Date.now();
    this.log.info({ reason }, `reloading HAProxy: ${reason}`);
    let ok = false;
    let detail: string;
    let workers: number | undefined;
    try {
      const res = await reloadAndWait(this.cfg.masterSocket, { timeoutMs: this.cfg.reloadTimeoutMs });
      ok = res.ok;
      detail = res.detail;
      workers = res.after.workers.filter((w) => !w.current).length;
    } catch (err) {
      detail = errorMessage(err);
    }
    const durationMs = Date.now() - started;
    this.metrics.reloads.inc({ result: ok ? 'ok' : 'failed' });
    this.metrics.reloadDuration.observe(durationMs / 1000);
    this.lastReload = { at: new Date().toISOString(), ok, reason, detail, durationMs };
    if (workers !== undefined) this.oldWorkers = workers;
    if (ok) {
      this.loadedStructure = desired.structure;
      this.managed = new Set(desired.servers.keys());
      this.reloadFailures = 0;
      this.pendingReload = [];
      this.lastFailureLogged = '';
      for (const [key, d] of this.draining)
        if (!desired.servers.get(d.ref.backend)?.has(d.ref.name)) this.draining.delete(key);
      this.nextReloadAt = Date.now() + this.cfg.minReloadIntervalMs;
      this.log.info({ durationMs, oldWorkers: workers }, `HAProxy reloaded in ${durationMs}ms`);
      // Compare the new worker with what was wanted.
      this.kick(0);
      return;
    }
    this.reloadFailures++;
    const backoff = Math.min(RELOAD_BACKOFF_MAX_MS, RELOAD_BACKOFF_MIN_MS * 2 ** (this.reloadFailures - 1));
    this.nextReloadAt = Date.now() + backoff;
    if (detail !== this.lastFailureLogged)
      this.log.error(
        { detail, retryInMs: backoff },
        `HAProxy reload failed: ${detail}; the running worker keeps serving; retrying in ${backoff}ms ` +
          '(check the configuration with haproxy -c -f MAIN -f OUT)',
      );
    this.lastFailureLogged = detail;
    this.kick(backoff);
  }

  private async readStatuses(): Promise<void> {
    try {
      const rows = await this.runtime.statRows();
      this.lastStatuses = new Map(
        rows.map((r) => [`${r.proxy}\0${r.server}`, { status: r.status, scur: r.scur, weight: r.weight }]),
      );
      if (this.cfg.masterSocket !== '')
        this.oldWorkers = (await showProc(this.cfg.masterSocket, SOCKET_TIMEOUT_MS)).workers.filter(
          (w) => !w.current,
        ).length;
    } catch {
      // Best effort, for /status and a gauge: the next cycle reads them again.
    }
  }

  private logWarnings(warnings: readonly string[]): void {
    const fresh = warnings.filter((w) => !this.lastWarnings.has(w));
    this.lastWarnings = new Set(warnings);
    for (const w of fresh.slice(0, MAX_WARNINGS_LOGGED)) this.log.warn({ warning: w }, w);
    if (fresh.length > MAX_WARNINGS_LOGGED)
      this.log.warn(`${fresh.length - MAX_WARNINGS_LOGGED} more new model warnings not logged`);
  }

  // ---- what /status, /readyz and the gauges read ----

  get ready(): boolean {
    return this.written;
  }

  notReadyReason(): string | null {
    if (!this.clusters.listed) return 'waiting for the first list of Nodes and Services in every cluster';
    if (!this.written) return `${this.cfg.out} not written yet`;
    return null;
  }

  get haproxyUp(): boolean {
    return this.haproxyError === undefined;
  }

  get isHeld(): boolean {
    return this.held !== undefined;
  }

  get drainingCount(): number {
    return this.draining.size;
  }

  get oldWorkerCount(): number | undefined {
    return this.oldWorkers;
  }

  pendingChanges(): number {
    const p = this.lastPlan;
    if (p === undefined || isEmpty(p)) return this.held === undefined ? 0 : 1;
    return (p.reload.length > 0 ? 1 : 0) + p.add.length + p.readdress.length + p.remove.length;
  }

  desiredServers(): number {
    return this.applied === undefined ? 0 : countServers(this.applied);
  }

  runningServers(): number | undefined {
    const r = this.lastRunning;
    if (r === undefined) return undefined;
    let n = 0;
    for (const [b, m] of r) if (this.managed.has(b) || this.applied?.servers.has(b)) n += m.size;
    return n;
  }

  status(): Record<string, unknown> {
    const now = Date.now();
    const backends = [...(this.applied?.servers ?? new Map<string, Map<string, DesiredServer>>())].map(([name, m]) => {
      const running = this.lastRunning?.get(name);
      return {
        name,
        desired: [...m.values()].map((s) => ({ server: s.name, node: s.node, address: `${s.address}:${s.port}` })),
        running:
          running === undefined
            ? null
            : [...running].map(([server, r]) => ({
                server,
                address: `${r.address}:${r.port}`,
                ...this.lastStatuses.get(`${name}\0${server}`),
              })),
      };
    });
    return {
      synced: this.clusters.listed,
      out: this.cfg.out,
      dryRun: this.cfg.dryRun,
      clusters: this.clusters.status(now),
      haproxy: { up: this.haproxyUp, error: this.haproxyError ?? null, oldWorkers: this.oldWorkers ?? null },
      held:
        this.held === undefined ? null : { reason: this.held.reason, since: new Date(this.held.since).toISOString() },
      reload: {
        last: this.lastReload ?? null,
        pending: this.pendingReload,
        nextAllowed: this.nextReloadAt === 0 ? null : new Date(this.nextReloadAt).toISOString(),
        failuresInARow: this.reloadFailures,
      },
      draining: [...this.draining.values()].map((d) => ({
        backend: d.ref.backend,
        server: d.ref.name,
        since: new Date(d.since).toISOString(),
      })),
      nodesInGrace: this.grace.held(now),
      backends,
    };
  }
}

function countServers(d: Desired): number {
  let n = 0;
  for (const m of d.servers.values()) n += m.size;
  return n;
}

/** For --dry-run without a socket: the servers of the file on disk, as if they ran. */
function fileServers(text: string): Running {
  const out = new Map<string, Map<string, { address: string; port: number }>>();
  let backend = '';
  for (const line of text.split('\n')) {
    const w = line.trim().split(/\s+/);
    if (w[0] === 'backend') out.set((backend = w[1] ?? ''), new Map());
    else if (w[0] === 'server' && backend !== '') {
      const addr = w[2] ?? '';
      const i = addr.lastIndexOf(':');
      out
        .get(backend)
        ?.set(w[1] ?? '', { address: addr.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(addr.slice(i + 1)) });
    }
  }
  return out;
}

/** HAProxy reloading at the wrong moment must never see half a file. */
export function writeAtomically(path: string, text: string): void {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  writeFileSync(tmp, text);
  renameSync(tmp, path);
}
