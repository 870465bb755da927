// One answer, from the decision to the socket. An Answer is made once per distinct reply by an
// AnswerInterner, frozen, and passed by reference: the agent server writes `bytes` and counts
// `kind`, delivery receipts keep the object and read `group`, and /status, /drained, logs and
// Events read `text` and `why`. Nothing turns bytes back into a kind, a group or text.
import type { Reply, ReplyKind } from './decide.js';
import { formatReply } from './reply.js';

/**
 * Delivery groups: `in` (ready), `out` (drain, maint, down: the node takes no new traffic from
 * that load balancer), `none` (no reply: HAProxy keeps what it had).
 */
export type AnswerGroup = 'in' | 'out' | 'none';

export interface Answer {
  readonly kind: ReplyKind;
  readonly group: AnswerGroup;
  /** The reply line without its newline, '' for no reply: what /status, logs and Events show. */
  readonly text: string;
  /** What the agent writes to the socket; one Buffer per distinct text, never written into. */
  readonly bytes: Buffer;
  /** Why, for /status and logs (never sent to HAProxy). */
  readonly why: string;
}

export function groupOf(kind: ReplyKind): AnswerGroup {
  if (kind === 'ready') return 'in';
  return kind === 'none' ? 'none' : 'out';
}

/**
 * Identical replies share one Answer (same text and why) and one Buffer (same text): thousands of
 * Services answer the same few lines, and a changed answer is a different object. Bounded: decide()
 * builds texts and whys from its own constants and a weight of 0..256, never from tenant text.
 */
export class AnswerInterner {
  private readonly byText = new Map<string, { bytes: Buffer; byWhy: Map<string, Answer> }>();

  intern(r: Reply): Answer {
    const wire = formatReply(r);
    let t = this.byText.get(wire);
    if (t === undefined) {
      t = { bytes: Buffer.from(wire, 'latin1'), byWhy: new Map() };
      this.byText.set(wire, t);
    }
    let a = t.byWhy.get(r.why);
    if (a === undefined) {
      a = Object.freeze({ kind: r.kind, group: groupOf(r.kind), text: wire.trimEnd(), bytes: t.bytes, why: r.why });
      t.byWhy.set(r.why, a);
    }
    return a;
  }

  /** Distinct answers made so far. */
  get size(): number {
    let n = 0;
    for (const t of this.byText.values()) n += t.byWhy.size;
    return n;
  }
}
