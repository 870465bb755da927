// The agent-check TCP server: read at most one line (with a deadline), look the answer up in
// memory, write it, close. Nothing on this path awaits I/O or allocates more than it must.
import { createServer, type Server, type Socket } from 'node:net';
import { parseRequestLine } from '../reply.js';
import type { ProbeCounters, RejectReason } from '../metrics.js';
import type { ReplyKind } from '../decide.js';

/** Longest agent-send line accepted: "namespace/name" is at most 127 bytes. */
export const MAX_LINE_BYTES = 256;
/** After answering, how long we keep draining a client that still sends before we drop it. */
const LINGER_MS = 1000;

/** Where answers come from: the snapshot (see state.ts). */
export interface AnswerSource {
  nodeReplyBytes(): Buffer;
  serviceReplyBytes(key: string): Buffer | undefined;
}

export interface AgentServerOptions {
  host: string;
  port: number;
  readTimeoutMs: number;
  maxConnections: number;
  /** When set, this listener answers for that Service whatever the client sends (dedicated ports). */
  fixedServiceKey?: string;
}

const EMPTY = Buffer.alloc(0);

export class AgentServer {
  private readonly server: Server;

  constructor(
    private readonly opts: AgentServerOptions,
    private readonly answers: AnswerSource,
    private readonly counters: ProbeCounters,
  ) {
    this.server = createServer({ noDelay: true }, (s) => this.onConnection(s));
    // Node closes connections beyond maxConnections at accept time; count them.
    this.server.maxConnections = opts.maxConnections;
    this.server.on('drop', () => {
      this.counters.rejections.over_capacity++;
    });
  }

  listen(): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen({ host: this.opts.host, port: this.opts.port, backlog: 4096 }, () => {
        this.server.off('error', reject);
        const addr = this.server.address();
        resolve(typeof addr === 'object' && addr !== null ? addr.port : this.opts.port);
      });
    });
  }

  /** Stop accepting; resolves once every open probe has been answered and closed. */
  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private onConnection(socket: Socket): void {
    this.counters.open++;
    let answered = false;
    let buffered: Buffer | undefined;

    const answer = (bytes: Buffer, kind: ReplyKind): void => {
      answered = true;
      this.counters.replies[kind]++;
      socket.setTimeout(LINGER_MS);
      socket.removeListener('data', onData);
      // Keep reading (and dropping) whatever else arrives, so the close is a FIN, not a reset
      // that could make the client discard our reply.
      socket.resume();
      socket.end(bytes.length === 0 ? EMPTY : bytes);
    };

    const answerLine = (line: string): void => {
      const req = this.opts.fixedServiceKey !== undefined ? { kind: 'service' as const, key: this.opts.fixedServiceKey } : parseRequestLine(line);
      if (req.kind === 'service') {
        const bytes = this.answers.serviceReplyBytes(req.key);
        if (bytes !== undefined) return answer(bytes, kindOf(bytes));
        this.reject('unknown_service');
      } else if (req.kind === 'malformed') {
        this.reject('malformed');
      }
      const node = this.answers.nodeReplyBytes();
      answer(node, kindOf(node));
    };

    const onData = (chunk: Buffer): void => {
      const data = buffered === undefined ? chunk : Buffer.concat([buffered, chunk]);
      const nl = data.indexOf(10);
      if (nl !== -1 && nl <= MAX_LINE_BYTES) return answerLine(data.toString('latin1', 0, nl));
      if (data.length > MAX_LINE_BYTES) {
        this.reject('too_long');
        const node = this.answers.nodeReplyBytes();
        return answer(node, kindOf(node));
      }
      buffered = data;
    };

    socket.on('data', onData);
    socket.setTimeout(this.opts.fixedServiceKey !== undefined ? 0 : this.opts.readTimeoutMs);
    if (this.opts.fixedServiceKey !== undefined) answerLine('');
    socket.on('timeout', () => {
      if (answered) return void socket.destroy();
      // No agent-send line in time (HAProxy without agent-send sends nothing): answer for the node.
      // A partial line that never ended is a bad request.
      if (buffered !== undefined) this.reject('malformed');
      answerLine('');
    });
    socket.on('end', () => {
      // Client half-closed without a newline: use what it sent as the line.
      if (!answered) answerLine(buffered === undefined ? '' : buffered.toString('latin1'));
    });
    socket.on('error', () => socket.destroy());
    socket.on('close', () => {
      this.counters.open--;
    });
  }

  private reject(reason: RejectReason): void {
    this.counters.rejections[reason]++;
  }
}

/** The reply kind from its first byte: r(eady) d(rain|own) m(aint), or none for the empty reply. */
function kindOf(bytes: Buffer): ReplyKind {
  switch (bytes[0]) {
    case 114:
      return 'ready';
    case 109:
      return 'maint';
    case 100:
      return bytes[1] === 114 ? 'drain' : 'down';
    default:
      return 'none';
  }
}
