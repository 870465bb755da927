// One load-generator process (forked by main.ts, pinned with the bench away from the server's
// core). It keeps `concurrency` probes in flight, each exactly like HAProxy's agent-check: a fresh
// TCP connection, the agent-send line, read until the server closes. Latency (connect → reply and
// FIN received) is recorded into a preallocated array for probes that end inside the measured
// window; each reply is checked against the expected bytes.
import { connect, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';

export interface LoadJob {
  port: number;
  send: string;
  expect: string;
  concurrency: number;
  /** Monotonic clock (process.hrtime, ms) — the same clock in every process on this machine. */
  measureFromMs: number;
  measureToMs: number;
  /** Source addresses to spread over (127.0.0.x); empty = let the kernel pick 127.0.0.1. */
  localAddresses: string[];
  maxSamples: number;
}

export interface LoadResult {
  /** Probes that ended inside the window. */
  probes: number;
  latenciesUs: Float64Array;
  wrong: number;
  errors: number;
  firstError: string | undefined;
  /** Probes started at all, warm-up included. */
  started: number;
}

function run(job: LoadJob): Promise<LoadResult> {
  // performance.now() is cheap; convert the job's hrtime instants to it once.
  const offset = Number(process.hrtime.bigint()) / 1e6 - performance.now();
  const from = job.measureFromMs - offset;
  const to = job.measureToMs - offset;
  const send = Buffer.from(job.send, 'latin1');
  const expect = Buffer.from(job.expect, 'latin1');
  const lat = new Float64Array(job.maxSamples);
  const addrs = job.localAddresses;
  // One read buffer shared by every socket: replies are compared as they arrive, never kept.
  const readBuf = Buffer.allocUnsafe(4096);
  let n = 0;
  let probes = 0;
  let wrong = 0;
  let errors = 0;
  let started = 0;
  let firstError: string | undefined;
  let active = job.concurrency;
  let nextAddr = 0;

  return new Promise((resolve) => {
    const finish = (): void => {
      resolve({ probes, latenciesUs: lat.slice(0, n), wrong, errors, firstError, started });
    };

    const one = (): void => {
      const t0 = performance.now();
      if (t0 >= to) {
        if (--active === 0) finish();
        return;
      }
      started++;
      let got = 0;
      let ok = true;
      const opts = {
        host: '127.0.0.1',
        port: job.port,
        noDelay: true,
        onread: {
          buffer: readBuf,
          callback: (nread: number, buf: Uint8Array): boolean => {
            for (let i = 0; i < nread; i++) {
              if (got + i >= expect.length || buf[i] !== expect[got + i]) ok = false;
            }
            got += nread;
            return true;
          },
        },
        ...(addrs.length > 0 ? { localAddress: addrs[nextAddr++ % addrs.length] } : {}),
      };
      const s: Socket = connect(opts);
      s.write(send);
      s.on('end', () => {
        const t1 = performance.now();
        if (t1 >= from && t1 < to) {
          probes++;
          if (n < lat.length) lat[n++] = (t1 - t0) * 1000;
          if (!ok || got !== expect.length) wrong++;
        }
      });
      s.on('error', (e: NodeJS.ErrnoException) => {
        const t1 = performance.now();
        if (t1 >= from && t1 < to) errors++;
        firstError ??= e.code ?? e.message;
      });
      s.on('close', one);
    };

    for (let i = 0; i < job.concurrency; i++) one();
  });
}

process.on('message', (msg: { op: 'run'; job: LoadJob } | { op: 'exit' }) => {
  if (msg.op === 'exit') process.exit(0);
  void run(msg.job).then((r) => process.send?.({ op: 'done', result: r }));
});
process.send?.({ op: 'ready' });
