// Shared by the /drained tests: the agent's answer, and `wait-drained` run as an operator runs it.
import { CLI, httpGet } from './agent-process.js';
import { runChild, type ChildResult } from './spawn.js';

export interface DrainedAnswer {
  status: number;
  body: { drained?: boolean; reason?: string; answer?: string; peers?: number; pending?: Array<{ peer: string }> };
}

/** GET /drained from the agent's HTTP port, its JSON parsed. */
export async function drained(httpPort: number): Promise<DrainedAnswer> {
  const r = await httpGet(httpPort, '/drained');
  return { status: r.status, body: JSON.parse(r.body) as DrainedAnswer['body'] };
}

/** `haproxy-node-agent wait-drained ARGS` to completion: its exit code and output. */
export function waitDrained(args: string[]): Promise<ChildResult> {
  return runChild(process.execPath, [CLI, 'wait-drained', ...args], { timeoutMs: 60_000 });
}
