// Delivery receipts: HAProxy never says what it applied, but every answer it got went through us.
// Per peer (the probe connection's source address) and per key asked (a Service key, or "" for
// the node answer) we keep the last reply given, when, and the observed gap between probes, so we
// can say whether every load balancer has heard the node's current answer (out: drain, in: ready).
// HAProxy keeps the last state an agent set, so a peer that went silent still holds what it was
// last told: silence is never delivery. A slot that told a peer something is therefore kept until
// that peer hears again, until --forget-silent-peers-after, or until its Service is gone; what we
// could not record (a full table, a refused connection) makes the proof unknown, never 200.
// The probe path only calls record() (two Map lookups and a few number stores for a known slot)
// and refused(); classes and windows are worked out lazily when /drained, /status or /metrics ask.
import type { Answer, AnswerGroup } from '../../core/answer.js';

/** Slots (peer × key) kept at most; a new slot beyond this is dropped and counted. */
export const MAX_RECEIPTS = 4096;
/** Service-key slots one peer may hold: one host probing tenant-made keys cannot fill the table. */
export const PEER_KEY_QUOTA = MAX_RECEIPTS / 4;
/** Slots kept for node keys only: a new load balancer's node slot finds room past a full table of Service keys. */
export const NODE_KEY_RESERVE = MAX_RECEIPTS / 8;
/** A key is shown silent after 3 of its probe intervals without a probe, within these bounds. */
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

/** What we lost about one peer: connections refused, slots not recorded (count, last time). */
class Loss {
  count = 0;
  at = Number.NEGATIVE_INFINITY;
  hit(now: number): void {
    this.count++;
    this.at = now;
  }
}

class Peer {
  readonly slots = new Map<string, Slot>();
  /** Slots other than the node key, held against PEER_KEY_QUOTA. */
  serviceSlots = 0;
  readonly refused = new Loss();
  readonly dropped = new Loss();
}

export interface KeyReceipt {
  key: string;
  reply: string;
  /** ms before `now` the reply was given. */
  agoMs: number;
  intervalMs: number | null;
  /** Past its window (3 × its interval) without a probe: the peer still holds `reply`. */
  silent: boolean;
  /** Its last answer is the one the node's current group calls for (out: any out answer; in: the key's own). */
  current: boolean;
}

export interface LossReceipt {
  count: number;
  agoMs: number;
}

export interface PeerReceipt {
  peer: string;
  current: boolean;
  keys: KeyReceipt[];
  /** Listed in --expected-peers and never seen since the agent started. */
  neverSeen?: true;
  /** Connections from this peer refused (connection limits) recently enough to matter: which key is unknown. */
  refused?: LossReceipt;
  /** Slots for this peer not recorded (table full or its key quota) recently enough to matter. */
  unrecorded?: LossReceipt;
}

export interface DeliveryView {
  /** The node's group and since when (clock ms), as told by nodeAnswerIs(). */
  group: AnswerGroup;
  sinceMs: number;
  peers: PeerReceipt[];
  /** Peers that have received the node's current group on every key they probe. */
  currentPeers: number;
  /** Probes (connections or slots) lost for sources with no receipts, within MAX_WINDOW_MS. */
  unrecorded: LossReceipt | null;
  /** Every peer (and every expected peer) has the current answer on every key, and nothing was lost. */
  allCurrent: boolean;
  /** The node is out and allCurrent. */
  delivered: boolean;
}

export interface ReceiptOptions {
  max?: number;
  /** Silent slots are forgotten after this long without a probe; 0 = never (the default). */
  forgetSilentAfterMs?: number;
  /** Peers that must be probing and current for a proof (--expected-peers); empty = whoever probes. */
  expectedPeers?: ReadonlySet<string>;
  /**
   * The answer a key would get now (undefined for a Service no longer served): for `in`, each key
   * must have heard its own answer (a Local Service with no pod here answers down while the node is
   * ready); a silent slot of a Service no longer served is forgotten.
   */
  answerFor?: (key: string) => Answer | undefined;
}

export class Receipts {
  private readonly peers = new Map<string, Peer>();
  private size = 0;
  private lastSweep = Number.NEGATIVE_INFINITY;
  /** Slots refused because the table or a peer's quota was full. */
  dropped = 0;
  /** Probes and connections lost for sources that have no receipts (so nothing to charge them to). */
  private readonly stray = new Loss();
  private group: AnswerGroup = 'none';
  private groupSince: number;
  private readonly max: number;
  private readonly quota: number;
  private readonly reserve: number;
  private readonly forgetAfter: number;
  private readonly expected: ReadonlySet<string>;
  private readonly answerFor: ((key: string) => Answer | undefined) | undefined;

