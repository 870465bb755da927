// One look at the HAProxy sync drives, at start: what the operator's main configuration must give
// (an admin stats socket, the master CLI, a writable state file, a main.cfg with the state-file
// lines) and says plainly what is missing. Warnings only: HAProxy may simply not be running yet.
import { accessSync, constants, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { cliCommand } from '../haproxy/cli-socket.js';
import { showProc } from '../haproxy/master-cli.js';
import { errorMessage } from '../core/error-message.js';

export interface PreflightInputs {
  haproxySocket: string;
  masterSocket: string;
  stateFile: string;
  /** The operator's main.cfg, when given: its global and defaults sections are read for what sync needs. */
  haproxyConfig: string;
}

/** What main.cfg must hold for hitless reloads that keep drains (docs/haproxy.md, "Edge sync"). */
export const MAIN_CFG_NEEDS: readonly { pattern: RegExp; what: string }[] = [
  { pattern: /^\s*stats\s+socket\s+\S+.*\blevel\s+admin\b/m, what: 'a "stats socket PATH level admin" line (global)' },
  { pattern: /^\s*server-state-file\s+\S+/m, what: 'a "server-state-file PATH" line (global)' },
  {
    pattern: /^\s*load-server-state-from-file\s+global\b/m,
    what: 'a "load-server-state-from-file global" line (defaults)',
  },
  { pattern: /^\s*hard-stop-after\s+\S+/m, what: 'a "hard-stop-after" line (global), bounding old workers' },
];

/** One line per problem found; empty when all is well. */
export async function preflight(p: PreflightInputs): Promise<string[]> {
  const out: string[] = [];
  try {
    const level = (await cliCommand(p.haproxySocket, 'show cli level', 2000)).trim();
    if (level !== 'admin')
      out.push(`stats socket ${p.haproxySocket} is at level "${level}", not admin: add/del server will be refused`);
  } catch (err) {
    out.push(`stats socket ${p.haproxySocket} does not answer yet (${errorMessage(err)}); retrying`);
  }
  try {
    await showProc(p.masterSocket, 2000);
  } catch (err) {
    out.push(
      `master CLI ${p.masterSocket} does not answer yet (${errorMessage(err)}): ` +
        'start HAProxy in master-worker mode with -W -S PATH; reloads wait for it',
    );
  }
  try {
    accessSync(dirname(p.stateFile), constants.W_OK);
  } catch {
    out.push(`state file ${p.stateFile}: its directory is not writable, so drains would blink UP across reloads`);
  }
  if (p.haproxyConfig !== '') {
    let text: string | undefined;
    try {
      text = readFileSync(p.haproxyConfig, 'utf8');
    } catch (err) {
      out.push(`cannot read --haproxy-config ${p.haproxyConfig}: ${errorMessage(err)}`);
    }
    if (text !== undefined)
      for (const need of MAIN_CFG_NEEDS)
        if (!need.pattern.test(text)) out.push(`${p.haproxyConfig} lacks ${need.what}`);
  }
  return out;
}
