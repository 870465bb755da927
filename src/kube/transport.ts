// HTTP(S) to the API server with deadlines we own. Credentials (credentials.ts) supply auth and
// TLS; node:http does the rest, so a list or a watch can never hang without us noticing. A 401
// re-reads the token file (or re-runs the exec plugin) and retries at once, once.
import http from 'node:http';
import https from 'node:https';
import { CredentialError, Credentials, type FileProblem, type Prepared } from './credentials.js';
import type { KubeAccess } from './kubeconfig.js';
import { ListSplitter, type SplitterSink } from './list-splitter.js';
import { errorMessage } from '../core/error-message.js';

/** What kind of failure: the API health state (api-health.ts) is derived from it. */
export type FailureKind = 'http' | 'unreachable' | 'tls' | 'credentials' | 'dropped';

/** An API failure; statusCode is the HTTP status the API server sent, if it sent one. */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly statusCode?: number,
    readonly kind: FailureKind = statusCode === undefined ? 'unreachable' : 'http',
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

/** A watch still open past its deadline (the server was asked to end it sooner): hung. */
export class HungError extends ApiError {
  constructor(what: string, openMs: number) {
    super(`${what}: open ${openMs}ms without ending, treated as hung`);
    this.name = 'HungError';
  }
}

/** A watch the server ended cleanly before any event, much sooner than asked: a loop, not news. */
export class EndedEarlyError extends ApiError {
  constructor(what: string, openMs: number) {
    super(`${what}: ended after ${openMs}ms without an event`);
    this.name = 'EndedEarlyError';
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
    /** A credential file became unreadable (its last good content stays in use) or readable again. */
    onFileProblem?: FileProblem,
  ) {
    const cluster = kc.getCurrentCluster();
    if (cluster === null) throw new ApiError('kubeconfig has no current cluster');
    this.server = cluster.server.replace(/\/+$/, '');
    this.credentials = new Credentials(cluster, kc.getCurrentUser(), onFileProblem);
  }

  /**
   * Sends one request and resolves with its response once the API server answered 2xx. Any other
   * status rejects with an ApiError carrying the Status message (e.g. the RBAC reason of a 403):
   * the one place error bodies are read. A 401 re-reads the token file (or re-runs the exec
   * plugin) and retries at once, once, when that yields other credentials: the one retry path.
   * `signal` is called per attempt, so each attempt gets its own deadline.
   */
  private async open(
    method: string,
    pathAndQuery: string,
    body: string | undefined,
    what: string,
    signal: () => AbortSignal,
  ): Promise<http.IncomingMessage> {
    try {
      return await this.openOnce(method, pathAndQuery, body, what, signal());
    } catch (err) {
      if (
        !(
          err instanceof ApiError &&
          err.statusCode === 401 &&
          this.credentials.refreshAfterUnauthorized(err.sentAuthorization)
        )
      )
        throw err;
      return this.openOnce(method, pathAndQuery, body, what, signal());
    }
  }

  private async openOnce(
    method: string,
    pathAndQuery: string,
    body: string | undefined,
    what: string,
    signal: AbortSignal,
  ): Promise<http.IncomingMessage> {
    const url = new URL(this.server + pathAndQuery);
    let prepared: Prepared;
    try {
      prepared = await this.credentials.prepare();
    } catch (err) {
      const msg = errorMessage(err);
      throw new ApiError(`${url.pathname}: ${msg}`, undefined, err instanceof CredentialError ? 'credentials' : 'tls');
    }
    const headers: http.OutgoingHttpHeaders =
      body === undefined
        ? prepared.headers
        : {
            ...prepared.headers,
            // The one PATCH we send is a JSON merge patch (RFC 7386); everything else is a whole object.
            'Content-Type': method === 'PATCH' ? 'application/merge-patch+json' : 'application/json',
            'Content-Length': Buffer.byteLength(body),
          };
    const mod = url.protocol === 'https:' ? https : http;
    return new Promise((resolve, reject) => {
      const req = mod.request(url, { method, headers, agent: prepared.agent, signal }, (res) => {
        const status = res.statusCode ?? 0;
        if (status >= 200 && status < 300) return resolve(res);
        // An error Status is small; keep at most 64 KB of it for the message.
        const chunks: Buffer[] = [];
        let kept = 0;
        const refuse = (): void => {
          const detail = statusMessage(Buffer.concat(chunks).toString('utf8'));
          const err = new ApiError(`${what}: HTTP ${status} ${detail}`.trim(), status, 'http', detail);
          err.sentAuthorization = headers.Authorization;
          reject(err);
        };
        res.on('data', (c: Buffer) => {
          if (kept < 65_536) chunks.push(c);
          kept += c.length;
        });
        res.on('error', refuse);
        res.on('end', refuse);
      });
      req.on('error', (e) => reject(networkError(what, e, this.requestTimeoutMs)));
      req.end(body);
    });
  }

