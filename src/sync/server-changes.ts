// A plan's server changes on the running worker, through the runtime API: new servers first (so
// capacity never dips), re-addressed ones, then removals, which drain first (no new connections,
// the open ones go on) and are deleted only once their last connection has ended. A server wanted
// again while it drains is simply enabled again.
import type { Logger } from '../platform/log.js';
import type { Desired } from './desired.js';
import type { Plan, Running, ServerRef } from './plan.js';
import type { OpResult, RuntimeApi, ServerSettings } from './runtime.js';

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
    const run = async (...a: Parameters<RuntimeApi['run']>): Promise<OpResult> => {
      sent = true;
      return this.runtime.run(...a);
    };
    for (const s of plan.add) {
      const r = await run('add', s, this.settings);
      if (r.ok) this.log.info({ backend: s.backend, server: s.name, node: s.node }, 'server added (runtime API)');
      else fail(r, `adding ${s.backend}/${s.name}`);
    }
    for (const s of plan.readdress) {
      const r = await run('readdress', s, this.settings, running.get(s.backend)?.get(s.name));
      if (r.ok)
        this.log.info({ backend: s.backend, server: s.name, address: `${s.address}:${s.port}` }, 'server readdressed');
      else fail(r, `readdressing ${s.backend}/${s.name}`);
    }
    for (const [key, d] of this.draining) {
      if (!desired.servers.get(d.ref.backend)?.has(d.ref.name)) continue;
      const r = await run('restore', d.ref, this.settings);
      if (!r.ok) {
        fail(r, `enabling ${d.ref.backend}/${d.ref.name} again`);
        continue;
      }
      this.draining.delete(key);
      this.log.info({ backend: d.ref.backend, server: d.ref.name }, 'server wanted again: its drain ended');
    }
    for (const ref of plan.remove) {
      const key = `${ref.backend}\0${ref.name}`;
      if (this.draining.has(key)) continue;
      const r = await run('drain', ref, this.settings);
      if (!r.ok) {
        fail(r, `draining ${ref.backend}/${ref.name}`);
        continue;
      }
      this.draining.set(key, { ref, since: Date.now() });
      this.log.info({ backend: ref.backend, server: ref.name }, 'server draining before del server');
    }
    this.refusalsLogged = failed;
    if (this.draining.size > 0) {
      const sessions = await this.runtime.sessions();
      for (const [key, d] of this.draining) {
        const scur = sessions.get(key);
        // Gone already (a reload, an operator): nothing left to delete.
        if (scur === undefined) this.draining.delete(key);
        if (scur === undefined) continue;
        if (scur > 0 && (this.drainTimeoutMs === 0 || Date.now() - d.since < this.drainTimeoutMs)) continue;
        if (scur > 0) {
          this.log.warn(
            { backend: d.ref.backend, server: d.ref.name, sessions: scur },
            `${d.ref.backend}/${d.ref.name} still has ${scur} session(s) after --drain-timeout; closing them`,
          );
          await run('cut', d.ref, this.settings);
        }
        const r = await run('delete', d.ref, this.settings);
        if (!r.ok) continue;
        this.draining.delete(key);
        this.log.info({ backend: d.ref.backend, server: d.ref.name }, 'server deleted (runtime API)');
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
