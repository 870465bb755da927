// HTTP(S) to the API server with deadlines we own. Credentials (credentials.ts) supply auth and
// TLS; node:http does the rest, so a list or a watch can never hang without us noticing. A 401
// re-reads the token file (or re-runs the exec plugin) and retries at once, once.
import http from 'node:http';
import https from 'node:https';
import { CredentialError, Credentials, type Prepared } from './credentials.js';
import type { KubeAccess } from './kubeconfig.js';
import { ListSplitter, type SplitterSink } from './list-splitter.js';

/** What kind of failure: the API health state (api-health.ts) is derived from it. */
export type FailureKind = 'http' | 'unreachable' | 'tls' | 'credentials' | 'dropped';

/** An API failure; statusCode mirrors what the informer looks at (410 = relist, 0 = hung). */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly statusCode?: number,
    readonly kind: FailureKind = statusCode === undefined || statusCode === 0 ? 'unreachable' : 'http',
    /** The Status message the API server sent (e.g. the RBAC reason of a 403), if any. */
    readonly detail = '',
  ) {
    super(message);
    this.name = 'ApiError';
  }

  /** The Authorization header the refused request carried (compared after a 401, never logged). */
  sentAuthorization?: unknown;
}

/** TLS verification and handshake failures, as node reports them (OpenSSL's verify codes). */
export function isTlsFailure(err: NodeJS.ErrnoException): boolean {
  const code = err.code ?? '';
  return /^(ERR_TLS_|ERR_SSL_|EPROTO$)|CERT|UNABLE_TO_|SELF_SIGNED|HOSTNAME_MISMATCH/.test(code);
}

/** The resource a request is about: the last path segment (nodes, services, events ...). */
export function resourceOf(pathAndQuery: string): string {
  const path = pathAndQuery.split('?')[0] ?? '';
  return (
    path
      .split('/')
      .filter((p) => p !== '')
      .pop() ?? ''
  );
}

function networkError(what: string, e: NodeJS.ErrnoException, timeoutMs: number): ApiError {
  if (e.name === 'AbortError' || e.name === 'TimeoutError')
    return new ApiError(`${what}: no answer within ${timeoutMs}ms`);
  if (isTlsFailure(e)) return new ApiError(`${what}: TLS: ${e.message}`, undefined, 'tls', e.code ?? '');
  // Connected, then cut before an answer (a restarting API server, a load balancer): maybe routine.
  if (e.code === 'ECONNRESET' || e.code === 'EPIPE') return new ApiError(`${what}: ${e.message}`, undefined, 'dropped');
  return new ApiError(`${what}: ${e.message}`);
}

/** A list item or watch event over MAX_OBJECT_BYTES: skipped (list) or a failed watch (relist). */
export class TooLargeError extends ApiError {
  constructor(
    message: string,
    readonly bytes: number,
  ) {
    super(message);
    this.name = 'TooLargeError';
  }
}

/**
 * The largest object (list item or watch event line) we read, in bytes. etcd refuses writes over
 * 1.5 MiB (its default --max-request-bytes) and JSON can spell a stored byte in up to 6 (\u003c):
 * 10 MiB holds any object the API server can store, however it is escaped.
 */
export const MAX_OBJECT_BYTES = 10 * 1024 * 1024;

export interface StreamHandle {
  abort(): void;
}

export class ApiTransport {
  readonly credentials: Credentials;
  private readonly server: string;

  constructor(
    kc: KubeAccess,
    private readonly requestTimeoutMs: number,
    /** Called whenever the API server answers successfully, with the resource: feeds staleness and health. */
    private readonly onContact: (resource: string) => void,
  ) {
    const cluster = kc.getCurrentCluster();
    if (cluster === null) throw new ApiError('kubeconfig has no current cluster');
    this.server = cluster.server.replace(/\/+$/, '');
    this.credentials = new Credentials(cluster, kc.getCurrentUser());
  }

