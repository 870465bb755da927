// Probes from the bench process itself (propagation, scale): test/lib's probe, with the monotonic
// time its reply ended, comparable with when the fake API host applied a change.
import { timedProbe } from '../test/lib/probe.js';

/** One probe like HAProxy's: connect, send, read until the server closes (test/lib/probe.ts). */
export async function probeOnce(
  port: number,
  send: string,
  timeoutMs = 3000,
): Promise<{ text: string; endMs: number }> {
  const r = await timedProbe(port, { send, timeoutMs });
  return { text: r.reply, endMs: r.endMs };
}
