// Delivery receipts: HAProxy never says what it applied, but every answer it got went through us.
// Per peer (the probe connection's source address) and per key asked (a Service key, or "" for
// the node answer) we keep the last reply given, when, and the observed gap between probes, so we
// can say whether every load balancer still probing has heard that the node is out.
// The probe path only calls record(): two Map lookups and a few number stores for a known slot;
// classes and windows are worked out lazily when /drained, /status or /metrics ask. A slot keeps
// the interned Answer it was given (core/answer.ts): its group and text are read from there.
import type { Answer, AnswerGroup } from '../../core/answer.js';

/** Keys (peer × key slots) kept at most; a new slot beyond this is dropped and counted. */
export const MAX_RECEIPTS = 4096;
/** A key is forgotten after 3 of its probe intervals without a probe, within these bounds. */
export const WINDOW_FACTOR = 3;
export const MIN_WINDOW_MS = 1000;
export const MAX_WINDOW_MS = 60_000;
/** The key a probe without an agent-send line (or with one we could not use) is filed under. */
export const NODE_KEY = '';

class Slot {
  /** Gap between probes, smoothed (EWMA 1/4); 0 until a second probe. */
  gap = 0;
  constructor(
    public answer: Answer,
    public at: number,
  ) {}
}

type Peer = Map<string, Slot>;

export interface KeyReceipt {
  key: string;
  reply: string;
  /** ms before `now` the reply was given. */
  agoMs: number;
  intervalMs: number | null;
  /** Got an answer of the node's current group since the node entered it. */
  current: boolean;
}

export interface PeerReceipt {
  peer: string;
  current: boolean;
  keys: KeyReceipt[];
}

export interface DeliveryView {
  /** The node's group and since when (clock ms), as told by nodeAnswerIs(). */
  group: AnswerGroup;
  sinceMs: number;
  peers: PeerReceipt[];
  /** Peers that have received the node's current group on every key they probe. */
  currentPeers: number;
  /** The node is out and every live peer has heard it. */
  delivered: boolean;
}

export class Receipts {
  private readonly peers = new Map<string, Peer>();
  private size = 0;
  private lastSweep = Number.NEGATIVE_INFINITY;
  /** Slots refused because the table was full. */
  dropped = 0;
  private group: AnswerGroup = 'none';
  private groupSince: number;

  constructor(
    /** Same clock for probes and for node answer changes (ms, monotonic in the daemon). */
    readonly now: () => number,
    private readonly max = MAX_RECEIPTS,
  ) {
    this.groupSince = now();
  }

  /** Probe path: `answer` is the interned Answer just written; `now` from the same clock (the server's own read). */
  record(peer: string | undefined, key: string, answer: Answer, now: number = this.now()): void {
    if (peer === undefined) return;
    let p = this.peers.get(peer);
    const s = p?.get(key);
    if (s !== undefined) {
      const gap = now - s.at;
      s.gap = s.gap === 0 ? gap : s.gap + (gap - s.gap) / 4;
      s.at = now;
      s.answer = answer;
      return;
    }
    if (this.size >= this.max && !this.sweepIfDue(now)) {
      this.dropped++;
      return;
    }
    if (p === undefined) {
      p = new Map();
      this.peers.set(peer, p);
    }
    p.set(key, new Slot(answer, now));
    this.size++;
  }

  /** The node answer changed: delivery counts from the moment its group changes. */
  nodeAnswerIs(answer: Answer): void {
    const g = answer.group;
    if (g === this.group) return;
    this.group = g;
    this.groupSince = this.now();
  }

  get nodeGroup(): AnswerGroup {
    return this.group;
  }

  /** Slots held now (after forgetting expired ones). */
  count(): number {
    this.sweep(this.now());
    return this.size;
  }

  /** Forgets silent keys and peers, then reports who has heard the node's current group. */
  view(): DeliveryView {
    const now = this.now();
    this.sweep(now);
    const peers: PeerReceipt[] = [];
    let currentPeers = 0;
    for (const [peer, slots] of this.peers) {
      const keys: KeyReceipt[] = [];
      let all = true;
      for (const [key, s] of slots) {
        const current = s.at >= this.groupSince && s.answer.group === this.group;
        if (!current) all = false;
        keys.push({
          key,
          reply: s.answer.text,
          agoMs: Math.round(now - s.at),
          intervalMs: s.gap === 0 ? null : Math.round(s.gap),
          current,
        });
      }
      keys.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
      if (all) currentPeers++;
      peers.push({ peer, current: all, keys });
    }
    peers.sort((a, b) => (a.peer < b.peer ? -1 : a.peer > b.peer ? 1 : 0));
    return {
      group: this.group,
      sinceMs: this.groupSince,
      peers,
      currentPeers,
      delivered: this.group === 'out' && currentPeers === peers.length,
    };
  }

  /** How long a slot lives without a probe. Unknown interval (one probe so far): the maximum. */
  static windowOf(gapMs: number): number {
    if (gapMs === 0) return MAX_WINDOW_MS;
    return Math.min(MAX_WINDOW_MS, Math.max(MIN_WINDOW_MS, WINDOW_FACTOR * gapMs));
  }

  private sweepIfDue(now: number): boolean {
    // A full table of live slots must not cost a full scan per probe: at most one scan a second.
    if (now - this.lastSweep < 1000) return false;
    this.sweep(now);
    return this.size < this.max;
  }

  private sweep(now: number): void {
    this.lastSweep = now;
    for (const [peer, slots] of this.peers) {
      for (const [key, s] of slots) {
        if (now - s.at > Receipts.windowOf(s.gap)) {
          slots.delete(key);
          this.size--;
        }
      }
      if (slots.size === 0) this.peers.delete(peer);
    }
  }
}
