// HTTP(S) to the API server with deadlines we own. client-node's KubeConfig supplies auth and TLS
// (tokens, client certs, exec plugins, in-cluster service account); node:http does the rest, so a
// list or a watch can never hang without us noticing.
import http from 'node:http';
import https from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';

/** An API failure; statusCode mirrors what client-node's informer looks at (410 = relist). */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly statusCode?: number,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export interface StreamHandle {
  abort(): void;
}

export class ApiTransport {
  constructor(
    private readonly kc: KubeConfig,
    private readonly requestTimeoutMs: number,
    /** Called whenever the API server answers successfully: feeds the staleness metric. */
    private readonly onContact: () => void,
  ) {}

  private async prepare(pathAndQuery: string): Promise<{ url: URL; opts: https.RequestOptions; mod: typeof http | typeof https }> {
    const cluster = this.kc.getCurrentCluster();
    if (cluster === null) throw new ApiError('kubeconfig has no current cluster');
    const url = new URL(cluster.server.replace(/\/+$/, '') + pathAndQuery);
    const opts: https.RequestOptions = { method: 'GET', headers: { Accept: 'application/json' } };
    await this.kc.applyToHTTPSOptions(opts);
    return { url, opts, mod: url.protocol === 'https:' ? https : http };
  }

  /** GET a JSON document, failing after the request timeout. */
  getJson(pathAndQuery: string): Promise<unknown> {
    return this.request('GET', pathAndQuery, undefined);
  }

  /** POST a JSON document (e.g. an Event), failing after the request timeout. */
  postJson(pathAndQuery: string, body: unknown): Promise<unknown> {
    return this.request('POST', pathAndQuery, JSON.stringify(body));
  }

  private async request(method: string, pathAndQuery: string, body: string | undefined): Promise<unknown> {
    const { url, opts, mod } = await this.prepare(pathAndQuery);
    opts.method = method;
    if (body !== undefined) opts.headers = { ...opts.headers, 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) };
    return new Promise((resolve, reject) => {
      const req = mod.request(url, { ...opts, signal: AbortSignal.timeout(this.requestTimeoutMs) }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (e) => reject(new ApiError(`${method} ${url.pathname}: ${e.message}`)));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          const status = res.statusCode ?? 0;
          if (status < 200 || status >= 300) return reject(new ApiError(`${method} ${url.pathname}: HTTP ${status} ${statusMessage(text)}`, status));
          try {
            const doc: unknown = JSON.parse(text);
            this.onContact();
            resolve(doc);
          } catch {
            reject(new ApiError(`${method} ${url.pathname}: response is not JSON`));
          }
        });
      });
      req.on('error', (e) => reject(new ApiError(`${method} ${url.pathname}: ${e.name === 'AbortError' || e.name === 'TimeoutError' ? `no answer within ${this.requestTimeoutMs}ms` : e.message}`)));
      req.end(body);
    });
  }

  /**
   * Opens a watch stream. onLine gets each JSON line; onDone is called exactly once when the stream
   * ends by itself (null = clean end) or fails, and never after abort(). The stream is failed if
   * headers take longer than the request timeout or it stays open past maxOpenMs (a hung watch).
   */
  async stream(pathAndQuery: string, maxOpenMs: number, onLine: (line: string) => void, onDone: (err: ApiError | null) => void): Promise<StreamHandle> {
    const { url, opts, mod } = await this.prepare(pathAndQuery);
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
    const headerTimer = setTimeout(() => finish(new ApiError(`watch ${url.pathname}: no response headers within ${this.requestTimeoutMs}ms`)), this.requestTimeoutMs);
    const openTimer = setTimeout(() => finish(new ApiError(`watch ${url.pathname}: open ${maxOpenMs}ms without ending, treated as hung`, 0)), maxOpenMs);
    const req = mod.request(url, { ...opts, signal: controller.signal }, (res) => {
      clearTimeout(headerTimer);
      const status = res.statusCode ?? 0;
      if (status !== 200) {
        res.resume();
        return finish(new ApiError(`watch ${url.pathname}: HTTP ${status}`, status));
      }
      this.onContact();
      res.setEncoding('utf8');
      let pending = '';
      res.on('data', (chunk: string) => {
        if (finished) return;
        pending += chunk;
        let nl: number;
        while ((nl = pending.indexOf('\n')) !== -1) {
          const line = pending.slice(0, nl);
          pending = pending.slice(nl + 1);
          if (line.trim() !== '') {
            this.onContact();
            onLine(line);
          }
          if (finished) return;
        }
      });
      res.on('end', () => {
        if (!res.complete) return finish(new ApiError(`watch ${url.pathname}: connection closed mid-stream`));
        this.onContact();
        finish(null);
      });
      res.on('error', (e) => finish(new ApiError(`watch ${url.pathname}: ${e.message}`)));
      res.on('close', () => {
        if (!res.complete) finish(new ApiError(`watch ${url.pathname}: connection closed mid-stream`));
      });
    });
    req.on('error', (e) => finish(new ApiError(`watch ${url.pathname}: ${e.message}`)));
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
