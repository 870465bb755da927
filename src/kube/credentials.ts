// What each API request carries: the Authorization header and the TLS material. Files (token,
// CA, client certificate and key) are re-read when they change — a stat per request is cheap —
// and a token file at once after a 401. Exec plugins run through client-node's ExecAuth (a small
// module of its own: importing it does not load the generated API).
import http from 'node:http';
import https from 'node:https';
import { readFileSync, statSync } from 'node:fs';
import { ExecAuth } from '@kubernetes/client-node/dist/exec_auth.js';
import type { User } from '@kubernetes/client-node/dist/config_types.js';
import { FlagError } from '../platform/flags.js';
import type { ClusterInfo, UserInfo } from './kubeconfig.js';

/** A file read again only when its inode, size or mtime moved (or after invalidate()). */
export class WatchedFile {
  private sig = '';
  private data: Buffer | undefined;

  constructor(readonly path: string) {}

  read(): Buffer {
    const st = statSync(this.path); // follows symlinks: a projected volume's ..data swap shows
    const sig = `${st.ino}:${st.size}:${st.mtimeMs}`;
    if (this.data === undefined || sig !== this.sig) {
      this.data = readFileSync(this.path);
      this.sig = sig;
    }
    return this.data;
  }

  /** Read again next time, whatever stat says. */
  invalidate(): void {
    this.data = undefined;
  }

  /** True when the file no longer matches what was read last (cheap: one stat). */
  changed(): boolean {
    try {
      const st = statSync(this.path);
      return this.data !== undefined && `${st.ino}:${st.size}:${st.mtimeMs}` !== this.sig;
    } catch {
      return false;
    }
  }
}

/** Credentials could not be produced (unreadable token file, failing exec plugin). */
export class CredentialError extends Error {
  override name = 'CredentialError';
}

export interface Prepared {
  headers: http.OutgoingHttpHeaders;
  agent: http.Agent;
}

export class Credentials {
  private readonly tokenFile: WatchedFile | undefined;
  private readonly caFile: WatchedFile | undefined;
  private readonly certFile: WatchedFile | undefined;
  private readonly keyFile: WatchedFile | undefined;
  private exec: ExecAuth | undefined;
  /** Inline (base64) material, decoded once: the same Buffer keeps the same agent. */
  private readonly caData: Buffer | undefined;
  private readonly certData: Buffer | undefined;
  private readonly keyData: Buffer | undefined;
  private agent: http.Agent | undefined;
  private agentKey: unknown[] = [];

