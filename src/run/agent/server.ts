// The agent-check TCP server: read at most one line (with a deadline), look the answer up in
// memory, write it, close. Nothing on this path awaits I/O or allocates more than it must:
// per connection one small state object and no closures (the listeners are shared functions),
// no per-socket timer (deadlines live in two ordered lists per server, each with one timer), and
// a line that names a known Service is answered with one Map lookup before any parsing. Bytes
// without a newline that are exactly a known Service key are that Service's line: see received().
import { createServer, type Server, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { parseRequestLine } from '../../core/reply.js';
import type { Answer } from '../../core/answer.js';
import type { ProbeCounters, RejectReason } from './probe-counters.js';
import { NODE_KEY, type Receipts } from './receipts.js';
import { ConnectionBudget } from './budget.js';

/** Longest agent-send line accepted: "namespace/name" is at most 127 bytes. */
export const MAX_LINE_BYTES = 256;
/** Longest Service key ("namespace/name", two DNS labels): longer unterminated bytes are not looked up. */
const MAX_KEY_BYTES = 127;
/** After answering, how long we keep draining a client that still sends before we drop it. */
const LINGER_MS = 1000;

/** Where answers come from: the agent state (core/agent-state.ts), interned and ready to write. */
export interface AnswerSource {
  nodeAnswer(): Answer;
  serviceAnswer(key: string): Answer | undefined;
  /** A longer known Service key starts with this one: its bytes without a newline wait for the read deadline. */
  isPrefixOfOtherKey(key: string): boolean;
}

export interface AgentServerOptions {
  host: string;
  port: number;
  readTimeoutMs: number;
  maxConnections: number;
  /** Shared with the other listeners (one --max-connections for the agent); default: this listener's own. */
  budget?: ConnectionBudget;
  /** When set, this listener answers for that Service whatever the client sends (dedicated ports). */
  fixedServiceKey?: string;
}

/** One connection: its state, and its place in the server's deadline lists. */
class Conn {
  answered = false;
  /** The source address as admitted by the budget (released with the same string). */
  source: string | undefined = undefined;
  buffered: Buffer | undefined = undefined;
  deadline = 0;
  list: Deadlines | undefined = undefined;
  prev: Conn | undefined = undefined;
  next: Conn | undefined = undefined;

  constructor(
    readonly server: AgentServer,
    readonly socket: Socket,
  ) {}
}

/**
 * Connections ordered by deadline (every entry gets the same delay, so appending keeps the order),
 * with one timer for the earliest. Adding and removing are O(1) and never touch a timer once one
 * is armed; the timer re-arms itself for the new head when it fires early.
 */
class Deadlines {
  private head: Conn | undefined;
  private tail: Conn | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly delayMs: number,
    private readonly expire: (c: Conn) => void,
  ) {}

  add(c: Conn, now: number): void {
    c.deadline = now + this.delayMs;
    c.list = this;
    c.prev = this.tail;
    c.next = undefined;
    if (this.tail === undefined) this.head = c;
    else this.tail.next = c;
    this.tail = c;
    if (this.timer === undefined) this.arm(this.delayMs);
  }

  remove(c: Conn): void {
    if (c.prev === undefined) this.head = c.next;
    else c.prev.next = c.next;
    if (c.next === undefined) this.tail = c.prev;
    else c.next.prev = c.prev;
    c.prev = c.next = c.list = undefined;
  }

  /** Disarms the timer; only for a list that stays empty (a closed server). */
  disarm(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private arm(ms: number): void {
    this.timer = setTimeout(this.fire, Math.max(1, Math.ceil(ms)));
  }

  private readonly fire = (): void => {
    this.timer = undefined;
    const now = performance.now();
    let c = this.head;
    while (c !== undefined && c.deadline <= now) {
      this.remove(c);
      this.expire(c);
      c = this.head;
    }
    if (this.head !== undefined) this.arm(this.head.deadline - now);
  };
}

const kConn = Symbol('agentConn');
type AgentSocket = Socket & { [kConn]: Conn };

export class AgentServer {
  private readonly server: Server;
  /** Connections still waiting for their line: answered for the node at the read deadline. */
  private readonly reading: Deadlines;
  /**
   * Connections past their read deadline, answered for the node in the next check phase. The
   * deadline timer runs in the timers phase, before the poll phase reads what arrived meanwhile:
   * after a loop stall the agent-send line may already sit in the socket, unread. Deferring to
   * setImmediate lets one poll phase that starts after the deadline deliver it first, so only a
   * line that truly arrived after the deadline is answered for the node.
   */
  private expired: Conn[] = [];
  private expiring: Conn[] = [];
  private expiryScheduled = false;
  /** Answered connections whose client has not closed yet: dropped LINGER_MS after the answer. */
  private readonly lingering: Deadlines;
  private readonly budget: ConnectionBudget;

  constructor(
    private readonly opts: AgentServerOptions,
    private readonly answers: AnswerSource,
    private readonly counters: ProbeCounters,
    /** Who was told what (see receipts.ts); undefined = not kept. */
    private readonly receipts?: Receipts,
  ) {
    this.reading = new Deadlines(opts.readTimeoutMs, (c) => this.readTimedOut(c));
    this.lingering = new Deadlines(LINGER_MS, (c) => c.socket.destroy());
    this.budget = opts.budget ?? new ConnectionBudget(opts.maxConnections, opts.maxConnections);
    this.server = createServer({ noDelay: true }, (s) => this.onConnection(s as AgentSocket));
    // A backstop only (file descriptors): the shared budget (onConnection) refuses first, and the
    // sockets it refuses still count here until their close, so leave room for a burst of them.
    // Node closes connections beyond maxConnections at accept time; count them.
    this.server.maxConnections = 2 * this.budget.max;
    this.server.on('drop', (data?: { remoteAddress?: string }) => {
      this.counters.rejections.over_capacity++;
      this.receipts?.refused(data?.remoteAddress);
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
    return new Promise((resolve) =>
      this.server.close(() => {
        // No connection is left, so no deadline: an armed timer (up to --read-timeout away) would
        // only keep the process alive after everything has stopped.
        this.reading.disarm();
        this.lingering.disarm();
        resolve();
      }),
    );
  }

  private onConnection(socket: AgentSocket): void {
    const source = socket.remoteAddress;
    const refused = this.budget.admit(source);
    if (refused !== undefined) {
      // Closed without a reply, counted, and charged to the source: a load balancer refused here
      // has not heard the answer (receipts.ts).
      this.counters.rejections[refused]++;
      this.receipts?.refused(source, performance.now(), refused === 'over_capacity');
      socket.on('error', onError);
      socket.destroy();
      return;
    }
    this.counters.open++;
    const c = new Conn(this, socket);
    c.source = source;
    socket[kConn] = c;
    socket.on('error', onError);
    socket.on('close', onClose);
    if (this.opts.fixedServiceKey !== undefined) {
      // A dedicated port answers at once; whatever the client sends is read and dropped.
      socket.on('data', onData);
      this.answerLine(c, '');
      return;
    }
    socket.on('data', onData);
    socket.on('end', onEnd);
    // The read deadline counts from the connection, not from the last byte: a client trickling
    // one byte at a time gets the node answer on time like one that sends nothing.
    this.reading.add(c, performance.now());
  }

  /** A chunk while reading the line. */
  received(c: Conn, chunk: Buffer): void {
    const data = c.buffered === undefined ? chunk : Buffer.concat([c.buffered, chunk]);
    const nl = data.indexOf(10);
    if (nl !== -1 && nl <= MAX_LINE_BYTES) return this.answerLine(c, data.toString('latin1', 0, nl));
    if (data.length > MAX_LINE_BYTES) {
      this.reject('too_long');
      return this.answer(c, this.answers.nodeAnswer(), NODE_KEY);
    }
    c.buffered = data;
    // No newline (yet). A server added through HAProxy's runtime API sends its agent-send without one
    // (the CLI cannot carry a newline) and waits: bytes that are exactly a known Service key are that
    // Service's line, at once unless a longer known key starts with them ("shop/api" of
    // "shop/api-canary" may be the first piece of the longer line): those wait for the read deadline
    // (answerExpired) or the half-close. Any other bytes wait as before. A line with its newline never
    // comes here.
    if (data.length > MAX_KEY_BYTES) return;
    const key = data.toString('latin1');
    const known = this.answers.serviceAnswer(key);
    if (known !== undefined && !this.answers.isPrefixOfOtherKey(key)) this.answer(c, known, key);
  }

  /** Client half-closed without a newline: use what it sent as the line. */
  ended(c: Conn): void {
    if (!c.answered) this.answerLine(c, c.buffered === undefined ? '' : c.buffered.toString('latin1'));
  }

  private readTimedOut(c: Conn): void {
    this.expired.push(c);
    if (!this.expiryScheduled) {
      this.expiryScheduled = true;
      setImmediate(this.answerExpired);
    }
  }

  private readonly answerExpired = (): void => {
    this.expiryScheduled = false;
    // Swap the two arrays: no allocation, and expiries queued while answering wait for their own turn.
    const batch = this.expired;
    this.expired = this.expiring;
    this.expiring = batch;
    for (let i = 0; i < batch.length; i++) {
      const c = batch[i] as Conn;
      if (c.answered || c.socket.destroyed) continue;
      // No agent-send line in time (HAProxy without agent-send sends nothing): answer for the node.
      // Bytes without a newline that are exactly a known Service key are its line (one a longer key
      // starts with waited for this, see received()); any other partial line is a bad request.
      if (c.buffered !== undefined) {
        const key = c.buffered.toString('latin1');
        const known = this.answers.serviceAnswer(key);
        if (known !== undefined) {
          this.answer(c, known, key);
          continue;
        }
        this.reject('malformed');
      }
      this.answerLine(c, '');
    }
    batch.length = 0;
  };

  private answerLine(c: Conn, line: string): void {
    const fixed = this.opts.fixedServiceKey;
    if (fixed === undefined) {
      // Fast path: the line is exactly the key of a known Service (keys are valid by construction).
      const known = line === '' ? undefined : this.answers.serviceAnswer(line);
      if (known !== undefined) return this.answer(c, known, line);
    }
    const req = fixed !== undefined ? { kind: 'service' as const, key: fixed } : parseRequestLine(line);
    if (req.kind === 'service') {
      const answer = this.answers.serviceAnswer(req.key);
      if (answer !== undefined) return this.answer(c, answer, req.key);
      this.reject('unknown_service');
    } else if (req.kind === 'malformed') {
      this.reject('malformed');
    }
    // Unknown or unusable lines are filed under the node key: a client cannot grow the table with made-up names.
    this.answer(c, this.answers.nodeAnswer(), NODE_KEY);
  }

  private answer(c: Conn, answer: Answer, key: string): void {
    c.answered = true;
    c.buffered = undefined;
    // Counted by the kind the answer was decided as, not by its bytes.
    this.counters.replies[answer.kind]++;
    const now = performance.now();
    if (this.receipts !== undefined) this.receipts.record(c.socket.remoteAddress, key, answer, now);
    if (c.list !== undefined) c.list.remove(c);
    // Keep reading (and dropping) whatever else arrives, so the close is a FIN, not a reset that
    // could make the client discard our reply; but not for longer than LINGER_MS.
    this.lingering.add(c, now);
    if (answer.bytes.length === 0) c.socket.end();
    else c.socket.end(answer.bytes);
  }

  closed(c: Conn): void {
    this.counters.open--;
    this.budget.release(c.source);
    if (c.list !== undefined) c.list.remove(c);
  }

  private reject(reason: RejectReason): void {
    this.counters.rejections[reason]++;
  }
}

// Shared listeners: `this` is the socket, its state hangs off one symbol-keyed property.
function onData(this: AgentSocket, chunk: Buffer): void {
  const c = this[kConn];
  if (!c.answered) c.server.received(c, chunk);
}

function onEnd(this: AgentSocket): void {
  const c = this[kConn];
  c.server.ended(c);
}

function onError(this: AgentSocket): void {
  this.destroy();
}

function onClose(this: AgentSocket): void {
  const c = this[kConn];
  c.server.closed(c);
}
