// What each API request carries: the Authorization header and the TLS material. Files (token,
// CA, client certificate and key) are re-read when they change — a stat per request is cheap —
// and a token file at once after a 401. Whatever sits at their paths, a read never blocks and
// never costs more than MAX_CREDENTIAL_FILE_BYTES; an unreadable file keeps the last good content.
// Exec plugins run through client-node's ExecAuth (a small module of its own: importing it does
// not load the generated API).
import http from 'node:http';
import https from 'node:https';
import { closeSync, constants, fstatSync, openSync, readSync, statSync, type Stats } from 'node:fs';
import { ExecAuth } from '@kubernetes/client-node/dist/exec_auth.js';
import type { User } from '@kubernetes/client-node/dist/config_types.js';
import { FlagError } from '../platform/flags.js';
import type { ClusterInfo, UserInfo } from './kubeconfig.js';
import { errorMessage } from '../core/error-message.js';

/**
 * The largest credential file we read. A token is a few KB, a CA bundle a few hundred; a file
 * over this is not one (e.g. a 1 GiB sparse file), and reading it would cost its size in RSS.
 */
export const MAX_CREDENTIAL_FILE_BYTES = 4 * 1024 * 1024;

/** Why a credential file could not be read, in words (a code like ENOENT, or what sits there). */
export class FileReadError extends Error {
  override name = 'FileReadError';
}

/**
 * One bounded read that cannot block: opened non-blocking (a FIFO returns at once), regular files
 * only, at most `max` bytes, as run/override.ts reads the override file.
 */
export function readCredentialFile(path: string, max = MAX_CREDENTIAL_FILE_BYTES): Buffer {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (err) {
    throw new FileReadError((err as NodeJS.ErrnoException).code ?? (err as Error).message);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new FileReadError(`not a regular file (${fileType(st)})`);
    if (st.size > max) throw new FileReadError(`${st.size} bytes, over ${max}`);
    // It may grow between fstat and read: read no further than the cap, plus one byte to know.
    const buf = Buffer.alloc(Math.min(st.size, max) + 1);
    let n = 0;
    for (let r: number; n < buf.length && (r = readSync(fd, buf, n, buf.length - n, n)) > 0; ) n += r;
    if (n > max) throw new FileReadError(`over ${max} bytes`);
    return buf.subarray(0, n);
  } catch (err) {
    if (err instanceof FileReadError) throw err;
    throw new FileReadError((err as NodeJS.ErrnoException).code ?? (err as Error).message);
  } finally {
    closeSync(fd);
  }
}

function fileType(st: Stats): string {
  if (st.isFIFO()) return 'a FIFO';
  if (st.isDirectory()) return 'a directory';
  if (st.isSocket()) return 'a socket';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'a device';
  return 'not a file';
}

/** A credential file that could not be read (detail), or is readable again (null). */
export type FileProblem = (what: string, path: string, detail: string | null) => void;

/**
 * A file read again only when its inode, size or mtime moved (or after invalidate()). Once read,
 * a file that cannot be read again (gone, a FIFO, too big) changes nothing: the last good content
 * stays in use, and the problem is reported once per distinct failure, like the override file.
 */
export class WatchedFile {
  private sig = '';
  /** The signature of the last failed read: polling changed() does not report it again. */
  private failedSig = '';
  private data: Buffer | undefined;
  private fresh = false;
  private problem = '';

  constructor(
    readonly path: string,
    private readonly what = 'file',
    private readonly onProblem: FileProblem = () => undefined,
  ) {}

  read(): Buffer {
    let sig: string;
    try {
      sig = signature(statSync(this.path)); // follows symlinks: a projected volume's ..data swap shows
    } catch (err) {
      return this.keep('', new FileReadError((err as NodeJS.ErrnoException).code ?? (err as Error).message));
    }
    if (this.data !== undefined && this.fresh && sig === this.sig) return this.data;
    let data: Buffer;
    try {
      data = readCredentialFile(this.path);
    } catch (err) {
      return this.keep(sig, err as FileReadError);
    }
    this.data = data;
    this.sig = sig;
    this.fresh = true;
    if (this.problem !== '') {
      this.problem = '';
      this.failedSig = '';
      this.onProblem(this.what, this.path, null);
    }
    return data;
  }

  /** Never read: the caller reports it. Read before: keep what we had, report once. */
  private keep(sig: string, err: FileReadError): Buffer {
    if (this.data === undefined) throw err;
    this.failedSig = sig;
    if (err.message !== this.problem) {
      this.problem = err.message;
      this.onProblem(this.what, this.path, err.message);
    }
    return this.data;
  }

  /** Read again next time, whatever stat says. */
  invalidate(): void {
    this.fresh = false;
  }

  /** True when the file no longer matches what was read (or failed) last (cheap: one stat). */
  changed(): boolean {
    try {
      const sig = signature(statSync(this.path));
      return this.data !== undefined && sig !== this.sig && sig !== this.failedSig;
    } catch {
      return false;
    }
  }
}

function signature(st: Stats): string {
  return `${st.ino}:${st.size}:${st.mtimeMs}`;
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
    onProblem?: FileProblem,
  ) {
    const file = (path: string | undefined, what: string): WatchedFile | undefined =>
      path === undefined ? undefined : new WatchedFile(path, what, onProblem);
    this.tokenFile = file(user.tokenFile, 'token file');
    this.caFile = file(cluster.caFile, 'certificate-authority');
    this.certFile = file(user.certFile, 'client-certificate');
    this.keyFile = file(user.keyFile, 'client-key');
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
        throw new FlagError('kubeconfig', `cannot read ${what} ${f.path}: ${(err as Error).message}`);
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
        throw new CredentialError(`cannot read token file ${this.tokenFile.path}: ${(err as Error).message}`);
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
          `exec plugin ${u.exec.command} failed: ` + `${errorMessage(err).trim().split('\n')[0] || 'no message'}`,
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