  /** GET a JSON document, failing after the request timeout, or when it holds more than maxBytes. */
  getJson(pathAndQuery: string, maxBytes = Infinity): Promise<unknown> {
    return this.request('GET', pathAndQuery, undefined, maxBytes);
  }

  /**
   * GET a list, handing each item to `onItem` as it arrives (split by ListSplitter, never the whole
   * page as one string), and resolve with the rest of the list (metadata). Items over
   * `maxItemBytes` are skipped and reported to `onOversize`. A 401 comes before any item, so the
   * sink has seen nothing of a refused attempt.
   */
  async getList(
    pathAndQuery: string,
    maxItemBytes: number,
    sink: SplitterSink,
  ): Promise<{ metadata?: unknown; items?: unknown }> {
    const what = `GET ${pathOf(pathAndQuery)}`;
    const res = await this.open('GET', pathAndQuery, undefined, what, () => AbortSignal.timeout(this.requestTimeoutMs));
    const splitter = new ListSplitter(sink, maxItemBytes);
    return new Promise((resolve, reject) => {
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
          fail(asApiError(what, e));
        }
      });
      res.on('error', (e) => fail(new ApiError(`${what}: ${e.message}`, undefined, 'dropped')));
      res.on('end', () => {
        if (failed) return;
        try {
          const rest = splitter.end();
          this.onContact(resourceOf(pathAndQuery));
          resolve(rest);
        } catch (e) {
          fail(asApiError(what, e));
        }
      });
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

  /** PATCH with a JSON merge patch (RFC 7386): only the fields given change. */
  mergePatchJson(pathAndQuery: string, body: unknown): Promise<unknown> {
    return this.request('PATCH', pathAndQuery, JSON.stringify(body));
  }

