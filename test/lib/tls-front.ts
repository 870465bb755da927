// A TLS front as a real API server presents itself: its own CA (made now with Debian's openssl),
// bearer tokens or client certificates checked on every request, 401/403 with a Status body on
// demand, and everything else proxied (streams included) to the fake API server.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { TLSSocket } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Test } from 'tap';

export interface Pki {
  dir: string;
  caFile: string;
  /** A CA that did not sign the server certificate. */
  wrongCaFile: string;
  serverCert: string;
  serverKey: string;
  /** A client certificate signed by the CA, CN=agent. */
  clientCertFile: string;
  clientKeyFile: string;
}

/**
 * One-shot `openssl req`/`x509` on local files: no stdin (-subj, -nodes), done in milliseconds, so
 * it stays synchronous.
 */
function openssl(dir: string, ...args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'], timeout: 60_000 });
}

/** A throwaway CA, a server certificate for 127.0.0.1/localhost and a client certificate. */
export function makePki(t: Test): Pki {
  const dir = mkdtempSync(join(tmpdir(), 'hna-pki-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  for (const ca of ['ca', 'wrong-ca'])
    openssl(
      dir,
      'req',
      '-x509',
      ...ec,
      '-keyout',
      `${ca}.key`,
      '-out',
      `${ca}.crt`,
      '-days',
      '2',
      '-subj',
      `/CN=${ca}`,
    );
  writeFileSync(join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  writeFileSync(join(dir, 'client.ext'), 'extendedKeyUsage=clientAuth\n');
  for (const [name, cn] of [
    ['server', 'localhost'],
    ['client', 'agent'],
  ] as const) {
    openssl(dir, 'req', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`);
    openssl(
      dir,
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      'ca.crt',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-out',
      `${name}.crt`,
      '-days',
      '2',
      '-extfile',
      `${name}.ext`,
    );
  }
  return {
    dir,
    caFile: join(dir, 'ca.crt'),
    wrongCaFile: join(dir, 'wrong-ca.crt'),
    serverCert: join(dir, 'server.crt'),
    serverKey: join(dir, 'server.key'),
    clientCertFile: join(dir, 'client.crt'),
    clientKeyFile: join(dir, 'client.key'),
  };
}

export interface FrontRequest {
  method: string;
  path: string;
  /** The bearer token presented, '' for none. */
  token: string;
  /** CN of a verified client certificate, '' for none. */
  clientCn: string;
  status: number;
}

export const FORBIDDEN_MESSAGE = (resource: string): string =>
  `${resource} is forbidden: User "system:serviceaccount:kube-system:haproxy-node-agent" ` +
  `cannot list resource "${resource}" in API group "" at the cluster scope`;

export class TlsFront {
  /** Bearer tokens accepted now. */
  readonly tokens = new Set<string>();
  /** Client certificate CNs accepted now. */
  readonly clientCns = new Set<string>(['agent']);
  /** Answer every request with this status (401 or 403) while set. */
  force: 401 | 403 | undefined;
  readonly requests: FrontRequest[] = [];
  private readonly server: https.Server;
  private readonly open = new Set<{ token: string; req: http.IncomingMessage }>();
  port = 0;

  constructor(
    pki: Pki,
    private readonly upstreamPort: number,
  ) {
    this.server = https.createServer(
      {
        key: readFileSync(pki.serverKey),
        cert: readFileSync(pki.serverCert),
        ca: readFileSync(pki.caFile),
        requestCert: true,
        rejectUnauthorized: false,
      },
      (req, res) => this.handle(req, res),
    );
  }

  get url(): string {
    return `https://127.0.0.1:${this.port}`;
  }

  async start(t: Test): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', () => resolve()));
    this.port = (this.server.address() as { port: number }).port;
    t.teardown(() => this.stop());
  }

  stop(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  /** Stop accepting a token and cut every request made with it (a real revocation plus a restart). */
  revoke(token: string): void {
    this.tokens.delete(token);
    for (const o of this.open) if (o.token === token) o.req.socket.destroy();
  }

  /** Cut every open request (e.g. so that watches come back and meet a forced status). */
  cutAll(): void {
    for (const o of this.open) o.req.socket.destroy();
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const auth = req.headers.authorization ?? '';
    const token = auth.startsWith('Bearer ') ? auth.slice(7) : '';
    const sock = req.socket as TLSSocket;
    const peer = sock.authorized ? sock.getPeerCertificate() : undefined;
    const clientCn = typeof peer?.subject?.CN === 'string' ? peer.subject.CN : '';
    const path = req.url ?? '/';
    const resource =
      (path.split('?')[0] ?? '')
        .split('/')
        .filter((p) => p !== '')
        .pop() ?? '';
    const record = (status: number): void => {
      this.requests.push({ method: req.method ?? '', path, token, clientCn, status });
    };
    const known = (token !== '' && this.tokens.has(token)) || (clientCn !== '' && this.clientCns.has(clientCn));
    const status = this.force ?? (known ? 0 : 401);
    if (status !== 0) {
      record(status);
      const message = status === 403 ? FORBIDDEN_MESSAGE(resource) : 'Unauthorized';
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          kind: 'Status',
          apiVersion: 'v1',
          metadata: {},
          status: 'Failure',
          message,
          reason: status === 403 ? 'Forbidden' : 'Unauthorized',
          code: status,
        }),
      );
      return;
    }
    record(200);
    const entry = { token, req };
    this.open.add(entry);
    const headers = { ...req.headers };
    delete headers.authorization;
    const up = http.request({ host: '127.0.0.1', port: this.upstreamPort, method: req.method, path, headers }, (ur) => {
      res.writeHead(ur.statusCode ?? 502, ur.headers);
      res.flushHeaders(); // a watch answers its headers at once, as a real API server does
      ur.pipe(res);
    });
    up.on('error', () => res.destroy());
    const done = (): void => {
      this.open.delete(entry);
      up.destroy();
    };
    res.on('close', done);
    req.pipe(up);
  }
}

/** A kubeconfig as JSON (valid YAML) for a cluster behind the front and one user entry. */
export function writeAccessKubeconfig(
  path: string,
  server: string,
  cluster: Record<string, unknown>,
  user: Record<string, unknown>,
): void {
  const doc = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'front', cluster: { server, ...cluster } }],
    users: [{ name: 'agent', user }],
    contexts: [{ name: 'front', context: { cluster: 'front', user: 'agent' } }],
    'current-context': 'front',
  };
  writeFileSync(path, JSON.stringify(doc, null, 2), { mode: 0o600 });
}