  constructor(
    private readonly cluster: ClusterInfo,
    private readonly user: UserInfo,
  ) {
    this.tokenFile = user.tokenFile === undefined ? undefined : new WatchedFile(user.tokenFile);
    this.caFile = cluster.caFile === undefined ? undefined : new WatchedFile(cluster.caFile);
    this.certFile = user.certFile === undefined ? undefined : new WatchedFile(user.certFile);
    this.keyFile = user.keyFile === undefined ? undefined : new WatchedFile(user.keyFile);
    if (user.exec !== undefined) this.exec = new ExecAuth();
    this.caData = b64(cluster.caData);
    this.certData = b64(user.certData);
    this.keyData = b64(user.keyData);
    // Unreadable files are a configuration error at start, named, like kubectl's.
    for (const [what, f] of [
      ['token file', this.tokenFile],
      ['certificate-authority', this.caFile],
      ['client-certificate', this.certFile],
      ['client-key', this.keyFile],
    ] as const) {
      if (f === undefined) continue;
      try {
        f.read();
      } catch (err) {
        throw new FlagError(
          'kubeconfig',
          `cannot read ${what} ${f.path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
        );
      }
    }
  }

  /** What authenticates us, for logs: never the secret itself. */
  describe(): string {
    const u = this.user;
    const parts: string[] = [];
    if (u.exec !== undefined) parts.push(`exec ${u.exec.command}`);
    if (u.tokenFile !== undefined) parts.push(`token file ${u.tokenFile}`);
    else if (u.token !== undefined) parts.push('token');
    if (u.certFile !== undefined || u.certData !== undefined) parts.push('client certificate');
    if (u.username !== undefined) parts.push('basic auth');
    return parts.join(' + ') || 'none (anonymous)';
  }

  /** Headers and an agent for one request; files re-read if they changed. */
  async prepare(): Promise<Prepared> {
    const headers: http.OutgoingHttpHeaders = { Accept: 'application/json' };
    const u = this.user;
    let cert: Buffer | string | undefined = this.certFile?.read() ?? this.certData;
    let key: Buffer | string | undefined = this.keyFile?.read() ?? this.keyData;
    if (this.tokenFile !== undefined) {
      let token: string;
      try {
        token = this.tokenFile.read().toString('utf8').trim();
      } catch (err) {
        throw new CredentialError(
          `cannot read token file ${this.tokenFile.path}: ` +
            `${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
        );
      }
      if (token !== '') headers.Authorization = `Bearer ${token}`;
    } else if (u.token !== undefined) {
      headers.Authorization = `Bearer ${u.token}`;
    } else if (u.username !== undefined) {
      headers.Authorization = `Basic ${Buffer.from(`${u.username}:${u.password ?? ''}`).toString('base64')}`;
    }
    if (this.exec !== undefined && u.exec !== undefined) {
      const opts: https.RequestOptions = { headers: {} };
      try {
        await this.exec.applyAuthentication({ name: u.name, exec: u.exec } as User, opts);
      } catch (err) {
        throw new CredentialError(
          `exec plugin ${u.exec.command} failed: ` +
            `${(err instanceof Error ? err.message : String(err)).trim().split('\n')[0] || 'no message'}`,
        );
      }
      const auth = (opts.headers as Record<string, unknown>).Authorization;
      if (typeof auth === 'string') headers.Authorization = auth;
      if (opts.cert !== undefined) cert = opts.cert as string;
      if (opts.key !== undefined) key = opts.key as string;
    }
    if (u.as !== undefined) headers['Impersonate-User'] = u.as;
    if (u.asUid !== undefined) headers['Impersonate-Uid'] = u.asUid;
    // node:http sends an array as repeated headers, as the API server expects for groups.
    if (u.asGroups !== undefined && u.asGroups.length > 0) headers['Impersonate-Group'] = u.asGroups;
    const ca = this.caFile?.read() ?? this.caData;
    return { headers, agent: this.agentFor(ca, cert, key) };
  }

  /**
   * After a 401 to a request sent with `usedAuthorization`: re-read the token file or re-run the
   * plugin. True when the next request will carry other credentials, so one retry at once is worth it.
   */
  refreshAfterUnauthorized(usedAuthorization: unknown): boolean {
    if (this.tokenFile !== undefined) {
      this.tokenFile.invalidate();
      try {
        return `Bearer ${this.tokenFile.read().toString('utf8').trim()}` !== usedAuthorization;
      } catch {
        return false;
      }
    }
    if (this.exec !== undefined) {
      this.exec = new ExecAuth(); // a fresh cache: the plugin runs again
      return true;
    }
    return false;
  }

  /** True when a credential file changed since it was last used (polled to cut a backoff short). */
  filesChanged(): boolean {
    return [this.tokenFile, this.caFile, this.certFile, this.keyFile].some((f) => f?.changed() === true);
  }

  /** One agent per TLS material; a new one when a file or plugin hands out new material. */
  private agentFor(
    ca: Buffer | undefined,
    cert: Buffer | string | undefined,
    key: Buffer | string | undefined,
  ): http.Agent {
    const k = [ca, cert, key];
    if (this.agent !== undefined && k.every((v, i) => v === this.agentKey[i])) return this.agent;
    // The old agent is not destroyed: watches opened through it run on until they end.
    this.agentKey = k;
    if (this.cluster.server.startsWith('http://')) {
      this.agent = new http.Agent();
    } else {
      this.agent = new https.Agent({
        ...(ca === undefined ? {} : { ca }),
        ...(cert === undefined ? {} : { cert }),
        ...(key === undefined ? {} : { key }),
        ...(this.cluster.tlsServerName === undefined ? {} : { servername: this.cluster.tlsServerName }),
        rejectUnauthorized: !this.cluster.skipTLSVerify,
      });
    }
    return this.agent;
  }
}

function b64(data: string | undefined): Buffer | undefined {
  return data === undefined ? undefined : Buffer.from(data, 'base64');
}