  private async prepare(pathAndQuery: string): Promise<{
    url: URL;
    opts: { method: string; headers: http.OutgoingHttpHeaders; agent: http.Agent };
    mod: typeof http | typeof https;
  }> {
    const url = new URL(this.server + pathAndQuery);
    let prepared: Prepared;
    try {
      prepared = await this.credentials.prepare();
    } catch (err) {
      const msg = err instanceof Error ? err.message : String(err);
      throw new ApiError(`${url.pathname}: ${msg}`, undefined, err instanceof CredentialError ? 'credentials' : 'tls');
    }
    const opts = { method: 'GET', headers: prepared.headers, agent: prepared.agent };
    return { url, opts, mod: url.protocol === 'https:' ? https : http };
  }

  /** GET a JSON document, failing after the request timeout. */
  getJson(pathAndQuery: string): Promise<unknown> {
    return this.request('GET', pathAndQuery, undefined);
  }

  /**
   * GET a list, handing each item to `onItem` as it arrives (split by ListSplitter, never the whole
   * page as one string), and resolve with the rest of the list (metadata). Items over
   * `maxItemBytes` are skipped and reported to `onOversize`.
   */
  async getList(
    pathAndQuery: string,
    maxItemBytes: number,
    sink: SplitterSink,
  ): Promise<{ metadata?: unknown; items?: unknown }> {
    try {
      return await this.getListOnce(pathAndQuery, maxItemBytes, sink);
    } catch (err) {
      // Same as request(): a 401 re-reads the credentials and retries at once, once. A 401 comes
      // before any item, so the sink has seen nothing of the refused attempt.
      if (
        !(
          err instanceof ApiError &&
          err.statusCode === 401 &&
          this.credentials.refreshAfterUnauthorized(err.sentAuthorization)
        )
      )
        throw err;
      return this.getListOnce(pathAndQuery, maxItemBytes, sink);
    }
  }

  private async getListOnce(
    pathAndQuery: string,
    maxItemBytes: number,
    sink: SplitterSink,
  ): Promise<{ metadata?: unknown; items?: unknown }> {
    const { url, opts, mod } = await this.prepare(pathAndQuery);
    const resource = resourceOf(pathAndQuery);
    const what = `GET ${url.pathname}`;
    return new Promise((resolve, reject) => {
      const req = mod.request(url, { ...opts, signal: AbortSignal.timeout(this.requestTimeoutMs) }, (res) => {
        const status = res.statusCode ?? 0;
        if (status < 200 || status >= 300) {
          // An error Status is small; keep at most 64 KB of it for the message.
          const chunks: Buffer[] = [];
          let kept = 0;
          res.on('data', (c: Buffer) => {
            if (kept < 65_536) chunks.push(c);
            kept += c.length;
          });
          res.on('error', (e) => reject(new ApiError(`${what}: ${e.message}`)));
          res.on('end', () => {
            const detail = statusMessage(Buffer.concat(chunks).toString('utf8'));
            reject(
              Object.assign(new ApiError(`${what}: HTTP ${status} ${detail}`.trim(), status, 'http', detail), {
                sentAuthorization: opts.headers.Authorization,
              }),
            );
          });
          return;
        }
        const splitter = new ListSplitter(sink, maxItemBytes);
        let failed = false;
        const fail = (e: ApiError): void => {
          if (failed) return;
          failed = true;
          res.destroy();
          reject(e);
        };
        res.on('data', (c: Buffer) => {
          if (failed) return;
          try {
            splitter.push(c);
          } catch (e) {
            fail(new ApiError(`${what}: ${e instanceof Error ? e.message : String(e)}`));
          }
        });
        res.on('error', (e) => fail(new ApiError(`${what}: ${e.message}`, undefined, 'dropped')));
        res.on('end', () => {
          if (failed) return;
          try {
            const rest = splitter.end();
            this.onContact(resource);
            resolve(rest);
          } catch (e) {
            fail(new ApiError(`${what}: ${e instanceof Error ? e.message : String(e)}`));
          }
        });
      });
      req.on('error', (e) => reject(networkError(what, e, this.requestTimeoutMs)));
      req.end();
    });
  }

