// One sync cycle, run on every change (debounced), every --resync-interval and when a timer it set
// comes due: clusters → model → desired state → removal guard → --out → plan against the running
// worker → runtime commands, or a reload when the runtime API cannot apply it. One cycle at a time.
import { buildModel, type Model } from '../edge/model.js';
import { SubsetIndex } from '../edge/subsets.js';
import { haproxyCheck } from '../haproxy/check.js';
import { ClaimsKeeper } from './claims-keeper.js';
import { AssignedPortWriter } from './assigned-ports.js';
import { type ClaimsDocument, emptyClaims, sameClaims } from '../core/claims-document.js';
import type { OutputSettings } from '../edge/output.js';
import type { Template } from '../edge/template.js';
import { serverCounts, structureOf } from '../edge/config-text.js';
import { showProc } from '../haproxy/master-cli.js';
import { errorMessage } from '../core/error-message.js';
import type { Logger } from '../platform/log.js';
import type { WatchedClusters } from './clusters.js';
import type { SyncConfig } from './config.js';
import { type Desired, type DesiredServer, desiredState, serverCount } from './desired.js';
import type { EligibilityGrace } from './grace.js';
import type { SyncMetrics } from './metrics.js';
import { type Plan, type Running, isEmpty, planChanges } from './plan.js';
import { Reloader } from './reloader.js';
import { RemovalHold } from './removal-hold.js';
import { RuntimeApi, type ServerSettings, runtimeAddable } from './runtime.js';
import { dryRunLines, fileServers } from './dry-run.js';
import { ServerChanges } from './server-changes.js';
import { writeAtomically } from './write-file.js';

