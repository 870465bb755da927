// Tiny loopback TCP servers standing for a TCP Service's NodePort on one node: each line a client
// sends comes back as "<name> <line>", so a long-lived connection shows which node serves it.
import { createServer, type Socket } from 'node:net';

export interface TcpEchoServer {
  name: string;
  port: number;
  /** Connections accepted so far. */
  accepted(): number;
  close(): Promise<void>;
}

/** Longest line kept before a newline arrives: a client that never sends one cannot grow memory. */
const MAX_LINE = 4096;

export async function startTcpEcho(name: string, host = '127.0.0.1', port = 0): Promise<TcpEchoServer> {
  const sockets = new Set<Socket>();
  let accepted = 0;
  const server = createServer((sock) => {
    accepted++;
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    sock.on('error', () => sock.destroy());
    let buf = '';
    sock.setEncoding('utf8');
    sock.on('data', (chunk: string) => {
      buf += chunk;
      for (let nl = buf.indexOf('\n'); nl !== -1; nl = buf.indexOf('\n')) {
        sock.write(`${name} ${buf.slice(0, nl)}\n`);
        buf = buf.slice(nl + 1);
      }
      if (buf.length > MAX_LINE) sock.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const addr = server.address();
  return {
    name,
    port: typeof addr === 'object' && addr !== null ? addr.port : port,
    accepted: () => accepted,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
