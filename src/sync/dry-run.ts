// --dry-run's words: the runtime commands a plan would send, or why it would reload instead. Pure.
import type { Plan, Running, RunningServer } from './plan.js';
import { type ServerSettings, commandsFor } from './runtime.js';

export function dryRunLines(plan: Plan, running: Running, settings: ServerSettings): string[] {
  if (plan.reload.length > 0) return [`reload needed because ${plan.reload.join('; ')}`];
  const lines: string[] = [];
  for (const s of plan.add) lines.push(...commandsFor('add', s, settings));
  for (const s of plan.readdress)
    lines.push(...commandsFor('readdress', s, settings, running.get(s.backend)?.get(s.name)));
  for (const r of plan.remove) lines.push(...commandsFor('drain', r, settings), ...commandsFor('delete', r, settings));
  return lines;
}

/** Without a stats socket: the servers of the file on disk, as if they ran. */
export function fileServers(text: string): Running {
  const out = new Map<string, Map<string, RunningServer>>();
  let backend: Map<string, RunningServer> | undefined;
  for (const line of text.split('\n')) {
    const w = line.trim().split(/\s+/);
    if (w[0] === 'backend' && w[1] !== undefined) out.set(w[1], (backend = new Map()));
    else if (w[0] === 'frontend' || w[0] === 'listen' || w[0] === 'defaults' || w[0] === 'global') backend = undefined;
    else if (w[0] === 'server' && backend !== undefined && w[1] !== undefined && w[2] !== undefined) {
      const i = w[2].lastIndexOf(':');
      backend.set(w[1], { address: w[2].slice(0, i).replace(/^\[|\]$/g, ''), port: Number(w[2].slice(i + 1)) });
    }
  }
  return out;
}
