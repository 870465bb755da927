// The ceiling for Node: a TCP server with the agent's structure and nothing else. Per connection it
// waits for the first newline (the agent-send line), writes the constant "ready up 100%\n", and
// ends its side (FIN after the reply, like the agent); anything sent after the line is read and
// dropped until the client closes. No read timeout, no lookup, no counters, no per-connection
// closures. Started as its own process; prints {"port":N} on stdout once listening.
import { createServer, type Socket } from 'node:net';

const REPLY = Buffer.from('ready up 100%\n', 'latin1');

function onData(this: Socket, chunk: Buffer): void {
  if (chunk.indexOf(10) === -1) return;
  this.removeListener('data', onData);
  this.end(REPLY);
}

function onError(this: Socket): void {
  this.destroy();
}

const server = createServer({ noDelay: true }, (s) => {
  s.on('data', onData);
  s.on('error', onError);
});
server.listen({ host: '127.0.0.1', port: Number(process.argv[2] ?? 0), backlog: 4096 }, () => {
  const a = server.address();
  process.stdout.write(`${JSON.stringify({ port: typeof a === 'object' && a !== null ? a.port : 0 })}\n`);
});
process.on('SIGTERM', () => process.exit(0));

// Diagnostic (`--baseline-cli bare-heavy`): the same server in a process that has also loaded what
// the agent loads (the Kubernetes client, prom-client's default metrics), to tell the cost of the
// probe path from the cost of a heavier process.
if (process.argv[3] === 'heavy') {
  await import('@kubernetes/client-node');
  const prom = await import('prom-client');
  prom.collectDefaultMetrics({ register: new prom.Registry() });
}
