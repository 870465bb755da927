/** One HTTP request/response pair with the few helpers every handler needs. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { StatusError, type StatusObject } from './errors.js';
import { errorMessage } from '../../core/error-message.js';

const MAX_BODY_BYTES = 32 * 1024 * 1024;

function parseUrl(raw: string): URL {
  try {
    return new URL(raw, 'http://fakeapi.invalid');
  } catch {
    // Unparseable request targets fall through to a 404 instead of crashing the handler.
    return new URL('http://fakeapi.invalid/invalid-request-target');
  }
}

export class Exchange {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly url: URL;
  private readonly onHead: (status: number) => void;

  constructor(req: IncomingMessage, res: ServerResponse, onHead: (status: number) => void) {
    this.req = req;
    this.res = res;
    this.url = parseUrl(req.url ?? '/');
    this.onHead = onHead;
  }

  get method(): string {
    return this.req.method ?? 'GET';
  }

  /** False once the client went away or the response was finished. */
  get open(): boolean {
    return !this.res.destroyed && !this.res.writableEnded && !this.req.socket.destroyed;
  }

  query(name: string): string | undefined {
    return this.url.searchParams.get(name) ?? undefined;
  }

  flag(name: string): boolean {
    const v = this.query(name);
    return v === 'true' || v === '1';
  }

  head(status: number, headers: Record<string, string> = {}): void {
    this.res.writeHead(status, {
      'Content-Type': 'application/json',
      'Cache-Control': 'no-cache, private',
      ...headers,
    });
    this.onHead(status);
  }

  /** Sends a JSON body; pre-serialized strings are passed through to avoid re-encoding large lists. */
  json(status: number, body: object | string): void {
    if (!this.open) return;
    if (this.res.headersSent) {
      // Too late for a status code (e.g. a watch already streaming): just end the body.
      this.res.end();
      return;
    }
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    this.head(status, { 'Content-Length': String(Buffer.byteLength(text)) });
    this.res.end(text);
  }

  status(status: StatusObject): void {
    this.json(status.code, status);
  }

  error(err: unknown): void {
    const apiErr = err instanceof StatusError ? err : new StatusError(500, errorMessage(err));
    this.status(apiErr.toStatus());
  }

  async readBody(): Promise<string> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of this.req) {
      const buf = chunk as Buffer;
      size += buf.length;
      if (size > MAX_BODY_BYTES) throw new StatusError(413, 'request entity too large', 'BadRequest');
      chunks.push(buf);
    }
    return Buffer.concat(chunks).toString('utf8');
  }

  async readJson(): Promise<unknown> {
    // Like a real API server without a codec for it: 415, which client-go answers by resending as JSON.
    const type = this.req.headers['content-type'] ?? '';
    if (type.includes('protobuf') || type.includes('cbor'))
      throw new StatusError(
        415,
        'the body of a request was in an unknown format - ' +
          `accepted media types include: application/json, application/yaml (got ${type})`,
        'UnsupportedMediaType',
      );
    const text = await this.readBody();
    if (text.trim() === '') return undefined;
    try {
      return JSON.parse(text) as unknown;
    } catch (e) {
      throw new StatusError(400, `invalid JSON in request body: ${(e as Error).message}`, 'BadRequest');
    }
  }
}
