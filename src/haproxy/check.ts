// `--check`: HAProxy itself judges the output. The fragment is loaded after a minimal global and
// defaults file (-f twice), so HAProxy's messages keep the fragment's own line numbers.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const CHECK_WRAPPER = `global
defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
`;

export interface CheckResult {
  ok: boolean;
  /** HAProxy's own output (or why it could not run). */
  output: string;
}

const CHECK_TIMEOUT_MS = 30_000;

/**
 * `haproxy -c` over the fragment, loaded after `mainConfig` (the operator's main file, for sync)
 * or after CHECK_WRAPPER's minimal global and defaults.
 */
export async function haproxyCheck(config: string, haproxyBin: string, mainConfig?: string): Promise<CheckResult> {
  const dir = mkdtempSync(join(tmpdir(), 'haproxy-node-agent-check-'));
  try {
    const wrapper = mainConfig ?? join(dir, 'wrapper.cfg');
    const fragment = join(dir, 'rendered.cfg');
    if (mainConfig === undefined) writeFileSync(wrapper, CHECK_WRAPPER);
    writeFileSync(fragment, config);
    return await new Promise<CheckResult>((resolve) => {
      const child = spawn(haproxyBin, ['-c', '-f', wrapper, '-f', fragment], { stdio: ['ignore', 'pipe', 'pipe'] });
      // Our own timer: spawn's `timeout` option leaves its timer running when the binary is missing.
      const timer = setTimeout(() => child.kill('SIGKILL'), CHECK_TIMEOUT_MS);
      const chunks: Buffer[] = [];
      child.stdout.on('data', (c: Buffer) => chunks.push(c));
      child.stderr.on('data', (c: Buffer) => chunks.push(c));
      child.on('error', (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        const why = err.code === 'ENOENT' ? 'not found (install HAProxy or point --haproxy at it)' : err.message;
        resolve({ ok: false, output: `cannot run "${haproxyBin}": ${why}` });
      });
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        // The temporary paths mean nothing to the operator; the line numbers are the output's own.
        const output = Buffer.concat(chunks)
          .toString('utf8')
          .trim()
          .replaceAll(fragment, '<rendered output>')
          .replaceAll(wrapper, mainConfig === undefined ? '<check wrapper>' : wrapper);
        // Exit 2 "no error but will not start (no listener)" is fine for a backends-only fragment:
        // the operator's own frontend sits elsewhere.
        const ok = code === 0 || (code === 2 && output.includes('has no error but will not start (no listener)'));
        resolve({ ok, output: signal === null ? output : `${output}\nhaproxy -c killed by ${signal}`.trim() });
      });
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
