// Desired vs running → what to do: servers to add, re-address or remove through the runtime API,
// or the reasons a reload is needed instead. Pure: sync's hot path is this diff.
import { isIP } from 'node:net';
import type { Desired, DesiredServer } from './desired.js';

export interface RunningServer {
  address: string;
  port: number;
}

/** backend → server name → what the running worker has (from `show servers state`). */
export type Running = ReadonlyMap<string, ReadonlyMap<string, RunningServer>>;

export interface ServerRef {
  backend: string;
  name: string;
}

export interface Plan {
  /** Why a reload is needed; empty when the runtime API can apply everything. */
  reload: string[];
  add: DesiredServer[];
  readdress: DesiredServer[];
  remove: ServerRef[];
}

export interface PlanInputs {
  /** Structure of the file the running worker loaded; undefined when unknown (then servers decide). */
  loadedStructure: string | undefined;
  /** False with a user template: its server lines may say anything, so only a reload applies them. */
  runtimeServers: boolean;
  /** Backends sync wrote before (the last file): running ones no longer wanted need a reload to go. */
  managed: ReadonlySet<string>;
}

const MAX_NAMED = 3;

function named(what: string, names: string[]): string {
  const shown = names.slice(0, MAX_NAMED).join(', ');
  return `${what} ${shown}${names.length > MAX_NAMED ? ` and ${names.length - MAX_NAMED} more` : ''}`;
}

export function planChanges(desired: Desired, running: Running, inputs: PlanInputs): Plan {
  const plan: Plan = { reload: [], add: [], readdress: [], remove: [] };
  const missing = [...desired.servers.keys()].filter((b) => !running.has(b)).sort();
  if (missing.length > 0)
    plan.reload.push(named(`${missing.length === 1 ? 'backend' : 'backends'} not running:`, missing));
  const gone = [...inputs.managed].filter((b) => running.has(b) && !desired.servers.has(b)).sort();
  if (gone.length > 0) plan.reload.push(named('backends no longer wanted:', gone));
  if (plan.reload.length === 0 && inputs.loadedStructure !== undefined && inputs.loadedStructure !== desired.structure)
    plan.reload.push('frontend, routes or backend settings changed');

  let hostNamePorts = 0;
  for (const [backend, want] of desired.servers) {
    const have = running.get(backend);
    if (have === undefined) continue;
    for (const s of want.values()) {
      const r = have.get(s.name);
      if (r === undefined) plan.add.push(s);
      else if (isIP(s.address) === 0) {
        // Addressed by host name (a node with only a Hostname address): the worker runs with the IP
        // it resolved at load, so the addresses never match, and `set server addr` takes IPs only.
        if (r.port !== s.port) hostNamePorts++;
      } else if (r.address !== s.address || r.port !== s.port) plan.readdress.push(s);
    }
    for (const name of have.keys()) if (!want.has(name)) plan.remove.push({ backend, name });
  }
  if (hostNamePorts > 0) plan.reload.push(`${hostNamePorts} server(s) addressed by host name changed port`);
  const serverChanges = plan.add.length + plan.readdress.length + plan.remove.length;
  if (!inputs.runtimeServers && serverChanges > 0)
    plan.reload.push(`${serverChanges} server change(s) with a --template (applied by reload only)`);
  return plan;
}

export function isEmpty(p: Plan): boolean {
  return p.reload.length === 0 && p.add.length === 0 && p.readdress.length === 0 && p.remove.length === 0;
}
