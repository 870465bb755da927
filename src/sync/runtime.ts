// The running worker, through its stats socket: what it runs (`show servers state`), how many
// sessions each server holds (`show stat`), and the server changes the runtime API can make. Each
// command's outcome is counted by op and result; a failed one is returned, never thrown.
import { isIP } from 'node:net';
import { cliCommand, cliCommands } from '../haproxy/cli-socket.js';
import {
  addServer,
  commandFailed,
  delServer,
  disableAgent,
  disableHealth,
  enableAgent,
  enableHealth,
  setAgentAddr,
  setServerAddr,
  setServerState,
  showServersState,
  shutdownSessions,
} from '../haproxy/server-commands.js';
import { parseServersState } from '../haproxy/servers-state.js';
import { parseShowStat, type StatRow } from '../haproxy/show-stat.js';
import type { DesiredServer } from './desired.js';
import type { Running, RunningServer, ServerRef } from './plan.js';

export interface ServerSettings {
  agentPort: number;
  agentInterMs: number;
  slowstartMs: number;
  shutdownSessionsOnDown: boolean;
}

export type Op = 'add' | 'readdress' | 'drain' | 'restore' | 'cut' | 'delete';

export interface OpResult {
  ok: boolean;
  /** The commands sent, as HAProxy read them (for --dry-run and logs). */
  commands: string[];
  /** HAProxy's reply when it refused. */
  detail: string;
}

/** The commands an operation sends, in order: what --dry-run prints. */
export function commandsFor(
  op: Op,
  s: DesiredServer | ServerRef,
  settings: ServerSettings,
  old?: RunningServer,
): string[] {
  const { backend, name } = s;
  switch (op) {
    case 'add': {
      const d = s as DesiredServer;
      // Weight 100 and the agent-check exactly as the file's server line; agent-send without the
      // newline the CLI cannot carry (the agent answers an exactly-known key for its Service).
      return [
        addServer(backend, name, {
          address: d.address,
          port: d.port,
          check: true,
          agentPort: settings.agentPort,
          agentAddress: d.address,
          agentInterMs: settings.agentInterMs,
          agentSend: d.key,
          weight: 100,
          slowstartMs: settings.slowstartMs,
          shutdownSessionsOnDown: settings.shutdownSessionsOnDown,
        }),
        enableAgent(backend, name),
        enableHealth(backend, name),
      ];
    }
    case 'readdress': {
      const d = s as DesiredServer;
      const out = [setServerAddr(backend, name, d.address, d.port)];
      if (old === undefined || old.address !== d.address) out.push(setAgentAddr(backend, name, d.address));
      return out;
    }
    // No new connections, the open ones go on; the agent is off first, or its next `ready` undoes it.
    case 'drain':
      return [disableAgent(backend, name), disableHealth(backend, name), setServerState(backend, name, 'drain')];
    // Wanted again while it drained: the agent steers it again (its next reply says ready or drain).
    case 'restore':
      return [setServerState(backend, name, 'ready'), enableHealth(backend, name), enableAgent(backend, name)];
    // A drain that outlived --drain-timeout: its last sessions are closed, on purpose.
    case 'cut':
      return [shutdownSessions(backend, name)];
    case 'delete':
      return [setServerState(backend, name, 'maint'), delServer(backend, name)];
  }
}

/** Whether the runtime API can add this server (add server takes addresses, not host names). */
export function runtimeAddable(s: DesiredServer): boolean {
  return isIP(s.address) !== 0;
}

/** Commands per connection: HAProxy reads them one after another; a bound keeps one reply modest. */
const BATCH = 500;

export interface PendingOp {
  op: Op;
  server: DesiredServer | ServerRef;
  old?: RunningServer;
}

export class RuntimeApi {
  constructor(
    private readonly socket: string,
    private readonly timeoutMs: number,
    private readonly count: (op: Op, ok: boolean) => void,
  ) {}

  /** `show servers state` of every backend: the text (for the state file) and the servers by backend. */
  async serversState(): Promise<{ text: string; running: Running }> {
    const text = await cliCommand(this.socket, showServersState(), this.timeoutMs);
    const running = new Map<string, Map<string, RunningServer>>();
    for (const r of parseServersState(text).rows) {
      let m = running.get(r.backend);
      if (m === undefined) running.set(r.backend, (m = new Map()));
      m.set(r.server, { address: r.address, port: r.port });
    }
    return { text, running };
  }

  /** The server rows of `show stat`: status, weight and sessions. */
  async statRows(): Promise<StatRow[]> {
    return parseShowStat(await cliCommand(this.socket, 'show stat', this.timeoutMs));
  }

  /** Sessions open per "backend\0server". */
  async sessions(): Promise<Map<string, number>> {
    return new Map((await this.statRows()).map((r) => [`${r.proxy}\0${r.server}`, r.scur]));
  }

  async run(op: Op, s: DesiredServer | ServerRef, settings: ServerSettings, old?: RunningServer): Promise<OpResult> {
    return (await this.runAll([{ op, server: s, old }], settings))[0] as OpResult;
  }

  /**
   * Many operations over as few connections as possible (prompt mode, BATCH commands each): one
   * connection per command cost ~57 ms, so 500 server moves took half a minute. Results in order.
   */
  async runAll(ops: readonly PendingOp[], settings: ServerSettings): Promise<OpResult[]> {
    const planned = ops.map((o) => commandsFor(o.op, o.server, settings, o.old));
    const results: OpResult[] = [];
    for (let first = 0; first < ops.length; ) {
      let last = first;
      let n = 0;
      while (last < ops.length && (n === 0 || n + (planned[last] as string[]).length <= BATCH)) {
        n += (planned[last] as string[]).length;
        last++;
      }
      const commands = planned.slice(first, last).flat();
      const replies = await cliCommands(this.socket, commands, this.timeoutMs);
      let at = 0;
      for (let i = first; i < last; i++) {
        const own = planned[i] as string[];
        const mine = replies.slice(at, at + own.length);
        at += own.length;
        const bad = mine.findIndex(commandFailed);
        const ok = bad === -1;
        this.count((ops[i] as PendingOp).op, ok);
        results.push({ ok, commands: own, detail: ok ? '' : `${own[bad]}: ${(mine[bad] ?? '').trim()}` });
      }
      first = last;
    }
    return results;
  }
}
