// A stand-in for kube-proxy's health port on loopback: real HTTP, answering 200, 503, hanging or
// closing the connection on demand, and stopping/starting to listen (refused) on the same port.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Test } from 'tap';

/** 'hang': accept, never answer. 'close': accept, then drop the connection without an answer. */
export type HealthMode = 200 | 503 | 'hang' | 'close';

export interface Served {
  mode: HealthMode;
  /** When the request arrived (epoch ms). */
  at: number;
}

export class StandInHealthz {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private mode: HealthMode = 200;
  /** Modes to use, one per request, before falling back to `mode`. */
  private script: HealthMode[] = [];
  /** Every request, in order, with what it got. */
  readonly served: Served[] = [];
  port = 0;

  constructor(private readonly t: Test) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}/healthz`;
  }

  /** Listens (on port 0 the first time, then on the same port again). */
  async start(mode: HealthMode = this.mode): Promise<void> {
    this.mode = mode;
    const server = createServer((req, res) => this.answer(req, res));
    server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as { port: number }).port;
    this.server = server;
    this.t.teardown(() => this.stop());
  }

  /** Stops listening and drops every connection: polls are refused from now on. */
  async stop(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (s === undefined) return;
    for (const sock of this.sockets) sock.destroy();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  set(mode: HealthMode): void {
    this.script = [];
    this.mode = mode;
  }

  /** The next requests get these modes in order; then `then` for good. */
  sequence(modes: HealthMode[], then: HealthMode): void {
    this.script = [...modes];
    this.mode = then;
  }

  /** How many requests got `mode` since index `from` of `served`. */
  count(mode: HealthMode, from = 0): number {
    return this.served.slice(from).filter((s) => s.mode === mode).length;
  }

  private answer(req: IncomingMessage, res: ServerResponse): void {
    const mode = this.script.shift() ?? this.mode;
    this.served.push({ mode, at: Date.now() });
    req.resume();
    if (mode === 'hang') return; // the socket stays open until the client gives up
    if (mode === 'close') return void req.socket.destroy();
    // kube-proxy's body shape (lastUpdated/currentTime); the agent reads only the status code.
    const now = new Date().toISOString();
    res.writeHead(mode, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ lastUpdated: now, currentTime: now }));
  }
}
