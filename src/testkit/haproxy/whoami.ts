// Tiny loopback HTTP servers standing for a Service's NodePort on one node: each answers with its
// own name, so traffic sent through HAProxy shows which server got it.
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface WhoamiServer {
  name: string;
  port: number;
  close(): Promise<void>;
}

/** Longest stream a client may ask for: a forgotten stream must not outlive a test run by much. */
const MAX_STREAM_CHUNKS = 600;

/**
 * Any path → 200 with body "<name>\n" and header x-served-by.
 * A path ending in /stream (optional ?chunks=N&every=MS, default 100 × 100 ms) → a slow chunked response,
 * one line "<name> <i>" per interval: a long-lived connection that outlasts a drain.
 */
export async function startWhoami(name: string, host = '127.0.0.1', port = 0): Promise<WhoamiServer> {
  const sockets = new Set<Socket>();
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    res.setHeader('x-served-by', name);
    if (url.pathname.endsWith('/stream'))
      return stream(
        res,
        name,
        bounded(url.searchParams.get('chunks'), 100, MAX_STREAM_CHUNKS),
        bounded(url.searchParams.get('every'), 100, 10_000),
      );
    res.setHeader('content-type', 'text/plain');
    res.end(`${name}\n`);
  });
  server.keepAliveTimeout = 30_000;
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return {
    name,
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      }),
  };
}

function stream(res: ServerResponse, name: string, chunks: number, everyMs: number): void {
  res.setHeader('content-type', 'text/plain');
  // The first line goes out at once: the client learns which server it is on before anything changes.
  let i = 0;
  const next = (): boolean => {
    res.write(`${name} ${i}\n`);
    if (++i < chunks) return true;
    res.end();
    return false;
  };
  if (!next()) return;
  const timer = setInterval(() => {
    if (!next()) clearInterval(timer);
  }, everyMs);
  res.on('close', () => clearInterval(timer));
}

function bounded(v: string | null, fallback: number, max: number): number {
  const n = v === null ? NaN : Number(v);
  return Number.isInteger(n) && n >= 1 ? Math.min(n, max) : fallback;
}