  private async request(
    method: string,
    pathAndQuery: string,
    body: string | undefined,
    maxBytes = Infinity,
  ): Promise<unknown> {
    const what = `${method} ${pathOf(pathAndQuery)}`;
    const res = await this.open(method, pathAndQuery, body, what, () => AbortSignal.timeout(this.requestTimeoutMs));
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let bytes = 0;
      res.on('data', (c: Buffer) => {
        bytes += c.length;
        if (bytes <= maxBytes) return void chunks.push(c);
        res.destroy();
        reject(new TooLargeError(`${what}: more than ${maxBytes} bytes`, bytes));
      });
      res.on('error', (e) => reject(new ApiError(`${what}: ${e.message}`, undefined, 'dropped')));
      res.on('end', () => {
        try {
          const doc: unknown = JSON.parse(Buffer.concat(chunks).toString('utf8'));
          this.onContact(resourceOf(pathAndQuery));
          resolve(doc);
        } catch {
          reject(new ApiError(`${what}: response is not JSON`));
        }
      });
    });
  }

  /**
   * Opens a watch stream. onLine gets each JSON line; onDone is called exactly once when the stream
   * ends by itself (null = clean end) or fails, and never after abort(). The stream is failed if
   * headers take longer than the request timeout or it stays open past maxOpenMs: a HungError.
   */
  stream(
    pathAndQuery: string,
    maxOpenMs: number,
    onLine: (line: string) => void,
    onDone: (err: ApiError | null) => void,
    maxLineBytes = MAX_OBJECT_BYTES,
  ): StreamHandle {
    const path = pathOf(pathAndQuery);
    const what = `watch ${path}`;
    const resource = resourceOf(pathAndQuery);
    const controller = new AbortController();
    let finished = false;
    const stopTimers = (): void => {
      clearTimeout(headerTimer);
      clearTimeout(openTimer);
    };
    const finish = (err: ApiError | null): void => {
      if (finished) return;
      finished = true;
      stopTimers();
      controller.abort();
      onDone(err);
    };
    let headerTimer = setTimeout(
      () => finish(new ApiError(`${what}: no response headers within ${this.requestTimeoutMs}ms`)),
      this.requestTimeoutMs,
    );
    let openTimer = setTimeout(() => finish(new HungError(what, maxOpenMs)), maxOpenMs);
    // A 401 retried by open() gets fresh deadlines, as a new request would.
    let attempts = 0;
    const signal = (): AbortSignal => {
      if (attempts++ > 0) {
        stopTimers();
        headerTimer = setTimeout(
          () => finish(new ApiError(`${what}: no response headers within ${this.requestTimeoutMs}ms`)),
          this.requestTimeoutMs,
        );
        openTimer = setTimeout(() => finish(new HungError(what, maxOpenMs)), maxOpenMs);
      }
      return controller.signal;
    };
    this.open('GET', pathAndQuery, undefined, what, signal).then(
      (res) => {
        clearTimeout(headerTimer);
        if (finished) return void res.destroy();
        this.onContact(resource);
        this.readLines(
          res,
          what,
          maxLineBytes,
          () => finished,
          finish,
          (line) => {
            this.onContact(resource);
            if (line !== null) onLine(line);
          },
        );
      },
      (e: unknown) => finish(e instanceof ApiError ? e : new ApiError(`${what}: ${String(e)}`)),
    );
    return {
      abort: () => {
        if (finished) return;
        finished = true; // an abort we asked for is not a failure: no onDone
        stopTimers();
        controller.abort();
      },
    };
  }

  /**
   * One event per line; one line is one object, so lines are capped like list items. The current
   * line's chunks are kept as Buffers and only the new chunk is scanned for '\n'.
   */
  private readLines(
    res: http.IncomingMessage,
    what: string,
    maxLineBytes: number,
    finished: () => boolean,
    finish: (err: ApiError | null) => void,
    /** Each non-blank line, and null at a clean end (both are contact with the API server). */
    onLine: (line: string | null) => void,
  ): void {
    let parts: Buffer[] = [];
    let lineBytes = 0;
    res.on('data', (chunk: Buffer) => {
      let from = 0;
      let nl: number;
      while (!finished() && (nl = chunk.indexOf(0x0a, from)) !== -1) {
        const piece = chunk.subarray(from, nl);
        from = nl + 1;
        if (lineBytes + piece.length > maxLineBytes)
          return finish(new TooLargeError(`${what}: an event over ${maxLineBytes} bytes`, lineBytes + piece.length));
        const line = (parts.length === 0 ? piece : Buffer.concat([...parts, piece])).toString('utf8');
        parts = [];
        lineBytes = 0;
        if (line.trim() !== '') onLine(line);
      }
      if (finished() || from === chunk.length) return;
      lineBytes += chunk.length - from;
      if (lineBytes > maxLineBytes)
        return finish(new TooLargeError(`${what}: an event over ${maxLineBytes} bytes`, lineBytes));
      parts.push(chunk.subarray(from));
    });
    res.on('end', () => {
      if (!res.complete) return finish(new ApiError(`${what}: connection closed mid-stream`, undefined, 'dropped'));
      onLine(null);
      finish(null);
    });
    res.on('error', (e) => finish(new ApiError(`${what}: ${e.message}`, undefined, 'dropped')));
    res.on('close', () => {
      if (!res.complete) finish(new ApiError(`${what}: connection closed mid-stream`, undefined, 'dropped'));
    });
  }
}

/** What a sink threw, as an ApiError: one of ours as it is (its kind decides the restart). */
function asApiError(what: string, e: unknown): ApiError {
  return e instanceof ApiError ? e : new ApiError(`${what}: ${errorMessage(e)}`);
}

/** The path of a request, without its query (for messages: a continue token says nothing). */
function pathOf(pathAndQuery: string): string {
  return pathAndQuery.split('?')[0] ?? '';
}

function statusMessage(body: string): string {
  try {
    const s = JSON.parse(body) as { message?: unknown };
    return typeof s.message === 'string' ? s.message : '';
  } catch {
    return '';
  }
}
