// /healthz /readyz /metrics /status on node:http, on its own port so scrapes never queue behind probes.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Registry } from 'prom-client';

export interface HttpSources {
  registry: Registry;
  ready(): boolean;
  status(): unknown;
}

export class HttpServer {
  private readonly server: Server;

  constructor(
    private readonly host: string,
    private readonly port: number,
    private readonly src: HttpSources,
  ) {
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => send(res, 500, 'text/plain', `internal error: ${String(err)}\n`));
    });
    this.server.keepAliveTimeout = 5000;
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
    const path = (req.url ?? '/').split('?')[0];
    switch (path) {
      case '/healthz':
        return send(res, 200, 'text/plain', 'ok\n');
      case '/readyz':
        return this.src.ready() ? send(res, 200, 'text/plain', 'ready\n') : send(res, 503, 'text/plain', 'not ready: waiting for the first full list of the Node and Services\n');
      case '/metrics':
        return send(res, 200, this.src.registry.contentType, await this.src.registry.metrics());
      case '/status':
        return send(res, 200, 'application/json', `${JSON.stringify(this.src.status(), null, 2)}\n`);
      default:
        return send(res, 404, 'text/plain', 'not found: try /healthz /readyz /metrics /status\n');
    }
  }
}

function send(res: ServerResponse, code: number, type: string, body: string): void {
  if (res.headersSent) return void res.end();
  res.writeHead(code, { 'content-type': type, 'cache-control': 'no-store' });
  res.end(body);
}