/** How often a server waiting for its connections to end is looked at again. */
const DRAIN_POLL_MS = 1000;
/** After a cycle that failed unexpectedly. */
const RETRY_MS = 1000;
const SOCKET_TIMEOUT_MS = 5000;
/** Distinct model warnings logged per cycle at most (the rest are counted in the line). */
const MAX_WARNINGS_LOGGED = 20;

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
  private readonly hold: RemovalHold;
  private readonly subsets: SubsetIndex;
  private readonly claims: ClaimsKeeper;
  private readonly assignedPorts: AssignedPortWriter;
  private readonly changes: ServerChanges;
  private readonly reloader: Reloader;
  private lastPlan: Plan | undefined;
  private lastRunning: Running | undefined;
  private lastStatuses = new Map<string, { status: string; scur: number; weight: number }>();
  private haproxyError: string | undefined = 'not contacted yet';
  private lastWarnings = new Set<string>();
  private lastPrinted = '';
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
    readonly metrics: SyncMetrics,
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
    this.changes = new ServerChanges(this.runtime, this.serverSettings, log, cfg.drainTimeoutMs);
    this.reloader = new Reloader(cfg, metrics, log);
    this.subsets = new SubsetIndex(cfg.nodesPerService);
    this.claims = new ClaimsKeeper(cfg.claimsConfigMap, clusters.claimsTransport, log);
    this.assignedPorts = new AssignedPortWriter(cfg.annotationPrefix, (c) => clusters.transportOf(c), log);
    this.hold = new RemovalHold(cfg, () => metrics.heldChanges.inc(), log);
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
      this.kick(RETRY_MS);
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
    // The subset index keeps every Service's picks between cycles: a Node event costs one hash per
    // Service instead of all of them (edge/subsets.ts); the model is the same as without it.
    const nowIso = new Date(now).toISOString();
    const record = await this.claims.load();
    // Without the record, hosts would be judged as if unrecorded: keep still until it can be read.
    if (record === undefined) return;
    const build = (given: ClaimsDocument, assign: boolean): Model =>
      buildModel(snapshots, {
        annotationPrefix: this.cfg.annotationPrefix,
        nodesPerService: this.cfg.nodesPerService,
        subsets: this.subsets,
        claims: { record: given, now: nowIso },
        tcp: { range: this.cfg.tcpPortRange, assign },
      });
    // Only sync hands out TCP ports, and only with a record to keep them in (docs/sync.md).
    let model = build(record, !this.cfg.dryRun && this.cfg.claimsConfigMap !== undefined);
    for (const r of model.tcpRefusals)
      if (!this.lastWarnings.has(r.message) && r.reason !== 'unassigned')
        this.metrics.tcpPortRefusals.inc({ reason: r.reason });
    this.logWarnings(model.warnings);
    let desired = desiredState(model, this.settings, this.template);

    if (!this.admitted(desired, now)) {
      if (this.cfg.dryRun) this.print(`held: ${this.hold.held?.reason ?? ''}`);
      return;
    }
    this.applied = desired;

    if (this.cfg.dryRun) return this.dryRun(desired);
    if (model.claims.changed) {
      const stored = await this.claims.record(model.claims, nowIso);
      // A TCP port is served only once recorded. When another writer was first (a 409 and a new
      // resolution) or the write failed, this cycle serves the recorded ports only; the next
      // cycle decides again from the record as stored.
      if (!samePorts(record, model.claims.record) && !samePorts(stored, model.claims.record)) {
        this.kick(stored === undefined ? RETRY_MS : 0);
        model = build(stored ?? record, false);
        desired = desiredState(model, this.settings, this.template);
        this.applied = desired;
      }
    }
    await this.assignedPorts.write(snapshots, model.tcp);
    if (desired.text !== this.onDisk) {
      // A new structure is judged by HAProxy before it replaces --out: a file HAProxy refuses would
      // also stop the next HAProxy start. Server lines alone come from the model, valid by construction.
      if (this.structure(desired.text) !== this.structure(this.onDisk) && this.cfg.haproxy !== '') {
        const check = await haproxyCheck(
          desired.text,
          this.cfg.haproxy,
          this.cfg.haproxyConfig === '' ? undefined : this.cfg.haproxyConfig,
        );
        if (!check.ok) {
          this.kick(this.reloader.refused('the new configuration', check.output.split('\n').slice(0, 5).join(' | ')));
          return;
        }
      }
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
      // Backends already running follow at once; the reload (maybe waiting or failing) brings the rest.
      if (this.template === undefined) await this.changes.apply(plan, state.running, desired);
      const r = await this.reloader.reload(plan.reload, desired, state.text, this.managed);
      if (!r.done) this.kick(r.waitMs);
      else if (r.ok) {
        this.loadedStructure = desired.structure;
        this.managed = new Set(desired.servers.keys());
        this.changes.forgetGone(desired);
        // Compare the new worker with what was wanted.
        this.kick(0);
      } else this.kick(r.retryInMs);
    } else {
      this.reloader.cancel();
      const r = await this.changes.apply(plan, state.running, desired);
      if (r.sent) await this.refreshStateFile();
      if (r.waiting) this.kick(DRAIN_POLL_MS);
    }
    await this.readStatuses();
  }

  /** The removal guard: false while a change is held (then nothing at all changes). */
  private admitted(desired: Desired, now: number): boolean {
    const before = this.applied === undefined ? serverCounts(this.onDisk) : serverCount(this.applied);
    const v = this.hold.judge(before, serverCount(desired), now);
    if (!v.admit && v.recheckInMs !== undefined) this.kick(v.recheckInMs);
    return v.admit;
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

  /** --dry-run: what would change, printed when it changes; HAProxy is only read, never written. */
  private async dryRun(desired: Desired): Promise<void> {
    let running = fileServers(this.onDisk);
    if (this.cfg.haproxySocket !== '')
      running = await this.runtime.serversState().then(
        (s) => s.running,
        () => running,
      );
    const lines = dryRunLines(this.plan(desired, running), running, this.serverSettings);
    if (desired.text !== this.onDisk) lines.unshift(`would write ${this.cfg.out} (${desired.text.length} bytes)`);
    this.print(lines.length === 0 ? 'in sync: nothing to change' : lines.join('\n'));
    this.written = true;
  }

  /** --dry-run's output, each text once until it changes. */
  private print(text: string): void {
    if (text !== this.lastPrinted) this.io.print(`${text}\n`);
    this.lastPrinted = text;
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

  private async readStatuses(): Promise<void> {
    try {
      const rows = await this.runtime.statRows();
      this.lastStatuses = new Map(
        rows.map((r) => [`${r.proxy}\0${r.server}`, { status: r.status, scur: r.scur, weight: r.weight }]),
      );
      if (this.cfg.masterSocket !== '')
        this.reloader.oldWorkers = (await showProc(this.cfg.masterSocket, SOCKET_TIMEOUT_MS)).workers.filter(
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
    return this.hold.held !== undefined;
  }

  get drainingCount(): number {
    return this.changes.draining.size;
  }

  get oldWorkerCount(): number | undefined {
    return this.reloader.oldWorkers;
  }

  pendingChanges(): number {
    const p = this.lastPlan;
    if (p === undefined || isEmpty(p)) return this.hold.held === undefined ? 0 : 1;
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
      haproxy: { up: this.haproxyUp, error: this.haproxyError ?? null, oldWorkers: this.reloader.oldWorkers ?? null },
      held:
        this.hold.held === undefined
          ? null
          : { reason: this.hold.held.reason, since: new Date(this.hold.held.since).toISOString() },
      reload: {
        last: this.reloader.last ?? null,
        pending: this.reloader.pending,
        nextAllowed: this.reloader.nextAllowed === 0 ? null : new Date(this.reloader.nextAllowed).toISOString(),
        failuresInARow: this.reloader.failuresInARow,
      },
      draining: [...this.changes.draining.values()].map((d) => ({
        backend: d.ref.backend,
        server: d.ref.name,
        since: new Date(d.since).toISOString(),
      })),
      nodesInGrace: this.grace.held(now),
      backends,
    };
  }
}

function samePorts(a: ClaimsDocument | undefined, b: ClaimsDocument): boolean {
  if (a === undefined) return b.ports.size === 0;
  return sameClaims({ ...emptyClaims(), ports: a.ports }, { ...emptyClaims(), ports: b.ports });
}

function countServers(d: Desired): number {
  let n = 0;
  for (const m of d.servers.values()) n += m.size;
  return n;
}
