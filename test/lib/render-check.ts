// `haproxy-node-agent render … --check` as an operator runs it, for the hostile-render tests.
import { CLI } from './agent-process.js';
import { runChild, which } from './spawn.js';

/** Without Debian's haproxy the output is still rendered, just not judged by `haproxy -c`. */
export const haproxyMissing = which('haproxy') === undefined;

/** The built CLI's `render ARGS`, with `--check` whenever haproxy is installed. */
export async function render(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const r = await runChild(process.execPath, [CLI, 'render', ...args, ...(haproxyMissing ? [] : ['--check'])], {
    timeoutMs: 60_000,
  });
  return { code: r.code ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** Backend NAME's server lines. */
export function serversOf(cfg: string, name: string): string[] {
  const at = cfg.indexOf(`\nbackend ${name}\n`);
  if (at === -1) return [];
  const end = cfg.indexOf('\nbackend ', at + 1);
  return cfg
    .slice(at, end === -1 ? undefined : end)
    .split('\n')
    .filter((l) => l.trim().startsWith('server '));
}
