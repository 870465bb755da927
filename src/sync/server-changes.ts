// A plan's server changes on the running worker, through the runtime API: new servers first (so
// capacity never dips), re-addressed ones, then removals, which drain first (no new connections,
// the open ones go on) and are deleted only once their last connection has ended. A server wanted
// again while it drains is simply enabled again.
import type { Logger } from '../platform/log.js';
import type { Desired } from './desired.js';
import type { Plan, Running, ServerRef } from './plan.js';
import type { OpResult, PendingOp, RuntimeApi, ServerSettings } from './runtime.js';

export interface Draining {
  ref: ServerRef;
  since: number;
}

export class ServerChanges {
  readonly draining = new Map<string, Draining>();
  private refusalsLogged = new Set<string>();

  constructor(
    private readonly runtime: RuntimeApi,
    private readonly settings: ServerSettings,
    private readonly log: Logger,
    /** How long a removed server may keep its sessions before they are closed (0: as long as they last). */
    private readonly drainTimeoutMs: number,
  ) {}

  /** Applies the plan; `sent`: any command went out; `waiting`: servers still drain (look again soon). */
  async apply(plan: Plan, running: Running, desired: Desired): Promise<{ sent: boolean; waiting: boolean }> {
    let sent = false;
    const failed = new Set<string>();
    // Logged once while it repeats: every cycle retries the same command.
    const fail = (r: OpResult, what: string): void => {
      failed.add(r.detail);
      if (!this.refusalsLogged.has(r.detail))
        this.log.error({ detail: r.detail }, `runtime API refused ${what}: ${r.detail}; the next cycle retries`);
    };
    const runAll = async (ops: PendingOp[]): Promise<OpResult[]> => {
      if (ops.length === 0) return [];
      sent = true;
      return this.runtime.runAll(ops, this.settings);
    };
    // New servers first, so capacity never dips; then the moved, and the drains that end.
    const restores = [...this.draining].filter(([, d]) => desired.servers.get(d.ref.backend)?.has(d.ref.name));
    const first: PendingOp[] = [
      ...plan.add.map((s): PendingOp => ({ op: 'add', server: s })),
      ...plan.readdress.map(
        (s): PendingOp => ({ op: 'readdress', server: s, old: running.get(s.backend)?.get(s.name) }),
      ),
      ...restores.map(([, d]): PendingOp => ({ op: 'restore', server: d.ref })),
    ];
    const done = await runAll(first);
    for (const [i, r] of done.entries()) {
      const o = first[i] as PendingOp;
      const where = `${o.server.backend}/${o.server.name}`;
      if (!r.ok) {
        fail(r, `${o.op === 'add' ? 'adding' : o.op === 'readdress' ? 'readdressing' : 'enabling'} ${where}`);
        continue;
      }
      if (o.op === 'restore') this.draining.delete(`${o.server.backend}\0${o.server.name}`);
      this.log.info(
        { backend: o.server.backend, server: o.server.name, op: o.op },
        `server ${where}: ${o.op} (runtime API)`,
      );
    }
    const drains = plan.remove.filter((ref) => !this.draining.has(`${ref.backend}\0${ref.name}`));
    const drained = await runAll(drains.map((ref): PendingOp => ({ op: 'drain', server: ref })));
    for (const [i, r] of drained.entries()) {
      const ref = drains[i] as ServerRef;
      if (!r.ok) {
        fail(r, `draining ${ref.backend}/${ref.name}`);
        continue;
      }
      this.draining.set(`${ref.backend}\0${ref.name}`, { ref, since: Date.now() });
      this.log.info({ backend: ref.backend, server: ref.name }, 'server draining before del server');
    }
    this.refusalsLogged = failed;
    if (this.draining.size > 0) {
      const sessions = await this.runtime.sessions();
      const ending: PendingOp[] = [];
      for (const [key, d] of this.draining) {
        const scur = sessions.get(key);
        // Gone already (a reload, an operator): nothing left to delete.
        if (scur === undefined) {
          this.draining.delete(key);
          continue;
        }
        if (scur > 0 && (this.drainTimeoutMs === 0 || Date.now() - d.since < this.drainTimeoutMs)) continue;
        if (scur > 0) {
          this.log.warn(
            { backend: d.ref.backend, server: d.ref.name, sessions: scur },
            `${d.ref.backend}/${d.ref.name} still has ${scur} session(s) after --drain-timeout; closing them`,
          );
          ending.push({ op: 'cut', server: d.ref });
        }
        ending.push({ op: 'delete', server: d.ref });
      }
      const ended = await runAll(ending);
      for (const [i, r] of ended.entries()) {
        const o = ending[i] as PendingOp;
        if (o.op !== 'delete' || !r.ok) continue;
        this.draining.delete(`${o.server.backend}\0${o.server.name}`);
        this.log.info({ backend: o.server.backend, server: o.server.name }, 'server deleted (runtime API)');
      }
    }
    return { sent, waiting: this.draining.size > 0 };
  }

  /** After a reload onto `desired`: servers it no longer has are gone with the old worker. */
  forgetGone(desired: Desired): void {
    for (const [key, d] of this.draining)
      if (!desired.servers.get(d.ref.backend)?.has(d.ref.name)) this.draining.delete(key);
  }
}
