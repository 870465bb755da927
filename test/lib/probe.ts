// A probe exactly like HAProxy's agent-check: connect, maybe send, read until the agent closes.
import { connect } from 'node:net';
import { performance } from 'node:perf_hooks';
import { deadline as stretch } from './deadline.js';

export interface ProbeOptions {
  /** Bytes to send right after connecting (HAProxy's agent-send). */
  send?: string | Buffer;
  /** Half-close our side after sending. */
  end?: boolean;
  /** Give up after this long (the test fails rather than hangs). */
  timeoutMs?: number;
}

export function probe(port: number, opts: ProbeOptions = {}): Promise<string> {
  return timedProbe(port, opts).then((r) => r.reply);
}

export interface TimedReply {
  reply: string;
  /** From our connect() call until we wrote: when the prober itself was that late, a node answer may be right. */
  writeLagMs: number;
  /**
   * When the agent's end of the reply arrived, on the monotonic clock every process on this machine
   * shares (process.hrtime, ms): the bench compares it with when the fake API applied a change.
   */
  endMs: number;
}

const monotonicMs = (): number => Number(process.hrtime.bigint()) / 1e6;

/** probe(), also saying how late this process itself sent the line (see hostile/busy-loop.test.ts). */
export function timedProbe(port: number, opts: ProbeOptions = {}): Promise<TimedReply> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    let writeLagMs = 0;
    let endMs: number | undefined;
    const s = connect({ host: '127.0.0.1', port });
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`probe: no close within ${opts.timeoutMs ?? 3000}ms`));
    }, opts.timeoutMs ?? 3000);
    s.on('connect', () => {
      writeLagMs = performance.now() - started;
      if (opts.send !== undefined) s.write(opts.send);
      if (opts.end === true) s.end();
    });
    s.on('data', (c) => chunks.push(c));
    s.on('end', () => (endMs = monotonicMs()));
    s.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    s.on('close', () => {
      clearTimeout(timer);
      resolve({ reply: Buffer.concat(chunks).toString('latin1'), writeLagMs, endMs: endMs ?? monotonicMs() });
    });
  });
}

/** Probes until `check` passes or `ms` elapse (generous: a deadline, not a timing goal); returns the last answer. */
export async function probeUntil(
  port: number,
  send: string | undefined,
  check: (reply: string) => boolean,
  ms = 15_000,
): Promise<string> {
  const deadline = Date.now() + stretch(ms);
  let last = '';
  for (;;) {
    // A listener that is still opening (a dedicated port after its annotation) refuses: retry.
    last = await probe(port, send === undefined ? {} : { send }).catch((e: Error) => e.message);
    if (check(last) || Date.now() > deadline) return last;
    await new Promise((r) => setTimeout(r, 20));
  }
}