  /** POST a JSON document (e.g. an Event), failing after the request timeout. */
  postJson(pathAndQuery: string, body: unknown): Promise<unknown> {
    return this.request('POST', pathAndQuery, JSON.stringify(body));
  }

  /** PUT a whole object (update with resourceVersion: optimistic concurrency, 409 on conflict). */
  putJson(pathAndQuery: string, body: unknown): Promise<unknown> {
    return this.request('PUT', pathAndQuery, JSON.stringify(body));
  }

  private async request(method: string, pathAndQuery: string, body: string | undefined): Promise<unknown> {
    try {
      return await this.requestOnce(method, pathAndQuery, body);
    } catch (err) {
      if (
        !(
          err instanceof ApiError &&
          err.statusCode === 401 &&
          this.credentials.refreshAfterUnauthorized(err.sentAuthorization)
        )
      )
        throw err;
      return this.requestOnce(method, pathAndQuery, body);
    }
  }

  private async requestOnce(method: string, pathAndQuery: string, body: string | undefined): Promise<unknown> {
    const { url, opts, mod } = await this.prepare(pathAndQuery);
    const resource = resourceOf(pathAndQuery);
    opts.method = method;
    if (body !== undefined)
      opts.headers = { ...opts.headers, 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) };
    return new Promise((resolve, reject) => {
      const req = mod.request(url, { ...opts, signal: AbortSignal.timeout(this.requestTimeoutMs) }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (e) => reject(new ApiError(`${method} ${url.pathname}: ${e.message}`, undefined, 'dropped')));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          const status = res.statusCode ?? 0;
          if (status < 200 || status >= 300) {
            const detail = statusMessage(text);
            return reject(
              Object.assign(
                new ApiError(`${method} ${url.pathname}: HTTP ${status} ${detail}`.trim(), status, 'http', detail),
                { sentAuthorization: opts.headers.Authorization },
              ),
            );
          }
          try {
            const doc: unknown = JSON.parse(text);
            this.onContact(resource);
            resolve(doc);
          } catch {
            reject(new ApiError(`${method} ${url.pathname}: response is not JSON`));
          }
        });
      });
      req.on('error', (e) => reject(networkError(`${method} ${url.pathname}`, e, this.requestTimeoutMs)));
      req.end(body);
    });
  }

  /**
   * Opens a watch stream. onLine gets each JSON line; onDone is called exactly once when the stream
   * ends by itself (null = clean end) or fails, and never after abort(). The stream is failed if
   * headers take longer than the request timeout or it stays open past maxOpenMs (a hung watch).
   */
  async stream(
    pathAndQuery: string,
    maxOpenMs: number,
    onLine: (line: string) => void,
    onDone: (err: ApiError | null) => void,
    maxLineBytes = MAX_OBJECT_BYTES,
  ): Promise<StreamHandle> {
    let current: StreamHandle | undefined;
    let aborted = false;
    let retried = false;
    const done = (err: ApiError | null): void => {
      if (err?.statusCode === 401 && !retried && this.credentials.refreshAfterUnauthorized(err.sentAuthorization)) {
        retried = true; // new credentials: once, at once
        this.streamOnce(pathAndQuery, maxOpenMs, onLine, done, maxLineBytes).then(
          (h) => {
            current = h;
            if (aborted) h.abort();
          },
          (e: unknown) => onDone(e instanceof ApiError ? e : new ApiError(String(e))),
        );
        return;
      }
      onDone(err);
    };
    current = await this.streamOnce(pathAndQuery, maxOpenMs, onLine, done, maxLineBytes);
    return {
      abort: () => {
        aborted = true;
        current?.abort();
      },
    };
  }

  private async streamOnce(
    pathAndQuery: string,
    maxOpenMs: number,
    onLine: (line: string) => void,
    onDone: (err: ApiError | null) => void,
    maxLineBytes: number,
  ): Promise<StreamHandle> {
    const { url, opts, mod } = await this.prepare(pathAndQuery);
    const resource = resourceOf(pathAndQuery);
    const controller = new AbortController();
    let finished = false;
    const finish = (err: ApiError | null): void => {
      if (finished) return;
      finished = true;
      clearTimeout(headerTimer);
      clearTimeout(openTimer);
      controller.abort();
      onDone(err);
    };
    const headerTimer = setTimeout(
      () => finish(new ApiError(`watch ${url.pathname}: no response headers within ${this.requestTimeoutMs}ms`)),
      this.requestTimeoutMs,
    );
    const openTimer = setTimeout(
      () => finish(new ApiError(`watch ${url.pathname}: open ${maxOpenMs}ms without ending, treated as hung`, 0)),
      maxOpenMs,
    );
    const req = mod.request(url, { ...opts, signal: controller.signal }, (res) => {
      clearTimeout(headerTimer);
      const status = res.statusCode ?? 0;
      if (status !== 200) {
        // Keep the Status message (e.g. the RBAC reason of a 403): it is what the operator needs.
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          if ((size += c.length) <= 65_536) chunks.push(c);
        });
        res.on('error', () => finish(new ApiError(`watch ${url.pathname}: HTTP ${status}`, status)));
        res.on('end', () => {
          const detail = statusMessage(Buffer.concat(chunks).toString('utf8'));
          finish(
            Object.assign(
              new ApiError(`watch ${url.pathname}: HTTP ${status} ${detail}`.trim(), status, 'http', detail),
              { sentAuthorization: opts.headers.Authorization },
            ),
          );
        });
        return;
      }
      this.onContact(resource);
      // One event per line; one line is one object, so lines are capped like list items. The
      // current line's chunks are kept as Buffers and only the new chunk is scanned for '\n'.
      let parts: Buffer[] = [];
      let lineBytes = 0;
      res.on('data', (chunk: Buffer) => {
        let from = 0;
        let nl: number;
        while (!finished && (nl = chunk.indexOf(0x0a, from)) !== -1) {
          const piece = chunk.subarray(from, nl);
          from = nl + 1;
          if (lineBytes + piece.length > maxLineBytes)
            return finish(
              new TooLargeError(`watch ${url.pathname}: an event over ${maxLineBytes} bytes`, lineBytes + piece.length),
            );
          const line = (parts.length === 0 ? piece : Buffer.concat([...parts, piece])).toString('utf8');
          parts = [];
          lineBytes = 0;
          if (line.trim() !== '') {
            this.onContact(resource);
            onLine(line);
          }
        }
        if (finished || from === chunk.length) return;
        lineBytes += chunk.length - from;
        if (lineBytes > maxLineBytes)
          return finish(new TooLargeError(`watch ${url.pathname}: an event over ${maxLineBytes} bytes`, lineBytes));
        parts.push(chunk.subarray(from));
      });
      res.on('end', () => {
        if (!res.complete)
          return finish(new ApiError(`watch ${url.pathname}: connection closed mid-stream`, undefined, 'dropped'));
        this.onContact(resource);
        finish(null);
      });
      res.on('error', (e) => finish(new ApiError(`watch ${url.pathname}: ${e.message}`, undefined, 'dropped')));
      res.on('close', () => {
        if (!res.complete)
          finish(new ApiError(`watch ${url.pathname}: connection closed mid-stream`, undefined, 'dropped'));
      });
    });
    req.on('error', (e) => finish(networkError(`watch ${url.pathname}`, e, this.requestTimeoutMs)));
    req.end();
    return {
      abort: () => {
        if (finished) return;
        finished = true; // an abort we asked for is not a failure: no onDone
        clearTimeout(headerTimer);
        clearTimeout(openTimer);
        controller.abort();
      },
    };
  }
}

function statusMessage(body: string): string {
  try {
    const s = JSON.parse(body) as { message?: unknown };
    return typeof s.message === 'string' ? s.message : '';
  } catch {
    return '';
  }
}