  constructor(
    /** Same clock for probes and for node answer changes (ms, monotonic in the daemon). */
    readonly now: () => number,
    opts: ReceiptOptions = {},
  ) {
    this.max = opts.max ?? MAX_RECEIPTS;
    this.quota = Math.max(1, Math.floor(this.max / 4));
    this.reserve = Math.floor(this.max / 8);
    this.forgetAfter = opts.forgetSilentAfterMs ?? 0;
    this.expected = opts.expectedPeers ?? new Set();
    this.answerFor = opts.answerFor;
    this.groupSince = now();
  }

  /** Probe path: `answer` is the interned Answer just written; `now` from the same clock (the server's own read). */
  record(peer: string | undefined, key: string, answer: Answer, now: number = this.now()): void {
    if (peer === undefined) return;
    const p = this.peers.get(peer);
    const s = p?.slots.get(key);
    if (s !== undefined) {
      const gap = now - s.at;
      s.gap = s.gap === 0 ? gap : s.gap + (gap - s.gap) / 4;
      s.at = now;
      s.answer = answer;
      return;
    }
    this.add(p, peer, key, answer, now);
  }

  /**
   * A connection from `peer` was closed unanswered (connection limits): charged to that peer. From
   * a source with no receipts it counts as unknown only when `strayMatters` (the agent-wide cap, which
   * can refuse a new HAProxy outright; a source over the per-source limit, sized above what a real
   * HAProxy holds, that never got an answer is not a load balancer we could owe one).
   */
  refused(peer: string | undefined, now: number = this.now(), strayMatters = true): void {
    const p = peer === undefined ? undefined : this.peers.get(peer);
    if (p !== undefined) p.refused.hit(now);
    else if (strayMatters) this.stray.hit(now);
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

  /** Slots held now (after forgetting what may be forgotten). */
  count(): number {
    this.sweep(this.now());
    return this.size;
  }

  /** Forgets what may be forgotten, then reports who has heard the node's current group. */
  view(): DeliveryView {
    const now = this.now();
    this.sweep(now);
    const peers: PeerReceipt[] = [];
    let currentPeers = 0;
    for (const [peer, p] of this.peers) {
      const keys: KeyReceipt[] = [];
      let all = true;
      let window = 0;
      // A refused connection was for some key: it matters until each live key has been answered since.
      let refusedMatters = p.slots.size === 0;
      for (const [key, s] of p.slots) {
        const current = this.isCurrent(key, s.answer);
        if (!current) all = false;
        const w = Receipts.windowOf(s.gap);
        if (w > window) window = w;
        if (s.at <= p.refused.at && now - s.at <= w) refusedMatters = true;
        keys.push({
          key,
          reply: s.answer.text,
          agoMs: Math.round(now - s.at),
          intervalMs: s.gap === 0 ? null : Math.round(s.gap),
          silent: now - s.at > w,
          current,
        });
      }
      keys.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
      // An unrecorded key is not among the slots: it matters for the peer's longest window.
      const losses: Pick<PeerReceipt, 'refused' | 'unrecorded'> = {};
      const refused = refusedMatters ? recent(p.refused, now, MAX_WINDOW_MS) : undefined;
      const unrecorded = recent(p.dropped, now, window || MAX_WINDOW_MS);
      if (refused !== undefined) losses.refused = refused;
      if (unrecorded !== undefined) losses.unrecorded = unrecorded;
      if (refused !== undefined || unrecorded !== undefined) all = false;
      if (all) currentPeers++;
      peers.push({ peer, current: all, keys, ...losses });
    }
    for (const peer of this.expected) {
      // A dual-stack listener sees an IPv4 peer as ::ffff:A.B.C.D.
      if (!this.peers.has(peer) && !this.peers.has(`::ffff:${peer}`))
        peers.push({ peer, current: false, keys: [], neverSeen: true });
    }
    peers.sort((a, b) => (a.peer < b.peer ? -1 : a.peer > b.peer ? 1 : 0));
    const unrecorded = recent(this.stray, now, MAX_WINDOW_MS) ?? null;
    const allCurrent = unrecorded === null && currentPeers === peers.length;
    return {
      group: this.group,
      sinceMs: this.groupSince,
      peers,
      currentPeers,
      unrecorded,
      allCurrent,
      delivered: this.group === 'out' && allCurrent,
    };
  }

  /** How long a slot goes without a probe before it is shown silent; unknown interval (one probe): the maximum. */
  static windowOf(gapMs: number): number {
    if (gapMs === 0) return MAX_WINDOW_MS;
    return Math.min(MAX_WINDOW_MS, Math.max(MIN_WINDOW_MS, WINDOW_FACTOR * gapMs));
  }

  /**
   * Out: any out answer (drain, maint, down) is delivery, a ready one never is. In: the key must
   * have heard the answer it has now (ready, or down for a Local Service with no pod here).
   */
  private isCurrent(key: string, a: Answer): boolean {
    if (this.group !== 'in') return a.group === this.group;
    const want = key === NODE_KEY ? 'in' : (this.answerFor?.(key)?.group ?? 'in');
    return a.group === want;
  }

  /** A new slot: within the peer's quota and the table, else dropped and charged to the peer. */
  private add(p: Peer | undefined, peer: string, key: string, answer: Answer, now: number): void {
    const node = key === NODE_KEY;
    if (!node && p !== undefined && p.serviceSlots >= this.quota) return this.drop(p, now);
    const room = () => this.size < (node ? this.max : this.max - this.reserve);
    if (!room() && !(this.sweepIfDue(now) && room())) return this.drop(p, now);
    let q = p;
    if (q === undefined) {
      q = new Peer();
      this.peers.set(peer, q);
    }
    q.slots.set(key, new Slot(answer, now));
    if (!node) q.serviceSlots++;
    this.size++;
  }

  private drop(p: Peer | undefined, now: number): void {
    this.dropped++;
    if (p === undefined) this.stray.hit(now);
    else p.dropped.hit(now);
  }

  private sweepIfDue(now: number): boolean {
    // A full table must not cost a full scan per probe: at most one scan a second.
    if (now - this.lastSweep < 1000) return false;
    this.sweep(now);
    return true;
  }

  /**
   * Forgets only what cannot make a proof lie: a silent slot that told its peer nothing (no reply
   * before the first full list: HAProxy kept what it had), a silent slot of a Service no longer
   * served (its probes now get the node answer, filed under the node key), and, when the operator
   * asked for it, any slot silent for --forget-silent-peers-after.
   */
  private sweep(now: number): void {
    this.lastSweep = now;
    for (const [peer, p] of this.peers) {
      for (const [key, s] of p.slots) {
        const silentFor = now - s.at;
        // No reply told its peer nothing: gone after a second of silence (a probe before the first full list).
        if (s.answer.group === 'none' ? silentFor <= MIN_WINDOW_MS : silentFor <= Receipts.windowOf(s.gap)) continue;
        const gone =
          s.answer.group === 'none' ||
          (this.forgetAfter > 0 && silentFor > this.forgetAfter) ||
          (key !== NODE_KEY && this.answerFor !== undefined && this.answerFor(key) === undefined) ||
          (key === NODE_KEY && speaksAgentSend(p, now));
        if (!gone) continue;
        p.slots.delete(key);
        if (key !== NODE_KEY) p.serviceSlots--;
        this.size--;
      }
      if (p.slots.size === 0 && now - p.refused.at > MAX_WINDOW_MS && now - p.dropped.at > MAX_WINDOW_MS)
        this.peers.delete(peer);
    }
  }
}

/**
 * A peer still probing Service keys within their windows sends agent-send lines: a silent node-key
 * slot of such a peer is a line that came after --read-timeout (answered for the node once), not
 * a server line of its own, so it must not hold the proof forever. A peer with node keys only (server
 * lines without agent-send) keeps every silent slot. Residual: a peer mixing both kinds whose
 * node-only line stops checking is forgotten after its window, as before issue 22.
 */
function speaksAgentSend(p: { slots: Map<string, { at: number; gap: number }> }, now: number): boolean {
  for (const [key, s] of p.slots) if (key !== NODE_KEY && now - s.at <= Receipts.windowOf(s.gap)) return true;
  return false;
}

function recent(l: Loss, now: number, windowMs: number): LossReceipt | undefined {
  return now - l.at <= windowMs ? { count: l.count, agoMs: Math.round(now - l.at) } : undefined;
}
