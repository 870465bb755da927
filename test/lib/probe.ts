// A probe exactly like HAProxy's agent-check: connect, maybe send, read until the agent closes.
import { connect } from 'node:net';
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
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port });
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`probe: no close within ${opts.timeoutMs ?? 3000}ms`));
    }, opts.timeoutMs ?? 3000);
    s.on('connect', () => {
      if (opts.send !== undefined) s.write(opts.send);
      if (opts.end === true) s.end();
    });
    s.on('data', (c) => chunks.push(c));
    s.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    s.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString('latin1'));
    });
  });
}

/** Probes until `check` passes or `ms` elapse (generous: a deadline, not a timing goal); returns the last answer. */
export async function probeUntil(port: number, send: string | undefined, check: (reply: string) => boolean, ms = 15_000): Promise<string> {
  const deadline = Date.now() + stretch(ms);
  let last = '';
  for (;;) {
    // A listener that is still opening (a dedicated port after its annotation) refuses: retry.
    last = await probe(port, send === undefined ? {} : { send }).catch((e: Error) => e.message);
    if (check(last) || Date.now() > deadline) return last;
    await new Promise((r) => setTimeout(r, 20));
  }
}
