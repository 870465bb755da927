// /livez /healthz /readyz /metrics /status on node:http, on its own port so scrapes never queue behind probes.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Registry } from 'prom-client';
import { isLocalPeer } from './peer.js';
import { StatusBody, type StatusDetail, type StatusSource } from './status-body.js';

/** /drained's answer: 200 once a drain is proven delivered, 503 with what is pending. */
export interface DrainedAnswer {
  status: 200 | 503;
  body: Record<string, unknown>;
}

export interface HttpSources {
  registry: Registry;
  ready(): boolean;
  /** Why /readyz says 503, or null for 200; when absent, ready() decides. */
  notReadyReason?(): string | null;
  status: StatusSource;
  /**
   * /drained (the daemon's run/http/drained.ts); absent = 404. `detail`: the client may see Service
   * names. `want`: `?for=ready` asks whether the way back (ready) has been delivered instead.
   */
  drained?(detail: boolean, want: 'drain' | 'ready'): DrainedAnswer;
}

/** Open connections from other hosts; more are closed at once, so neighbours cannot lock out the
 * kubelet's probes or a local curl (connections from this node are not counted here). */
export const MAX_REMOTE_HTTP_CONNECTIONS = 32;
/** Hard cap on all open HTTP connections (file descriptors and memory). */
export const MAX_HTTP_CONNECTIONS = 256;

export class HttpServer {
  private readonly server: Server;
  private readonly statusBody: StatusBody;
  private remoteConnections = 0;

  constructor(
    private readonly host: string,
    private readonly port: number,
    private readonly src: HttpSources,
    private readonly statusDetail: StatusDetail = 'loopback',
  ) {
    this.statusBody = new StatusBody(src.status, statusDetail);
    // Slowloris: a request must arrive whole within 5 s (checked every second, not every 30 s).
    this.server = createServer(
      { headersTimeout: 5000, requestTimeout: 10_000, connectionsCheckingInterval: 1000 },
      (req, res) => {
        this.handle(req, res).catch((err: unknown) => send(res, 500, 'text/plain', `internal error: ${String(err)}\n`));
      },
    );
    this.server.keepAliveTimeout = 5000;
    // A client that stops reading a response is dropped after 30 s of silence.
    this.server.timeout = 30_000;
    this.server.maxConnections = MAX_HTTP_CONNECTIONS;
    this.server.on('connection', (s: Socket) => this.admit(s));
  }

  private admit(s: Socket): void {
    if (isLocalPeer(s.remoteAddress, s.localAddress)) return;
    if (this.remoteConnections >= MAX_REMOTE_HTTP_CONNECTIONS) return void s.destroy();
    this.remoteConnections++;
    s.once('close', () => this.remoteConnections--);
  }

  listen(): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen({ host: this.host, port: this.port }, () => {
        this.server.off('error', reject);
        const addr = this.server.address();
        resolve(typeof addr === 'object' && addr !== null ? addr.port : this.port);
      });
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'text/plain', 'method not allowed\n');
    const [path, query = ''] = (req.url ?? '/').split('?', 2);
    // kube-apiserver style: ?verbose lists each check; the status code is the same either way.
    const verbose = new URLSearchParams(query).has('verbose');
    switch (path) {
      case '/healthz':
        return send(res, 200, 'text/plain', 'ok\n');
      // Liveness: this process answers HTTP. Never asks the API server or anything else, so an
      // API outage cannot make the kubelet restart agents (a restarting agent answers nothing).
      case '/livez':
        return send(res, 200, 'text/plain', verbose ? '[+]ping ok\nlivez check passed\n' : 'ok\n');
      case '/readyz': {
        const checks = this.readyChecks();
        const failed = checks.find((c) => c.failure !== null);
        const code = failed === undefined ? 200 : 503;
        if (verbose) return send(res, code, 'text/plain', verboseReadyz(checks));
        return failed === undefined
          ? send(res, 200, 'text/plain', 'ready\n')
          : send(res, 503, 'text/plain', `not ready: ${failed.failure}\n`);
      }
      case '/metrics':
        return send(res, 200, this.src.registry.contentType, await this.src.registry.metrics());
      case '/status':
        return this.sendStatus(req, res);
      case '/drained':
        return this.sendDrained(req, res);
      default:
        return send(res, 404, 'text/plain', 'not found: try /livez /healthz /readyz /metrics /status /drained\n');
    }
  }

  /**
   * What /readyz checks, in order: `synced` (the first full list is in) and, where the program
   * reports why answers cannot be kept fresh (the daemon), `api-access` (credentials, RBAC, TLS).
   * The non-verbose answer names the first failure, exactly the one notReadyReason() gives.
   */
  private readyChecks(): ReadyCheck[] {
    const synced = this.src.ready();
    const reason = this.src.notReadyReason?.();
    const checks: ReadyCheck[] = [{ name: 'ping', failure: null }];
    if (this.src.notReadyReason === undefined) {
      checks.push({
        name: 'synced',
        failure: synced ? null : 'waiting for the first full list of the Node and Services',
      });
      return checks;
    }
    checks.push({ name: 'synced', failure: synced ? null : (reason ?? 'waiting for the first full list') });
    checks.push({ name: 'api-access', failure: synced ? (reason ?? null) : 'not checked before the first full list' });
    return checks;
  }

  private sendDrained(req: IncomingMessage, res: ServerResponse): void {
    if (this.src.drained === undefined) return send(res, 404, 'text/plain', 'not found\n');
    const want = new URLSearchParams((req.url ?? '').split('?')[1] ?? '').get('for') ?? 'drain';
    if (want !== 'drain' && want !== 'ready') return send(res, 400, 'text/plain', 'for: expected drain or ready\n');
    const a = this.src.drained(this.detailFor(req), want);
    send(res, a.status, 'application/json', `${JSON.stringify(a.body, null, 2)}\n`);
  }

  private detailFor(req: IncomingMessage): boolean {
    return (
      this.statusDetail === 'all' ||
      (this.statusDetail === 'loopback' && isLocalPeer(req.socket.remoteAddress, req.socket.localAddress))
    );
  }

  private sendStatus(req: IncomingMessage, res: ServerResponse): void {
    const detail = this.detailFor(req);
    const [head, tail] = this.statusBody.render(detail);
    res.writeHead(200, {
      'content-type': 'application/json',
      'cache-control': 'no-store',
      'content-length': head.length + tail.length,
    });
    res.write(head);
    res.end(tail);
  }
}

interface ReadyCheck {
  name: string;
  /** null = ok. */
  failure: string | null;
}

/** `[+]name ok` / `[-]name failed: why` lines, then the verdict, as kube-apiserver's ?verbose prints them. */
function verboseReadyz(checks: readonly ReadyCheck[]): string {
  let s = '';
  for (const c of checks) s += c.failure === null ? `[+]${c.name} ok\n` : `[-]${c.name} failed: ${c.failure}\n`;
  return `${s}readyz check ${checks.every((c) => c.failure === null) ? 'passed' : 'failed'}\n`;
}

function send(res: ServerResponse, code: number, type: string, body: string): void {
  if (res.headersSent) return void res.end();
  res.writeHead(code, { 'content-type': type, 'cache-control': 'no-store' });
  res.end(body);
}
